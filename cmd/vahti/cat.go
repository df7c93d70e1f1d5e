package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vahti/registry"
	"vahti/retention"
	"vahti/seal"
)

// kindFootagePlay is the audit kind of watching footage: the admin UI's
// playback writes it, and so does vahti cat (a decrypted segment on
// stdout is a viewing).
const kindFootagePlay = "footage.play"

// runCat writes one segment, decrypted, to stdout, for ffprobe - and
// friends: SEGMENT is a path under storage.root or any copy of such a file
// (a sealed file names its camera and start in its header), or CAMERA
// START names the catalogued segment that holds START. A plain segment is
// copied as it is. Nothing reaches stdout before the keys opened and the
// viewing is in the audit chain.
func runCat(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "cat")
	cfgPath := fs.configFlag()
	keys := fs.keyFlags()
	reason := fs.String("reason", "", "why the footage is viewed (in the audit entry)")
	holdKeys := fs.String("hold-keys", "", "with --recovery-key-file: open a held segment with its hold's key file (<state_dir>/holds/ID.keys) instead of the registry, as after the registry was lost")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 && len(pos) != 2 {
		return usageErr("cat: expected SEGMENT (a path) or CAMERA START, got %d argument(s)", len(pos))
	}
	if err := required("config", *cfgPath); err != nil {
		return err
	}
	if err := keys.check(); err != nil {
		return err
	}
	if *holdKeys != "" && *keys.recoveryFile == "" {
		return usageErr("--hold-keys: a hold's key file opens with the recovery key: give --recovery-key-file too")
	}
	ce, err := openEnv(e, *cfgPath)
	if err != nil {
		return err
	}
	defer ce.Close()
	path, row, err := ce.catTarget(ctx, pos)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	size := st.Size()
	h, _, err := seal.ReadHeader(f, size)
	if errors.Is(err, seal.ErrNotSealed) {
		// A plain segment (storage.encryption off, or recorded before
		// sealing): what is on disk is the footage.
		if err := ce.auditPlay(ctx, path, row, plainIdentity(ce.cfg.Storage.Root, path), *keys.user, *reason, false); err != nil {
			return err
		}
		if _, err := io.Copy(e.stdout, io.NewSectionReader(f, 0, size)); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if row == nil {
		row = ce.catalogued(ctx, registry.SegmentPath(h.Camera, h.Start))
	}
	if !keys.given() {
		return fmt.Errorf("%s: %w", path, errNeedKeys)
	}
	var rd *seal.Reader
	if *holdKeys != "" {
		rd, err = ce.openHeld(ctx, *holdKeys, *keys.recoveryFile, f, size)
	} else {
		unwrap, wipe, uerr := ce.unlock(ctx, keys, "cat")
		if uerr != nil {
			return uerr
		}
		defer wipe()
		rd, err = seal.OpenSegment(f, size, unwrap)
	}
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("%s: its key is not in the registry: the segment was purged (its key destroyed) or belongs to another box", path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !rd.Tail().Complete {
		// A finished segment ends with the end marker; one cut short at a
		// record boundary would otherwise play as if it were whole. Crash
		// recovery cannot write the marker (it holds no key): such a
		// segment is the one its catalog row describes, byte for byte.
		ok, err := recoveredAsCatalogued(f, size, row)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s: the segment has no end marker and is not the file the catalog holds (cut short, or a copy of a segment still being written): refused", path)
		}
	}
	c := segmentIdentity{camera: h.Camera, start: h.Start}
	if err := ce.auditPlay(ctx, path, row, c, *keys.user, *reason, true); err != nil {
		return err
	}
	if _, err := rd.WriteTo(e.stdout); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// openHeld opens a held sealed segment with the recovery key and its
// hold's key file alone (retention.OpenHeldSegment), no registry key
// involved: the way back to held evidence when the registry is lost. The
// attempt is audited like an unlock with the recovery key.
func (c *cmdEnv) openHeld(ctx context.Context, keysFile, rkFile string, f *os.File, size int64) (*seal.Reader, error) {
	rk, err := readRecoveryKeyFile(rkFile)
	if err != nil {
		return nil, err
	}
	defer rk.Wipe()
	rd, err := retention.OpenHeldSegment(keysFile, rk, f, size)
	kind, detail := kindKeysUnlock, map[string]any{"with": "recovery key and hold key file", "hold_keys": keysFile, "for": "cat"}
	if err != nil {
		kind, detail["why"] = kindKeysUnlockFail, err.Error()
	}
	if aerr := c.audit(ctx, kind, "keys:site", detail); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, fmt.Errorf("--hold-keys %s: %w", keysFile, err)
	}
	return rd, nil
}

// catTarget resolves cat's arguments to a file and, when the catalog has
// it, its row.
func (c *cmdEnv) catTarget(ctx context.Context, pos []string) (string, *registry.Segment, error) {
	root := c.cfg.Storage.Root
	if len(pos) == 2 {
		cam := pos[0]
		t, err := parseTime("START", pos[1])
		if err != nil {
			return "", nil, err
		}
		var found *registry.Segment
		err = c.db.View(ctx, func(tx *registry.Tx) error {
			segs, err := tx.SegmentsIn(cam, t, t.Add(time.Nanosecond))
			if err != nil {
				return err
			}
			for i := range segs {
				if !segs[i].Start.After(t) {
					found = &segs[i]
				}
			}
			return nil
		})
		if err != nil {
			return "", nil, err
		}
		if found == nil {
			return "", nil, fmt.Errorf("no catalogued segment of camera %q holds %s", cam, t.Format(time.RFC3339Nano))
		}
		return filepath.Join(root, filepath.FromSlash(found.Path)), found, nil
	}
	p := pos[0]
	if rel, ok := underRoot(root, p); ok {
		return p, c.catalogued(ctx, rel), nil
	}
	return p, nil, nil
}

// catalogued is the catalog row at rel, or nil.
func (c *cmdEnv) catalogued(ctx context.Context, rel string) *registry.Segment {
	var s registry.Segment
	if err := c.db.View(ctx, func(tx *registry.Tx) (err error) { s, err = tx.SegmentByPath(rel); return }); err != nil {
		return nil
	}
	return &s
}

// underRoot is p relative to root (slash-separated) if p lies under it.
func underRoot(root, p string) (string, bool) {
	ap, err1 := filepath.Abs(p)
	ar, err2 := filepath.Abs(root)
	if err1 != nil || err2 != nil {
		return "", false
	}
	rel, err := filepath.Rel(ar, ap)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// recoveredAsCatalogued reports whether the file is exactly the segment
// its catalog row describes (size and SHA-256): what crash recovery
// catalogues after truncating a torn segment to its whole records.
func recoveredAsCatalogued(f *os.File, size int64, row *registry.Segment) (bool, error) {
	if row == nil || row.Bytes != size || row.SHA256 == "" {
		return false, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == row.SHA256, nil
}

// segmentIdentity is which camera and minute a file is, for the audit.
type segmentIdentity struct {
	camera string
	start  time.Time
}

// plainIdentity reads camera and start of a plain segment from its path
// (under root, or the last five parts of a copy laid out the same way).
func plainIdentity(root, p string) segmentIdentity {
	rel, ok := underRoot(root, p)
	if !ok {
		parts := strings.Split(filepath.ToSlash(filepath.Clean(p)), "/")
		if len(parts) > 5 {
			parts = parts[len(parts)-5:]
		}
		rel = strings.Join(parts, "/")
	}
	cam, start, _, err := registry.ParseSegmentPath(rel)
	if err != nil {
		return segmentIdentity{}
	}
	return segmentIdentity{camera: cam, start: start}
}

// auditPlay writes the viewing's audit entry (before any byte is shown).
func (c *cmdEnv) auditPlay(ctx context.Context, path string, row *registry.Segment, id segmentIdentity, keeper, reason string, sealed bool) error {
	detail := map[string]any{"via": "cat", "file": path, "sealed": sealed}
	object := "segment:" + path
	if row != nil {
		detail["segment"] = row.Path
		id = segmentIdentity{camera: row.Camera, start: row.Start}
		detail["to"] = row.End
	}
	if id.camera != "" {
		object = "camera:" + id.camera
		detail["camera"] = id.camera
		detail["from"] = id.start
	}
	if keeper != "" && sealed {
		detail["keeper"] = keeper
	}
	if strings.TrimSpace(reason) != "" {
		detail["reason"] = strings.TrimSpace(reason)
	}
	if err := c.audit(ctx, kindFootagePlay, object, detail); err != nil {
		return fmt.Errorf("could not record the viewing in the audit log: %w", err)
	}
	return nil
}
