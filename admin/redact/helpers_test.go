package redact

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"vahti/admin/export"
	"vahti/registry"
)

// needTool fails under CI=true and skips otherwise when a tool is missing.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (required under CI)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// env is a storage root, registry and exporter with footage of one or
// more cameras: ffmpeg's testsrc2 with a fine grid drawn over it, so that
// every quadrant has detail that pixelation destroys.
type env struct {
	t     testing.TB
	root  string
	state string
	db    *registry.DB
	ex    *export.Exporter
	base  time.Time
	segs  []registry.Segment
}

var testBase = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func newEnv(t testing.TB, cams ...string) *env {
	t.Helper()
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	dir := t.TempDir()
	e := &env{t: t, root: filepath.Join(dir, "rec"), state: filepath.Join(dir, "state"), base: testBase}
	now := func() time.Time { return time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC) }
	db, err := registry.Open(e.state, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	e.ex = &export.Exporter{Root: e.root, StateDir: e.state, DB: db, Now: now, Version: "test",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, c := range cams {
		// Two 3 s segments, as the recorder writes them: fragmented MP4,
		// a keyframe every second, no B-frames.
		for k := 0; k < 2; k++ {
			e.addSegment(c, k*3, 3)
		}
	}
	return e
}

var segCache = map[int]string{}

func (e *env) addSegment(camera string, atSec, dur int) {
	e.t.Helper()
	src, ok := segCache[atSec*100+dur]
	if !ok {
		src = filepath.Join(os.TempDir(), fmt.Sprintf("vahti-redact-src-%d-%d-%d.mp4", os.Getpid(), atSec, dur))
		args := []string{"-v", "error", "-y", "-f", "lavfi", "-i",
			fmt.Sprintf("testsrc2=size=640x480:rate=25,drawgrid=w=6:h=6:t=1:c=white@0.7,trim=start=%d:duration=%d,setpts=PTS-STARTPTS", atSec, dur),
			"-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-bf", "0", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
			"-movflags", "frag_keyframe+empty_moov+default_base_moof", src}
		if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			e.t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		segCache[atSec*100+dur] = src
	}
	data, err := os.ReadFile(src)
	if err != nil {
		e.t.Fatal(err)
	}
	start := e.base.Add(time.Duration(atSec) * time.Second)
	rel := registry.SegmentPath(camera, start)
	abs := filepath.Join(e.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(abs, data, 0o640); err != nil {
		e.t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	seg := registry.Segment{Camera: camera, Start: start, End: start.Add(time.Duration(dur) * time.Second), Path: rel,
		Bytes: int64(len(data)), Codecs: "h264", Params: "test", SHA256: hex.EncodeToString(sum[:])}
	if err := e.db.Update(context.Background(), func(tx *registry.Tx) error { return tx.AddSegment(&seg) }); err != nil {
		e.t.Fatal(err)
	}
	e.segs = append(e.segs, seg)
}

// hashTree is the SHA-256 of every file under dir, by relative path.
func hashTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = hex.EncodeToString(h[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unzipClip writes the named file of a package to dir and returns its path.
func unzipClip(t testing.TB, zipPath, name, dir string) string {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name != name {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		out := filepath.Join(dir, filepath.Base(zipPath)+"-"+name)
		w, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, rc); err != nil {
			t.Fatal(err)
		}
		w.Close()
		return out
	}
	t.Fatalf("%s: no %s", zipPath, name)
	return ""
}

var (
	ssimRe = regexp.MustCompile(`All:([0-9.]+)`)
	psnrRe = regexp.MustCompile(`average:([0-9.]+|inf)`)
)

// compare crops the same rectangle (pixels) of two clips and returns
// ffmpeg's SSIM (All) and PSNR (average, dB) between them.
func compare(t testing.TB, a, b string, x, y, w, h int) (ssim, psnr float64) {
	t.Helper()
	return compareIn(t, a, b, -1, -1, x, y, w, h)
}

// compareIn is compare over the frames between from and to seconds of
// the files' timelines (from < 0: all frames).
func compareIn(t testing.TB, a, b string, from, to float64, x, y, w, h int) (ssim, psnr float64) {
	t.Helper()
	crop := fmt.Sprintf("crop=%d:%d:%d:%d", w, h, x, y)
	if from >= 0 {
		crop = fmt.Sprintf("trim=start=%.3f:end=%.3f,%s", from, to, crop)
	}
	lavfi := fmt.Sprintf("[0:v]%[1]s,split[a1][a2];[1:v]%[1]s,split[b1][b2];[a1][b1]ssim;[a2][b2]psnr", crop)
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-i", a, "-i", b, "-lavfi", lavfi, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg compare: %v\n%s", err, out)
	}
	s := ssimRe.FindStringSubmatch(string(out))
	p := psnrRe.FindStringSubmatch(string(out))
	if s == nil || p == nil {
		t.Fatalf("ffmpeg compare: no ssim/psnr in\n%s", out)
	}
	ssim, _ = strconv.ParseFloat(s[1], 64)
	if p[1] == "inf" {
		psnr = 100
	} else {
		psnr, _ = strconv.ParseFloat(p[1], 64)
	}
	return ssim, psnr
}

// probeFrames is how many video frames ffprobe decodes, and any error text.
func probeFrames(t testing.TB, path string) (int, string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,codec_name", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		return 0, string(out)
	}
	fields := strings.Split(strings.TrimSpace(string(out)), ",")
	n, _ := strconv.Atoi(fields[len(fields)-1])
	return n, ""
}
