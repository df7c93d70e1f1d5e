package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"vahti/registry"
)

// ReconcileReport says what Reconcile found.
type ReconcileReport struct {
	Checked  int       `json:"checked"`            // segment files on disk
	Adopted  []string  `json:"adopted,omitempty"`  // valid files added to the catalog
	Missing  []string  `json:"missing,omitempty"`  // catalogued files no longer on disk (rows kept, state missing)
	Returned []string  `json:"returned,omitempty"` // missing files back on disk with the same hash
	Garbage  []Garbage `json:"garbage,omitempty"`  // .mp4 files that are not valid segments: reported, never indexed or deleted
}

// Garbage is a file under storage.root that is not a valid segment.
type Garbage struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Reconcile brings the catalog into agreement with the files under root:
// valid finished segments not in the catalog are adopted; rows whose file
// vanished are marked registry.SegmentMissing (kept, so the gap stays
// explainable; deleting rows is retention's job); .mp4 files that are not
// valid segments are reported, never indexed and never deleted. One bad
// file never stops the rest. Unfinished (.tmp) files are Recover's.
func Reconcile(ctx context.Context, root string, db *registry.DB, now func() time.Time, log *slog.Logger) (ReconcileReport, error) {
	var rep ReconcileReport
	if log == nil {
		log = slog.Default()
	}
	onDisk := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			log.Warn("reconcile: cannot read", "path", p, "error", err)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || !strings.HasSuffix(p, registry.SegmentExt) {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if _, _, _, err := registry.ParseSegmentPath(rel); err != nil {
			rep.Garbage = append(rep.Garbage, Garbage{Path: rel, Reason: "name does not follow camera/YYYY/MM/DD/HH-MM-SS.ffffff.mp4"})
			return nil
		}
		if !d.Type().IsRegular() {
			rep.Garbage = append(rep.Garbage, Garbage{Path: rel, Reason: "not a regular file"})
			return nil
		}
		onDisk[rel] = true
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("reconcile %s: %w", root, err)
	}
	rep.Checked = len(onDisk)

	known := map[string]registry.Segment{}
	err = db.View(ctx, func(tx *registry.Tx) error {
		return tx.EachSegment(func(s registry.Segment) error {
			known[s.Path] = s
			return nil
		})
	})
	if err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}

	for rel := range onDisk {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		row, ok := known[rel]
		switch {
		case !ok:
			adopted, reason, err := adopt(ctx, root, rel, db, foundByReconcile)
			if err != nil {
				return rep, err
			}
			if adopted {
				log.Info("reconcile: adopted a segment that was not in the catalog", "path", rel)
				rep.Adopted = append(rep.Adopted, rel)
			} else {
				log.Warn("reconcile: file is not a valid segment; left alone", "path", rel, "reason", reason)
				rep.Garbage = append(rep.Garbage, Garbage{Path: rel, Reason: reason})
			}
		case row.State == registry.SegmentMissing:
			// The file came back (restored from a copy): take it back only
			// if it is the same footage.
			info, err := probeRegular(filepath.Join(root, filepath.FromSlash(rel)))
			if err == nil && info.SHA256 == row.SHA256 {
				if err := db.Update(ctx, func(tx *registry.Tx) error {
					if err := tx.SetSegmentState(row.ID, registry.SegmentOK); err != nil {
						return err
					}
					_, err := tx.Audit(auditActor, auditSource, "segment.return", "segment:"+rel, map[string]any{
						"camera": row.Camera, "path": rel, "sha256": row.SHA256, "bytes": row.Bytes, "found_by": foundByReconcile})
					return err
				}); err != nil {
					return rep, err
				}
				rep.Returned = append(rep.Returned, rel)
			} else {
				rep.Garbage = append(rep.Garbage, Garbage{Path: rel, Reason: "differs from the catalogued segment that went missing"})
			}
		}
	}
	for rel, row := range known {
		if onDisk[rel] || row.State != registry.SegmentOK {
			continue
		}
		// Re-check: the walk may have raced the recorder's own rename.
		if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel))); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		marked, err := markMissing(ctx, db, rel, foundByReconcile)
		if err != nil {
			return rep, err
		}
		if !marked {
			continue
		}
		log.Warn("reconcile: catalogued segment is missing from disk", "path", rel)
		rep.Missing = append(rep.Missing, rel)
	}
	return rep, nil
}

// Files changed behind Vahti's back are audited, not only logged: who
// would otherwise notice footage that appeared or vanished? The entries
// say which part noticed.
const (
	auditActor       = "system"
	auditSource      = "service"
	foundByReconcile = "reconcile"
	foundByWatcher   = "watcher"
)

// probeRegular probes a segment file, refusing anything but a regular
// file: the file is opened without following a symbolic link and without
// blocking on a fifo, and checked after opening, so a swap between a
// check and the read cannot slip another file in.
func probeRegular(path string) (SegmentInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return SegmentInfo{}, fmt.Errorf("segment %s: a symbolic link, not a regular file", path)
		}
		return SegmentInfo{}, fmt.Errorf("segment %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("segment %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return SegmentInfo{}, fmt.Errorf("segment %s: not a regular file (%v)", path, fi.Mode().Type())
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("segment %s: %w", path, err)
	}
	return probeNamed(path, data)
}

// adopt catalogues a valid segment file found on disk and audits it
// ("segment.adopt"). It answers false and the reason when the file is not
// one (not a regular file, not a whole playable segment).
func adopt(ctx context.Context, root, rel string, db *registry.DB, foundBy string) (bool, string, error) {
	cam, start, _, err := registry.ParseSegmentPath(rel)
	if err != nil {
		return false, err.Error(), nil
	}
	info, err := probeRegular(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return false, err.Error(), nil
	}
	if !info.KeyframeStart {
		return false, "does not start with a keyframe", nil
	}
	if info.Duration <= 0 {
		return false, "no duration", nil
	}
	if !info.Sealed {
		// A sealed file's index needs its plaintext, hence its key: its
		// reader builds it.
		indexSegment(filepath.Join(root, filepath.FromSlash(rel)), info.SHA256)
	}
	row := registry.Segment{Camera: cam, Start: start, End: info.End, Path: rel,
		Bytes: info.Bytes, Codecs: info.Codecs, Params: info.Params, SHA256: info.SHA256}
	added := false
	err = db.Update(ctx, func(tx *registry.Tx) error {
		added = false
		if _, err := tx.SegmentByPath(rel); err == nil {
			return nil // catalogued meanwhile (the recorder's own segment)
		}
		if err := tx.AddSegment(&row); err != nil {
			return err
		}
		_, err := tx.Audit(auditActor, auditSource, "segment.adopt", "segment:"+rel, map[string]any{
			"camera": cam, "path": rel, "start": row.Start, "end": row.End, "bytes": row.Bytes,
			"sha256": row.SHA256, "found_by": foundBy})
		added = err == nil
		return err
	})
	if err != nil {
		return false, "", fmt.Errorf("adopt %s: %w", rel, err)
	}
	return added, "", nil
}

// markMissing marks a catalogued segment missing and audits it
// ("segment.missing"); it reports whether it did (rows already gone,
// doomed by retention or missing are left alone).
func markMissing(ctx context.Context, db *registry.DB, rel, foundBy string) (bool, error) {
	marked := false
	err := db.Update(ctx, func(tx *registry.Tx) error {
		marked = false
		s, err := tx.SegmentByPath(rel)
		if errors.Is(err, registry.ErrNotFound) || (err == nil && s.State != registry.SegmentOK) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.SetSegmentState(s.ID, registry.SegmentMissing); err != nil {
			return err
		}
		_, err = tx.Audit(auditActor, auditSource, "segment.missing", "segment:"+rel, map[string]any{
			"camera": s.Camera, "path": rel, "start": s.Start, "end": s.End, "bytes": s.Bytes,
			"sha256": s.SHA256, "found_by": foundBy})
		marked = err == nil
		return err
	})
	return marked, err
}
