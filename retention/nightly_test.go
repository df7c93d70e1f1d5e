package retention

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vahti/registry"
)

func TestNightlyPurgeStraysReportAndFolders(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.catalogue([]string{"yard", "lobby"}, t0, 100)
	old := f.addSeg("yard", t0.Add(-30*day), time.Minute, 7)
	heldSeg := f.addSeg("lobby", t0.Add(-30*day), time.Minute, 7)
	h := f.hold([]string{"lobby"}, heldSeg.Start, heldSeg.End)
	stray := func(cam string, start time.Time, suffix string) string {
		p := registry.SegmentPath(cam, start) + suffix
		f.writeFile(p, 5)
		return p
	}
	oldStray := stray("yard", t0.Add(-29*day), "")
	oldTmp := stray("yard", t0.Add(-29*day).Add(time.Minute), registry.UnfinishedSuffix)
	edgeStray := stray("yard", t0.Add(-28*day-time.Hour), "") // could hold footage younger than 28d
	heldStray := stray("lobby", heldSeg.Start.Add(time.Hour), "")
	f.hold([]string{"lobby"}, heldSeg.Start.Add(90*time.Minute), heldSeg.Start.Add(91*time.Minute))
	f.writeFile("yard/README.txt", 3)                                          // not ours: left alone
	emptyOld := filepath.Join(f.cfg.Storage.Root, "lobby", "2026", "09", "01") // emptied earlier
	emptyNew := filepath.Join(f.cfg.Storage.Root, "lobby", t0.Format("2006/01/02"))
	os.MkdirAll(emptyOld, 0o755)
	os.MkdirAll(emptyNew, 0o755)
	reconciled := false
	f.r.recon = func(context.Context) error { reconciled = true; return nil }

	rep, err := f.r.Nightly(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reconciled {
		t.Fatal("reconcile not run")
	}
	want := map[string]bool{old.Path: false, heldSeg.Path: true, oldStray: false, oldTmp: false, edgeStray: true,
		heldStray: true, "yard/README.txt": true}
	for p, keep := range want {
		if f.exists(p) != keep {
			t.Errorf("%s: exists=%v, want %v", p, f.exists(p), keep)
		}
	}
	if rep.StraysDeleted != 2 || rep.UnknownFiles != 1 {
		t.Errorf("report strays %d unknown %d", rep.StraysDeleted, rep.UnknownFiles)
	}
	// Emptied folders of the old day are gone.
	if _, err := os.Stat(filepath.Join(f.cfg.Storage.Root, "yard", t0.Add(-30*day).Format("2006/01/02"))); !os.IsNotExist(err) {
		t.Errorf("emptied day folder kept: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(emptyOld)); !os.IsNotExist(err) {
		t.Errorf("old empty day/month folders kept: %v", err)
	}
	if _, err := os.Stat(emptyNew); err != nil {
		t.Errorf("today's folder removed: %v", err)
	}
	var lobby, yard CameraPurge
	for _, c := range rep.Cameras {
		switch c.Camera {
		case "lobby":
			lobby = c
		case "yard":
			yard = c
		}
	}
	if yard.DeletedCount != 3 || yard.DeletedBytes != 17 { // the catalogued old one and two strays
		t.Errorf("yard line: %+v", yard)
	}
	if !lobby.OldestFootage.Equal(heldSeg.Start) || len(lobby.HeldRanges) != 2 || lobby.HeldRanges[0].Hold != h.ID || lobby.OverdueFootage {
		t.Errorf("lobby line: %+v", lobby)
	}
	// The report is in the audit chain and in purge-reports/.
	es := f.audit("purge.report")
	if len(es) != 1 {
		t.Fatalf("%d purge.report entries", len(es))
	}
	files, _ := filepath.Glob(filepath.Join(f.cfg.StateDir, "purge-reports", "*.json"))
	if len(files) != 1 {
		t.Fatalf("report files %v", files)
	}
	var onDisk PurgeReport
	b, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(b, &onDisk); err != nil || len(onDisk.Cameras) != 2 {
		t.Fatalf("report file: %v %s", err, b)
	}
	if st := f.r.Status(); st.LastReport == nil || st.LastReport.File != files[0] || !st.NextNightly.After(t0) {
		t.Fatalf("status: %+v", st)
	}
	var n int
	f.db.View(ctx, func(tx *registry.Tx) error { var err error; n, err = tx.VerifyAudit(); return err })
	if n == 0 {
		t.Fatal("audit chain empty or broken")
	}
}

func TestHoldReview(t *testing.T) {
	for _, auto := range []bool{false, true} {
		f := newFixture(t)
		f.cfg.Retention.HoldAutoRelease = auto
		f.r = f.newRetention()
		ctx := context.Background()
		due := registry.Hold{Cameras: []string{"yard"}, From: t0.Add(-day), To: t0, Reason: "x", Review: t0.Add(-time.Hour)}
		later := registry.Hold{Cameras: []string{"yard"}, From: t0.Add(-day), To: t0, Reason: "y", Review: t0.Add(day)}
		AddHold(ctx, f.db, &due, "u", "test")
		AddHold(ctx, f.db, &later, "u", "test")
		rep, err := f.r.Nightly(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got registry.Hold
		f.db.View(ctx, func(tx *registry.Tx) error { got, err = tx.Hold(due.ID); return err })
		if auto {
			if got.Active() || len(rep.HoldsReleased) != 1 || len(f.audit("hold.release")) != 1 {
				t.Errorf("auto release: active=%v report=%v", got.Active(), rep.HoldsReleased)
			}
		} else {
			st := f.r.Status()
			if !got.Active() || len(st.HoldsForReview) != 1 || st.HoldsForReview[0] != due.ID || !f.hasAlarm(AlarmHoldReview) {
				t.Errorf("flag for review: active=%v status=%+v", got.Active(), st)
			}
		}
	}
}

func TestRunStopsWithContextAndSweeps(t *testing.T) {
	f := newFixture(t)
	old := f.addSeg("yard", t0.Add(-29*day), time.Minute, 1)
	f.catalogue([]string{"yard"}, t0, 100)
	// The last nightly purge was two days ago: it is caught up at start.
	f.db.Update(context.Background(), func(tx *registry.Tx) error { return setMetaTime(tx, metaLastNightly, t0.Add(-2*day)) })
	f.r.nightlyGrace = 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.r.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for (f.exists(old.Path) || f.r.Status().LastSweep.IsZero() || f.r.Status().LastNightly.IsZero()) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f.exists(old.Path) {
		t.Fatal("Run did not sweep")
	}
	if st := f.r.Status(); !st.LastNightly.Equal(t0) || st.LastSweep.IsZero() || !st.NextNightly.Equal(time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("status after run: %+v", st)
	}
}

func TestRunFirstStartSchedulesNightlyAtNextSlot(t *testing.T) {
	f := newFixture(t)
	f.r.nightlyGrace = 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.r.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for f.r.Status().LastSweep.IsZero() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	// 22.11. 14:00 local: the next slot is 23.11. 03:00 local.
	if st := f.r.Status(); !st.LastNightly.IsZero() || !st.NextNightly.Equal(time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("status: last %s next %s", st.LastNightly, st.NextNightly)
	}
}
