package recorder

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"vahti/configs"
	"vahti/recorder/fakecam"
)

// gstCamera starts GStreamer's rtsp-server (testdata/gst_rtsp_server.py)
// as an independent peer and returns its camera URL.
func gstCamera(t *testing.T, args ...string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	probe := exec.Command(py, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer")
	if err := probe.Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 with gi GstRtspServer is required under CI: %v", err)
		}
		t.Skipf("no GstRtspServer: %v", err)
	}
	cmd := exec.Command(py, append([]string{"testdata/gst_rtsp_server.py"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("gst rtsp server did not report its port: %q %v %v", line, err, perr)
	}
	return "rtsp://127.0.0.1:" + strconv.Itoa(port) + "/cam"
}

// Against GStreamer's rtsp-server as an independent peer, beside a fakecam
// camera whose timestamps jump an hour forward and back: the GStreamer
// stream records contiguous, playable segments at the configured
// duration, untouched by its neighbour's discontinuities.
//
// (Jumping GStreamer's own RTP timestamps was tried: shifting buffer
// times stalls its sink for the hour, rtph264pay ignores a changed
// timestamp-offset while playing, and gst-python cannot write the RTP
// buffers in a pad probe; the jumps themselves are tested with fakecam.)
func TestGStreamerPeerContiguous(t *testing.T) {
	t.Parallel()
	requireFFprobe(t)
	steady := gstCamera(t)
	jumpy := startCam(t, fakecam.Config{Cameras: []string{"jumpy"}, Hostile: fakecam.HostileJump})
	r := startRecorder(t, []configs.Camera{
		{ID: "steady", URL: steady, Transport: "tcp"},
		{ID: "jumpy", URL: jumpy.URL("jumpy"), Transport: "tcp"},
	}, nil)
	waitFor(t, 60*time.Second, "jumps and segments", func() bool {
		return camStatus(r, "jumpy").Dropped.TimeJumps >= 2 && len(segments(t, r.db, "steady")) >= 8
	})
	r.stop(t)
	segs := segments(t, r.db, "steady")
	for i, s := range segs {
		res := ffprobe(t, abs(s.Path, r.root))
		ffmpegDecode(t, abs(s.Path, r.root))
		if len(res.Packets) == 0 || !strings.HasPrefix(res.Packets[0].Flags, "K") {
			t.Errorf("steady: %s does not start with a keyframe", s.Path)
		}
		if i > 0 {
			if gap := s.Start.Sub(segs[i-1].End); gap < -time.Millisecond || gap > 50*time.Millisecond {
				t.Errorf("steady: %s starts %s after the previous segment ends", s.Path, gap)
			}
		}
		if d := s.End.Sub(s.Start); i < len(segs)-1 && (d < testSegment || d > testSegment+1100*time.Millisecond) {
			t.Errorf("steady: %s lasts %s", s.Path, d)
		}
	}
	if st := camStatus(r, "steady"); st.Dropped.Total() != 0 || st.Reconnects != 0 {
		t.Errorf("steady camera disturbed: %+v", st)
	}
}
