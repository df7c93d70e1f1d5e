package retention

import (
	"testing"
	"time"
)

// simulateNights steps a clock through [from, to) and records when the
// nightly purge would start, remembering the last run as Run does.
func simulateNights(t *testing.T, loc *time.Location, at time.Duration, from, to time.Time, step time.Duration, last time.Time) []time.Time {
	t.Helper()
	var runs []time.Time
	for now := from; now.Before(to); now = now.Add(step) {
		if nightlyDue(now, last, loc, at) {
			runs = append(runs, now)
			last = now
		}
	}
	return runs
}

func TestNightlyDSTHelsinki(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		t.Fatal(err)
	}
	at := 3 * time.Hour
	cases := []struct {
		name string
		from time.Time // the previous night's run
		want []time.Time
	}{
		// Spring forward: 03:00 EET does not exist; the clock jumps from
		// 03:00 to 04:00 at 01:00 UTC, and the purge runs then.
		{"spring forward 2026-03-29", time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC),
			[]time.Time{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC)}},
		// Fall back: 03:00 occurs twice (00:00 UTC in EEST, 01:00 UTC in
		// EET); the purge runs once, at the first.
		{"fall back 2026-10-25", time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC),
			[]time.Time{time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 26, 1, 0, 0, 0, time.UTC)}},
	}
	for _, c := range cases {
		runs := simulateNights(t, loc, at, c.from.Add(time.Minute), c.from.Add(50*time.Hour), time.Minute, c.from)
		if len(runs) != len(c.want) {
			t.Fatalf("%s: runs %v, want %v", c.name, runs, c.want)
		}
		for i := range runs {
			if !runs[i].Equal(c.want[i]) {
				t.Errorf("%s: run %d at %s, want %s", c.name, i, runs[i], c.want[i])
			}
		}
	}
}

func TestNightlyMissedRunRunsAtStartup(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Helsinki")
	at := 3 * time.Hour
	last := time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC) // ran 20.11. 03:00 local
	// Box off from 20.11. 10:00 to 22.11. 14:00 local: due at start.
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	if !nightlyDue(now, last, loc, at) {
		t.Fatal("missed nightly purge not due at startup")
	}
	// After running at startup, not again until tomorrow's 03:00.
	if nightlyDue(now.Add(time.Hour), now, loc, at) {
		t.Fatal("due twice")
	}
	next := nextNightly(now.Add(time.Hour), now, loc, at)
	if want := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC); !next.Equal(want) {
		t.Fatalf("next %s, want %s", next, want)
	}
	// Never run: due at once.
	if !nightlyDue(now, time.Time{}, loc, at) {
		t.Fatal("first ever nightly not due")
	}
	// Before today's slot, the next is today's slot.
	early := time.Date(2026, 11, 22, 0, 30, 0, 0, time.UTC) // 02:30 local
	if got := nextNightly(early, time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC), loc, at); !got.Equal(time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("next from 02:30: %s", got)
	}
}

func TestNightlyClockStepsDoNotRepeatOrSkip(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Helsinki")
	at := 3 * time.Hour
	last := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	// Clock steps back an hour after the run: not run again.
	if nightlyDue(last.Add(-30*time.Minute), last, loc, at) {
		t.Fatal("ran again after the clock stepped back")
	}
	// Clock steps forward two days: due once.
	jump := last.Add(48 * time.Hour).Add(time.Hour)
	if !nightlyDue(jump, last, loc, at) || nightlyDue(jump.Add(time.Minute), jump, loc, at) {
		t.Fatal("forward step: want exactly one run")
	}
}
