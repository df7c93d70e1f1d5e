// Package sealtest makes sealed segments for tests without the recorder:
// Site does what `vahti keys init` does, Seal turns a catalogued plain
// fMP4 segment into a sealed one the way the recorder writes them
// (seal/DESIGN.md, "Recorder"). Used by admin's and admin/export's tests.
package sealtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"testing"

	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

// Site makes the site keys in db and returns the unlocked keyring (the
// caller plays a logged-in keeper, or wipes it).
func Site(t testing.TB, db *registry.DB) *seal.Keyring {
	t.Helper()
	ring, err := seal.NewSite()
	if err != nil {
		t.Fatal(err)
	}
	rk, err := seal.NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	rw, err := ring.WrapRecovery(rk)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := rk.Public()
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(context.Background(), func(tx *registry.Tx) error {
		return tx.InitSealSite(registry.SealSite{PublicKey: ring.Public().Bytes(), RecoveryPublicKey: rp.Bytes(), CreatedBy: "test"}, rw)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// Seal seals the plain segment at path (catalogued as row) in place: a
// fresh data key sealed to its day's epoch (made if missing) is stored
// first, then the file is written as one record for ftyp+moov and one per
// moof+mdat, and the end marker. The row is replaced by one for the sealed
// file (its bytes and SHA-256), which Seal returns.
func Seal(t testing.TB, db *registry.DB, site seal.SitePublicKey, path string, row registry.Segment) registry.Segment {
	t.Helper()
	plain, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	top, err := mp4read.ScanTop(bytes.NewReader(plain), int64(len(plain)))
	if err != nil || top.Whole != int64(len(plain)) {
		t.Fatalf("%s: scan: %v", path, err)
	}
	var units [][]byte
	var from int64
	for _, b := range top.Boxes {
		if b.Type == "moov" || b.Type == "mdat" {
			units = append(units, plain[from:b.End()])
			from = b.End()
		}
	}
	if from != int64(len(plain)) && len(units) > 0 {
		// A trailer (ffmpeg's mfra) goes with the last fragment.
		units[len(units)-1] = plain[from-int64(len(units[len(units)-1])):]
	}
	if len(units) < 2 {
		t.Fatalf("%s: not ftyp+moov and moof+mdat pairs", path)
	}
	ctx := context.Background()
	day := seal.EpochFor(row.Start)
	var epoch seal.EpochPublicKey
	err = db.Update(ctx, func(tx *registry.Tx) error {
		ep, err := tx.Epoch(int64(day))
		if errors.Is(err, registry.ErrNotFound) {
			pub, sealed, err := seal.NewEpoch(site, day)
			if err != nil {
				return err
			}
			epoch = pub
			return tx.AddEpoch(int64(day), pub.Bytes(), sealed)
		}
		if err != nil {
			return err
		}
		epoch, err = seal.ParseEpochPublicKey(day, ep.PublicKey)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	k, h, sealedKey, err := seal.NewSegmentKey(epoch, row.Camera, row.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Wipe()
	err = db.Update(ctx, func(tx *registry.Tx) error {
		return tx.PutSegmentKey(registry.SegmentKey{KeyID: h.KeyID[:], Camera: row.Camera, Start: row.Start, EpochDay: int64(day), SealedKey: sealedKey})
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := seal.NewWriter(&buf, h, k)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if err := w.WriteRecord(u, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(mp4read.IndexPath(path)) // deletion-gate: test support; the plain file's index sidecar, rebuilt from the sealed file
	return Recatalog(t, db, row, buf.Bytes())
}

// Recatalog replaces row by one for the file now holding b.
func Recatalog(t testing.TB, db *registry.DB, row registry.Segment, b []byte) registry.Segment {
	t.Helper()
	sum := sha256.Sum256(b)
	nr := row
	nr.ID, nr.Bytes, nr.SHA256 = 0, int64(len(b)), hex.EncodeToString(sum[:])
	err := db.Update(context.Background(), func(tx *registry.Tx) error {
		if err := tx.DeleteSegmentRow(row.ID); err != nil {
			return err
		}
		return tx.AddSegment(&nr)
	})
	if err != nil {
		t.Fatal(err)
	}
	return nr
}
