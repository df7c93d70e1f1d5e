package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReindexReportsGarbageAndLeavesIt(t *testing.T) {
	c := newCLI(t, "yard")
	junk := filepath.Join(c.dir, "rec", "yard", "2026", "11", "22", "10-00-00.000000.mp4")
	os.MkdirAll(filepath.Dir(junk), 0o755)
	os.WriteFile(junk, []byte("not an mp4 at all"), 0o644)
	out := c.ok("reindex", "--config", "$CONFIG")
	if !strings.Contains(out, "1 not valid segments") || !strings.Contains(out, "10-00-00.000000.mp4") {
		t.Errorf("reindex did not report the garbage file:\n%s", out)
	}
	if _, err := os.Stat(junk); err != nil {
		t.Errorf("reindex touched the garbage file: %v", err)
	}
	if out := c.ok("status", "--config", "$CONFIG"); !strings.Contains(out, "NOT running") || !strings.Contains(out, "yard") {
		t.Errorf("status without a service:\n%s", out)
	}
}
