package recorder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
			adopted, reason, err := adopt(ctx, root, rel, db)
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
			info, err := ProbeSegment(filepath.Join(root, filepath.FromSlash(rel)))
			if err == nil && info.SHA256 == row.SHA256 {
				if err := db.Update(ctx, func(tx *registry.Tx) error { return tx.SetSegmentState(row.ID, registry.SegmentOK) }); err != nil {
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
		marked, err := markMissing(ctx, db, rel)
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

// adopt catalogues a valid segment file found on disk. It answers false
// and the reason when the file is not one.
func adopt(ctx context.Context, root, rel string, db *registry.DB) (bool, string, error) {
	cam, start, _, err := registry.ParseSegmentPath(rel)
	if err != nil {
		return false, err.Error(), nil
	}
	info, err := ProbeSegment(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return false, err.Error(), nil
	}
	if !info.KeyframeStart {
		return false, "does not start with a keyframe", nil
	}
	if info.Duration <= 0 {
		return false, "no duration", nil
	}
	indexSegment(filepath.Join(root, filepath.FromSlash(rel)), info.SHA256)
	row := registry.Segment{Camera: cam, Start: start, End: info.End, Path: rel,
		Bytes: info.Bytes, Codecs: info.Codecs, Params: info.Params, SHA256: info.SHA256}
	added := false
	err = db.Update(ctx, func(tx *registry.Tx) error {
		if _, err := tx.SegmentByPath(rel); err == nil {
			return nil // catalogued meanwhile (the recorder's own segment)
		}
		added = true
		return tx.AddSegment(&row)
	})
	if err != nil {
		return false, "", fmt.Errorf("adopt %s: %w", rel, err)
	}
	return added, "", nil
}

// markMissing marks a catalogued segment missing; it reports whether it
// did (rows already gone, doomed by retention or missing are left alone).
func markMissing(ctx context.Context, db *registry.DB, rel string) (bool, error) {
	marked := false
	err := db.Update(ctx, func(tx *registry.Tx) error {
		s, err := tx.SegmentByPath(rel)
		if errors.Is(err, registry.ErrNotFound) || (err == nil && s.State != registry.SegmentOK) {
			return nil
		}
		if err != nil {
			return err
		}
		marked = true
		return tx.SetSegmentState(s.ID, registry.SegmentMissing)
	})
	return marked, err
}
