package recorder

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"vahti/registry"
)

func auditOf(t *testing.T, db *registry.DB, kind string) []registry.Entry {
	t.Helper()
	var es []registry.Entry
	if err := db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		es, err = tx.AuditEntries(registry.AuditFilter{Kind: kind})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return es
}

func wantAudited(t *testing.T, db *registry.DB, kind, rel, foundBy string) {
	t.Helper()
	for _, e := range auditOf(t, db, kind) {
		var d struct {
			Path    string `json:"path"`
			SHA256  string `json:"sha256"`
			FoundBy string `json:"found_by"`
		}
		json.Unmarshal(e.Detail, &d)
		if e.Object == "segment:"+rel && d.Path == rel && d.FoundBy == foundBy && d.SHA256 != "" {
			return
		}
	}
	t.Errorf("no %s entry for %s found by the %s: %v", kind, rel, foundBy, auditOf(t, db, kind))
}

// Changes behind Vahti's back while it records are audited; a symbolic
// link or a fifo named like a segment is never opened or adopted (a fifo
// would block the watcher for good).
func TestWatcherAuditsChangesAndIgnoresLinksAndFifos(t *testing.T) {
	day := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	// The segment to be removed is on disk before the recorder starts, so
	// the watcher watches its folder from the start: a folder made while
	// running is watched only once its create event has been handled.
	var a registry.Segment
	r := startRecorder(t, nil, func(c *Config) { a = catalog(t, c.DB, makeSegment(t, c.Root, day)) })
	<-r.rec.started

	src := t.TempDir()
	linked := makeSegment(t, src, day.Add(2*time.Hour))
	link := registry.SegmentPath("yard", day.Add(3*time.Hour))
	os.MkdirAll(filepath.Dir(abs(link, r.root)), 0o750)
	if err := os.Symlink(abs(linked.Path, src), abs(link, r.root)); err != nil {
		t.Fatal(err)
	}
	fifo := registry.SegmentPath("yard", day.Add(4*time.Hour))
	if err := syscall.Mkfifo(abs(fifo, r.root), 0o640); err != nil {
		t.Fatal(err)
	}

	os.Remove(abs(a.Path, r.root))
	c := makeSegment(t, src, day.Add(24*time.Hour))
	data, err := os.ReadFile(abs(c.Path, src))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, r.root, c.Path, data)
	waitFor(t, 10*time.Second, "copied segment adopted", func() bool {
		_, ok := rowByPath(t, r.db, c.Path)
		return ok
	})
	waitFor(t, 5*time.Second, "removed segment marked missing", func() bool {
		s, _ := rowByPath(t, r.db, a.Path)
		return s.State == registry.SegmentMissing
	})
	time.Sleep(settle) // the link and the fifo had as long as the copy, and more
	r.stop(t)
	wantAudited(t, r.db, "segment.adopt", c.Path, foundByWatcher)
	wantAudited(t, r.db, "segment.missing", a.Path, foundByWatcher)
	for _, p := range []string{link, fifo} {
		if _, ok := rowByPath(t, r.db, p); ok {
			t.Errorf("%s adopted", p)
		}
	}
	if n := len(auditOf(t, r.db, "segment.adopt")); n != 1 {
		t.Errorf("%d segment.adopt entries, want 1", n)
	}
}

func TestReconcileAuditsAdoptMissingAndReturn(t *testing.T) {
	root := t.TempDir()
	db := openDB(t)
	day := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	gone := catalog(t, db, makeSegment(t, root, day))
	stray := makeSegment(t, root, day.Add(time.Minute))
	b, _ := os.ReadFile(abs(gone.Path, root))
	os.Remove(abs(gone.Path, root))
	// A symbolic link to a valid segment elsewhere is not adopted.
	src := t.TempDir()
	linked := makeSegment(t, src, day.Add(2*time.Hour))
	link := registry.SegmentPath("yard", day.Add(3*time.Hour))
	os.Symlink(abs(linked.Path, src), abs(link, root))
	if _, err := Reconcile(context.Background(), root, db, time.Now, testLogger(t, nil)); err != nil {
		t.Fatal(err)
	}
	wantAudited(t, db, "segment.adopt", stray.Path, foundByReconcile)
	wantAudited(t, db, "segment.missing", gone.Path, foundByReconcile)
	if _, ok := rowByPath(t, db, link); ok {
		t.Error("symbolic link adopted")
	}
	writeFile(t, root, gone.Path, b)
	if _, err := Reconcile(context.Background(), root, db, time.Now, testLogger(t, nil)); err != nil {
		t.Fatal(err)
	}
	wantAudited(t, db, "segment.return", gone.Path, foundByReconcile)
	// Nothing changed on a third run: nothing more audited.
	n := len(auditOf(t, db, "segment"))
	Reconcile(context.Background(), root, db, time.Now, testLogger(t, nil))
	if m := len(auditOf(t, db, "segment")); m != n {
		t.Errorf("an idle reconcile wrote %d segment entries", m-n)
	}
}
