package export

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden.json (state the reason in the commit)")

// fixedStream is one of the fakecam's committed clips (4 s, 25 fps, a
// keyframe every second, AAC), parsed: a fixed input whose exports must
// not change by a byte when the exporter is rewritten. No ffmpeg needed.
func fixedStream(t testing.TB, name string, lpcm bool) *stream {
	t.Helper()
	path := filepath.Join("..", "..", "recorder", "fakecam", "clips", name+".mp4")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := parseSegment(path)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	s := &stream{data: data, video: ps.video()}
	if len(ps.tracks) > 1 {
		s.audio = ps.tracks[1]
	}
	if lpcm {
		s.audio = lpcmTrack(s)
	}
	return s
}

type goldenClip struct {
	File, From, To, Codecs, SHA256 string
	Bytes                          int64
	Sources                        []string
}

type goldenSource struct{ Path, Status, From, To, Clip string }

type goldenGap struct {
	From, To, Cause string
	Segments        []string
}

type goldenCase struct {
	Clips   []goldenClip
	Sources []goldenSource
	Gaps    []goldenGap
	Actual  []string
	// Playback: the whole response body of a window.
	PlaybackSHA256 string `json:",omitempty"`
	PlaybackBytes  int    `json:",omitempty"`
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func goldenOf(m *Manifest) goldenCase {
	var g goldenCase
	for _, c := range m.Clips {
		g.Clips = append(g.Clips, goldenClip{File: c.File, From: ts(c.FromUTC), To: ts(c.ToUTC), Codecs: c.Codecs, SHA256: c.SHA256, Bytes: c.Bytes, Sources: c.Sources})
	}
	for _, s := range m.Sources {
		g.Sources = append(g.Sources, goldenSource{Path: s.Path, Status: s.Status, From: ts(s.FromUTC), To: ts(s.ToUTC), Clip: s.Clip})
	}
	for _, x := range m.Gaps {
		g.Gaps = append(g.Gaps, goldenGap{From: ts(x.FromUTC), To: ts(x.ToUTC), Cause: x.Cause, Segments: x.Segments})
	}
	for _, a := range m.Actual {
		g.Actual = append(g.Actual, a.Camera+" "+ts(a.FromUTC)+" "+ts(a.ToUTC))
	}
	return g
}

// TestGoldenExports pins the exporter's output for fixed inputs: every
// deterministic manifest field and every clip's SHA-256, and the bytes
// playback serves. A change here changes evidence: regenerate with
// -update-golden only for a reason stated in the commit.
func TestGoldenExports(t *testing.T) {
	got := map[string]goldenCase{}
	run := func(name string, fn func(t *testing.T) goldenCase) {
		t.Run(name, func(t *testing.T) { got[name] = fn(t) })
	}
	run("h264-aac-gap", func(t *testing.T) goldenCase {
		e := newEnv(t)
		e.addSegments("yard", fixedStream(t, "h264", false), 0, 1, 2)
		res, _ := e.export([]string{"yard"}, 500*time.Millisecond, 3900*time.Millisecond)
		return goldenOf(res.Manifest)
	})
	run("h264-bframes", func(t *testing.T) goldenCase {
		e := newEnv(t)
		e.addSegments("yard", fixedStream(t, "h264-bframes", false), 0, 2)
		res, _ := e.export([]string{"yard"}, 0, 4*time.Second)
		return goldenOf(res.Manifest)
	})
	run("h265-lpcm-two-cameras", func(t *testing.T) goldenCase {
		e := newEnv(t)
		e.addSegments("yard", fixedStream(t, "h265", true), 0, 1)
		e.addSegments("lobby", fixedStream(t, "h264", false), 1*time.Second, 2)
		res, _ := e.export([]string{"yard", "lobby"}, 0, 5*time.Second)
		return goldenOf(res.Manifest)
	})
	run("tampered", func(t *testing.T) goldenCase {
		e := newEnv(t)
		segs := e.addSegments("yard", fixedStream(t, "h264", false), 0, 1)
		f, err := os.OpenFile(e.abs(segs[1]), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte{0xde, 0xad}, segs[1].Bytes-100)
		f.Close()
		res, _ := e.export([]string{"yard"}, 0, 4*time.Second)
		g := goldenOf(res.Manifest)
		return g
	})
	run("playback-gap", func(t *testing.T) goldenCase {
		e := newEnv(t)
		e.addSegments("yard", fixedStream(t, "h264", false), 0, 1, 1)
		req := httptest.NewRequest("GET", "/", nil)
		rec := httptest.NewRecorder()
		e.ex.Playback(rec, req, "yard", e.base.Add(300*time.Millisecond), e.base.Add(4*time.Second))
		if rec.Code != 200 {
			t.Fatalf("playback: %d %s", rec.Code, rec.Body)
		}
		b, _ := io.ReadAll(rec.Body)
		sum := sha256.Sum256(b)
		return goldenCase{PlaybackSHA256: hex.EncodeToString(sum[:]), PlaybackBytes: len(b),
			Actual: []string{rec.Header().Get("X-Vahti-Clip-Start") + " " + rec.Header().Get("X-Vahti-Clip-End")}}
	})
	path := filepath.Join("testdata", "golden.json")
	if *updateGolden {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]goldenCase
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: not run", name)
			continue
		}
		wj, _ := json.MarshalIndent(w, "", "  ")
		gj, _ := json.MarshalIndent(g, "", "  ")
		if string(wj) != string(gj) {
			t.Errorf("%s: output differs from the golden file\n got: %s\nwant: %s", name, gj, wj)
		}
	}
	if len(got) != len(want) {
		t.Errorf("golden file has %d cases, ran %d", len(want), len(got))
	}
	_ = fmt.Sprint
}
