package main

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/admin/export"
	"vahti/checkpoint"
	"vahti/configs"
	"vahti/registry"
)

// serve tightens an existing state dir and storage root it owns, and what
// it creates is private: checked while the service runs (the WAL exists
// only then).
func TestServeLeavesTightFileModes(t *testing.T) {
	c := newCLI(t, "yard")
	state, root := filepath.Join(c.dir, "state"), filepath.Join(c.dir, "rec")
	// Left loose by hand, an older Vahti or a copy.
	c.ok("hold", "add", "--config", "$CONFIG", "--camera", "yard", "--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z", "--reason", "a")
	seg := filepath.Join(root, filepath.FromSlash(registry.SegmentPath("yard", time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC))))
	os.MkdirAll(filepath.Dir(seg), 0o777)
	os.WriteFile(seg, []byte("not footage, but named like it"), 0o666)
	for _, p := range []string{state, root, filepath.Join(root, "yard"), filepath.Dir(seg)} {
		os.Chmod(p, 0o777)
	}
	os.Chmod(seg, 0o666)
	os.Chmod(filepath.Join(state, registry.FileName), 0o644)

	cfg, err := configs.Load(c.config, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, now: time.Now,
		getenv: func(string) string { return "" }}
	got := map[string]fs.FileMode{}
	want := map[string]fs.FileMode{
		state: 0o700, filepath.Join(state, registry.FileName): 0o600,
		filepath.Join(state, registry.FileName+"-wal"): 0o600, filepath.Join(state, registry.FileName+"-shm"): 0o600,
		filepath.Join(state, "keys"): 0o700, filepath.Join(state, filepath.FromSlash(export.KeyFile)): 0o600,
		checkpoint.Dir(state): 0o700,
		root:                  0o750, filepath.Join(root, "yard"): 0o750, filepath.Dir(seg): 0o750, seg: 0o640,
	}
	err = runService(ctx, e, cfg, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), func(*service) {
		for p := range want {
			if fi, err := os.Stat(p); err == nil {
				got[p] = fi.Mode().Perm()
			}
		}
		cps, _ := filepath.Glob(filepath.Join(checkpoint.Dir(state), "*"))
		for _, p := range cps {
			fi, _ := os.Stat(p)
			got[p], want[p] = fi.Mode().Perm(), 0o600
		}
		cancel()
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, m := range want {
		if got[p] != m {
			t.Errorf("%s: mode %04o, want %04o", p, got[p], m)
		}
	}
	// A backup is private too.
	bk := filepath.Join(c.dir, "backup.db")
	c.ok("backup", "--config", "$CONFIG", "--out", bk)
	if fi, err := os.Stat(bk); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup: %v %v", fi.Mode(), err)
	}
}

// Footage another user owns and leaves readable by everyone: serve
// refuses to start and names the file.
func TestServeRefusesFootageOthersCouldRead(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (chown to another user)")
		}
		t.Skip("needs root (chown to another user)")
	}
	c := newCLI(t, "yard")
	root := filepath.Join(c.dir, "rec")
	seg := filepath.Join(root, filepath.FromSlash(registry.SegmentPath("yard", time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC))))
	os.MkdirAll(filepath.Dir(seg), 0o750)
	os.WriteFile(seg, []byte("x"), 0o644)
	os.Chown(seg, 4242, 4242)
	os.Chmod(seg, 0o644)
	if msg := c.fail("serve", "--config", "$CONFIG"); !strings.Contains(msg, seg) || !strings.Contains(msg, "readable by others") {
		t.Fatalf("serve beside world-readable foreign footage: %q", msg)
	}
	os.Chown(filepath.Dir(seg), 4242, 4242)
	os.Chmod(filepath.Dir(seg), 0o777)
	if msg := c.fail("serve", "--config", "$CONFIG"); !strings.Contains(msg, filepath.Dir(seg)) || !strings.Contains(msg, "writable") {
		t.Fatalf("serve beside a world-writable foreign folder: %q", msg)
	}
}
