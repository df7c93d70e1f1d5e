package retention

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vahti/mp4read"
	"vahti/registry"
)

// A segment's sidecar index (mp4read) goes with its segment, in the one
// place that deletes, and stays while a hold keeps the segment; the
// emptied day folder of deleted footage is removed, so no index is left
// behind.
func TestSidecarIndexDeletedWithItsSegment(t *testing.T) {
	f := newFixture(t)
	old := t0.Add(-30 * day)
	gone := f.addSeg("yard", old, time.Minute, 100)
	held := f.addSeg("lobby", old, time.Minute, 100)
	f.hold([]string{"lobby"}, old, old.Add(time.Second))
	f.catalogue([]string{"yard", "lobby"}, t0, 30) // young footage: a normal pass deletes a small part
	for _, s := range []string{gone.Path, held.Path} {
		f.writeFile(s+mp4read.IndexSuffix, 10)
	}
	f.set(t0.Add(-time.Minute))
	f.purge()
	f.set(t0)
	if rep := f.purge(); len(rep.Refused) > 0 {
		t.Fatalf("refused: %v %v", rep.Refused, rep.Messages)
	}
	if f.exists(gone.Path) || f.exists(gone.Path+mp4read.IndexSuffix) {
		t.Errorf("expired segment or its index kept: segment %v, index %v", f.exists(gone.Path), f.exists(gone.Path+mp4read.IndexSuffix))
	}
	if _, err := os.Stat(filepath.Dir(filepath.Join(f.cfg.Storage.Root, filepath.FromSlash(gone.Path)))); !os.IsNotExist(err) {
		t.Errorf("day folder of deleted footage kept: %v", err)
	}
	if !f.exists(held.Path) || !f.exists(held.Path+mp4read.IndexSuffix) {
		t.Errorf("held segment or its index deleted: segment %v, index %v", f.exists(held.Path), f.exists(held.Path+mp4read.IndexSuffix))
	}
}

// An index whose segment was deleted behind Vahti's back goes at the
// nightly purge with the emptied folder, and indexes are not counted as
// unknown files in the purge report.
func TestOrphanIndexRemovedAtNightly(t *testing.T) {
	f := newFixture(t)
	old := t0.Add(-10 * day)
	seg := f.addSeg("yard", old, time.Minute, 100)
	f.catalogue([]string{"yard"}, t0, 30)
	f.writeFile(seg.Path+mp4read.IndexSuffix, 10)
	f.writeFile(seg.Path+mp4read.IndexSuffix+".123.tmp", 10)
	young := registry.SegmentPath("yard", t0.Add(-time.Minute))
	f.writeFile(young+mp4read.IndexSuffix, 10)
	os.Remove(filepath.Join(f.cfg.Storage.Root, filepath.FromSlash(seg.Path)))
	f.set(t0.Add(-time.Minute))
	f.purge()
	f.set(t0)
	rep, err := f.r.Nightly(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.UnknownFiles != 0 {
		t.Errorf("indexes counted as unknown files: %d", rep.UnknownFiles)
	}
	if _, err := os.Stat(filepath.Dir(filepath.Join(f.cfg.Storage.Root, filepath.FromSlash(seg.Path)))); !os.IsNotExist(err) {
		t.Errorf("folder with only an orphan index kept: %v", err)
	}
	if !f.exists(young + mp4read.IndexSuffix) {
		t.Error("index of a segment still on disk deleted")
	}
}
