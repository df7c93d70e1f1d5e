package recorder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

func catalog(t *testing.T, db *registry.DB, s registry.Segment) registry.Segment {
	t.Helper()
	if err := db.Update(context.Background(), func(tx *registry.Tx) error { return tx.AddSegment(&s) }); err != nil {
		t.Fatal(err)
	}
	return s
}

func rowByPath(t *testing.T, db *registry.DB, rel string) (registry.Segment, bool) {
	t.Helper()
	var s registry.Segment
	err := db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		s, err = tx.SegmentByPath(rel)
		return err
	})
	if errors.Is(err, registry.ErrNotFound) {
		return s, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return s, true
}

func writeFile(t *testing.T, root, rel string, b []byte) {
	t.Helper()
	p := abs(rel, root)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReconcile(t *testing.T) {
	root := t.TempDir()
	db := openDB(t)
	day := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	kept := catalog(t, db, makeSegment(t, root, day))
	gone := catalog(t, db, makeSegment(t, root, day.Add(time.Minute)))
	doomed := catalog(t, db, makeSegment(t, root, day.Add(2*time.Minute)))
	stray := makeSegment(t, root, day.Add(3*time.Minute)) // on disk, not catalogued
	if err := db.Update(context.Background(), func(tx *registry.Tx) error {
		return tx.SetSegmentState(doomed.ID, registry.SegmentDoomed)
	}); err != nil {
		t.Fatal(err)
	}
	goneBytes, err := os.ReadFile(abs(gone.Path, root))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(abs(gone.Path, root))
	os.Remove(abs(doomed.Path, root)) // retention's own delete in progress
	garbage := registry.SegmentPath("yard", day.Add(4*time.Minute))
	writeFile(t, root, garbage, []byte("this is not a video"))
	empty := registry.SegmentPath("yard", day.Add(5*time.Minute))
	writeFile(t, root, empty, nil)
	misnamed := "yard/holiday.mp4"
	writeFile(t, root, misnamed, []byte("x"))
	rep, err := Reconcile(context.Background(), root, db, time.Now, testLogger(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Adopted, []string{stray.Path}) {
		t.Errorf("adopted %v, want %v", rep.Adopted, stray.Path)
	}
	if !slices.Equal(rep.Missing, []string{gone.Path}) {
		t.Errorf("missing %v, want %v", rep.Missing, gone.Path)
	}
	var garb []string
	for _, g := range rep.Garbage {
		garb = append(garb, g.Path)
		if g.Reason == "" {
			t.Errorf("%s reported without a reason", g.Path)
		}
	}
	slices.Sort(garb)
	want := []string{garbage, empty, misnamed}
	slices.Sort(want)
	if !slices.Equal(garb, want) {
		t.Errorf("garbage %v, want %v", garb, want)
	}
	// Garbage is never indexed and never deleted.
	for _, g := range want {
		if _, ok := rowByPath(t, db, g); ok {
			t.Errorf("%s catalogued", g)
		}
		if _, err := os.Stat(abs(g, root)); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	if s, ok := rowByPath(t, db, gone.Path); !ok || s.State != registry.SegmentMissing {
		t.Errorf("vanished file's row: %+v (present %v), want kept in state missing", s, ok)
	}
	if s, _ := rowByPath(t, db, doomed.Path); s.State != registry.SegmentDoomed {
		t.Errorf("doomed row became %q", s.State)
	}
	if s, _ := rowByPath(t, db, kept.Path); s.State != registry.SegmentOK || s.SHA256 != kept.SHA256 {
		t.Errorf("kept row %+v", s)
	}
	s, ok := rowByPath(t, db, stray.Path)
	if !ok || !s.Start.Equal(stray.Start) || !s.End.Equal(stray.End) || s.SHA256 != stray.SHA256 ||
		s.Params != stray.Params || s.Codecs != "h264" || s.Bytes != stray.Bytes {
		t.Errorf("adopted row %+v, want %+v", s, stray)
	}

	// The missing file comes back unchanged (restored from a copy): the
	// row returns to ok. Nothing else changes on a second run.
	writeFile(t, root, gone.Path, goneBytes)
	rep, err = Reconcile(context.Background(), root, db, time.Now, testLogger(t, nil))
	if err != nil || len(rep.Adopted)+len(rep.Missing) != 0 || !slices.Equal(rep.Returned, []string{gone.Path}) || rep.Checked != 5 {
		t.Errorf("second run %+v %v", rep, err)
	}
	if s, _ := rowByPath(t, db, gone.Path); s.State != registry.SegmentOK {
		t.Errorf("returned file's row in state %q", s.State)
	}
}

func TestWatchWhileRunning(t *testing.T) {
	r := startRecorder(t, nil, nil)
	day := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	<-r.rec.started
	// Catalogued by the recorder's own path (not via the watcher).
	a := catalog(t, r.db, makeSegment(t, r.root, day))
	d := catalog(t, r.db, makeSegment(t, r.root, day.Add(time.Minute)))
	if err := r.db.Update(context.Background(), func(tx *registry.Tx) error {
		return tx.SetSegmentState(d.ID, registry.SegmentDoomed)
	}); err != nil {
		t.Fatal(err)
	}

	// Removed behind Vahti's back: marked missing, with a warning.
	os.Remove(abs(a.Path, r.root))
	waitFor(t, 5*time.Second, "row marked missing", func() bool {
		s, _ := rowByPath(t, r.db, a.Path)
		return s.State == registry.SegmentMissing
	})
	// Retention's own delete: no warning, state kept.
	os.Remove(abs(d.Path, r.root))

	// A valid segment copied into a folder that did not exist: adopted.
	src := t.TempDir()
	c := makeSegment(t, src, day.Add(24*time.Hour))
	data, err := os.ReadFile(abs(c.Path, src))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, r.root, c.Path, data)
	// Garbage copied in: reported, not indexed, not deleted.
	junk := registry.SegmentPath("yard", day.Add(25*time.Hour))
	writeFile(t, r.root, junk, []byte("not a segment"))

	waitFor(t, 10*time.Second, "copied segment adopted", func() bool {
		_, ok := rowByPath(t, r.db, c.Path)
		return ok
	})
	waitFor(t, 10*time.Second, "junk reported", func() bool {
		return strings.Contains(r.log.String(), junk)
	})
	r.stop(t)

	if s, _ := rowByPath(t, r.db, d.Path); s.State != registry.SegmentDoomed {
		t.Errorf("doomed row became %q", s.State)
	}
	if _, ok := rowByPath(t, r.db, junk); ok {
		t.Error("junk catalogued")
	}
	if _, err := os.Stat(abs(junk, r.root)); err != nil {
		t.Errorf("junk: %v", err)
	}
	logs := r.log.String()
	if !strings.Contains(logs, "behind Vahti's back") || !strings.Contains(logs, a.Path) {
		t.Errorf("no warning about the removed file:\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, d.Path) && strings.Contains(line, "WARN") {
			t.Errorf("warned about retention's own delete: %s", line)
		}
	}
}
