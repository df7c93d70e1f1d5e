package export

import (
	"context"
	"encoding/json"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"vahti/configs"
	"vahti/recorder"
	"vahti/recorder/fakecam"
	"vahti/registry"
)

// streamTimes is ffprobe's start_time and duration of each stream, as a
// user checking an export would read them.
func streamTimes(t *testing.T, path string) (vStart, vEnd, aStart, aEnd float64) {
	t.Helper()
	needTool(t, "ffprobe")
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json",
		"-show_entries", "stream=codec_type,start_time,duration", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var res struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			StartTime string `json:"start_time"`
			Duration  string `json:"duration"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, s := range res.Streams {
		st, _ := strconv.ParseFloat(s.StartTime, 64)
		d, _ := strconv.ParseFloat(s.Duration, 64)
		switch s.CodecType {
		case "video":
			vStart, vEnd = st, st+d
			seen |= 1
		case "audio":
			aStart, aEnd = st, st+d
			seen |= 2
		}
	}
	if seen != 3 {
		t.Fatalf("%s: streams %+v, want video and audio", path, res.Streams)
	}
	return
}

// The chain with a camera whose video arrives 300 ms after its audio:
// recorder -> segments -> export. The export's audio ends within 40 ms of
// its video (G.711, 20 ms packets) or within one frame (AAC at 16 kHz,
// 64 ms frames: an AAC frame is not cut), and starts with it.
func TestExportAudioEndsWithItsVideo(t *testing.T) {
	needTool(t, "ffprobe")
	for _, tc := range []struct {
		audio  string
		maxEnd float64
	}{
		{"g711", 0.040},
		{"aac", 0.064},
	} {
		t.Run(tc.audio, func(t *testing.T) {
			t.Parallel()
			srv, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{"yard"}, Codec: "h264",
				Audio: tc.audio, VideoDelay: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			e := newEnv(t)
			e.ex.Now = time.Now
			rec, err := recorder.New(recorder.Config{Root: e.root, StateDir: e.state,
				Cameras:         []configs.Camera{{ID: "yard", Name: "Piha", URL: srv.URL("yard"), Transport: "tcp"}},
				SegmentDuration: 2 * time.Second, PartDuration: 200 * time.Millisecond, FsyncInterval: time.Second,
				DB: e.db, Now: time.Now, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- rec.Run(ctx) }()
			var segs []registry.Segment
			deadline := time.Now().Add(30 * time.Second)
			for len(segs) < 4 && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				e.db.View(context.Background(), func(tx *registry.Tx) error {
					segs, _ = tx.SegmentsIn("yard", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
					return nil
				})
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("recorder: %v", err)
			}
			if len(segs) < 4 {
				t.Fatalf("%d segments recorded", len(segs))
			}
			// From the second segment (the first began before the recorder
			// had audio) to the end of the third: the export ends at a cut.
			for _, w := range []struct {
				name     string
				from, to time.Time
			}{
				{"at a cut", segs[1].Start, segs[2].End},
				{"mid-segment", segs[1].Start.Add(500 * time.Millisecond), segs[2].End.Add(-700 * time.Millisecond)},
			} {
				res, err := e.ex.Build(context.Background(), Request{Cameras: []string{"yard"}, From: w.from, To: w.to,
					Reason: "e2e", Actor: "k", Source: "test"}, "")
				if err != nil {
					t.Fatal(err)
				}
				clip := filepath.Join(unzip(t, res.Path), "yard.mp4")
				vs, ve, as, ae := streamTimes(t, clip)
				t.Logf("%s: video %.3f–%.3f s, audio %.3f–%.3f s: start %+.3f s, end %+.3f s", w.name, vs, ve, as, ae, as-vs, ae-ve)
				if d := ae - ve; d > tc.maxEnd || d < -tc.maxEnd {
					t.Errorf("%s: the export's audio ends %+.3f s from its video, want within %.3f s", w.name, d, tc.maxEnd)
				}
				if d := as - vs; d > tc.maxEnd || d < -tc.maxEnd {
					t.Errorf("%s: the export's audio starts %+.3f s from its video, want within %.3f s", w.name, d, tc.maxEnd)
				}
			}
		})
	}
}
