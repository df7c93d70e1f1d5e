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
		var vdur, maxCTO float64
		for k := range res.Packets {
			pk := &res.Packets[k]
			if pk.StreamIndex != video.Index {
				continue
			}
			if first == nil {
				first = pk
			}
			vdur += seconds(pk.Duration)
			maxCTO = math.Max(maxCTO, seconds(pk.PTSTime)-seconds(pk.DTSTime))
		}
		if first == nil || !strings.HasPrefix(first.Flags, "K") {
			t.Errorf("%s: first video packet is not a keyframe: %+v", s.Path, first)
		}
		// The catalog follows the decode timeline; with B-frames the
		// pictures trail it by the reorder delay (the largest PTS-DTS).
		dur := s.End.Sub(s.Start)
		if math.Abs(vdur-dur.Seconds()) > 0.002+maxCTO {
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
	st := camStatus(r, "yard")
	if st.State != StateRecording || st.Segments < int64(minSegs) || st.BitrateBps <= 0 ||
		time.Since(st.LastFrame) > 2*time.Second || st.Name != "Piha" || len(st.Codecs) == 0 {
		t.Errorf("status while recording: %+v", st)
	}
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

func TestRecordH265UDP(t *testing.T) {
	t.Parallel()
	r, segs := recordFor(t, fakecam.Config{Codec: "h265"}, "udp", 6*time.Second, 3)
	checkSegments(t, r, "yard", segs, "h265")
}

func TestRecordH264AACAuto(t *testing.T) {
	t.Parallel()
	r, segs := recordFor(t, fakecam.Config{Codec: "h264", Audio: "aac"}, "auto", 6*time.Second, 3)
	checkSegments(t, r, "yard", segs, "h264,aac")
	checkAudio(t, r, segs, "aac")
}

// checkAudio asserts the audio stream ffprobe sees and that it covers the
// segment (audio recorded from its start, not just a few packets).
func checkAudio(t *testing.T, r *running, segs []registry.Segment, codec string) {
	t.Helper()
	for _, s := range segs[:len(segs)-1] {
		res := ffprobe(t, abs(s.Path, r.root))
		var audio *probeStream
		for k := range res.Streams {
			if res.Streams[k].CodecType == "audio" {
				audio = &res.Streams[k]
			}
		}
		if audio == nil || audio.CodecName != codec {
			t.Fatalf("%s: audio stream %+v, want %s", s.Path, audio, codec)
		}
		var adur float64
		for _, pk := range res.Packets {
			if pk.StreamIndex == audio.Index {
				adur += seconds(pk.Duration)
			}
		}
		if vd := s.End.Sub(s.Start).Seconds(); math.Abs(adur-vd) > 0.3 {
			t.Errorf("%s: %.2fs of audio in %.2fs of video", s.Path, adur, vd)
		}
	}
}

func TestRecordH264G711(t *testing.T) {
	t.Parallel()
	r, segs := recordFor(t, fakecam.Config{Codec: "h264", Audio: "g711"}, "tcp", 6*time.Second, 3)
	checkSegments(t, r, "yard", segs, "h264,lpcm")
	checkAudio(t, r, segs, "pcm_s16be")
	if st := camStatus(r, "yard"); strings.Join(st.Codecs, ",") != "h264,g711" {
		t.Errorf("status codecs %v", st.Codecs)
	}
}

func TestCameraOfflineThenBack(t *testing.T) {
	t.Parallel()
	requireFFprobe(t)
	srv := startCam(t, fakecam.Config{Cameras: []string{"gate"}})
	r := startRecorder(t, []configs.Camera{{ID: "gate", URL: srv.URL("gate"), Transport: "tcp"}}, nil)
	waitFor(t, 15*time.Second, "first segment", func() bool { return len(segments(t, r.db, "gate")) >= 1 })

	srv.SetOnline("gate", false)
	off := time.Now()
	waitFor(t, 5*time.Second, "state offline", func() bool { return camStatus(r, "gate").State == StateOffline })
	before := len(segments(t, r.db, "gate"))
	time.Sleep(2 * time.Second)
	srv.SetOnline("gate", true)
	on := time.Now()
	// Backoff after two failed tries is at most 1+2 s plus jitter.
	waitFor(t, 8*time.Second, "recording again", func() bool { return camStatus(r, "gate").State == StateRecording })
	waitFor(t, 10*time.Second, "a segment after the outage", func() bool { return len(segments(t, r.db, "gate")) > before })
	r.stop(t)

	st := camStatus(r, "gate")
	if st.Reconnects < 1 {
		t.Errorf("reconnects %d, want ≥ 1", st.Reconnects)
	}
	segs := segments(t, r.db, "gate")
	// The outage is a gap between two segments, not hidden inside one.
	gapFound := false
	for i := 1; i < len(segs); i++ {
		gap := segs[i].Start.Sub(segs[i-1].End)
		if gap > 1500*time.Millisecond {
			gapFound = true
			if segs[i-1].End.After(on) || segs[i].Start.Before(off) {
				t.Errorf("gap %s–%s does not cover the outage %s–%s", segs[i-1].End, segs[i].Start, off, on)
			}
		}
	}
	if !gapFound {
		t.Errorf("no gap for the outage among %d segments", len(segs))
	}
	for _, s := range segs {
		res := ffprobe(t, abs(s.Path, r.root))
		if len(res.Packets) == 0 || !strings.HasPrefix(res.Packets[0].Flags, "K") {
			t.Errorf("%s does not start with a keyframe", s.Path)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-Right"
	const wrong = "hunter2-Wrong"
	srv := startCam(t, fakecam.Config{Cameras: []string{"lobby"}, User: "admin", Pass: secret})
	u := strings.Replace(srv.URL("lobby"), secret, wrong, 1)
	if !strings.Contains(u, wrong) {
		t.Fatalf("could not build a wrong URL from %s", configs.RedactURL(u))
	}
	r := startRecorder(t, []configs.Camera{{ID: "lobby", URL: u}}, nil)
	waitFor(t, 10*time.Second, "auth failed", func() bool { return camStatus(r, "lobby").State == StateAuthFailed })
	time.Sleep(3 * time.Second) // a tight retry loop would show up as reconnects
	st := camStatus(r, "lobby")
	r.stop(t)
	if st.Reconnects > 0 {
		t.Errorf("%d reconnects within 3 s of an auth failure: retry must be slow", st.Reconnects)
	}
	if st.State != StateAuthFailed || st.Error == "" {
		t.Errorf("status %+v", st)
	}
	if n := len(segments(t, r.db, "lobby")); n != 0 {
		t.Errorf("%d segments without a valid password", n)
	}
	logs := r.log.String()
	for _, s := range []string{wrong, secret} {
		if strings.Contains(logs, s) || strings.Contains(st.Error, s) {
			t.Errorf("password %q leaked into logs or status", s)
		}
	}
	if !strings.Contains(logs, "lobby") {
		t.Errorf("log does not name the camera:\n%s", logs)
	}
}

func TestResolutionChangeStartsSegment(t *testing.T) {
	t.Parallel()
	requireFFprobe(t)
	srv := startCam(t, fakecam.Config{Cameras: []string{"hall"}, Alternate: true, Loop: 3 * time.Second})
	// Long segments: every cut seen here is a parameter change.
	r := startRecorder(t, []configs.Camera{{ID: "hall", URL: srv.URL("hall"), Transport: "tcp"}},
		func(c *Config) { c.SegmentDuration = time.Minute })
	waitFor(t, 20*time.Second, "segments", func() bool { return len(segments(t, r.db, "hall")) >= 2 })
	r.stop(t)
	segs := segments(t, r.db, "hall")
	sizes := map[int]bool{}
	for i, s := range segs {
		res := ffprobe(t, abs(s.Path, r.root))
		ffmpegDecode(t, abs(s.Path, r.root))
		sizes[res.Streams[0].Width] = true
		if i > 0 && s.Params == segs[i-1].Params {
			t.Errorf("%s: cut without a parameter change", s.Path)
		}
		if i > 0 && s.Start.Sub(segs[i-1].End).Abs() > 50*time.Millisecond {
			t.Errorf("%s: not contiguous with the previous segment", s.Path)
		}
	}
	if len(sizes) < 2 {
		t.Errorf("widths %v: want both resolutions", sizes)
	}
}

// B-frames: PTS differs from DTS; the DTS extractor and signed composition
// offsets must give a file that plays in order.
func TestRecordH264BFrames(t *testing.T) {
	t.Parallel()
	r, segs := recordFor(t, fakecam.Config{Codec: "h264", BFrames: true}, "tcp", 6*time.Second, 3)
	checkSegments(t, r, "yard", segs, "h264")
	res := ffprobe(t, abs(segs[0].Path, r.root))
	reordered := false
	for _, p := range res.Packets {
		if p.PTSTime != p.DTSTime {
			reordered = true
		}
	}
	if !reordered {
		t.Error("no packet with PTS != DTS: B-frames lost their order")
	}
}
