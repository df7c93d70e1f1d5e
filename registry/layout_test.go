package registry

import (
	"testing"
	"time"
)

func TestSegmentPathRoundTrip(t *testing.T) {
	start := time.Date(2026, 11, 22, 14, 5, 0, 123456789, time.FixedZone("EET", 2*3600))
	p := SegmentPath("yard", start)
	if p != "yard/2026/11/22/12-05-00.123456.mp4" {
		t.Fatalf("path %q: want UTC time with microseconds", p)
	}
	cam, got, fin, err := ParseSegmentPath(p)
	if err != nil || cam != "yard" || !fin || !got.Equal(start.Truncate(time.Microsecond)) {
		t.Fatalf("parse %q = %s %s %v %v", p, cam, got, fin, err)
	}
	_, _, fin, err = ParseSegmentPath(UnfinishedPath("yard", start))
	if err != nil || fin {
		t.Fatalf("unfinished path parsed as finished=%v err=%v", fin, err)
	}
	for _, bad := range []string{"yard/x.mp4", "yard/2026/11/22/12-05-00.mp4", "../2026/11/22/12-05-00.123456.mp4",
		"yard/2026/13/22/12-05-00.123456.mp4", "yard/2026/11/22/12-05-00.123456.mkv", "2026/11/22/12-05-00.123456.mp4"} {
		if _, _, _, err := ParseSegmentPath(bad); err == nil {
			t.Errorf("%q parsed as a segment path", bad)
		}
	}
}
