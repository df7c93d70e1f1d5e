package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/configs"
	"vahti/registry"
)

// catalogue builds n one-minute segments per camera ending at end.
func (f *fixture) catalogue(cams []string, end time.Time, n int) []registry.Segment {
	var specs []registry.Segment
	for _, c := range cams {
		for i := n; i >= 1; i-- {
			start := end.Add(-time.Duration(i) * time.Minute)
			specs = append(specs, registry.Segment{Camera: c, Start: start, End: start.Add(time.Minute), Bytes: 100})
		}
	}
	return f.addSegs(specs)
}

// TestSweepDeletesExpiredKeepsHeldAndYoung runs in one batch and in batches
// of 7, where one batch's unlinks overlap the next one's doom.
func TestSweepDeletesExpiredKeepsHeldAndYoung(t *testing.T) {
	for _, batch := range []int{sweepBatch, 7} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) { testSweepDeletesExpiredKeepsHeldAndYoung(t, batch) })
	}
}

func testSweepDeletesExpiredKeepsHeldAndYoung(t *testing.T, batch int) {
	f := newFixture(t)
	f.r.batch = batch
	ctx := context.Background()
	// 30 days of hourly segments per camera, catalogue 1/hour for speed.
	var specs []registry.Segment
	for _, c := range []string{"yard", "lobby"} {
		for h := 0; h < 30*24; h++ {
			start := t0.Add(-30 * day).Add(time.Duration(h) * time.Hour)
			specs = append(specs, registry.Segment{Camera: c, Start: start, End: start.Add(time.Hour), Bytes: 10})
		}
	}
	all := f.addSegs(specs)
	heldFrom := t0.Add(-29*day - 90*time.Minute)
	h := f.hold([]string{"yard"}, heldFrom, heldFrom.Add(time.Second)) // inside one segment
	// Prime the clock memory as if the service had been running.
	f.set(t0.Add(-time.Minute))
	f.purge()
	f.set(t0)
	rep := f.purge()
	if len(rep.Refused) > 0 {
		t.Fatalf("refused: %v %v", rep.Refused, rep.Messages)
	}
	cutoff := t0.Add(-28 * day)
	for _, s := range all {
		_, inRow := f.row(s.Path)
		onDisk := f.exists(s.Path)
		held := h.Covers(s.Camera, s.Start, s.End)
		expired := !s.End.After(cutoff)
		switch {
		case expired && !held && (inRow || onDisk):
			t.Errorf("%s (end %s) expired and unheld but kept (row %v, file %v)", s.Path, s.End, inRow, onDisk)
		case (!expired || held) && (!inRow || !onDisk):
			t.Errorf("%s (end %s, held %v) destroyed", s.Path, s.End, held)
		}
	}
	// Audited per camera with range, count and bytes.
	var n int64
	for _, e := range f.audit("segments.delete") {
		var d DeletionDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if d.Reason != "expired" || d.Count == 0 || d.Bytes != d.Count*10 || e.Object != "camera:"+d.Camera {
			t.Errorf("bad audit detail %s", e.Detail)
		}
		n += d.Count
	}
	if want := int64(2*48 - 1); n != want { // 48 hourly segments end <= cutoff per camera, one held
		t.Errorf("audited %d deletions, want %d", n, want)
	}
	// Emptied day folders of old days are gone, today's stay.
	if _, err := os.Stat(filepath.Join(f.cfg.Storage.Root, "lobby", t0.Add(-30*day).Format("2006/01/02"))); !os.IsNotExist(err) {
		t.Errorf("emptied day folder kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.cfg.Storage.Root, "lobby", t0.Add(-time.Hour).Format("2006/01/02"))); err != nil {
		t.Errorf("today's folder: %v", err)
	}
	// Release the hold: the held segment goes at the next sweep.
	if _, err := ReleaseHold(ctx, f.db, h.ID, "tester", "test", "case closed"); err != nil {
		t.Fatal(err)
	}
	f.set(t0.Add(time.Minute))
	f.purge()
	for _, s := range all {
		if h.Covers(s.Camera, s.Start, s.End) && f.exists(s.Path) {
			t.Errorf("released hold's segment %s still there", s.Path)
		}
	}
	if es := f.audit("hold"); len(es) != 2 || es[0].Kind != "hold.add" || es[1].Kind != "hold.release" {
		t.Errorf("hold audit: %+v", es)
	}
}

func TestPerCameraShorterMaxAge(t *testing.T) {
	f := newFixture(t)
	f.cfg.Cameras[1].MaxAge = configs7d()
	f.r = f.newRetention()
	y := f.addSeg("yard", t0.Add(-8*day), time.Minute, 1)
	l := f.addSeg("lobby", t0.Add(-8*day), time.Minute, 1)
	for i := 0; i < 40; i++ { // keep the pass small relative to the catalog
		f.addSeg("yard", t0.Add(-time.Duration(i+1)*time.Hour), time.Minute, 1)
	}
	f.purge()
	if !f.exists(y.Path) || f.exists(l.Path) {
		t.Fatalf("yard (28d) kept=%v, lobby (7d) kept=%v", f.exists(y.Path), f.exists(l.Path))
	}
}

func TestDryRunAtListsWithoutDeleting(t *testing.T) {
	f := newFixture(t)
	segs := f.catalogue([]string{"yard"}, t0.Add(-27*day), 10)
	rep, err := f.r.Purge(context.Background(), true, t0.Add(day-5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Segments) != 5 || !rep.DryRun {
		t.Fatalf("dry run at +1d5m lists %d segments, want 5", len(rep.Segments))
	}
	for _, s := range segs {
		if !f.exists(s.Path) {
			t.Fatalf("dry run deleted %s", s.Path)
		}
	}
	if len(f.audit("segments.delete")) != 0 {
		t.Fatal("dry run audited a deletion")
	}
	if _, err := f.r.PurgeWith(context.Background(), PurgeOptions{At: t0}); err == nil {
		t.Fatal("--at without dry run accepted")
	}
}

func TestExportPackagesExpireLikeFootage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mk := func(id string, end time.Time, cams ...string) registry.Export {
		e := registry.Export{ID: id, Path: "exports/" + id + ".zip", Cameras: cams, From: end.Add(-time.Hour), To: end,
			FootageEnd: end, SHA256: "x", Bytes: 3, Reason: "r", CreatedBy: "u"}
		p := filepath.Join(f.cfg.StateDir, "exports", id+".zip")
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte("zip"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := f.db.Update(ctx, func(tx *registry.Tx) error { return tx.AddExport(&e) }); err != nil {
			t.Fatal(err)
		}
		return e
	}
	old := mk("old", t0.Add(-29*day), "yard")
	held := mk("held", t0.Add(-29*day), "yard", "lobby")
	young := mk("young", t0.Add(-27*day), "yard")
	f.hold([]string{"lobby"}, held.From, held.From.Add(time.Minute))
	rep := f.purge()
	if len(rep.Exports) != 1 || rep.Exports[0].ID != "old" {
		t.Fatalf("exports deleted: %+v", rep.Exports)
	}
	for _, c := range []struct {
		e    registry.Export
		gone bool
	}{{old, true}, {held, false}, {young, false}} {
		_, err := os.Stat(filepath.Join(f.cfg.StateDir, c.e.Path))
		if os.IsNotExist(err) != c.gone {
			t.Errorf("export %s: gone=%v want %v", c.e.ID, os.IsNotExist(err), c.gone)
		}
	}
	var e registry.Export
	f.db.View(ctx, func(tx *registry.Tx) error { var err error; e, err = tx.Export("old"); return err })
	if e.Deleted.IsZero() || len(f.audit("export.delete")) != 1 {
		t.Fatal("export deletion not recorded")
	}
}

func TestHoldAddedByAnotherProcessIsHonoured(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	segs := f.catalogue([]string{"yard"}, t0.Add(-29*day), 3)
	f.catalogue([]string{"yard"}, t0, 100)
	// The candidate list was read before the hold existed...
	p, err := f.r.planPass(ctx, t0)
	if err != nil || len(p.segs) != 3 {
		t.Fatalf("plan: %v %d", err, len(p.segs))
	}
	// ...then another process (own connection) adds a hold...
	other, err := registry.Open(f.cfg.StateDir, f.clock)
	if err != nil {
		t.Fatal(err)
	}
	h := registry.Hold{Cameras: []string{"yard"}, From: segs[1].Start.Add(time.Second), To: segs[1].End.Add(-time.Second), Reason: "police"}
	if err := AddHold(ctx, other, &h, "cli-user", "cli"); err != nil {
		t.Fatal(err)
	}
	other.Close()
	// ...and the remover re-reads holds in its claiming transaction.
	del, _, err := f.r.removeSegments(ctx, t0, f.cfg.MaxAgeFor, p.segs, "expired")
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 2 || !f.exists(segs[1].Path) || f.exists(segs[0].Path) || f.exists(segs[2].Path) {
		t.Fatalf("deleted %d; held segment kept=%v", len(del), f.exists(segs[1].Path))
	}
}

func TestHoldValidation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bad := []registry.Hold{
		{Cameras: nil, From: t0, To: t0.Add(time.Hour), Reason: "x"},
		{Cameras: []string{"yard"}, From: t0, To: t0.Add(time.Hour), Reason: "  "},
		{Cameras: []string{"yard"}, From: t0, To: t0, Reason: "x"},
		{Cameras: []string{"yard"}, From: t0.Add(time.Hour), To: t0, Reason: "x"},
		{Cameras: []string{""}, From: t0, To: t0.Add(time.Hour), Reason: "x"},
	}
	for i, h := range bad {
		if err := AddHold(ctx, f.db, &h, "u", "test"); err == nil {
			t.Errorf("bad hold %d accepted", i)
		}
	}
	future := registry.Hold{Cameras: []string{"all"}, From: t0, To: t0.Add(30 * day), Reason: "ongoing"}
	if err := AddHold(ctx, f.db, &future, "u", "test"); err != nil || future.ID == 0 {
		t.Fatalf("hold into the future: %v", err)
	}
	if _, err := ReleaseHold(ctx, f.db, future.ID, "u", "test", ""); err == nil {
		t.Error("release without reason accepted")
	}
	if _, err := ReleaseHold(ctx, f.db, future.ID, "u", "test", "done"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReleaseHold(ctx, f.db, future.ID, "u", "test", "again"); err == nil {
		t.Error("double release accepted")
	}
	if _, err := ReleaseHold(ctx, f.db, 999, "u", "test", "x"); err == nil {
		t.Error("release of unknown hold accepted")
	}
}

func TestRequestPlacesHoldInOneTransaction(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	q := registry.Request{Kind: "police", Cameras: []string{"yard"}, From: t0.Add(-29 * day), To: t0.Add(-29*day + time.Hour),
		Reference: "POL-1", Basis: "Poliisilaki"}
	h, err := OpenRequest(ctx, f.db, &q, "keeper", "test")
	if err != nil || q.ID == 0 || h.ID == 0 || q.HoldID != h.ID || h.RequestID != q.ID {
		t.Fatalf("open request: %v %+v %+v", err, q, h)
	}
	if len(f.audit("request.add")) != 1 || len(f.audit("hold.add")) != 1 {
		t.Fatal("request/hold not audited")
	}
	bad := registry.Request{Kind: "curious", Cameras: []string{"yard"}, From: t0, To: t0.Add(time.Hour), Reference: "x", Basis: "y"}
	if _, err := OpenRequest(ctx, f.db, &bad, "k", "test"); err == nil {
		t.Fatal("bad kind accepted")
	}
	if _, err := ReleaseHold(ctx, f.db, h.ID, "keeper", "test", "not needed"); !errors.Is(err, registry.ErrHoldOfOpenRequest) {
		t.Fatalf("release of an open request's hold: %v", err)
	}
	got, rel, err := CloseRequest(ctx, f.db, q.ID, "withdrawn", "poliisi peruutti", true, "keeper", "test")
	if err != nil || got.Status != "closed" || rel == nil || rel.Active() {
		t.Fatalf("close: %v %+v %+v", err, got, rel)
	}
	if _, _, err := CloseRequest(ctx, f.db, q.ID, "refused", "again", false, "keeper", "test"); err == nil {
		t.Fatal("closed twice")
	}
}

func configs7d() configs.Duration { return configs.Duration(7 * day) }

// TestDirectoryNamedLikeASegmentIsNotRemoved: the unlinker removes files
// only. A row whose path is a folder (planted, or a broken restore) fails
// loudly and stays, with the folder; the other expired segment goes.
func TestDirectoryNamedLikeASegmentIsNotRemoved(t *testing.T) {
	f := newFixture(t)
	f.cfg.Retention.MaxDeleteFraction = 1
	start := t0.Add(-30 * day)
	odd := f.addSeg("yard", start, time.Minute, 10)
	plain := f.addSeg("yard", start.Add(time.Hour), time.Minute, 10)
	full := filepath.Join(f.cfg.Storage.Root, filepath.FromSlash(odd.Path))
	if err := os.Remove(full); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(full, 0o755); err != nil {
		t.Fatal(err)
	}
	f.set(t0)
	_, err := f.r.Purge(context.Background(), false, time.Time{})
	if err == nil || !strings.Contains(err.Error(), odd.Path) {
		t.Fatalf("purge over a folder named like a segment: %v", err)
	}
	if st, err := os.Stat(full); err != nil || !st.IsDir() {
		t.Errorf("the folder went: %v", err)
	}
	if s, ok := f.row(odd.Path); !ok || s.State != registry.SegmentOK {
		t.Errorf("its row: %+v %v, want kept in state ok", s, ok)
	}
	if _, ok := f.row(plain.Path); ok || f.exists(plain.Path) {
		t.Errorf("the other expired segment was kept")
	}
}
