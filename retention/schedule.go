package retention

import "time"

// nightlySlot is the instant of the nightly purge on the local calendar
// day of t. time.Date normalises a wall time that does not exist (the
// spring-forward hour: 03:00 on 2026-03-29 in Helsinki becomes 04:00 EEST,
// 01:00 UTC, the instant the clock jumps over it); for a wall time that
// occurs twice (fall-back night) the FIRST occurrence is taken, as cron
// does, so the purge runs once that night, not twice.
func nightlySlot(t time.Time, loc *time.Location, at time.Duration) time.Time {
	l := t.In(loc)
	h, m := int(at/time.Hour), int(at%time.Hour/time.Minute)
	s := time.Date(l.Year(), l.Month(), l.Day(), h, m, 0, 0, loc)
	if e := s.Add(-time.Hour); sameWall(e.In(loc), s.In(loc)) {
		s = e
	}
	return s
}

func sameWall(a, b time.Time) bool {
	return a.Year() == b.Year() && a.YearDay() == b.YearDay() && a.Hour() == b.Hour() && a.Minute() == b.Minute()
}

// latestSlot is the latest nightly slot at or before now.
func latestSlot(now time.Time, loc *time.Location, at time.Duration) time.Time {
	s := nightlySlot(now, loc, at)
	if s.After(now) {
		l := now.In(loc)
		s = nightlySlot(time.Date(l.Year(), l.Month(), l.Day()-1, 12, 0, 0, 0, loc), loc, at)
	}
	return s
}

// nightlyDue reports whether the nightly purge should run at now, given
// when it last ran (zero: never). It is due when it has not run since the
// latest slot, so a slot missed while the box was off runs at the next
// start, and each slot runs once.
func nightlyDue(now, last time.Time, loc *time.Location, at time.Duration) bool {
	return last.IsZero() || last.Before(latestSlot(now, loc, at))
}

// nextNightly is when the nightly purge will next run (now if it is due).
func nextNightly(now, last time.Time, loc *time.Location, at time.Duration) time.Time {
	if nightlyDue(now, last, loc, at) {
		return now
	}
	if s := nightlySlot(now, loc, at); s.After(now) {
		return s
	}
	l := now.In(loc)
	return nightlySlot(time.Date(l.Year(), l.Month(), l.Day()+1, 12, 0, 0, 0, loc), loc, at)
}
