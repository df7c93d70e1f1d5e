package recorder

import (
	"math"
	"strings"
	"testing"
	"time"

	"vahti/configs"
	"vahti/recorder/fakecam"
	"vahti/registry"
)

// checkSegments asserts what a user would: every catalogued file plays in
// ffprobe without complaint, starts on a keyframe, lasts about a segment
// duration (cut at the next keyframe; the clips have one per second), has
// the catalogued duration, and follows the previous one without a gap.
func checkSegments(t *testing.T, r *running, cam string, segs []registry.Segment, wantCodecs string) {
	t.Helper()
	for i, s := range segs {
		p := abs(s.Path, r.root)
		res := ffprobe(t, p)
		ffmpegDecode(t, p)
		if s.Codecs != wantCodecs {
			t.Errorf("%s: codecs %q, want %q", s.Path, s.Codecs, wantCodecs)
		}
		var video *probeStream
		for k := range res.Streams {
			if res.Streams[k].CodecType == "video" {
				video = &res.Streams[k]
			}
		}
		if video == nil {
			t.Fatalf("%s: no video stream", s.Path)
		}
		if len(res.Streams) != strings.Count(wantCodecs, ",")+1 {
			t.Errorf("%s: %d streams, want %s", s.Path, len(res.Streams), wantCodecs)
		}
		var first *probePacket
		var vdur float64
		for k := range res.Packets {
			pk := &res.Packets[k]
			if pk.StreamIndex != video.Index {
				continue
			}
			if first == nil {
				first = pk
			}
			vdur += seconds(pk.Duration)
		}
		if first == nil || !strings.HasPrefix(first.Flags, "K") {
			t.Errorf("%s: first video packet is not a keyframe: %+v", s.Path, first)
		}
		dur := s.End.Sub(s.Start)
		if math.Abs(vdur-dur.Seconds()) > 0.002 {
			t.Errorf("%s: video packets last %.3fs, catalog says %s", s.Path, vdur, dur)
		}
		info, err := ProbeSegment(p)
		if err != nil {
			t.Errorf("ProbeSegment: %v", err)
		} else if info.SHA256 != s.SHA256 || info.Params != s.Params || !info.End.Equal(s.End) || !info.Start.Equal(s.Start) {
			t.Errorf("ProbeSegment %+v disagrees with the catalog %+v", info, s)
		}
		last := i == len(segs)-1
		// Cut at the first keyframe after the segment duration: the clips
		// have a keyframe every second. The last one may end early (stop).
		if !last && (dur < testSegment || dur > testSegment+1100*time.Millisecond) {
			t.Errorf("%s: lasts %s, want %s up to the next keyframe", s.Path, dur, testSegment)
		}
		if i > 0 {
			if gap := s.Start.Sub(segs[i-1].End); gap < -time.Millisecond || gap > 50*time.Millisecond {
				t.Errorf("%s starts %s after the previous segment ends", s.Path, gap)
			}
		}
		_, start, _, _ := registry.ParseSegmentPath(s.Path)
		if !start.Equal(s.Start) {
			t.Errorf("%s: path time %s, catalog start %s", s.Path, start, s.Start)
		}
	}
}

func recordFor(t *testing.T, cam fakecam.Config, transport string, d time.Duration, minSegs int) (*running, []registry.Segment) {
	t.Helper()
	requireFFprobe(t)
	cam.Cameras = []string{"yard"}
	srv := startCam(t, cam)
	begin := time.Now()
	r := startRecorder(t, []configs.Camera{{ID: "yard", Name: "Piha", URL: srv.URL("yard"), Transport: transport}}, nil)
	waitFor(t, d+10*time.Second, "segments", func() bool { return len(segments(t, r.db, "yard")) >= minSegs })
	r.stop(t)
	segs := segments(t, r.db, "yard")
	if len(segs) < minSegs {
		t.Fatalf("%d segments, want at least %d", len(segs), minSegs)
	}
	// The first segment is named by when its first frame arrived.
	if d := segs[0].Start.Sub(begin); d < 0 || d > 5*time.Second {
		t.Errorf("first segment starts %s after the recorder did", d)
	}
	return r, segs
}

func TestRecordH264(t *testing.T) {
	t.Parallel()
	r, segs := recordFor(t, fakecam.Config{Codec: "h264"}, "tcp", 6*time.Second, 3)
	checkSegments(t, r, "yard", segs, "h264")
}
