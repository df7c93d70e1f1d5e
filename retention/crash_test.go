package retention

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

func (f *fixture) stateOf(path string) string {
	s, ok := f.row(path)
	if !ok {
		return "none"
	}
	return s.State
}

func TestCrashBetweenDoomAndUnlinkIsFinishedAtStartup(t *testing.T) {
	for _, stage := range []string{"doomed", "unlink", "rows"} {
		t.Run(stage, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			old := f.catalogue([]string{"yard"}, t0.Add(-29*day), 4)
			f.catalogue([]string{"yard"}, t0, 100)
			f.r.crash = func(s string, n int) bool { return s == stage && n >= 2 || s == stage && stage != "unlink" }
			if _, err := f.r.Purge(ctx, false, time.Time{}); err == nil || !strings.Contains(err.Error(), "simulated crash") {
				t.Fatalf("no crash: %v", err)
			}
			doomed := 0
			for _, s := range old {
				if f.stateOf(s.Path) == registry.SegmentDoomed {
					doomed++
				}
			}
			if doomed != 4 {
				t.Fatalf("after crash at %s: %d doomed rows, want 4", stage, doomed)
			}
			// Restart: a new process finishes the job before anything else.
			r2 := f.newRetention()
			n, err := r2.finishDoomed(ctx)
			if err != nil || n != 4 {
				t.Fatalf("finishDoomed: %d %v", n, err)
			}
			for _, s := range old {
				if f.exists(s.Path) || f.stateOf(s.Path) != "none" {
					t.Errorf("%s survives (state %s)", s.Path, f.stateOf(s.Path))
				}
			}
			var recovered int
			for _, e := range f.audit("segments.delete") {
				if strings.Contains(string(e.Detail), `"recovered"`) {
					recovered++
				}
			}
			if recovered != 1 {
				t.Errorf("recovered deletions audited %d times, want 1", recovered)
			}
		})
	}
}

func TestHoldArrivingAfterCrashSavesDoomedFootage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := f.catalogue([]string{"yard"}, t0.Add(-29*day), 4)
	f.catalogue([]string{"yard"}, t0, 100)
	f.r.crash = func(s string, n int) bool { return s == "doomed" }
	f.r.Purge(ctx, false, time.Time{})
	f.hold([]string{"yard"}, old[1].Start.Add(time.Second), old[1].Start.Add(2*time.Second))
	if _, err := f.newRetention().finishDoomed(ctx); err != nil {
		t.Fatal(err)
	}
	if !f.exists(old[1].Path) || f.stateOf(old[1].Path) != registry.SegmentOK {
		t.Fatalf("held doomed segment: exists=%v state=%s", f.exists(old[1].Path), f.stateOf(old[1].Path))
	}
	if f.exists(old[3].Path) {
		t.Fatal("unheld doomed segment kept")
	}
}

// TestPropertyRetention: random segments x random holds x random clock
// readings (forward and backward) x random crash points. After the last
// restart and pass: nothing expired and unheld is left, nothing a hold
// covers is gone, nothing younger than max_age (at the latest clock
// reading) is gone, and rows and files agree.
func TestPropertyRetention(t *testing.T) {
	iters := 25
	if testing.Short() {
		iters = 10
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	for it := 0; it < iters; it++ {
		t.Run(fmt.Sprint(it), func(t *testing.T) { propertyRun(t, rng) })
	}
}

func propertyRun(t *testing.T, rng *rand.Rand) {
	f := newFixture(t, "a", "b", "c")
	f.cfg.Retention.MaxDeleteFraction = 1
	if rng.Intn(2) == 0 {
		f.cfg.Cameras[1].MaxAge = configs7d()
	}
	f.r = f.newRetention()
	ctx := context.Background()
	maxAge := func(c string) time.Duration { return f.cfg.MaxAgeFor(c) }
	cams := []string{"a", "b", "c"}
	// The clock readings first: mostly forward (under the jump limit),
	// sometimes back.
	now := t0.Add(-8 * day)
	var clock []time.Time
	for step := 0; step < 3+rng.Intn(6); step++ {
		if rng.Intn(5) == 0 {
			now = now.Add(-time.Duration(rng.Int63n(int64(6 * time.Hour))))
		} else {
			now = now.Add(time.Duration(rng.Int63n(int64(20 * time.Hour))))
		}
		clock = append(clock, now)
	}
	var segs []registry.Segment
	used := map[string]bool{}
	for i := 0; i < 40+rng.Intn(40); i++ {
		c := cams[rng.Intn(3)]
		dur := time.Duration(1+rng.Intn(120)) * time.Minute
		start := t0.Add(-35 * day).Add(time.Duration(rng.Int63n(int64(20 * day)))).Truncate(time.Second)
		if rng.Intn(2) == 0 {
			// End near a cutoff of one of the clock readings, where an
			// off-by-a-little gate would show.
			cut := clock[rng.Intn(len(clock))].Add(-maxAge(c))
			start = cut.Add(time.Duration(rng.Int63n(int64(4*time.Hour))) - 2*time.Hour - dur).Truncate(time.Second)
		}
		p := registry.SegmentPath(c, start)
		if used[p] {
			continue
		}
		used[p] = true
		segs = append(segs, f.addSeg(c, start, dur, 1+rng.Intn(50)))
	}
	var holds []registry.Hold
	for i := 0; i < rng.Intn(5); i++ {
		from := t0.Add(-35 * day).Add(time.Duration(rng.Int63n(int64(20 * day))))
		hc := []string{cams[rng.Intn(3)]}
		if rng.Intn(4) == 0 {
			hc = []string{registry.AllCameras}
		}
		holds = append(holds, f.hold(hc, from, from.Add(time.Duration(rng.Int63n(int64(2*day))))))
	}
	released := map[int64]bool{}
	latest := clock[0]
	for _, now = range clock {
		if now.After(latest) {
			latest = now
		}
		f.set(now)
		if len(holds) > 0 && rng.Intn(4) == 0 {
			h := holds[rng.Intn(len(holds))]
			if !released[h.ID] {
				if _, err := ReleaseHold(ctx, f.db, h.ID, "u", "test", "done"); err != nil {
					t.Fatal(err)
				}
				released[h.ID] = true
			}
		}
		r := f.newRetention()
		if _, err := r.finishDoomed(ctx); err != nil {
			t.Fatal(err)
		}
		// Small batches: a crash can leave two batches doomed.
		r.batch = 1 + rng.Intn(12)
		if rng.Intn(2) == 0 {
			stage := []string{"doomed", "unlink", "rows"}[rng.Intn(3)]
			at := rng.Intn(5)
			r.crash = func(s string, n int) bool { return s == stage && n >= at }
		}
		r.pass(ctx, now, true, "expired") // errors are simulated crashes
	}
	// Final restart and a clean pass (forced: the property is about the
	// gate, not the interlocks).
	r := f.newRetention()
	if _, err := r.finishDoomed(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.pass(ctx, now, true, "expired"); err != nil {
		t.Fatal(err)
	}
	var active []registry.Hold
	for _, h := range holds {
		if !released[h.ID] {
			active = append(active, h)
		}
	}
	for _, s := range segs {
		_, inRow := f.row(s.Path)
		onDisk := f.exists(s.Path)
		if inRow != onDisk {
			t.Errorf("%s: row %v but file %v (state %s)", s.Path, inRow, onDisk, f.stateOf(s.Path))
		}
		if inRow && f.stateOf(s.Path) != registry.SegmentOK {
			t.Errorf("%s left in state %s", s.Path, f.stateOf(s.Path))
		}
		held := false
		for _, h := range active {
			held = held || h.Covers(s.Camera, s.Start, s.End)
		}
		sweep := f.cfg.Retention.SweepInterval.D()
		switch {
		case held && !onDisk:
			t.Errorf("%s: held by an active hold but destroyed", s.Path)
		case s.End.After(latest.Add(-maxAge(s.Camera))) && !onDisk:
			t.Errorf("%s (end %s): younger than max age at the latest clock %s but destroyed", s.Path, s.End, latest)
		case !held && !s.End.After(now.Add(-maxAge(s.Camera)-sweep)) && onDisk:
			t.Errorf("%s (end %s): expired and unheld at %s but kept", s.Path, s.End, now)
		}
	}
	// Nothing uncatalogued left behind.
	filepath.Walk(f.cfg.Storage.Root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(f.cfg.Storage.Root, p)
			if _, ok := f.row(filepath.ToSlash(rel)); !ok {
				t.Errorf("orphan file %s", rel)
			}
		}
		return nil
	})
}

// A stop that arrives while Run is still finishing a crash's deletions is
// a clean stop (the service exits 0), and the doomed rows wait for the
// next start instead of being half-done or given back.
func TestStopDuringStartupRecoveryIsClean(t *testing.T) {
	f := newFixture(t)
	old := f.catalogue([]string{"yard"}, t0.Add(-29*day), 3)
	f.catalogue([]string{"yard"}, t0, 100)
	f.r.crash = func(s string, n int) bool { return s == "doomed" }
	if _, err := f.r.Purge(context.Background(), false, time.Time{}); err == nil {
		t.Fatal("no simulated crash")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.newRetention().Run(ctx); err != nil {
		t.Fatalf("Run stopped during start-up: %v, want a clean stop", err)
	}
	for _, s := range old {
		if !f.exists(s.Path) || f.stateOf(s.Path) != registry.SegmentDoomed {
			t.Errorf("%s after the stop: exists=%v state=%s, want the doomed file kept for the next start", s.Path, f.exists(s.Path), f.stateOf(s.Path))
		}
	}
	if n, err := f.newRetention().finishDoomed(context.Background()); err != nil || n != 3 {
		t.Fatalf("next start: finished %d, %v; want 3", n, err)
	}
}
