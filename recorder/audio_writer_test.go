package recorder

import (
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// newAudioHarness is newWriterHarness with an 8 kHz LPCM track.
func newAudioHarness(t testing.TB) *writerHarness {
	h := newWriterHarness(t)
	cfg := h.w.cfg
	h.w = newWriter(cfg, false, &audioSpec{name: "lpcm", timeScale: 8000,
		codec: &mp4.CodecLPCM{BitDepth: 16, SampleRate: 8000, ChannelCount: 1}})
	return h
}

// feedAV writes the clip's video with 20 ms LPCM packets running lead
// ticks (90 kHz) ahead of it in arrival, as from a camera whose video is
// late: every audio packet is written before the video frame of its time.
func feedAV(t testing.TB, h *writerHarness, aus []clipAU, off, lead int64, nextAudio *int64, pcm []byte) {
	t.Helper()
	for _, a := range aus {
		arrive := a.dts + off
		for *nextAudio*videoTimeScale/8000 <= arrive+lead {
			if err := h.w.writeAudio(pcm, *nextAudio, 160); err != nil {
				t.Fatal(err)
			}
			*nextAudio += 160
		}
		h.clock.t = h.base.Add(ticksToDur(arrive, videoTimeScale))
		if err := h.w.writeVideo(a.au, a.pts+off, a.dts+off); err != nil {
			t.Fatal(err)
		}
	}
}

// Audio that arrives before the keyframe that cuts the segment, with a
// time after the cut, goes into the next segment, not the closing one.
// (Without the queue each segment's audio would run 300 ms past its
// video and the next one's start 300 ms late.)
func TestWriterAudioAfterTheCutGoesToTheNextSegment(t *testing.T) {
	requireFFprobe(t)
	aus, length := loadClip(t, "h264.mp4")
	h := newAudioHarness(t)
	pcm := make([]byte, 320)
	var next int64
	lead := durToTicks(300*time.Millisecond, videoTimeScale)
	for loop := int64(0); loop < 3; loop++ {
		feedAV(t, h, aus, loop*length, lead, &next, pcm)
	}
	if err := h.w.close(); err != nil {
		t.Fatal(err)
	}
	if len(h.rows) < 3 {
		t.Fatalf("%d segments", len(h.rows))
	}
	for i, s := range h.rows {
		v, a := spans(t, abs(s.Path, h.root))
		t.Logf("%s: video %.3f–%.3f audio %.3f–%.3f", s.Path, v.start, v.end, a.start, a.end)
		if a.start < v.start-0.001 || (i > 0 && a.start > v.start+0.021) {
			t.Errorf("%s: audio starts %+.3f s from its video", s.Path, a.start-v.start)
		}
		if a.end > v.end+0.021 || (i < len(h.rows)-1 && a.end < v.end-0.001) {
			t.Errorf("%s: audio ends %+.3f s from its video", s.Path, a.end-v.end)
		}
	}
}

// Audio that arrives after the video of its time (here 0.9 s after, as
// GStreamer's sender reports placed it under load) still goes into the
// segment it belongs to: the cut waits for it. Without the hold-back
// queue each segment lost the second of sound that came after its cut.
func TestWriterLateAudioStaysInItsSegment(t *testing.T) {
	requireFFprobe(t)
	aus, length := loadClip(t, "h264.mp4")
	h := newAudioHarness(t)
	pcm := make([]byte, 320)
	var next int64
	lag := -durToTicks(900*time.Millisecond, videoTimeScale)
	for loop := int64(0); loop < 3; loop++ {
		feedAV(t, h, aus, loop*length, lag, &next, pcm)
	}
	// The rest of the sound, as it keeps coming after the last frame.
	for end := 3 * length; next*videoTimeScale/8000 < end; next += 160 {
		h.clock.t = h.base.Add(ticksToDur(next*videoTimeScale/8000-lag, videoTimeScale))
		if err := h.w.writeAudio(pcm, next, 160); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.w.close(); err != nil {
		t.Fatal(err)
	}
	if len(h.rows) < 3 {
		t.Fatalf("%d segments", len(h.rows))
	}
	var vSum, aSum float64
	for i, s := range h.rows {
		v, a := spans(t, abs(s.Path, h.root))
		t.Logf("%s: video %.3f–%.3f audio %.3f–%.3f", s.Path, v.start, v.end, a.start, a.end)
		if a.start < v.start-0.001 || (i > 0 && a.start > v.start+0.021) {
			t.Errorf("%s: audio starts %+.3f s from its video", s.Path, a.start-v.start)
		}
		if a.end > v.end+0.021 || a.end < v.end-0.021 {
			t.Errorf("%s: audio ends %+.3f s from its video", s.Path, a.end-v.end)
		}
		vSum += v.end - v.start
		aSum += a.end - a.start
	}
	if d := aSum - vSum; d > 0.021 || d < -0.021*float64(len(h.rows)) {
		t.Errorf("audio %.3f s against video %.3f s over %d segments", aSum, vSum, len(h.rows))
	}
}

// BenchmarkWriteAccessUnitAudio is BenchmarkWriteAccessUnit with 20 ms
// G.711-as-LPCM packets arriving 300 ms ahead of the video: the audio
// queue must not allocate in the steady state either.
func BenchmarkWriteAccessUnitAudio(b *testing.B) {
	aus, length := loadClip(b, "h264.mp4")
	h := newAudioHarness(b)
	h.w.cfg.segmentDuration = time.Minute
	h.w.segTicks = durToTicks(time.Minute, videoTimeScale)
	pcm := make([]byte, 320)
	lead := durToTicks(300*time.Millisecond, videoTimeScale)
	var off, next int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(aus)
		if k == 0 && i > 0 {
			off += length
		}
		feedAV(b, h, aus[k:k+1], off, lead, &next, pcm)
	}
	b.StopTimer()
	h.w.close()
}
