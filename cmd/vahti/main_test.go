package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"vahti/configs"
	"vahti/registry"
)

// cli runs vahti commands in-process against a temporary state dir.
type cli struct {
	t      *testing.T
	dir    string
	config string
	now    func() time.Time
	envs   map[string]string
	euid   int // the effective uid commands see: 0 (root, as under sudo) unless a test says otherwise
}

// newCLI writes a minimal valid config with the given cameras (yard, lobby
// if none) under a temp dir.
func newCLI(t *testing.T, cameras ...string) *cli {
	t.Helper()
	if len(cameras) == 0 {
		cameras = []string{"yard", "lobby"}
	}
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %s\nstorage:\n  root: %s\n  segment_duration: 2s\n  part_duration: 200ms\ncameras:\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "rec"))
	for _, c := range cameras {
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    purpose: test\n    url: rtsp://127.0.0.1:1/%s\n", c, c, c)
	}
	fmt.Fprintf(&b, "admin:\n  listen: 127.0.0.1:0\n")
	cfg := filepath.Join(dir, "vahti.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, dir: dir, config: cfg, now: time.Now, envs: map[string]string{}}
}

// run executes one command line; "$CONFIG" in args is replaced by the
// config path. It returns stdout, stderr and the exit code.
func (c *cli) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, now: c.now,
		getenv: func(k string) string { return c.envs[k] }, geteuid: func() int { return c.euid }}
	a := make([]string, len(args))
	for i, s := range args {
		a[i] = strings.ReplaceAll(s, "$CONFIG", c.config)
	}
	code := run(context.Background(), e, a)
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("vahti %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fail runs a command that must fail and returns its stderr.
func (c *cli) fail(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run("", args...)
	if code == 0 {
		c.t.Fatalf("vahti %s: succeeded, want failure\nstdout: %s", strings.Join(args, " "), out)
	}
	return errs
}

func TestUnknownCommandAndHelp(t *testing.T) {
	c := newCLI(t)
	if msg := c.fail("frobnicate"); !strings.Contains(msg, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %q", msg)
	}
	if _, _, code := c.run("", "--help"); code != 0 {
		t.Errorf("--help exit %d", code)
	}
}

func TestFlagsAfterPositionals(t *testing.T) {
	e := &env{stderr: &bytes.Buffer{}}
	for _, args := range [][]string{
		{"7", "--reason", "done"},
		{"--reason", "done", "7"},
		{"--reason=done", "7"},
	} {
		fs := newFlags(e, "x")
		reason := fs.String("reason", "", "")
		pos, err := fs.parse(args)
		if err != nil || *reason != "done" || len(pos) != 1 || pos[0] != "7" {
			t.Errorf("parse %q = %q reason=%q err=%v", args, pos, *reason, err)
		}
	}
	fs := newFlags(e, "x")
	fs.String("reason", "", "")
	if pos, err := fs.parse([]string{"--", "--reason"}); err != nil || len(pos) != 1 || pos[0] != "--reason" {
		t.Errorf("after --: %q %v", pos, err)
	}
}

func TestCheckConfig(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("check-config", "--config", "$CONFIG"); !strings.Contains(out, "OK (2 cameras") {
		t.Errorf("valid config: %q", out)
	}
	bad := filepath.Join(c.dir, "bad.yaml")
	os.WriteFile(bad, []byte(`state_dir: /x
storage: {root: /y, segment_duration: 10q}
retention: {max_age: 29d, timezone: Mars/Base}
bogus: 1
cameras:
  - {id: Yard, url: "http://u:hunter2secret@h/x"}
  - {id: lobby, purpose: p, url: rtsp://h/a, transport: quic}
  - {id: lobby, purpose: p, url: rtsp://h/b}
`), 0o600)
	msg := c.fail("check-config", "--config", bad)
	for _, want := range []string{"bogus", "segment_duration", "retention.max_age", "privacy notice",
		"retention.timezone", "cameras[0].id", "cameras[0].purpose", "cameras[0].url", "cameras[1].transport",
		`cameras[2].id: duplicate camera id "lobby"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("check-config error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2secret") {
		t.Errorf("a password was printed:\n%s", msg)
	}
}

// checkBackupExpiry: a copy outside backup.path is the keeper's to
// destroy, and backup says by when (max_age + 1 day after it was
// written); one written into backup.path is the purge's to delete.
func checkBackupExpiry(t *testing.T, c *cli, elsewhere string) {
	t.Helper()
	st, err := os.Stat(elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(c.config, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	due := st.ModTime().Add(cfg.Retention.MaxAge.D() + 24*time.Hour).In(cfg.Location()).Format("2006-01-02")
	_, stderr, _ := c.run("", "backup", "--config", "$CONFIG", "--out", filepath.Join(c.dir, "second.db"))
	if !strings.Contains(stderr, "Vahti will not delete it: destroy it by "+due) {
		t.Errorf("backup outside backup.path: stderr %q does not say to destroy it by %s", stderr, due)
	}
	managed := filepath.Join(c.dir, "backups")
	if err := os.Mkdir(managed, 0o700); err != nil {
		t.Fatal(err)
	}
	// The service account owns the registry; backup.path here belongs to
	// another account, which must not be handed the keys.
	const service, other = 65534, 65533
	if os.Geteuid() == 0 {
		for p, uid := range map[string]int{managed: other, filepath.Join(cfg.StateDir, registry.FileName): service} {
			if err := os.Chown(p, uid, uid); err != nil {
				t.Fatal(err)
			}
		}
	}
	yaml, _ := os.ReadFile(c.config)
	if err := os.WriteFile(c.config, append(yaml, []byte("backup:\n  path: "+managed+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(c.config, yaml, 0o600)
	out, stderr, code := c.run("", "backup", "--config", "$CONFIG", "--out", filepath.Join(managed, "manual.db"))
	if code != 0 || !strings.Contains(out, "it is in backup.path: the purge deletes it after "+due) || stderr != "" {
		t.Errorf("backup into backup.path: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// Written by root (sudo vahti backup), the copy goes to the registry's
	// owner, who runs the purge and must read it to know it for a copy.
	if st, err := os.Stat(filepath.Join(managed, "manual.db")); err != nil {
		t.Fatal(err)
	} else if uid := st.Sys().(*syscall.Stat_t).Uid; os.Geteuid() == 0 && uid != service {
		t.Errorf("copy in backup.path owned by uid %d, want the registry's %d", uid, service)
	}
	// Named through a symbolic link to backup.path, the copy is still in
	// the folder the purge reads, and backup says so.
	link := filepath.Join(c.dir, "backups-link")
	if err := os.Symlink(managed, link); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = c.run("", "backup", "--config", "$CONFIG", "--out", filepath.Join(link, "via-link.db"))
	if code != 0 || !strings.Contains(out, "it is in backup.path") || stderr != "" {
		t.Errorf("backup through a link to backup.path: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

func TestBackupRestore(t *testing.T) {
	c := newCLI(t)
	bk := filepath.Join(c.dir, "backup.db")
	c.ok("backup", "--config", "$CONFIG", "--out", bk)
	checkBackupExpiry(t, c, bk)
	if msg := c.fail("backup", "--config", "$CONFIG", "--out", bk); !strings.Contains(msg, "exists") {
		t.Errorf("second backup to the same file: %q", msg)
	}
	garbage := filepath.Join(c.dir, "garbage.db")
	os.WriteFile(garbage, []byte("SQLite format 3\x00 but not really"), 0o600)
	if msg := c.fail("restore", "--config", "$CONFIG", "--from", garbage); !strings.Contains(msg, "refusing") {
		t.Errorf("restore of garbage: %q", msg)
	}
	// A backup whose audit chain was edited is refused too. The second
	// backup holds the first one's audit entry.
	bk2 := filepath.Join(c.dir, "backup2.db")
	c.ok("backup", "--config", "$CONFIG", "--out", bk2)
	b, _ := os.ReadFile(bk2)
	if !bytes.Contains(b, []byte("registry.backup")) {
		t.Fatal("the second backup holds no audit entry of the first")
	}
	tampered := filepath.Join(c.dir, "tampered.db")
	os.WriteFile(tampered, bytes.Replace(b, []byte("registry.backup"), []byte("registry.bakkup"), 1), 0o600)
	if msg := c.fail("restore", "--config", "$CONFIG", "--from", tampered); !strings.Contains(msg, "audit chain") {
		t.Errorf("restore of a tampered copy: %q", msg)
	}
	out := c.ok("restore", "--config", "$CONFIG", "--from", bk)
	if !strings.Contains(out, "restored") || !strings.Contains(out, "paused") {
		t.Errorf("restore: %q", out)
	}
	// Holds placed after the backup are not in it: deletion waits for a
	// confirmation.
	if out, _, code := c.run("", "purge", "--config", "$CONFIG", "--json"); code == 0 || !strings.Contains(out, "catalog-mismatch") {
		t.Errorf("purge right after a restore was not refused (exit %d):\n%s", code, out)
	}
	c.ok("purge", "--config", "$CONFIG", "--force")
	if out := c.ok("purge", "--config", "$CONFIG", "--json"); strings.Contains(out, "catalog-mismatch") {
		t.Errorf("still paused after --force:\n%s", out)
	}
}
