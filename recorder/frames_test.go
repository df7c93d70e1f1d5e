package recorder

import (
	"testing"
	"time"

	"vahti/configs"
	"vahti/mp4read"
	"vahti/recorder/fakecam"
)

// Every frame the fakecam delivered is in the segment files, counted from
// the files: the check the recorder benchmark makes at 128 cameras, here
// with three (the fakecam's shared pacing loop), over TCP and UDP, with
// audio on one camera.
func TestEveryDeliveredFrameIsRecorded(t *testing.T) {
	srv := startCam(t, fakecam.Config{Cameras: []string{"a", "b", "c"}, Audio: "g711"})
	cams := []configs.Camera{
		{ID: "a", Name: "a", URL: srv.URL("a"), Transport: "tcp"},
		{ID: "b", Name: "b", URL: srv.URL("b"), Transport: "tcp"},
		{ID: "c", Name: "c", URL: srv.URL("c"), Transport: "udp"},
	}
	r := startRecorder(t, cams, nil)
	waitFor(t, 15*time.Second, "all cameras recording", func() bool {
		for _, c := range cams {
			if camStatus(r, c.ID).State != StateRecording {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * time.Second)
	srv.Halt()
	time.Sleep(500 * time.Millisecond)
	sent := srv.Stats()
	srv.Close() // the recorder sees the end and finishes its segments
	waitFor(t, 15*time.Second, "segments finished", func() bool {
		for _, c := range cams {
			if camStatus(r, c.ID).State == StateRecording {
				return false
			}
		}
		return true
	})
	r.stop(t)
	for _, st := range sent {
		var found int64
		for _, s := range segments(t, r.db, st.Name) {
			seg, err := mp4read.ReadFile(abs(s.Path, r.root), nil)
			if err != nil {
				t.Fatal(err)
			}
			found += int64(len(seg.Video().Samples))
		}
		t.Logf("%s: sent %d frames (%d bytes), %d in the files", st.Name, st.Frames, st.Bytes, found)
		if st.Frames < 50 || found != st.Frames {
			t.Errorf("%s: sent %d frames, %d in the files", st.Name, st.Frames, found)
		}
	}
}
