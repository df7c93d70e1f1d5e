package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/registry"
	"vahti/retention"
)

// addFootage writes n one-minute segments of camera yard ending at end and
// catalogues them.
func addFootage(t *testing.T, c *cli, db *registry.DB, end time.Time, n int) []registry.Segment {
	t.Helper()
	var out []registry.Segment
	for i := n; i >= 1; i-- {
		start := end.Add(-time.Duration(i) * time.Minute)
		s := registry.Segment{Camera: "yard", Start: start, End: start.Add(time.Minute), Path: registry.SegmentPath("yard", start), Bytes: 4}
		p := filepath.Join(c.dir, "rec", filepath.FromSlash(s.Path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("mp4!"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := db.Update(context.Background(), func(tx *registry.Tx) error { return tx.AddSegment(&s) }); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestPurgeCommand(t *testing.T) {
	c := newCLI(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	db := registryOf(t, c)
	old := addFootage(t, c, db, now.Add(-29*24*time.Hour), 3)
	soon := addFootage(t, c, db, now.Add(-28*24*time.Hour+time.Hour), 2) // expire within the hour
	addFootage(t, c, db, now, 100)
	exists := func(s registry.Segment) bool {
		_, err := os.Stat(filepath.Join(c.dir, "rec", filepath.FromSlash(s.Path)))
		return err == nil
	}
	// Dry run now and at a later time.
	var rep retention.Report
	if err := json.Unmarshal([]byte(c.ok("purge", "--config", "$CONFIG", "--dry-run", "--json")), &rep); err != nil || len(rep.Segments) != 3 || !rep.DryRun {
		t.Fatalf("dry run: %v %+v", err, rep)
	}
	out := c.ok("purge", "--config", "$CONFIG", "--dry-run", "--at", "2026-11-22T15:00:00+02:00")
	if n := strings.Count(out, "would delete  yard/"); n != 5 {
		t.Fatalf("dry run --at lists %d:\n%s", n, out)
	}
	if !exists(old[0]) || !exists(soon[0]) {
		t.Fatal("dry run deleted")
	}
	if e := c.fail("purge", "--config", "$CONFIG", "--at", "2026-11-22T15:00:00Z"); !strings.Contains(e, "--dry-run") {
		t.Fatalf("--at without --dry-run: %s", e)
	}
	if e := c.fail("purge", "--config", "$CONFIG", "--dry-run", "--at", "tomorrow"); !strings.Contains(e, "RFC 3339") {
		t.Fatalf("bad --at: %s", e)
	}
	// A real pass.
	out = c.ok("purge", "--config", "$CONFIG")
	if !strings.Contains(out, "deleted 3 segment(s)") {
		t.Fatalf("purge: %s", out)
	}
	for _, s := range old {
		if exists(s) {
			t.Fatalf("%s kept", s.Path)
		}
	}
	if !exists(soon[0]) {
		t.Fatal("young footage deleted")
	}
	if len(auditKinds(t, db, "segments.delete")) != 1 {
		t.Fatal("deletion not audited")
	}
}

func TestPurgeCommandInterlockAndForce(t *testing.T) {
	c := newCLI(t)
	c.envs["SUDO_USER"] = "operator"
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	db := registryOf(t, c)
	addFootage(t, c, db, now.Add(-40*24*time.Hour), 10) // everything catalogued is expired
	c.ok("purge", "--config", "$CONFIG", "--dry-run")   // a dry run is never refused
	c.now = func() time.Time { return now.Add(time.Minute) }
	// Clock memory exists only after a pass; the first real pass sees a
	// pass that would delete 100%.
	_, errs, code := c.run("", "purge", "--config", "$CONFIG")
	if code == 0 || !strings.Contains(errs, "delete-fraction") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	out := c.ok("purge", "--config", "$CONFIG", "--force", "--json")
	var rep retention.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Segments) != 10 || !rep.Forced {
		t.Fatalf("forced: %v %s", err, out)
	}
	es := auditKinds(t, db, "retention")
	if len(es) < 2 || es[len(es)-1].Kind != "retention.force" || es[len(es)-1].Actor != "operator" {
		t.Fatalf("audit: %+v", es)
	}
	if e := c.fail("purge", "--config", "$CONFIG", "--force", "--dry-run"); !strings.Contains(e, "--force") {
		t.Fatalf("force+dry-run: %s", e)
	}
}
