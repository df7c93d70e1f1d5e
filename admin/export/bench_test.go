package export

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"vahti/admin/internal/sealtest"
	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

// TestGenerateBenchData writes an hour and five minutes of one ≈2 Mbit/s
// camera (H.264 1280x720 25 fps + AAC, 60 s segments, as configured by
// default) into $VAHTI_BENCH_DIR with a catalog, a config file and ffmpeg
// concat lists, for scripts/bench-export.sh. The minute of video is
// encoded once and written 65 times at successive wall-clock times
// ($VAHTI_BENCH_MINUTES times if set: a short run for checking the
// script; a window longer than the footage gets no concat list).
func TestGenerateBenchData(t *testing.T) {
	dir := os.Getenv("VAHTI_BENCH_DIR")
	if dir == "" {
		t.Skip("set VAHTI_BENCH_DIR (scripts/bench-export.sh)")
	}
	minutes := 65
	if n, err := strconv.Atoi(os.Getenv("VAHTI_BENCH_MINUTES")); err == nil && n > 0 {
		minutes = n
	}
	s := makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 60, size: "1280x720", bitrate: "2M"})
	e := &env{t: t, root: filepath.Join(dir, "rec"), state: filepath.Join(dir, "state"),
		base: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	db, err := registry.Open(e.state, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e.db = db
	cams := []string{"yard"}
	if n, _ := strconv.Atoi(os.Getenv("VAHTI_BENCH_CAMERAS")); n > 1 {
		for i := 2; i <= n; i++ {
			cams = append(cams, fmt.Sprintf("cam%d", i))
		}
	}
	var segs []registry.Segment
	cfg := fmt.Sprintf("state_dir: %s\nstorage:\n  root: %s\n  segment_duration: 60s\n  part_duration: 1s\ncameras:\n", e.state, e.root)
	for _, cam := range cams {
		for m := 0; m < minutes; m++ {
			for _, sg := range e.addSegments(cam, s, time.Duration(m)*time.Minute, 60) {
				// What the recorder does at finish.
				if err := mp4read.IndexFile(e.abs(sg), sg.SHA256, nil); err != nil {
					t.Fatal(err)
				}
				if cam == "yard" {
					segs = append(segs, sg)
				}
			}
		}
		cfg += fmt.Sprintf("  - id: %s\n    name: %s\n    purpose: benchmark\n    url: rtsp://127.0.0.1:1/%s\n", cam, cam, cam)
	}
	cfg += "admin:\n  listen: 127.0.0.1:0\n"
	if err := os.WriteFile(filepath.Join(dir, "vahti.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"5m", 5}, {"1h", 60}} {
		if c.n > len(segs) {
			continue
		}
		var b strings.Builder
		var bytes int64
		for _, sg := range segs[:c.n] {
			fmt.Fprintf(&b, "file '%s'\n", filepath.Join(e.root, filepath.FromSlash(sg.Path)))
			bytes += sg.Bytes
		}
		os.WriteFile(filepath.Join(dir, "concat-"+c.name+".txt"), []byte(b.String()), 0o644)
		os.WriteFile(filepath.Join(dir, "bytes-"+c.name), []byte(fmt.Sprint(bytes)), 0o644)
	}
	fmt.Printf("segments: %d per camera, %d cameras, %.1f Mbit/s\n", len(segs), len(cams), float64(segs[0].Bytes)*8/60/1e6)

}

// benchCameras is the bench data's camera ids, in the order of its config.
var benchCameras = []string{"yard", "cam2", "cam3", "cam4", "cam5", "cam6", "cam7", "cam8"}

// TestSealBenchData seals, in place, the bench data that
// scripts/bench-export.sh copied to $VAHTI_BENCH_SEAL_DIR after running
// `vahti keys init` there: every catalogued segment becomes the sealed
// file the recorder would have written (sealtest.Seal: its key sealed to
// its day's epoch, one record per fragment, the end marker, the row's
// bytes and SHA-256 of the sealed file). It is what the sealed mode of
// the script exports, against the plain copy.
func TestSealBenchData(t *testing.T) {
	dir := os.Getenv("VAHTI_BENCH_SEAL_DIR")
	if dir == "" {
		t.Skip("set VAHTI_BENCH_SEAL_DIR (scripts/bench-export.sh SEALED=1)")
	}
	db, err := registry.Open(filepath.Join(dir, "state"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var site seal.SitePublicKey
	var segs []registry.Segment
	err = db.View(context.Background(), func(tx *registry.Tx) error {
		s, err := tx.SealSiteKey()
		if err != nil {
			return fmt.Errorf("no site keys (vahti keys init): %w", err)
		}
		if site, err = seal.ParseSitePublicKey(s.PublicKey); err != nil {
			return err
		}
		// yard, cam2, cam3, … as TestGenerateBenchData names them.
		for i := 1; ; i++ {
			c := "yard"
			if i > 1 {
				c = fmt.Sprintf("cam%d", i)
			}
			s, err := tx.SegmentsIn(c, time.Unix(0, 0), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil || len(s) == 0 {
				return err
			}
			segs = append(segs, s...)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) == 0 {
		t.Fatalf("%s: no segments", dir)
	}
	root := filepath.Join(dir, "rec")
	for _, sg := range segs {
		sealtest.Seal(t, db, site, filepath.Join(root, filepath.FromSlash(sg.Path)), sg)
	}
	fmt.Printf("sealed: %d segments\n", len(segs))
}

// benchUnwrap is the Unwrapper of the sealed bench data in dir, opened
// with the recovery key the script saved there (as `vahti export
// --recovery-key-file` opens it).
func benchUnwrap(t testing.TB, dir string, db *registry.DB) seal.Unwrapper {
	b, err := os.ReadFile(filepath.Join(dir, "recovery-key"))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := seal.ParseRecoveryKey(string(b))
	if err != nil {
		t.Fatal(err)
	}
	defer rk.Wipe()
	var site seal.SitePublicKey
	var wrap []byte
	err = db.View(context.Background(), func(tx *registry.Tx) error {
		s, err := tx.SealSiteKey()
		if err != nil {
			return err
		}
		if site, err = seal.ParseSitePublicKey(s.PublicKey); err != nil {
			return err
		}
		wrap, err = tx.RecoveryWrap()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.UnlockRecovery(site, wrap, rk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ring.Wipe)
	return ring.Unwrapper(db.KeyStore(context.Background()))
}

func benchEnv(t testing.TB) (*Exporter, time.Time) {
	dir := os.Getenv("VAHTI_BENCH_DIR")
	if dir == "" {
		t.Skip("set VAHTI_BENCH_DIR (scripts/bench-export.sh)")
	}
	return benchEnvAt(t, dir)
}

// benchEnvAt is an Exporter over the bench data in dir; a sealed copy
// (one with a recovery-key file) gets its Unwrapper.
func benchEnvAt(t testing.TB, dir string) (*Exporter, time.Time) {
	db, err := registry.Open(filepath.Join(dir, "state"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ex := &Exporter{Root: filepath.Join(dir, "rec"), StateDir: filepath.Join(dir, "state"), DB: db, Log: slog.New(slog.DiscardHandler)}
	if _, err := os.Stat(filepath.Join(dir, "recovery-key")); err == nil {
		ex.Unwrap = benchUnwrap(t, dir, db)
	}
	return ex, time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
}

// BenchmarkPlaybackWindow: the time from a playback request for a new
// window (5 min, 1 h: planned from the segments' indexes, nothing cached)
// to the first byte of its response, warm. Each iteration asks a window
// that starts a second later, as a user scrubbing would. Reported as
// first-byte-ms (mean) and max-first-byte-ms; the target is < 30 ms for
// any window up to 1 h.
//
//	VAHTI_BENCH_DIR=… go test -run '^$' -bench PlaybackWindow -benchtime 20x ./admin/export
func BenchmarkPlaybackWindow(b *testing.B) {
	ex, base := benchEnv(b)
	ex.Log = slog.New(slog.DiscardHandler)
	for _, w := range []struct {
		name string
		d    time.Duration
	}{{"5m", 5 * time.Minute}, {"1h", time.Hour}} {
		b.Run(w.name, func(b *testing.B) {
			var sum, worst time.Duration
			for i := 0; i < b.N; i++ {
				from := base.Add(time.Duration(i%300) * time.Second)
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("Range", "bytes=0-65535")
				rec := &firstByte{ResponseRecorder: httptest.NewRecorder(), start: time.Now()}
				ex.Playback(rec, req, "yard", from, from.Add(w.d))
				if rec.Code != 206 || rec.first == 0 {
					b.Fatalf("playback %s from %s: status %d, %d bytes", w.name, from, rec.Code, rec.Body.Len())
				}
				sum += rec.first
				worst = max(worst, rec.first)
			}
			b.ReportMetric(float64(sum.Microseconds())/1000/float64(b.N), "first-byte-ms")
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-first-byte-ms")
		})
	}
}

// BenchmarkPlanHour: planning (layout) of a 1 h window.
func BenchmarkPlanHour(b *testing.B) {
	ex, base := benchEnv(b)
	benchPlanHour(b, ex, base)
}

// BenchmarkPlanHourSealed: BenchmarkPlanHour on the sealed copy
// ($VAHTI_BENCH_SEAL_DIR): with no index to plan from, every record is
// read and decrypted once here, before the export reads it again.
func BenchmarkPlanHourSealed(b *testing.B) {
	dir := os.Getenv("VAHTI_BENCH_SEAL_DIR")
	if dir == "" {
		b.Skip("set VAHTI_BENCH_SEAL_DIR (scripts/bench-export.sh SEALED=1)")
	}
	ex, base := benchEnvAt(b, dir)
	benchPlanHour(b, ex, base)
}

func benchPlanHour(b *testing.B, ex *Exporter, base time.Time) {
	var segs []registry.Segment
	ex.DB.View(context.Background(), func(tx *registry.Tx) error {
		segs, _ = tx.SegmentsIn("yard", base, base.Add(time.Hour))
		return nil
	})
	for i := 0; i < b.N; i++ {
		if _, err := makePlan(ex.Root, "yard", base, base.Add(time.Hour), segs, planOpts{unwrap: ex.Unwrap}); err != nil {
			b.Fatal(err)
		}
	}
}

type firstByte struct {
	*httptest.ResponseRecorder
	start time.Time
	first time.Duration
}

func (f *firstByte) Write(b []byte) (int, error) {
	if f.first == 0 {
		f.first = time.Since(f.start)
	}
	return f.ResponseRecorder.Write(b)
}

// BenchmarkExport: one whole package (Build: plan, read and check every
// source, hash, zip, fsync, registry) of the bench data, per window and
// camera count. With $VAHTI_BENCH_SEAL_DIR (the sealed copy the script's
// sealed mode makes) the same cases run on it too, as sealed/…, so one run
// gives both. For profiling:
//
//	VAHTI_BENCH_DIR=… go test -run '^$' -bench 'Export/1cam-1h' -benchtime 3x -cpuprofile cpu.out ./admin/export
//	VAHTI_BENCH_DIR=… VAHTI_BENCH_SEAL_DIR=… go test -run '^$' -bench 'Export/sealed/1cam-5m' -benchtime 5x -cpuprofile cpu.out ./admin/export
func BenchmarkExport(b *testing.B) {
	ex, base := benchEnv(b)
	benchExport(b, ex, base)
	if dir := os.Getenv("VAHTI_BENCH_SEAL_DIR"); dir != "" {
		b.Run("sealed", func(b *testing.B) {
			ex, base := benchEnvAt(b, dir)
			if ex.Unwrap == nil {
				b.Fatalf("%s: no recovery-key file: not the sealed bench data", dir)
			}
			benchExport(b, ex, base)
		})
	}
}

func benchExport(b *testing.B, ex *Exporter, base time.Time) {
	var all []string
	ex.DB.View(context.Background(), func(tx *registry.Tx) error {
		for _, c := range benchCameras {
			if s, _ := tx.SegmentsIn(c, base, base.Add(time.Hour)); len(s) > 0 {
				all = append(all, c)
			}
		}
		return nil
	})
	for _, c := range []struct {
		name string
		cams int
		span time.Duration
	}{{"1cam-5m", 1, 5 * time.Minute}, {"1cam-1h", 1, time.Hour}, {"8cam-1h", 8, time.Hour}} {
		if c.cams > len(all) {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			var bytes int64
			for i := 0; i < b.N; i++ {
				res, err := ex.Build(context.Background(), Request{Cameras: all[:c.cams], From: base, To: base.Add(c.span),
					Reason: "benchmark", Actor: "bench", Source: "bench"}, "")
				if err != nil {
					b.Fatal(err)
				}
				bytes = 0
				for _, s := range res.Manifest.Sources {
					bytes += s.Bytes
				}
				b.StopTimer()
				os.Remove(res.Path) // deletion-gate: the benchmark's own package
				b.StartTimer()
			}
			b.SetBytes(bytes)
		})
	}
}
