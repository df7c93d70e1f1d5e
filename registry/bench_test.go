package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkSegmentsIn measures the catalog query behind playback, export
// and the timeline at full scale: 32 cameras x 28 days of 1-minute
// segments (1.29 M rows). Run it with
//
//	go test -run '^$' -bench SegmentsIn -benchtime 2000x ./registry
//
// Building the catalog takes a while, so it happens only under -bench, and
// the built database is kept in os.TempDir() (keyed by row count and schema
// version) for the next run; the log line says how long the build took.
// VAHTI_BENCH_CAMERAS and VAHTI_BENCH_DAYS scale it down.
func BenchmarkSegmentsIn(b *testing.B) {
	cams := benchEnv("VAHTI_BENCH_CAMERAS", 32)
	days := benchEnv("VAHTI_BENCH_DAYS", 28)
	db := benchCatalog(b, cams, days)
	ctx := context.Background()
	// The ranges walk over cameras and days so that one cached page does not
	// answer every query; each starts on the hour, and segments start a few
	// milliseconds after the minute, so a range overlaps one more segment
	// than it has minutes.
	for _, bc := range []struct {
		name string
		span time.Duration
	}{{"hour", time.Hour}, {"day", 24 * time.Hour}} {
		b.Run(bc.name, func(b *testing.B) {
			slots := int((time.Duration(days)*24*time.Hour - bc.span) / time.Hour)
			want := int(bc.span/time.Minute) + 1
			rows := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cam := benchCamID(i % cams)
				from := benchFirst.Add(time.Duration((i*7919)%slots+1) * time.Hour)
				var segs []Segment
				err := db.View(ctx, func(tx *Tx) error {
					var err error
					segs, err = tx.SegmentsIn(cam, from, from.Add(bc.span))
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				if len(segs) != want {
					b.Fatalf("%s %s + %s: %d segments, want %d", cam, from, bc.span, len(segs), want)
				}
				rows += len(segs)
			}
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
		})
	}
}

// benchFirst is the start of the benchmark catalog.
var benchFirst = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

func benchCamID(c int) string { return fmt.Sprintf("cam-%02d", c) }

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchCatalog opens the cached catalog of cams x days of 1-minute
// segments, building it first if it is not there. The build goes to a
// temporary name and is renamed into place once complete, so an
// interrupted build is never taken for a finished one.
func benchCatalog(b *testing.B, cams, days int) *DB {
	b.Helper()
	rows := cams * days * 24 * 60
	name := fmt.Sprintf("vahti-bench-segments-%d-c%d-m%d", rows, cams, len(migrations))
	path := filepath.Join(os.TempDir(), name+".db")
	timing := filepath.Join(os.TempDir(), name+".built")
	if _, err := os.Stat(path); err == nil {
		took, _ := os.ReadFile(timing)
		b.Logf("catalog: %d segments (%d cameras x %d days), cached in %s; the build took %s", rows, cams, days, path, strings.TrimSpace(string(took)))
	} else {
		took := buildBenchCatalog(b, path, cams, days)
		os.WriteFile(timing, []byte(took.String()+"\n"), 0o644)
		b.Logf("catalog: %d segments (%d cameras x %d days) built in %s (one transaction, AddSegments), cached in %s", rows, cams, days, took, path)
	}
	db, err := OpenFile(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func buildBenchCatalog(b *testing.B, path string, cams, days int) time.Duration {
	b.Helper()
	tmp := path + ".building"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(p)
	}
	db, err := OpenFile(tmp, nil)
	if err != nil {
		b.Fatal(err)
	}
	perCam := days * 24 * 60
	started := time.Now()
	err = db.Update(context.Background(), func(tx *Tx) error {
		batch := make([]Segment, perCam)
		for c := 0; c < cams; c++ {
			id := benchCamID(c)
			for i := range batch {
				// A few milliseconds after the minute, as a recorder cuts at the
				// first keyframe; distinct per camera.
				start := benchFirst.Add(time.Duration(i)*time.Minute + time.Duration(c+1)*time.Millisecond)
				batch[i] = Segment{Camera: id, Start: start, End: start.Add(time.Minute), Path: SegmentPath(id, start),
					Bytes: 15 << 20, Codecs: "h264,aac", Params: "5f1c0a7d9e2b4c61",
					SHA256: fmt.Sprintf("%064x", c*perCam+i)}
			}
			if err := tx.AddSegments(batch); err != nil {
				return err
			}
		}
		return nil
	})
	took := time.Since(started)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	// Close checkpoints the WAL; move any sidecar that is still there along.
	for _, suf := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(tmp + suf); err == nil {
			if err := os.Rename(tmp+suf, path+suf); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return took.Round(time.Millisecond)
}
