package retention

import (
	"context"
	"testing"
	"time"

	"vahti/registry"
)

// The registry is lost and a new one re-adopts the footage on disk: the
// footage past max_age is exactly what was held, and the holds are gone
// with the old registry. Nothing may be deleted until someone restores the
// registry or confirms.
func TestNewRegistryWithOldFootageIsNotPurged(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	held := f.addSeg("yard", t0.Add(-40*day), time.Minute, 10) // kept by a hold that was in the lost registry
	young := f.addSeg("yard", t0.Add(-time.Hour), time.Minute, 10)

	paused, err := MarkNewRegistry(ctx, f.db, f.cfg.Storage.Root)
	if err != nil || !paused {
		t.Fatalf("MarkNewRegistry = %v, %v; want paused", paused, err)
	}
	if rep := f.purge(); !contains(rep.Refused, AlarmCatalogMismatch) || len(rep.Segments) != 0 {
		t.Fatalf("a new registry with old footage was purged: refused %v, deleted %d", rep.Refused, len(rep.Segments))
	}
	// The nightly check finds catalog and disk agreeing (the recorder
	// adopted the files) and must not lift this interlock by itself.
	if _, err := f.r.Nightly(ctx); err != nil {
		t.Fatal(err)
	}
	if rep := f.purge(); len(rep.Segments) != 0 || !f.exists(held.Path) {
		t.Fatalf("nightly lifted the new-registry interlock: deleted %d", len(rep.Segments))
	}
	if len(f.audit("retention.interlock")) == 0 {
		t.Error("the interlock was not audited")
	}

	// An operator confirms: expired footage goes, young stays.
	rep, err := f.r.PurgeWith(ctx, PurgeOptions{Force: true})
	if err != nil || len(rep.Segments) != 1 || f.exists(held.Path) || !f.exists(young.Path) {
		t.Fatalf("forced pass: %v, deleted %d", err, len(rep.Segments))
	}

	// A registry that has run a service is not new, whatever is on disk.
	f.db.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit("system", "service", "service.start", "service", nil)
		return err
	})
	if paused, err := MarkNewRegistry(ctx, f.db, f.cfg.Storage.Root); err != nil || paused {
		t.Fatalf("used registry: MarkNewRegistry = %v, %v", paused, err)
	}
}

func TestNewRegistryOnEmptyDiskIsNotPaused(t *testing.T) {
	f := newFixture(t)
	if paused, err := MarkNewRegistry(context.Background(), f.db, f.cfg.Storage.Root); err != nil || paused {
		t.Fatalf("fresh install: MarkNewRegistry = %v, %v", paused, err)
	}
}
