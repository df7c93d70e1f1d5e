package recorder

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"vahti/configs"
	"vahti/recorder/fakecam"
	"vahti/registry"
)

// Test durations: short so the suite stays fast under -race.
const (
	testSegment = 2 * time.Second
	testPart    = 200 * time.Millisecond
)

func requireFFprobe(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffprobe not installed (required under CI)")
		}
		t.Skip("ffprobe not installed")
	}
}

func openDB(t *testing.T) *registry.DB {
	t.Helper()
	db, err := registry.Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(t *testing.T, buf *syncBuffer) *slog.Logger {
	if buf == nil {
		buf = &syncBuffer{}
	}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func startCam(t *testing.T, cfg fakecam.Config) *fakecam.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	srv, err := fakecam.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// running is a Recorder started in the background.
type running struct {
	rec    *Recorder
	root   string
	db     *registry.DB
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("Run: %v", r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("recorder did not stop")
	}
}

func startRecorder(t *testing.T, cams []configs.Camera, tweak func(*Config)) *running {
	t.Helper()
	r := &running{root: t.TempDir(), db: openDB(t), log: &syncBuffer{}}
	cfg := Config{Root: r.root, StateDir: t.TempDir(), Cameras: cams,
		SegmentDuration: testSegment, PartDuration: testPart, FsyncInterval: time.Second,
		DB: r.db, Now: time.Now, Log: testLogger(t, r.log)}
	if tweak != nil {
		tweak(&cfg)
	}
	rec, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.rec = rec
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	go func() {
		r.err = rec.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
		if t.Failed() {
			t.Logf("recorder log:\n%s", r.log.String())
		}
	})
	return r
}

// segments lists the catalogued segments of a camera, oldest first.
func segments(t *testing.T, db *registry.DB, cam string) []registry.Segment {
	t.Helper()
	var out []registry.Segment
	err := db.View(context.Background(), func(tx *registry.Tx) error {
		return tx.EachSegment(func(s registry.Segment) error {
			if s.Camera == cam {
				out = append(out, s)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func camStatus(r *running, id string) CameraStatus {
	for _, s := range r.rec.Status() {
		if s.ID == id {
			return s
		}
	}
	return CameraStatus{}
}

type probeStream struct {
	Index     int    `json:"index"`
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Duration  string `json:"duration"`
	StartTime string `json:"start_time"`
}

type probePacket struct {
	StreamIndex int    `json:"stream_index"`
	PTSTime     string `json:"pts_time"`
	DTSTime     string `json:"dts_time"`
	Duration    string `json:"duration_time"`
	Flags       string `json:"flags"`
}

type probeResult struct {
	Streams []probeStream `json:"streams"`
	Packets []probePacket `json:"packets"`
	Format  struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// ffprobe reads a file with ffprobe, failing the test on any error
// message (-v error prints nothing for a clean file).
func ffprobe(t *testing.T, path string) probeResult {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-print_format", "json",
		"-show_streams", "-show_packets", "-show_format", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe %s complains:\n%s", path, stderr.String())
	}
	var res probeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// ffmpegDecode decodes every frame of a file and fails on any decoder
// error: "plays cleanly".
func ffmpegDecode(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return
	}
	cmd := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("ffmpeg decode %s: %v\n%s", path, err, out)
	}
}

func seconds(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func abs(p string, root string) string { return filepath.Join(root, filepath.FromSlash(p)) }
