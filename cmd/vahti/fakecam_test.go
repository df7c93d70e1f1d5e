package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFakecamBadFlags(t *testing.T) {
	c := newCLI(t)
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"fakecam", "--codec", "vp8"},
		{"fakecam", "--audio-codec", "opus"},
		{"fakecam", "--user", "u"},
		{"fakecam", "--password-file", pw},
		{"fakecam", "--user", "u", "--password-file", pw}, // empty password
		{"fakecam", "--user", "u", "--password-file", "/nonexistent/pw"},
		{"fakecam", "--cameras", ","},
		{"fakecam", "--count", "2", "--cameras", "a"},
		{"fakecam", "--count", "-1"},
		{"fakecam", "--count", "100000"},
		{"fakecam", "--loop", "-1s"},
		{"fakecam", "--hostile", "evil"},
		{"fakecam", "--nosuchflag"},
		{"fakecam", "stray"},
	} {
		_, stderr, code := c.run("", args...)
		if code != 2 || !strings.Contains(stderr, "fakecam") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with an error", args, code, stderr)
		}
	}
	// Valid flags but an unusable clip: a clear error, non-zero exit.
	if _, stderr, code := c.run("", "fakecam", "--listen", "127.0.0.1:0", "--clip", "/nonexistent.mp4"); code == 0 || !strings.Contains(stderr, "nonexistent.mp4") {
		t.Errorf("--clip missing file: exit %d, stderr %q", code, stderr)
	}
}

// syncBuffer lets the test read stdout while the command is still writing.
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

// TestFakecamServesUntilCancelled: the command prints one URL per camera
// (password redacted), answers RTSP on them, and returns when ctx ends.
func TestFakecamServesUntilCancelled(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, now: time.Now, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, []string{"fakecam", "--listen", "127.0.0.1:0", "--cameras", "yard,lobby",
			"--codec", "h265", "--audio", "--user", "viewer", "--password-file", pw})
	}()
	var lines []string
	for deadline := time.Now().Add(10 * time.Second); len(lines) < 2; {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no URLs printed; stdout %q stderr %q", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
		lines = strings.Fields(out.String())
	}
	if strings.Contains(out.String()+errb.String(), "s3cret") {
		t.Fatal("the password was printed")
	}
	for i, cam := range []string{"yard", "lobby"} {
		u, err := url.Parse(lines[i])
		if err != nil || u.Scheme != "rtsp" || u.Path != "/"+cam || u.User.Username() != "viewer" {
			t.Fatalf("URL %q: want rtsp://viewer:…@HOST/%s", lines[i], cam)
		}
		conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", cam, err)
		}
		// A bare OPTIONS must be answered: the server is really up.
		_, _ = conn.Write([]byte("OPTIONS rtsp://" + u.Host + "/" + cam + " RTSP/1.0\r\nCSeq: 1\r\n\r\n"))
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 64)
		n, _ := conn.Read(buf)
		conn.Close()
		if !strings.HasPrefix(string(buf[:n]), "RTSP/1.0 200") {
			t.Fatalf("%s: OPTIONS answered %q", cam, buf[:n])
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after cancel; stderr %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fakecam did not stop when its context ended")
	}
}

// --count names the cameras cam001…, and --stats writes on exit what each
// sent: no reader, no frames.
func TestFakecamCountAndStats(t *testing.T) {
	stats := filepath.Join(t.TempDir(), "stats.json")
	var out, errb syncBuffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, now: time.Now, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, e, []string{"fakecam", "--listen", "127.0.0.1:0", "--count", "3", "--stats", stats})
	}()
	var lines []string
	for deadline := time.Now().Add(10 * time.Second); len(lines) < 3; {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no URLs printed; stdout %q stderr %q", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
		lines = strings.Fields(out.String())
	}
	for i, cam := range []string{"cam001", "cam002", "cam003"} {
		if !strings.HasSuffix(lines[i], "/"+cam) {
			t.Errorf("URL %d is %q, want …/%s", i, lines[i], cam)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr %s", code, errb.String())
	}
	b, err := os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Cameras []struct {
			Name   string
			Frames int64
		}
		Frames int64
	}
	if err := json.Unmarshal(b, &st); err != nil || len(st.Cameras) != 3 || st.Cameras[2].Name != "cam003" {
		t.Fatalf("stats %s: %v", b, err)
	}
	if st.Frames != 0 {
		t.Errorf("%d frames counted with no reader", st.Frames)
	}
}
