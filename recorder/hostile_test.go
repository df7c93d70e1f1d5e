package recorder

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vahti/configs"
	"vahti/recorder/fakecam"
)

// A panic while handling one camera's packets ends only that camera's
// connection: it is logged, the camera shows "error" and reconnects and
// records again, and the camera beside it records on without a gap.
func TestPanicInCallbackIsContained(t *testing.T) {
	t.Parallel()
	requireFFprobe(t)
	srv := startCam(t, fakecam.Config{Cameras: []string{"good", "bad"}})
	var packets, panics atomic.Int64
	var sawError atomic.Bool
	var r *running
	var once sync.Once
	ready := make(chan struct{})
	r = startRecorder(t, []configs.Camera{
		{ID: "good", URL: srv.URL("good"), Transport: "tcp"},
		{ID: "bad", URL: srv.URL("bad"), Transport: "tcp"},
	}, func(c *Config) {
		c.SegmentDuration = testSegment
		c.rtpHook = func(cam string) {
			once.Do(func() { close(ready) })
			if cam != "bad" {
				return
			}
			// Two panics, about two seconds into the first two connections.
			if packets.Add(1)%120 == 0 && panics.Load() < 2 {
				panics.Add(1)
				panic("injected fault")
			}
		}
	})
	<-ready
	waitFor(t, 30*time.Second, "the bad camera to fail twice and record again", func() bool {
		st := camStatus(r, "bad")
		if st.State == StateError {
			sawError.Store(true)
		}
		return st.Dropped.Panics >= 2 && st.State == StateRecording && len(segments(t, r.db, "bad")) >= 1
	})
	waitFor(t, 20*time.Second, "the good camera's segments", func() bool { return len(segments(t, r.db, "good")) >= 4 })
	r.stop(t)
	bad := camStatus(r, "bad")
	if !sawError.Load() {
		t.Error("the bad camera never showed state error")
	}
	if bad.Reconnects < 2 {
		t.Errorf("bad camera reconnected %d times, want 2", bad.Reconnects)
	}
	if !strings.Contains(r.log.String(), "recovered panic") {
		t.Error("the panic was not logged")
	}
	good := camStatus(r, "good")
	if good.Reconnects != 0 || good.Dropped.Panics != 0 {
		t.Errorf("good camera disturbed: %+v", good)
	}
	checkSegments(t, r, "good", segments(t, r.db, "good"), "h264")
	for _, s := range segments(t, r.db, "bad") {
		ffmpegDecode(t, abs(s.Path, r.root))
	}
}
