package retention

import (
	"testing"
	"time"

	"vahti/registry"
)

func seg(cam string, start time.Time, dur time.Duration) registry.Segment {
	return registry.Segment{ID: 1, Camera: cam, Start: start, End: start.Add(dur), Path: registry.SegmentPath(cam, start),
		State: registry.SegmentOK, Bytes: 10}
}

func TestGateAgeIsJudgedBySegmentEnd(t *testing.T) {
	maxAge := 28 * day
	now := t0
	cutoff := now.Add(-maxAge)
	cases := []struct {
		name string
		s    registry.Segment
		ok   bool
		why  Why
	}{
		{"ends exactly at the cutoff", seg("yard", cutoff.Add(-time.Minute), time.Minute), true, WhyDeletable},
		{"ends 1ns after the cutoff", seg("yard", cutoff.Add(-time.Minute+1), time.Minute), false, WhyTooYoung},
		{"starts before the cutoff, ends after", seg("yard", cutoff.Add(-30*time.Second), time.Minute), false, WhyTooYoung},
		{"well expired", seg("yard", cutoff.Add(-day), time.Minute), true, WhyDeletable},
		{"fresh", seg("yard", now.Add(-time.Hour), time.Minute), false, WhyTooYoung},
		{"ends in the future", seg("yard", now.Add(-30*time.Second), time.Minute), false, WhyFuture},
	}
	for _, c := range cases {
		ok, why := Deletable(c.s, now, maxAge, nil)
		if ok != c.ok || why != c.why {
			t.Errorf("%s: got %v %s, want %v %s", c.name, ok, why, c.ok, c.why)
		}
	}
	// max age 0 (disk guard): anything finished, nothing that ends after now.
	if ok, _ := Deletable(seg("yard", now.Add(-time.Minute), time.Minute), now, 0, nil); !ok {
		t.Error("disk guard rule: a segment ending now must be deletable")
	}
	if ok, why := Deletable(seg("yard", now.Add(-time.Minute), time.Minute+1), now, 0, nil); ok || why != WhyFuture {
		t.Errorf("disk guard rule: a segment ending after now: %v %s", ok, why)
	}
}

func TestGateHolds(t *testing.T) {
	now := t0
	old := now.Add(-40 * day)
	s := seg("yard", old, time.Minute)
	mk := func(cams []string, from, to time.Time) registry.Hold {
		return registry.Hold{ID: 1, Cameras: cams, From: from, To: to, Reason: "x"}
	}
	cases := []struct {
		name string
		h    registry.Hold
		held bool
	}{
		{"hold inside the segment", mk([]string{"yard"}, old.Add(10*time.Second), old.Add(20*time.Second)), true},
		{"hold edge inside (starts mid-segment)", mk([]string{"yard"}, old.Add(59*time.Second), old.Add(day)), true},
		{"hold edge inside (ends mid-segment)", mk([]string{"yard"}, old.Add(-day), old.Add(time.Second)), true},
		{"hold ends exactly at segment start", mk([]string{"yard"}, old.Add(-day), old), true},
		{"hold starts exactly at segment end", mk([]string{"yard"}, old.Add(time.Minute), old.Add(day)), true},
		{"hold ends 1ns before segment start", mk([]string{"yard"}, old.Add(-day), old.Add(-1)), false},
		{"other camera", mk([]string{"lobby"}, old.Add(-day), old.Add(day)), false},
		{"all cameras", mk([]string{registry.AllCameras}, old.Add(-day), old.Add(day)), true},
		{"one of several cameras", mk([]string{"lobby", "yard"}, old.Add(-day), old.Add(day)), true},
	}
	for _, c := range cases {
		ok, why := Deletable(s, now, 28*day, []registry.Hold{c.h})
		if ok == c.held || (c.held && why != WhyHeld) {
			t.Errorf("%s: deletable=%v why=%s, want held=%v", c.name, ok, why, c.held)
		}
		// Through the per-camera index too.
		ok2, _ := Deletable(s, now, 28*day, newHoldIndex([]registry.Hold{c.h}).For("yard"))
		if ok2 != ok {
			t.Errorf("%s: hold index disagrees", c.name)
		}
	}
	released := mk([]string{"yard"}, old.Add(-day), old.Add(day))
	released.Released = now.Add(-time.Hour)
	if ok, _ := Deletable(s, now, 28*day, []registry.Hold{released}); !ok {
		t.Error("a released hold must not keep footage")
	}
}

func TestGateRefusesRowsThatDoNotDescribeTheirFile(t *testing.T) {
	now := t0
	old := now.Add(-40 * day)
	good := seg("yard", old, time.Minute)
	bad := []registry.Segment{}
	s := good
	s.Path = "lobby/" + good.Path[len("yard/"):] // path names another camera
	bad = append(bad, s)
	s = good
	s.Start = old.Add(time.Hour) // row start disagrees with the file name
	s.End = s.Start.Add(time.Minute)
	bad = append(bad, s)
	s = good
	s.Path = "../" + good.Path
	bad = append(bad, s)
	s = good
	s.Camera = ".."
	s.Path = registry.SegmentPath("..", s.Start)
	bad = append(bad, s)
	s = good
	s.Camera = "a/../../b"
	s.Path = registry.SegmentPath(s.Camera, s.Start)
	bad = append(bad, s)
	s = good
	s.Path = "yard/notes.txt"
	bad = append(bad, s)
	s = good
	s.End = s.Start.Add(-time.Second)
	bad = append(bad, s)
	s = good
	s.State = registry.SegmentMissing
	bad = append(bad, s)
	for i, b := range bad {
		if ok, _ := Deletable(b, now, 28*day, nil); ok {
			t.Errorf("bad row %d (%+v) passed the gate", i, b)
		}
	}
	if ok, _ := Deletable(good, now, 28*day, nil); !ok {
		t.Error("good row refused")
	}
	if ok, _ := Deletable(good, now, -1, nil); ok {
		t.Error("negative max age accepted")
	}
}

func TestExportGate(t *testing.T) {
	now := t0
	e := registry.Export{ID: "a", Path: "exports/a.zip", Cameras: []string{"yard", "lobby"}, From: now.Add(-40 * day),
		To: now.Add(-39 * day), FootageEnd: now.Add(-39 * day)}
	if ok, _ := DeletableExport(e, now, 28*day, nil); !ok {
		t.Error("expired export kept")
	}
	young := e
	young.FootageEnd = now.Add(-27 * day)
	if ok, why := DeletableExport(young, now, 28*day, nil); ok || why != WhyTooYoung {
		t.Errorf("young export: %v %s", ok, why)
	}
	h := registry.Hold{Cameras: []string{"lobby"}, From: e.From.Add(time.Hour), To: e.From.Add(2 * time.Hour)}
	if ok, why := DeletableExport(e, now, 28*day, []registry.Hold{h}); ok || why != WhyHeld {
		t.Errorf("held export: %v %s", ok, why)
	}
	for _, p := range []string{"../x.zip", "exports/../../etc/passwd", "exports/a.txt", "/exports/a.zip"} {
		b := e
		b.Path = p
		if ok, _ := DeletableExport(b, now, 28*day, nil); ok {
			t.Errorf("export path %q accepted", p)
		}
	}
	gone := e
	gone.Deleted = now
	if ok, _ := DeletableExport(gone, now, 28*day, nil); ok {
		t.Error("deleted export deletable again")
	}
}
