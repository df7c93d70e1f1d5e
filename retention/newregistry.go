package retention

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"vahti/registry"
)

// metaNewRegistry holds the interlock message while a registry that has
// never run a service meets footage already on disk.
const metaNewRegistry = "retention.new_registry"

// errFound stops the walk at the first segment.
var errFound = errors.New("found")

// MarkNewRegistry guards against the worst way to lose evidence: the
// registry database is lost or replaced, the recorder re-adopts the
// footage it finds on disk, and the sweeper then deletes everything older
// than max_age — which, on a box that keeps its promise, is exactly the
// footage that was under legal hold, because the holds were in the lost
// database. When the registry has never been used by a service (no
// "service.start" in its audit chain) and footage is already on disk,
// deletion is paused until an operator restores the registry from a backup
// or confirms (vahti purge --force, or the DPO on the dashboard). It must
// run before the service's own "service.start" entry is written.
func MarkNewRegistry(ctx context.Context, db *registry.DB, root string) (bool, error) {
	var used bool
	err := db.View(ctx, func(tx *registry.Tx) error {
		e, err := tx.AuditEntries(registry.AuditFilter{Kind: "service.start", Limit: 1})
		used = len(e) > 0
		return err
	})
	if err != nil || used {
		return false, err
	}
	var first string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // an unreadable folder is the recorder's to report
		}
		rel, rerr := filepath.Rel(root, p)
		if rerr != nil {
			return nil
		}
		if _, _, fin, perr := registry.ParseSegmentPath(filepath.ToSlash(rel)); perr == nil && fin {
			first = rel
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return false, fmt.Errorf("retention: %w", err)
	}
	if first == "" {
		return false, nil
	}
	msg := fmt.Sprintf("this registry database is new but footage is already on disk (e.g. %s): deletion paused, "+
		"because the legal holds of the old registry are not in it. Restore the registry from a backup "+
		"(vahti restore), or confirm that no holds are lost (vahti purge --force, or the DPO on the dashboard)", first)
	return true, Pause(ctx, db, msg)
}

// Pause stops every deletion until an operator confirms (vahti purge
// --force, or the DPO on the dashboard), e.g. after the registry was
// restored from a backup that may lack the newest holds. The message is
// shown as the alarm and audited.
func Pause(ctx context.Context, db *registry.DB, msg string) error {
	return db.Update(ctx, func(tx *registry.Tx) error {
		if err := tx.SetMeta(metaNewRegistry, msg); err != nil {
			return err
		}
		_, err := tx.Audit("system", "service", "retention.interlock", "retention",
			map[string]any{"kind": AlarmCatalogMismatch, "message": msg})
		return err
	})
}
