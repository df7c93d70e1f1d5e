package recorder

import (
	"sync/atomic"
	"testing"
	"time"

	"vahti/configs"
	"vahti/recorder/fakecam"
)

// RTP loss: the recorder drops the damaged frame and everything up to the
// next keyframe, so every file decodes without an error. (gortsplib's UDP
// sockets cannot be wrapped, so packets are lost just after the library's
// reorder buffer, where a real loss shows up as a sequence gap.)
func TestPacketLossResumesAtKeyframe(t *testing.T) {
	t.Parallel()
	requireFFprobe(t)
	srv := startCam(t, fakecam.Config{Cameras: []string{"dock"}})
	var seen, lost atomic.Int64
	r := startRecorder(t, []configs.Camera{{ID: "dock", URL: srv.URL("dock"), Transport: "udp"}}, func(c *Config) {
		c.loseRTP = func() bool {
			if seen.Add(1)%45 == 0 {
				lost.Add(1)
				return true
			}
			return false
		}
	})
	waitFor(t, 25*time.Second, "segments despite loss", func() bool { return len(segments(t, r.db, "dock")) >= 3 })
	r.stop(t)
	gaps := camStatus(r, "dock").RTPGaps
	if lost.Load() == 0 {
		t.Fatal("no packet was lost: the test proves nothing")
	}
	// Every lost packet (one in 45, never two in a row) is a gap the
	// status shows, but perhaps the last, which no later packet showed.
	// (Loopback UDP on a loaded box may drop packets of its own: more
	// gaps, never fewer.)
	if n := lost.Load(); gaps < n-1 {
		t.Errorf("status rtp_gaps %d after %d lost packets", gaps, n)
	}
	frames := 0
	var span time.Duration
	for _, s := range segments(t, r.db, "dock") {
		p := abs(s.Path, r.root)
		ffmpegDecode(t, p) // -xerror: a frame with a missing reference fails
		res := ffprobe(t, p)
		if len(res.Packets) == 0 || res.Packets[0].Flags[0] != 'K' {
			t.Errorf("%s does not start with a keyframe", s.Path)
		}
		frames += len(res.Packets)
		span += s.End.Sub(s.Start)
	}
	// Frames were dropped (25 fps would fill the span), yet the timeline
	// covers the whole time.
	if full := int(span.Seconds() * 25); frames >= full {
		t.Errorf("%d frames in %s: nothing was dropped after the losses", frames, span)
	}
	t.Logf("%d of %d packets lost; %d frames kept in %s", lost.Load(), seen.Load(), frames, span)
}
