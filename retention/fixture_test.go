package retention

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"vahti/configs"
	"vahti/registry"
)

const day = 24 * time.Hour

// fixture is a storage root, a registry and a Retention with a settable
// clock.
type fixture struct {
	t     *testing.T
	dir   string
	cfg   *configs.Config
	db    *registry.DB
	r     *Retention
	mu    sync.Mutex
	now   time.Time
	space *DiskSpace // nil: real statfs
}

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, cams ...string) *fixture {
	t.Helper()
	if len(cams) == 0 {
		cams = []string{"yard", "lobby"}
	}
	dir := t.TempDir()
	cfg := configs.Defaults()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Storage.Root = filepath.Join(dir, "rec")
	for _, c := range cams {
		cfg.Cameras = append(cfg.Cameras, configs.Camera{ID: c, Name: c, Purpose: "test", URL: "rtsp://127.0.0.1:1/" + c})
	}
	f := &fixture{t: t, dir: dir, cfg: &cfg, now: t0}
	if err := os.MkdirAll(cfg.Storage.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	f.openDB()
	return f
}

func (f *fixture) openDB() {
	f.t.Helper()
	db, err := registry.Open(f.cfg.StateDir, f.clock)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	f.db = db
	f.r = f.newRetention()
}

func (f *fixture) newRetention() *Retention {
	f.t.Helper()
	c := Config{Cfg: f.cfg, DB: f.db, Now: f.clock}
	if f.space != nil {
		c.Statfs = func(string) (DiskSpace, error) { f.mu.Lock(); defer f.mu.Unlock(); return *f.space, nil }
	}
	r, err := New(c)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}

// addSeg writes a segment file of n bytes and catalogues it.
func (f *fixture) addSeg(cam string, start time.Time, dur time.Duration, n int) registry.Segment {
	f.t.Helper()
	s := registry.Segment{Camera: cam, Start: start.UTC(), End: start.Add(dur).UTC(), Path: registry.SegmentPath(cam, start),
		Bytes: int64(n), Codecs: "h264", SHA256: "x"}
	f.writeFile(s.Path, n)
	if err := f.db.Update(context.Background(), func(tx *registry.Tx) error { return tx.AddSegment(&s) }); err != nil {
		f.t.Fatal(err)
	}
	return s
}

// addSegs writes and catalogues many segments in one transaction.
func (f *fixture) addSegs(specs []registry.Segment) []registry.Segment {
	f.t.Helper()
	out := make([]registry.Segment, len(specs))
	for i, s := range specs {
		s.Start, s.End = s.Start.UTC(), s.End.UTC()
		s.Path = registry.SegmentPath(s.Camera, s.Start)
		s.Codecs, s.SHA256 = "h264", "x"
		f.writeFile(s.Path, int(s.Bytes))
		out[i] = s
	}
	err := f.db.Update(context.Background(), func(tx *registry.Tx) error {
		for i := range out {
			if err := tx.AddSegment(&out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) writeFile(rel string, n int) {
	f.t.Helper()
	p := filepath.Join(f.cfg.Storage.Root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(f.cfg.Storage.Root, filepath.FromSlash(rel)))
	return err == nil
}

func (f *fixture) row(path string) (registry.Segment, bool) {
	var s registry.Segment
	var found bool
	f.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		s, err = tx.SegmentByPath(path)
		found = err == nil
		return nil
	})
	return s, found
}

func (f *fixture) hold(cams []string, from, to time.Time) registry.Hold {
	f.t.Helper()
	h := registry.Hold{Cameras: cams, From: from, To: to, Reason: "test"}
	if err := AddHold(context.Background(), f.db, &h, "tester", "test"); err != nil {
		f.t.Fatal(err)
	}
	return h
}

func (f *fixture) audit(kind string) []registry.Entry {
	f.t.Helper()
	var es []registry.Entry
	if err := f.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		es, err = tx.AuditEntries(registry.AuditFilter{Kind: kind})
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return es
}

func (f *fixture) purge() Report {
	f.t.Helper()
	rep, err := f.r.Purge(context.Background(), false, time.Time{})
	if err != nil {
		f.t.Fatal(err)
	}
	return rep
}
