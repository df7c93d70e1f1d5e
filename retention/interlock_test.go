package retention

import (
	"context"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

func (f *fixture) hasAlarm(kind string) bool {
	for _, a := range f.r.Status().Alarms {
		if a.Kind == kind {
			return true
		}
	}
	return false
}

func TestInterlockPassThatWouldDeleteEverything(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	segs := f.catalogue([]string{"yard", "lobby"}, t0.Add(-40*day), 20)
	f.set(t0.Add(-time.Minute))
	f.purge() // the service has been running: the clock is known
	f.set(t0)
	rep := f.purge()
	if len(rep.Refused) != 1 || rep.Refused[0] != AlarmDeleteFraction || len(rep.Segments) != 0 {
		t.Fatalf("refused %v, deleted %d", rep.Refused, len(rep.Segments))
	}
	for _, s := range segs {
		if !f.exists(s.Path) {
			t.Fatal("refused pass deleted footage")
		}
	}
	st := f.r.Status()
	if !st.Paused || !f.hasAlarm(AlarmDeleteFraction) {
		t.Fatalf("status: %+v", st)
	}
	if n := len(f.audit("retention.interlock")); n != 1 {
		t.Fatalf("interlock audited %d times", n)
	}
	f.purge() // still refused, but audited once only
	if n := len(f.audit("retention.interlock")); n != 1 {
		t.Fatalf("interlock audited %d times after a repeat", n)
	}
	// The operator confirms.
	rep, err := f.r.PurgeWith(ctx, PurgeOptions{Force: true})
	if err != nil || len(rep.Segments) != 40 || !rep.Forced {
		t.Fatalf("forced pass: %v, %d deleted", err, len(rep.Segments))
	}
	if len(f.audit("retention.force")) != 1 || f.hasAlarm(AlarmDeleteFraction) {
		t.Fatal("force not audited or alarm not cleared")
	}
}

func TestInterlockExpectedDeletionAfterShortDowntimeRuns(t *testing.T) {
	f := newFixture(t)
	// 28 days of hourly footage; the box was off 20 hours.
	var specs []registry.Segment
	for h := 0; h < 30*24; h++ {
		start := t0.Add(-30 * day).Add(time.Duration(h) * time.Hour)
		specs = append(specs, registry.Segment{Camera: "yard", Start: start, End: start.Add(time.Hour), Bytes: 1})
	}
	f.addSegs(specs)
	f.set(t0.Add(-20 * time.Hour))
	f.r.PurgeWith(context.Background(), PurgeOptions{Force: true})
	f.set(t0)
	rep := f.purge()
	if len(rep.Refused) != 0 || len(rep.Segments) == 0 {
		t.Fatalf("a normal catch-up pass was refused: %v %v", rep.Refused, rep.Messages)
	}
}

func TestInterlockClockJumpForward(t *testing.T) {
	f := newFixture(t)
	seg := f.addSeg("yard", t0.Add(-27*day), time.Minute, 1)
	f.catalogue([]string{"yard"}, t0, 200)
	f.purge()              // remembers t0
	f.set(t0.Add(3 * day)) // the clock jumps: seg would look expired
	rep := f.purge()
	if len(rep.Refused) != 1 || rep.Refused[0] != AlarmClockJump || !f.exists(seg.Path) {
		t.Fatalf("clock jump not refused: %v, kept %v", rep.Refused, f.exists(seg.Path))
	}
	if !f.r.Status().Paused || !strings.Contains(rep.Messages[AlarmClockJump], "--force") {
		t.Fatalf("status/message: %+v %v", f.r.Status(), rep.Messages)
	}
	// A restart does not forget: the last time seen is in the registry.
	f.r = f.newRetention()
	if rep := f.purge(); len(rep.Refused) == 0 || !f.exists(seg.Path) {
		t.Fatal("clock jump forgotten after restart")
	}
	rep, err := f.r.PurgeWith(context.Background(), PurgeOptions{Force: true})
	if err != nil || len(rep.Segments) != 1 || f.exists(seg.Path) {
		t.Fatalf("forced: %v %d", err, len(rep.Segments))
	}
	// From now on the new time is accepted.
	f.set(t0.Add(3*day + time.Minute))
	if rep := f.purge(); len(rep.Refused) != 0 {
		t.Fatalf("refused after force: %v", rep.Refused)
	}
}

func TestClockStepBackNeverDeletesEarly(t *testing.T) {
	f := newFixture(t)
	segs := f.catalogue([]string{"yard"}, t0.Add(-28*day+30*time.Minute), 60)
	f.catalogue([]string{"yard"}, t0, 1000)
	f.purge() // at t0: the 30 segments ending by t0-28d go
	f.set(t0.Add(-6 * time.Hour))
	rep := f.purge()
	if len(rep.Segments) != 0 {
		t.Fatalf("deleted %d after the clock stepped back", len(rep.Segments))
	}
	if !f.hasAlarm(AlarmClockBackwards) || f.r.Status().Paused {
		t.Fatal("step back: want a (non-pausing) alarm")
	}
	kept := 0
	for _, s := range segs {
		if f.exists(s.Path) {
			kept++
		}
	}
	if kept != 30 {
		t.Fatalf("kept %d of the 30 young segments", kept)
	}
	f.set(t0.Add(time.Minute))
	f.purge()
	if f.hasAlarm(AlarmClockBackwards) {
		t.Fatal("alarm stays after the clock recovered")
	}
}

func TestInterlockEmptyCatalogWithFootageOnDisk(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Footage on disk, 40 days old, but the catalog is empty (registry
	// replaced, holds perhaps lost with it).
	var paths []string
	for i := 0; i < 5; i++ {
		p := "yard/" + t0.Add(-40*day+time.Duration(i)*time.Minute).Format("2006/01/02/15-04-05.000000") + ".mp4"
		f.writeFile(p, 10)
		paths = append(paths, p)
	}
	called := 0
	f.r.recon = func(context.Context) error { called++; return nil }
	rep, err := f.r.Nightly(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if called != 1 {
		t.Fatal("reconcile not called")
	}
	if rep.StraysDeleted != 0 || !contains(rep.Refused, AlarmCatalogMismatch) {
		t.Fatalf("report: %+v", rep)
	}
	for _, p := range paths {
		if !f.exists(p) {
			t.Fatal("footage deleted with an empty catalog")
		}
	}
	if !f.r.Status().Paused || len(f.audit("retention.interlock")) != 1 {
		t.Fatal("not paused / not audited")
	}
	// The sweeper is paused too until the next nightly check passes, also
	// in another process (a CLI purge).
	if rep := f.purge(); !contains(rep.Refused, AlarmCatalogMismatch) {
		t.Fatalf("sweeper not paused: %v", rep.Refused)
	}
	f.r = f.newRetention()
	if rep := f.purge(); !contains(rep.Refused, AlarmCatalogMismatch) {
		t.Fatalf("another process's pass not paused: %v", rep.Refused)
	}
}

func TestInterlockMostlyMissingRows(t *testing.T) {
	f := newFixture(t)
	segs := f.catalogue([]string{"yard"}, t0, 30)
	ctx := context.Background()
	// storage.root not mounted: reconcile marks most rows missing.
	f.r.recon = func(context.Context) error {
		return f.db.Update(ctx, func(tx *registry.Tx) error {
			for _, s := range segs[:25] {
				if err := tx.SetSegmentState(s.ID, "missing"); err != nil {
					return err
				}
			}
			return nil
		})
	}
	rep, _ := f.r.Nightly(ctx)
	if !contains(rep.Refused, AlarmCatalogMismatch) {
		t.Fatalf("mostly missing rows not refused: %+v", rep)
	}
}
