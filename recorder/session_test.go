package recorder

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"vahti/configs"
	"vahti/recorder/fakecam"
)

// A stream with a codec MP4 cannot hold: the video is recorded, the other
// track is named in the status.
func TestUnsupportedTrackNamed(t *testing.T) {
	cfg := &Config{Root: t.TempDir(), Now: time.Now, Log: testLogger(t, nil), CanWrite: func() bool { return true },
		SegmentDuration: testSegment, PartDuration: testPart, FsyncInterval: time.Second}
	s := newSession(configs.Camera{ID: "yard"}, cfg)
	desc := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{&format.Opus{PayloadTyp: 111, ChannelCount: 2}}},
	}}
	in, err := s.newIngest(nil, desc)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.medias) != 1 || in.audio != nil {
		t.Errorf("set up %d medias, audio %v: Opus must not be recorded", len(in.medias), in.audio)
	}
	st := s.status()
	if !slices.Equal(st.Codecs, []string{"h264"}) || !slices.Equal(st.Unsupported, []string{"opus"}) {
		t.Errorf("status codecs %v unsupported %v", st.Codecs, st.Unsupported)
	}

	// No video at all: nothing to record, and the error says what came.
	_, err = s.newIngest(nil, &description.Session{Medias: desc.Medias[1:]})
	if err == nil {
		t.Error("a stream without video was accepted")
	}
}

func TestBackoff(t *testing.T) {
	s := &session{backoffMin: time.Second, backoffMax: 30 * time.Second}
	prev := time.Duration(0)
	for i := 0; i < 40; i++ {
		d := s.backoff(i)
		if d < time.Second || d > 30*time.Second {
			t.Fatalf("attempt %d: %s outside 1s…30s", i, d)
		}
		if i < 4 && d < prev {
			t.Errorf("attempt %d: %s shorter than %s", i, d, prev)
		}
		prev = d
	}
	if d := s.backoff(10); d < 30*time.Second*4/5 {
		t.Errorf("capped backoff %s", d)
	}
}

// The disk guard pauses recording (state "paused (disk full)", the open
// segment finished, nothing new written) and recording resumes when it
// allows again.
func TestDiskGuardPausesRecording(t *testing.T) {
	t.Parallel()
	requireFFprobe(t)
	srv := startCam(t, fakecam.Config{Cameras: []string{"shed"}})
	var allow atomic.Bool
	allow.Store(true)
	r := startRecorder(t, []configs.Camera{{ID: "shed", URL: srv.URL("shed"), Transport: "tcp"}},
		func(c *Config) { c.CanWrite = allow.Load })
	waitFor(t, 10*time.Second, "recording", func() bool { return camStatus(r, "shed").State == StateRecording })
	time.Sleep(500 * time.Millisecond)
	allow.Store(false)
	said := time.Now()
	waitFor(t, 5*time.Second, "paused", func() bool { return camStatus(r, "shed").State == StatePaused })
	n := len(segments(t, r.db, "shed"))
	if n == 0 {
		t.Fatal("the open segment was not finished when the guard said no")
	}
	last := segments(t, r.db, "shed")[n-1]
	if last.End.After(said.Add(time.Second)) {
		t.Errorf("segment runs until %s, guard said no at %s", last.End, said)
	}
	time.Sleep(time.Second)
	if m := len(segments(t, r.db, "shed")); m != n {
		t.Errorf("%d segments written while paused", m-n)
	}
	allow.Store(true)
	waitFor(t, 10*time.Second, "recording again", func() bool { return camStatus(r, "shed").State == StateRecording })
	r.stop(t)
	segs := segments(t, r.db, "shed")
	if len(segs) <= n {
		t.Fatal("nothing recorded after the pause")
	}
	if gap := segs[n].Start.Sub(segs[n-1].End); gap < 900*time.Millisecond {
		t.Errorf("only %s between the pause and the resume", gap)
	}
	for _, s := range segs {
		ffmpegDecode(t, abs(s.Path, r.root))
	}
}
