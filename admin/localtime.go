package admin

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Staff type wall-clock times in Finland. Twice a year that is not a
// single instant: in spring 03:00–03:59 never happens, in autumn it happens
// twice. Guessing would export or hold the wrong hour, so both cases are
// errors unless the person said which one they meant.

// ErrNoSuchLocalTime is a wall-clock time skipped by a daylight saving change.
var ErrNoSuchLocalTime = errors.New("the clocks skip this time (daylight saving time starts)")

// AmbiguousError is a wall-clock time that happens twice.
type AmbiguousError struct {
	Earlier, Later time.Time
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("the time happens twice when daylight saving time ends: %s or %s",
		e.Earlier.Format("15:04 -07:00"), e.Later.Format("15:04 -07:00"))
}

var localLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"}

// parseWhen reads an RFC 3339 time, or a local wall-clock time in loc.
// pick is "earlier" or "later" for a time that happens twice, else "".
func parseWhen(s string, loc *time.Location, pick string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	var wall time.Time
	var err error
	for _, l := range localLayouts {
		if wall, err = time.Parse(l, s); err == nil {
			break
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date and time (e.g. 2026-11-22 14:05)", s)
	}
	var cands []time.Time
	for _, probe := range []time.Duration{-12 * time.Hour, 0, 12 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		u := wall.Add(-time.Duration(off) * time.Second)
		if sameWall(u.In(loc), wall) && !containsTime(cands, u) {
			cands = append(cands, u)
		}
	}
	switch {
	case len(cands) == 0:
		return time.Time{}, fmt.Errorf("%s: %w", s, ErrNoSuchLocalTime)
	case len(cands) == 1:
		return cands[0].UTC(), nil
	}
	early, late := cands[0], cands[1]
	if late.Before(early) {
		early, late = late, early
	}
	switch pick {
	case "earlier":
		return early.UTC(), nil
	case "later":
		return late.UTC(), nil
	}
	return time.Time{}, &AmbiguousError{Earlier: early.In(loc), Later: late.In(loc)}
}

func sameWall(a, b time.Time) bool {
	return a.Year() == b.Year() && a.YearDay() == b.YearDay() && a.Hour() == b.Hour() &&
		a.Minute() == b.Minute() && a.Second() == b.Second()
}

func containsTime(ts []time.Time, t time.Time) bool {
	for _, x := range ts {
		if x.Equal(t) {
			return true
		}
	}
	return false
}

// dayBounds is the local calendar day containing t, as UTC instants: 23,
// 24 or 25 hours long.
func dayBounds(day time.Time, loc *time.Location) (time.Time, time.Time) {
	l := day.In(loc)
	start := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	end := time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
	return start.UTC(), end.UTC()
}

// parseDay reads YYYY-MM-DD as a local day.
func parseDay(s string, loc *time.Location) (time.Time, error) {
	d, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(s), loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
	}
	return d, nil
}
