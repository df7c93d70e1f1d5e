package retention

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"vahti/configs"
	"vahti/registry"
	"vahti/seal"
)

// Held footage's keys (seal/DESIGN.md, "Holds"). A hold keeps its
// segments, and so their data keys, and so their day's epoch: a hold never
// loses footage. To let the day's epoch go anyway (the second erasure
// layer for the day's unheld footage), SealHeldKeys, run while a keyring
// is open, does two things for each sealed segment the hold covers:
//
//   - re-seals its data key to the day's held epoch (registry/heldkeys.go),
//     so the keyring still opens it once the day's epoch is destroyed;
//   - writes it sealed to the recovery public key into the hold's key file,
//     <state_dir>/holds/<hold id>.keys, outside the registry, so the
//     recovery key and that file alone open the held footage even if the
//     registry is lost (OpenHeldSegment).
//
// The file is JSON, 0600, replaced atomically (temp file, fsync, rename,
// fsync of the folder). It goes when the hold is released, through the
// gate (RemoveReleasedHoldKeys in remove.go, at every retention pass).

// holdKeysFormat names the key file's format.
const holdKeysFormat = "vahti-hold-keys-v1"

// HoldKeysDir is the folder of the holds' key files.
func HoldKeysDir(stateDir string) string { return filepath.Join(stateDir, "holds") }

// HoldKeysPath is hold id's key file.
func HoldKeysPath(stateDir string, id int64) string {
	return filepath.Join(HoldKeysDir(stateDir), strconv.FormatInt(id, 10)+".keys")
}

func parseHoldKeysName(name string) (int64, bool) {
	s, ok := strings.CutSuffix(name, ".keys")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != s {
		return 0, false
	}
	return id, true
}

// HoldKeysFile is a hold's key file.
type HoldKeysFile struct {
	Format  string    `json:"format"`
	Hold    int64     `json:"hold"`
	Written time.Time `json:"written"`
	// RecoveryKey is the SHA-256 of the recovery public key the keys are
	// sealed to (which recovery key opens this file).
	RecoveryKey string           `json:"recovery_public_key_sha256"`
	Segments    []HeldSegmentKey `json:"segments"`
}

// HeldSegmentKey is one held segment's data key sealed to the recovery
// public key (seal.SealHeldKey), bound to the segment's header.
type HeldSegmentKey struct {
	Camera    string    `json:"camera"`
	Start     time.Time `json:"start"`
	Path      string    `json:"path"`       // under storage.root
	Header    []byte    `json:"header"`     // the segment file's header
	SealedKey []byte    `json:"sealed_key"` // seal.SealHeldKey
}

// SealHeldResult says what SealHeldKeys did for one hold.
type SealHeldResult struct {
	Hold     int64  `json:"hold"`
	Segments int    `json:"segments"` // sealed segments in the key file
	Resealed int    `json:"resealed"` // data keys re-sealed to their day's held epoch now
	Plain    int    `json:"plain"`    // covered segments recorded unsealed (no key)
	Missing  int    `json:"missing"`  // covered segments whose file is gone
	File     string `json:"file,omitempty"`
}

// SealHeldKeys re-seals hold id's sealed segments' data keys out of their
// day's epoch and writes the hold's key file (see the top of this file).
// It needs an open keyring. The admin calls it when a keeper places a
// hold; it is safe to run again (a later segment of a hold reaching into
// the future is added, keys already re-sealed are kept). Audited
// "hold.keys.seal".
func SealHeldKeys(ctx context.Context, cfg *configs.Config, db *registry.DB, id int64, ring *seal.Keyring, actor, source string) (SealHeldResult, error) {
	res := SealHeldResult{Hold: id}
	if ring == nil || ring.Wiped() {
		return res, fmt.Errorf("hold %d: sealing its keys needs a keeper's keyring", id)
	}
	var h registry.Hold
	var site registry.SealSite
	var segs []registry.Segment
	noKeys := false
	var written time.Time
	err := db.View(ctx, func(tx *registry.Tx) error {
		written = tx.Now()
		var err error
		if h, err = tx.Hold(id); err != nil {
			return err
		}
		if !h.Active() {
			return fmt.Errorf("hold %d was released", id)
		}
		if site, err = tx.SealSiteKey(); errors.Is(err, registry.ErrNoKeys) {
			noKeys = true
			return nil
		} else if err != nil {
			return err
		}
		segs, err = heldSegments(tx, cfg, h)
		return err
	})
	if err != nil || noKeys {
		return res, err
	}
	sitePub, err := seal.ParseSitePublicKey(site.PublicKey)
	if err != nil {
		return res, err
	}
	rp, err := seal.ParseRecoveryPublicKey(site.RecoveryPublicKey)
	if err != nil {
		return res, err
	}
	rpSum := sha256.Sum256(rp.Bytes())
	unwrap := ring.Unwrapper(db.KeyStore(ctx))
	epochs := map[seal.EpochID]*heldEpoch{}
	defer func() {
		for _, e := range epochs {
			e.key.Wipe()
		}
	}()
	file := HoldKeysFile{Format: holdKeysFormat, Hold: id, Written: written, RecoveryKey: hex.EncodeToString(rpSum[:]),
		Segments: []HeldSegmentKey{}}
	var resealed []registry.SegmentKey
	for _, s := range segs {
		hdr, err := segmentHeader(filepath.Join(cfg.Storage.Root, filepath.FromSlash(s.Path)))
		switch {
		case errors.Is(err, seal.ErrNotSealed):
			res.Plain++
			continue
		case errors.Is(err, fs.ErrNotExist):
			res.Missing++
			continue
		case err != nil:
			return res, fmt.Errorf("hold %d: %s: %w", id, s.Path, err)
		}
		if hdr.Camera != s.Camera {
			return res, fmt.Errorf("hold %d: %s: the file's header names camera %q", id, s.Path, hdr.Camera)
		}
		entry, rk, err := sealOneHeld(ctx, db, ring, sitePub, rp, unwrap, epochs, hdr)
		if err != nil {
			return res, fmt.Errorf("hold %d: %s: %w", id, s.Path, err)
		}
		entry.Path = s.Path
		file.Segments = append(file.Segments, entry)
		if rk != nil {
			resealed = append(resealed, *rk)
		}
	}
	res.Segments, res.Resealed = len(file.Segments), len(resealed)
	// The file first: if the registry update then fails, the recovery
	// copy exists and the day's epoch stays (no held copy yet).
	path := HoldKeysPath(cfg.StateDir, id)
	if len(file.Segments) > 0 {
		if err := writeHoldKeys(path, file); err != nil {
			return res, fmt.Errorf("hold %d: %w", id, err)
		}
		res.File = path
	}
	err = db.Update(ctx, func(tx *registry.Tx) error {
		for _, k := range resealed {
			if err := tx.PutHeldKey(k); err != nil {
				return err
			}
		}
		_, err := tx.Audit(actor, source, "hold.keys.seal", fmt.Sprintf("hold:%d", id), res)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("hold %d: %w", id, err)
	}
	return res, nil
}

// heldEpoch is a day's held epoch, public and (opened by the ring, to
// check each re-seal) private.
type heldEpoch struct {
	pub seal.EpochPublicKey
	key *seal.EpochKey
}

// sealOneHeld opens one held segment's data key, re-seals it to its day's
// held epoch unless that was done, and seals it to the recovery key for
// the file. It returns the file entry and the held key row to store (nil:
// there is one).
func sealOneHeld(ctx context.Context, db *registry.DB, ring *seal.Keyring, site seal.SitePublicKey, rp seal.RecoveryPublicKey,
	unwrap seal.Unwrapper, epochs map[seal.EpochID]*heldEpoch, hdr seal.Header) (HeldSegmentKey, *registry.SegmentKey, error) {
	hb, err := hdr.MarshalBinary()
	if err != nil {
		return HeldSegmentKey{}, nil, err
	}
	k, err := unwrap(hdr)
	if err != nil {
		return HeldSegmentKey{}, nil, err
	}
	defer k.Wipe()
	forFile, err := seal.SealHeldKey(rp, hdr, k)
	if err != nil {
		return HeldSegmentKey{}, nil, err
	}
	entry := HeldSegmentKey{Camera: hdr.Camera, Start: hdr.Start, Header: hb, SealedKey: forFile}
	var held bool
	if err := db.View(ctx, func(tx *registry.Tx) error {
		var err error
		_, held, err = tx.KeyStateAt(hdr.Camera, hdr.Start)
		return err
	}); err != nil || held {
		return entry, nil, err
	}
	e := epochs[hdr.Epoch]
	if e == nil {
		if e, err = openHeldEpoch(ctx, db, ring, site, hdr.Epoch); err != nil {
			return HeldSegmentKey{}, nil, err
		}
		epochs[hdr.Epoch] = e
	}
	sealed, err := seal.SealDataKey(e.pub, hdr, k)
	if err != nil {
		return HeldSegmentKey{}, nil, err
	}
	// Check the re-seal opens before the original may ever be dropped.
	check, err := e.key.OpenDataKey(hdr, sealed)
	if err != nil {
		return HeldSegmentKey{}, nil, fmt.Errorf("re-sealed key does not open: %w", err)
	}
	check.Wipe()
	return entry, &registry.SegmentKey{KeyID: hdr.KeyID[:], Camera: hdr.Camera, Start: hdr.Start, EpochDay: int64(hdr.Epoch), SealedKey: sealed}, nil
}

// openHeldEpoch reads day's held epoch, making it if there is none (with
// the site public key, like the day's own epoch), and opens it.
func openHeldEpoch(ctx context.Context, db *registry.DB, ring *seal.Keyring, site seal.SitePublicKey, day seal.EpochID) (*heldEpoch, error) {
	var row registry.SealEpoch
	err := db.Update(ctx, func(tx *registry.Tx) error {
		var err error
		row, err = tx.HeldEpoch(int64(day))
		if !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		pub, sealed, err := seal.NewEpoch(site, day)
		if err != nil {
			return err
		}
		if err := tx.AddHeldEpoch(int64(day), pub.Bytes(), sealed); err != nil {
			return err
		}
		row = registry.SealEpoch{Day: int64(day), PublicKey: pub.Bytes(), SealedPrivate: sealed}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("held epoch %s: %w", day, err)
	}
	pub, err := seal.ParseEpochPublicKey(day, row.PublicKey)
	if err != nil {
		return nil, err
	}
	key, err := ring.OpenEpoch(pub, row.SealedPrivate)
	if err != nil {
		return nil, err
	}
	return &heldEpoch{pub: pub, key: key}, nil
}

// heldSegments is the catalogued segments hold h covers (edges inclusive,
// as the gate judges).
func heldSegments(tx *registry.Tx, cfg *configs.Config, h registry.Hold) ([]registry.Segment, error) {
	cams := map[string]bool{}
	for _, c := range h.Cameras {
		if c != registry.AllCameras {
			cams[c] = true
			continue
		}
		sums, err := tx.Summaries()
		if err != nil {
			return nil, err
		}
		for c := range sums {
			cams[c] = true
		}
		for _, c := range cfg.CameraIDs() {
			cams[c] = true
		}
	}
	var out []registry.Segment
	for c := range cams {
		segs, err := tx.SegmentsIn(c, h.From.Add(-time.Nanosecond), h.To.Add(time.Nanosecond))
		if err != nil {
			return nil, err
		}
		for _, s := range segs {
			if h.Covers(s.Camera, s.Start, s.End) {
				out = append(out, s)
			}
		}
	}
	sortSegments(out)
	return out, nil
}

func segmentHeader(path string) (seal.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return seal.Header{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return seal.Header{}, err
	}
	h, _, err := seal.ReadHeader(f, fi.Size())
	return h, err
}

// writeHoldKeys replaces path with file atomically and durably, 0600.
func writeHoldKeys(path string, file HoldKeysFile) error {
	b, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("hold key file: %w", err)
	}
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, append(b, '\n')); err != nil {
		os.Remove(tmp) // deletion-gate: our own half-written temp copy of the hold's key file, never footage
		return fmt.Errorf("hold key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp) // deletion-gate: our own temp copy of the hold's key file, never footage
		return fmt.Errorf("hold key file: %w", err)
	}
	return syncDir(dir)
}

// ReadHoldKeys reads a hold's key file.
func ReadHoldKeys(path string) (HoldKeysFile, error) {
	var f HoldKeysFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("hold key file: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("hold key file %s: %w", path, err)
	}
	if f.Format != holdKeysFormat {
		return f, fmt.Errorf("hold key file %s: format %q, this Vahti reads %q", path, f.Format, holdKeysFormat)
	}
	return f, nil
}

// OpenHeldSegment opens a held sealed segment (size bytes at seg) with
// the recovery key and the hold's key file alone: no registry. It is the
// way back to held evidence when the registry is lost.
func OpenHeldSegment(keysFile string, rk seal.RecoveryKey, seg io.ReaderAt, size int64) (*seal.Reader, error) {
	f, err := ReadHoldKeys(keysFile)
	if err != nil {
		return nil, err
	}
	hdr, _, err := seal.ReadHeader(seg, size)
	if err != nil {
		return nil, err
	}
	hb, err := hdr.MarshalBinary()
	if err != nil {
		return nil, err
	}
	for _, e := range f.Segments {
		if !bytes.Equal(e.Header, hb) {
			continue
		}
		k, err := rk.OpenHeldKey(hdr, e.SealedKey)
		if err != nil {
			return nil, err
		}
		defer k.Wipe()
		return seal.Open(seg, size, k)
	}
	return nil, fmt.Errorf("hold key file %s has no key for %s %s (key %s): %w", keysFile, hdr.Camera,
		hdr.Start.Format(time.RFC3339Nano), hdr.KeyID, fs.ErrNotExist)
}

// SealPendingHeldKeys runs SealHeldKeys for every active hold that needs
// it: a covered sealed segment not yet re-sealed or not in the hold's key
// file (a hold placed from the CLI, with no keyring; a hold reaching into
// the future). The service calls it when a keeper logs in (in the
// background: each segment costs a few milliseconds of HPKE).
func SealPendingHeldKeys(ctx context.Context, cfg *configs.Config, db *registry.DB, ring *seal.Keyring, actor, source string) ([]SealHeldResult, error) {
	var pending []int64
	err := db.View(ctx, func(tx *registry.Tx) error {
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		for _, h := range holds {
			segs, err := heldSegments(tx, cfg, h)
			if err != nil {
				return err
			}
			inFile := map[string]bool{}
			if f, err := ReadHoldKeys(HoldKeysPath(cfg.StateDir, h.ID)); err == nil {
				for _, e := range f.Segments {
					inFile[e.Camera+"\x00"+e.Start.UTC().Format(time.RFC3339Nano)] = true
				}
			}
			for _, s := range segs {
				orig, held, err := tx.KeyStateAt(s.Camera, s.Start)
				if err != nil {
					return err
				}
				if (orig && !held) || ((orig || held) && !inFile[s.Camera+"\x00"+s.Start.UTC().Format(time.RFC3339Nano)]) {
					pending = append(pending, h.ID)
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []SealHeldResult
	for _, id := range pending {
		res, err := SealHeldKeys(ctx, cfg, db, id, ring, actor, source)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}
