package retention

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"vahti/configs"
	"vahti/mp4read"
	"vahti/registry"
)

// Benchmarks at the scale of a full box: 32 cameras x 1-minute segments
// x 28 days (1.29 M rows) with 1000 active holds. Run them with
// scripts/bench-retention.sh (building the catalog takes a while, so
// they are not part of the normal test run). VAHTI_BENCH_CAMERAS and
// VAHTI_BENCH_DAYS scale the catalog down.

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchBox builds a catalog of `days` days of 1-minute segments for cams
// cameras ending at t0, plus 1000 active 30-minute holds, and returns a
// Retention whose clock is t0. With files, the oldest day's segment files
// are created (empty) so deletions unlink real files.
func benchBox(b *testing.B, days int, files bool) (*fixture, []registry.Segment) {
	b.Helper()
	// Go runs each benchmark function more than once (b.N = 1 first):
	// build each catalog only once per process.
	key := fmt.Sprint(days, files)
	if c, ok := benchCache[key]; ok {
		return c.f, c.oldest
	}
	f, oldest := buildBenchBox(b, days, files)
	benchCache[key] = benchBuilt{f, oldest}
	return f, oldest
}

type benchBuilt struct {
	f      *fixture
	oldest []registry.Segment
}

var (
	benchCache = map[string]benchBuilt{}
	benchDirs  []string // removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range benchDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func buildBenchBox(b *testing.B, days int, files bool) (*fixture, []registry.Segment) {
	cams := benchEnv("VAHTI_BENCH_CAMERAS", 32)
	dir, err := os.MkdirTemp("", "vahti-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchDirs = append(benchDirs, dir)
	cfg := configs.Defaults()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Storage.Root = filepath.Join(dir, "rec")
	for c := 0; c < cams; c++ {
		id := fmt.Sprintf("cam-%02d", c)
		cfg.Cameras = append(cfg.Cameras, configs.Camera{ID: id, Name: id, Purpose: "bench", URL: "rtsp://127.0.0.1:1/" + id})
	}
	f := &fixture{dir: dir, cfg: &cfg, now: t0}
	db, err := registry.Open(cfg.StateDir, f.clock)
	if err != nil {
		b.Fatal(err)
	}
	f.db = db
	r, err := New(Config{Cfg: &cfg, DB: db, Now: f.clock})
	if err != nil {
		b.Fatal(err)
	}
	f.r = r
	ctx := context.Background()
	first := t0.Add(-time.Duration(days) * day)
	perCam := days * 24 * 60
	var oldestDay []registry.Segment
	started := time.Now()
	err = db.Update(ctx, func(tx *registry.Tx) error {
		batch := make([]registry.Segment, 0, perCam)
		for c := 0; c < cams; c++ {
			id := cfg.Cameras[c].ID
			batch = batch[:0]
			for i := 0; i < perCam; i++ {
				start := first.Add(time.Duration(i)*time.Minute + time.Duration(c)*time.Millisecond)
				batch = append(batch, registry.Segment{Camera: id, Start: start, End: start.Add(time.Minute),
					Path: registry.SegmentPath(id, start), Bytes: 4 << 20, Codecs: "h264"})
			}
			if err := tx.AddSegments(batch); err != nil {
				return err
			}
			for _, s := range batch[:24*60] {
				oldestDay = append(oldestDay, s)
			}
		}
		rng := rand.New(rand.NewSource(1))
		for i := 0; i < 1000; i++ {
			from := first.Add(time.Duration(rng.Int63n(int64(time.Duration(days) * day))))
			h := registry.Hold{Cameras: []string{cfg.Cameras[rng.Intn(cams)].ID}, From: from, To: from.Add(30 * time.Minute), Reason: "bench"}
			if err := tx.AddHold(&h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("catalog: %d cameras x %d days = %d segments, 1000 holds, built in %s", cams, days, cams*perCam, time.Since(started).Round(time.Millisecond))
	if files {
		for _, s := range oldestDay {
			p := filepath.Join(cfg.Storage.Root, filepath.FromSlash(s.Path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			// Every finished segment has its fragment index beside it.
			for _, f := range []string{p, mp4read.IndexPath(p)} {
				if err := os.WriteFile(f, nil, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	// The clock is remembered, as in a running service (a real pass here
	// would already delete with the default max_age).
	err = db.Update(ctx, func(tx *registry.Tx) error {
		if err := setMetaTime(tx, metaLastSeen, t0.Add(-time.Minute)); err != nil {
			return err
		}
		return setMetaTime(tx, metaLastPass, t0.Add(-time.Minute))
	})
	if err != nil {
		b.Fatal(err)
	}
	return f, oldestDay
}

// BenchmarkIdleSweep: a full catalog, nothing expired (target < 10 ms).
func BenchmarkIdleSweep(b *testing.B) {
	days := benchEnv("VAHTI_BENCH_DAYS", 28)
	f, _ := benchBox(b, days, false)
	// The oldest segment ends at t0 - days + 1 min: nothing expires at t0
	// - 1 min + ... with max_age = days.
	f.cfg.Retention.MaxAge = configs.Duration(time.Duration(days) * day)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := f.r.pass(ctx, t0, false, "expired")
		if err != nil || len(rep.Segments) != 0 {
			b.Fatalf("idle sweep deleted %d: %v", len(rep.Segments), err)
		}
	}
}

// BenchmarkExpireOneDay: one day of every camera expires at once
// (46 080 segments at 32 cameras), including the unlinks (target < 2 s).
// The catalog holds `keep` further days, to show the cost follows what
// expires, not what is kept.
func BenchmarkExpireOneDay(b *testing.B) {
	keeps := []int{7, benchEnv("VAHTI_BENCH_DAYS", 28)}
	if keeps[1] <= 7 {
		keeps = keeps[1:]
	}
	type variant struct {
		keep   int
		sealed bool
	}
	var vs []variant
	for _, keep := range keeps {
		vs = append(vs, variant{keep, false})
	}
	// Sealed (storage.encryption: sealed, the default once keys exist):
	// every expiring segment has a data key row, about 1.2 kB, which the
	// drop transaction deletes (zeroed by secure_delete); the day's epoch
	// then goes too. Only the expiring day has keys here; on a real box
	// every kept day has them (a deeper key table).
	vs = append(vs, variant{keeps[0], true})
	epoch := int64(10_000) // days long past, one per key set: an emptied one is destroyed
	for _, v := range vs {
		keep := v.keep
		name := fmt.Sprintf("kept=%dd", keep)
		if v.sealed {
			name += ",sealed"
		}
		seeded := false // b.Run calls the function more than once
		b.Run(name, func(b *testing.B) {
			f, oldest := benchBox(b, keep+1, true)
			putKeys := func(segs []registry.Segment) {
				if !v.sealed {
					return
				}
				epoch++
				if err := f.db.Update(context.Background(), func(tx *registry.Tx) error { return benchKeys(tx, epoch, segs) }); err != nil {
					b.Fatal(err)
				}
			}
			if !seeded {
				putKeys(oldest)
				seeded = true
			}
			f.cfg.Retention.MaxAge = configs.Duration(time.Duration(keep) * day)
			// One day of eight is 12.5%: above the default interlock
			// fraction, which is right for a real box; raise it here.
			f.cfg.Retention.MaxDeleteFraction = 0.2
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rep, err := f.r.pass(ctx, t0, false, "expired")
				if err != nil {
					b.Fatal(err)
				}
				if len(rep.Refused) > 0 || len(rep.Segments) == 0 || len(rep.Segments)+rep.HeldKept < len(oldest)-len(f.cfg.Cameras) {
					b.Fatalf("deleted %d of %d (held %d), refused %v", len(rep.Segments), len(oldest), rep.HeldKept, rep.Refused)
				}
				b.ReportMetric(float64(len(rep.Segments)), "segments/op")
				b.StopTimer()
				if v.sealed {
					var left int
					if err := f.db.View(ctx, func(tx *registry.Tx) (err error) { left, err = tx.SegmentKeyCount(); return err }); err != nil {
						b.Fatal(err)
					}
					if want := len(oldest) - len(rep.Segments); left != want {
						b.Fatalf("%d data keys left, want %d (the held segments')", left, want)
					}
				}
				// Put the day back for the next iteration.
				var back []registry.Segment
				for _, it := range rep.Segments {
					back = append(back, registry.Segment{Camera: it.Camera, Start: it.Start, End: it.End, Path: it.Path, Bytes: it.Bytes, Codecs: "h264"})
					p := filepath.Join(f.cfg.Storage.Root, filepath.FromSlash(it.Path))
					os.MkdirAll(filepath.Dir(p), 0o755)
					os.WriteFile(p, nil, 0o644)
					os.WriteFile(mp4read.IndexPath(p), nil, 0o644)
				}
				if err := f.db.Update(ctx, func(tx *registry.Tx) error { return tx.AddSegments(back) }); err != nil {
					b.Fatal(err)
				}
				putKeys(back)
				b.StartTimer()
			}
		})
	}
}

// benchKeys stores, under a new epoch of day epoch, a data key for each
// of segs the size a real one is sealed to (ML-KEM-768 + X25519, 1168
// bytes), with random bytes in place of key material.
func benchKeys(tx *registry.Tx, epoch int64, segs []registry.Segment) error {
	rng := rand.New(rand.NewSource(epoch))
	junk := make([]byte, 1168)
	rng.Read(junk)
	if err := tx.AddEpoch(epoch, junk[:32], junk[:64]); err != nil {
		return err
	}
	for _, s := range segs {
		id := make([]byte, 16)
		rng.Read(id)
		k := registry.SegmentKey{KeyID: id, Camera: s.Camera, Start: s.Start, EpochDay: epoch, SealedKey: junk}
		if err := tx.PutSegmentKey(k); err != nil {
			return err
		}
	}
	return nil
}
