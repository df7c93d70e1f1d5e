package export

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func playbackServer(t *testing.T, e *env) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from, _ := time.Parse(time.RFC3339Nano, q.Get("from"))
		to, _ := time.Parse(time.RFC3339Nano, q.Get("to"))
		e.ex.Playback(w, r, q.Get("camera"), from, to)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func playURL(srv *httptest.Server, cam string, from, to time.Time) string {
	return fmt.Sprintf("%s/play.mp4?camera=%s&from=%s&to=%s", srv.URL, cam, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestPlaybackRangesAndProbe(t *testing.T) {
	e := newEnv(t)
	e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 12}), 0, 2)
	srv := playbackServer(t, e)
	from, to := e.base.Add(1500*time.Millisecond), e.base.Add(9*time.Second)
	url := playURL(srv, "yard", from, to)

	resp, full := get(t, url, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" || resp.Header.Get("Cache-Control") != "no-store" ||
		resp.Header.Get("Accept-Ranges") != "bytes" || resp.ContentLength != int64(len(full)) {
		t.Fatalf("full response: %d %v (%d bytes)", resp.StatusCode, resp.Header, len(full))
	}
	// Without a gap the playback file is byte for byte the exported clip.
	_, pkg := e.export([]string{"yard"}, 1500*time.Millisecond, 9*time.Second)
	clip, _ := os.ReadFile(filepath.Join(unzip(t, pkg), "yard.mp4"))
	if !bytes.Equal(clip, full) {
		t.Errorf("playback (%d bytes) differs from the exported clip (%d bytes)", len(full), len(clip))
	}

	// Ranges, in parallel, return exactly the bytes of the full response.
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(seed))
			for i := 0; i < 6; i++ {
				a := rnd.Int63n(int64(len(full)))
				b := a + rnd.Int63n(int64(len(full))-a)
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", a, b))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 206 || !bytes.Equal(body, full[a:b+1]) ||
					resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", a, b, len(full)) {
					errs <- fmt.Sprintf("range %d-%d: status %d, %d bytes, %s", a, b, resp.StatusCode, len(body), resp.Header.Get("Content-Range"))
				}
			}
		}(int64(g))
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// Suffix range and a multi-range request.
	if r, b := get(t, url, map[string]string{"Range": "bytes=-1000"}); r.StatusCode != 206 || !bytes.Equal(b, full[len(full)-1000:]) {
		t.Errorf("suffix range: %d, %d bytes", r.StatusCode, len(b))
	}
	if r, b := get(t, url, map[string]string{"Range": "bytes=0-9,100-199"}); r.StatusCode != 206 ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/byteranges") || !bytes.Contains(b, full[100:200]) {
		t.Errorf("multi range: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	// ffprobe and ffmpeg read the URL over HTTP (they seek with ranges).
	p := ffprobe(t, url)
	if strings.Join(p.codecs(), ",") != "h264,aac" {
		t.Errorf("ffprobe over HTTP: codecs %v", p.codecs())
	}
	if msg := decodeErrors(t, url); msg != "" {
		t.Errorf("ffmpeg over HTTP: %s", msg)
	}
	needTool(t, "ffmpeg")
}

// Across a recording gap playback keeps one clip whose timeline jumps
// (wall-clock seek bar); the export instead starts a new clip.
func TestPlaybackAcrossGapKeepsWallClock(t *testing.T) {
	e := newEnv(t)
	e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", seconds: 8}), 0, 2, 1)
	srv := playbackServer(t, e)
	url := playURL(srv, "yard", e.base, e.base.Add(8*time.Second))
	resp, _ := get(t, url, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	p := ffprobe(t, url)
	var last float64
	jumped := false
	for _, pk := range p.Packets {
		pts := atof(pk.PTS)
		if pts-last > 1.9 {
			jumped = true
			if pts < 3.99 || pts > 4.01 {
				t.Errorf("frame after the gap at %.3f s, want 4.000 (wall clock)", pts)
			}
		}
		last = pts
	}
	if !jumped {
		t.Error("no timestamp jump across the 2-4 s gap")
	}
	if got := resp.Header.Get("X-Vahti-Clip-End"); !strings.HasPrefix(got, "2026-11-22T12:00:08") {
		t.Errorf("X-Vahti-Clip-End %q", got)
	}
}

func TestPlaybackBadParams(t *testing.T) {
	e := newEnv(t)
	e.ex.Cameras = []string{"yard"}
	e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", seconds: 4}), 0, 2)
	srv := playbackServer(t, e)
	cases := []struct {
		url  string
		code int
	}{
		{playURL(srv, "yard", e.base.Add(2*time.Second), e.base), 400},
		{playURL(srv, "yard", e.base, e.base), 400},
		{playURL(srv, "", e.base, e.base.Add(time.Second)), 400},
		{playURL(srv, "garage", e.base, e.base.Add(time.Second)), 404},
		{playURL(srv, "yard", e.base.Add(time.Hour), e.base.Add(2*time.Hour)), 404},
		{playURL(srv, "yard", e.base, e.base.Add(13*time.Hour)), 400},
	}
	for _, c := range cases {
		resp, _ := get(t, c.url, nil)
		if resp.StatusCode != c.code {
			t.Errorf("%s: %d, want %d", c.url, resp.StatusCode, c.code)
		}
	}
}

// BenchmarkPlaybackFirstByte measures a cold request (layout not cached).
func BenchmarkPlaybackFirstByte(b *testing.B) {
	e := newEnv(b)
	e.addSegments("yard", makeStream(b, streamOpts{codec: "h264", audio: "aac", seconds: 60}), 0, 2)
	for i := 0; i < b.N; i++ {
		e.ex.play = nil
		e.ex.playOnce = sync.Once{}
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Range", "bytes=0-65535")
		w := httptest.NewRecorder()
		e.ex.Playback(w, req, "yard", e.base, e.base.Add(60*time.Second))
		if w.Code != 206 {
			b.Fatal(w.Code)
		}
	}
}
