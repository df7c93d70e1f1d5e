package retention

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"vahti/registry"
	"vahti/seal"
)

// Sealed-footage fixture: site keys as vahti keys init leaves them, epochs
// as the service makes them, segments as the recorder writes them (key
// stored, then the sealed file, then the row), and the secrets a keeper
// and the DPO hold (a password, the recovery key).

var cheapArgon = seal.Argon2Params{Time: 1, Memory: 64, Threads: 1}

const keeperPassword = "correct horse battery staple"

type sealedSite struct {
	f     *fixture
	rk    seal.RecoveryKey
	site  seal.SitePublicKey
	alice int64
}

func newSealedSite(f *fixture) *sealedSite {
	t := f.t
	t.Helper()
	ring, err := seal.NewSite()
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Wipe()
	rk, err := seal.NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	rw, err := ring.WrapRecovery(rk)
	if err != nil {
		t.Fatal(err)
	}
	aw, err := ring.WrapPassword([]byte(keeperPassword), cheapArgon)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := rk.Public()
	if err != nil {
		t.Fatal(err)
	}
	s := &sealedSite{f: f, rk: rk, site: ring.Public()}
	err = f.db.Update(context.Background(), func(tx *registry.Tx) error {
		if err := tx.InitSealSite(registry.SealSite{PublicKey: ring.Public().Bytes(), RecoveryPublicKey: rp.Bytes(), CreatedBy: "test"}, rw); err != nil {
			return err
		}
		u := registry.User{Name: "alice", Roles: []string{registry.RoleKeeper}, PassHash: "x"}
		if err := tx.AddUser(&u); err != nil {
			return err
		}
		s.alice = u.ID
		return tx.PutKeeperWrap(u.ID, aw, "test")
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// epoch returns the epoch of t's UTC day, making it if needed (the
// service's rotation: site public key only).
func (s *sealedSite) epoch(t time.Time) seal.EpochPublicKey {
	s.f.t.Helper()
	id := seal.EpochFor(t)
	var pub seal.EpochPublicKey
	err := s.f.db.Update(context.Background(), func(tx *registry.Tx) error {
		if e, err := tx.Epoch(int64(id)); err == nil {
			pub, err = seal.ParseEpochPublicKey(id, e.PublicKey)
			return err
		} else if !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		p, sealed, err := seal.NewEpoch(s.site, id)
		if err != nil {
			return err
		}
		pub = p
		return tx.AddEpoch(int64(id), p.Bytes(), sealed)
	})
	if err != nil {
		s.f.t.Fatal(err)
	}
	return pub
}

// sealedSeg is one recorded sealed segment and what the test keeps of it.
type sealedSeg struct {
	seg    registry.Segment
	file   []byte // a byte copy of the file, as flash keeps it after the unlink
	sealed []byte // the sealed data key as the registry stored it
	body   []byte // the plaintext
}

// record writes a sealed segment of camera at start the way the recorder
// does and catalogues it.
func (s *sealedSite) record(camera string, start time.Time, dur time.Duration) sealedSeg {
	t := s.f.t
	t.Helper()
	start = start.UTC()
	body := bytes.Repeat([]byte("fakecam "+camera+" "+start.Format(time.RFC3339Nano)+" frame 0123456789 "), 300)
	k, h, sealed, err := seal.NewSegmentKey(s.epoch(start), camera, start)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Wipe()
	if err := s.f.db.Update(context.Background(), func(tx *registry.Tx) error {
		return tx.PutSegmentKey(registry.SegmentKey{KeyID: h.KeyID[:], Camera: camera, Start: start, EpochDay: int64(h.Epoch), SealedKey: sealed})
	}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := seal.NewWriter(&buf, h, k)
	if err != nil {
		t.Fatal(err)
	}
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 4096)
		if err := w.WriteRecord(rest[:n], nil); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seg := registry.Segment{Camera: camera, Start: start, End: start.Add(dur), Path: registry.SegmentPath(camera, start),
		Bytes: int64(buf.Len()), Codecs: "h264", SHA256: "x"}
	p := filepath.Join(s.f.cfg.Storage.Root, filepath.FromSlash(seg.Path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written and synced, as the recorder does: the bytes are on the disk
	// before the segment is catalogued.
	if err := writeFileSync(p, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := s.f.db.Update(context.Background(), func(tx *registry.Tx) error { return tx.AddSegment(&seg) }); err != nil {
		t.Fatal(err)
	}
	return sealedSeg{seg: seg, file: bytes.Clone(buf.Bytes()), sealed: sealed, body: body}
}

// ring unlocks the site key with the recovery key (rk) or alice's
// password, from what the registry holds.
func (s *sealedSite) ring(useRecovery bool) (*seal.Keyring, error) {
	var ring *seal.Keyring
	err := s.f.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		if useRecovery {
			w, err := tx.RecoveryWrap()
			if err != nil {
				return err
			}
			ring, err = seal.UnlockRecovery(s.site, w, s.rk)
			return err
		}
		w, err := tx.KeeperWrap(s.alice)
		if err != nil {
			return err
		}
		ring, err = seal.UnlockPassword(s.site, w, []byte(keeperPassword))
		return err
	})
	return ring, err
}

// open decrypts file with everything the box holds plus one secret, the
// way every reader does: ring.Unwrapper(db.KeyStore(ctx)).
func (s *sealedSite) open(file []byte, useRecovery bool) ([]byte, error) {
	ring, err := s.ring(useRecovery)
	if err != nil {
		return nil, err
	}
	defer ring.Wipe()
	rd, err := seal.OpenSegment(bytes.NewReader(file), int64(len(file)), ring.Unwrapper(s.f.db.KeyStore(context.Background())))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if _, err := rd.WriteTo(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// opensWithBoth checks a segment copy opens, to its plaintext, with the
// password and with the recovery key.
func (s *sealedSite) opensWithBoth(what string, g sealedSeg) {
	s.f.t.Helper()
	for _, rec := range []bool{false, true} {
		got, err := s.open(g.file, rec)
		if err != nil || !bytes.Equal(got, g.body) {
			s.f.t.Fatalf("%s (recovery key %v): does not open: %v", what, rec, err)
		}
	}
}

// opensWithNeither checks a segment copy opens with neither secret, and
// that the failure is the key being gone, not some other error.
func (s *sealedSite) opensWithNeither(what string, g sealedSeg) {
	s.f.t.Helper()
	for _, rec := range []bool{false, true} {
		if _, err := s.open(g.file, rec); !errors.Is(err, registry.ErrNotFound) {
			s.f.t.Fatalf("%s (recovery key %v): %v, want its key not found", what, rec, err)
		}
	}
}

// registryFiles is registry.db and its WAL, as a thief copies them.
func (s *sealedSite) registryFiles() []byte {
	s.f.t.Helper()
	var all []byte
	for _, suf := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(s.f.cfg.StateDir, registry.FileName+suf))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			s.f.t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// registryHolds reports whether any 32-byte run of secret is in the
// registry's files.
func (s *sealedSite) registryHolds(secret []byte) bool {
	reg := s.registryFiles()
	for i := 0; i+32 <= len(secret); i += 32 {
		if bytes.Contains(reg, secret[i:i+32]) {
			return true
		}
	}
	return false
}
