package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/checkpoint"
	"vahti/registry"
	"vahti/retention"

	"golang.org/x/crypto/ssh"
)

func TestNightlyBackupWritesVerifiableCopiesAndRotates(t *testing.T) {
	c := newCLI(t, "yard")
	dst := filepath.Join(c.dir, "backup-disk")
	db := registryOf(t, c)
	h := registry.Hold{Cameras: []string{"yard"}, From: time.Now().Add(-time.Hour), To: time.Now(), Reason: "police case", CreatedBy: "keeper"}
	if err := retention.AddHold(context.Background(), db, &h, "keeper", "cli"); err != nil {
		t.Fatal(err)
	}
	s := startService(t, c, "backup:\n  path: "+dst+"\n  keep: 2\n")

	// No copy yet: one is written at start.
	var first string
	pollUntil(t, 15*time.Second, "a backup at start", func() bool {
		es, _ := filepath.Glob(filepath.Join(dst, backupPrefix+"*"))
		if len(es) == 1 && !strings.HasSuffix(es[0], backupPartial) {
			first = es[0]
			return true
		}
		return false
	})
	for _, f := range []string{registry.FileName, "signing-key.pub", "SHA256SUMS"} {
		if _, err := os.Stat(filepath.Join(first, f)); err != nil {
			t.Errorf("backup lacks %s", f)
		}
	}
	// The service signed a checkpoint at start; the copy carries it, and
	// its signature checks against the public key in the same copy.
	cps, probs, err := checkpoint.ReadAll(first, mustPublicKey(t, filepath.Join(first, "signing-key.pub")))
	if err != nil || len(probs) > 0 || len(cps) != 1 {
		t.Errorf("checkpoints in the backup: %v, problems %v, err %v; want one that verifies", cps, probs, err)
	}
	// sha256sum itself checks the sums.
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = first
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	// The copy is a registry with the hold and a chain that verifies.
	bdir := t.TempDir()
	b, _ := os.ReadFile(filepath.Join(first, registry.FileName))
	os.WriteFile(filepath.Join(bdir, registry.FileName), b, 0o600)
	bdb, err := registry.Open(bdir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.View(context.Background(), func(tx *registry.Tx) error {
		hs, err := tx.Holds(true)
		if err != nil || len(hs) != 1 || hs[0].Reason != "police case" {
			t.Errorf("holds in the copy: %v %+v", err, hs)
		}
		_, err = tx.VerifyAudit()
		return err
	}); err != nil {
		t.Fatalf("copy: %v", err)
	}

	// Two more copies (later names): only backup.keep = 2 stay, the newest.
	var made []string
	for i := 1; i <= 2; i++ {
		dir, err := s.writeBackup(context.Background(), time.Now().UTC().Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, dir)
	}
	left, _ := filepath.Glob(filepath.Join(dst, backupPrefix+"*"))
	if len(left) != 2 || left[0] != made[0] || left[1] != made[1] {
		t.Fatalf("after rotation: %v, want %v", left, made)
	}
	if n := len(auditKinds(t, registryOf(t, c), "registry.backup")); n != 3 {
		t.Errorf("%d backups audited, want 3", n)
	}
	if _, ok := alarmOf(s, AlarmBackup, ""); ok {
		t.Error("backup alarm with fresh copies")
	}
}

func TestNightlyBackupFailureIsAnAlarm(t *testing.T) {
	c := newCLI(t, "yard")
	// backup.path names a file, not a folder: every copy fails.
	notDir := filepath.Join(c.dir, "not-a-dir")
	os.WriteFile(notDir, []byte("x"), 0o600)
	s := startService(t, c, "backup:\n  path: "+notDir+"\n")
	a := waitAlarm(t, s, AlarmBackup, "")
	if !strings.Contains(a.Message, "failed") {
		t.Errorf("message %q", a.Message)
	}
}

func TestNightlyBackupStaleIsAnAlarm(t *testing.T) {
	c := newCLI(t, "yard")
	dst := filepath.Join(c.dir, "backup-disk")
	s := startService(t, c, "backup:\n  path: "+dst+"\n")
	pollUntil(t, 15*time.Second, "the start-up copy", func() bool {
		s.backups.mu.Lock()
		defer s.backups.mu.Unlock()
		return !s.backups.lastOK.IsZero()
	})
	if msg := s.backupAlarm(time.Now()); msg != "" {
		t.Fatalf("fresh copy: %q", msg)
	}
	// Two days and an hour without another copy (no nightly purge ran).
	if msg := s.backupAlarm(time.Now().Add(49 * time.Hour)); !strings.Contains(msg, "older than 48 h") {
		t.Fatalf("stale copy: %q", msg)
	}
}

// The restore drill, end to end: the service backs up, the registry is
// destroyed, restored from the nightly copy and reindexed; holds, requests,
// users, the disclosure record and the audit chain are back, and deletion
// stays paused until confirmed.
func TestRestoreDrillFromNightlyBackup(t *testing.T) {
	c := newCLI(t, "yard")
	if _, errs, code := c.run("Pitka-salasana-2026\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	db := registryOf(t, c)
	q := registry.Request{Kind: "police", Cameras: []string{"yard"}, From: time.Now().Add(-2 * time.Hour), To: time.Now().Add(-time.Hour),
		Reference: "ITÄ-77", Basis: "esitutkinta"}
	if _, err := retention.OpenRequest(context.Background(), db, &q, "liisa", "cli"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dst := filepath.Join(c.dir, "backup-disk")
	s, stop := runServiceUntil(t, c, "backup:\n  path: "+dst+"\n")
	pollUntil(t, 15*time.Second, "the start-up copy", func() bool {
		s.backups.mu.Lock()
		defer s.backups.mu.Unlock()
		return !s.backups.lastOK.IsZero()
	})
	stop()
	copies, _ := filepath.Glob(filepath.Join(dst, backupPrefix+"*"))
	if len(copies) != 1 {
		t.Fatalf("copies %v", copies)
	}

	// Disaster: the registry is gone.
	for _, f := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(c.dir, "state", registry.FileName+f))
	}
	c.ok("restore", "--config", "$CONFIG", "--from", filepath.Join(copies[0], registry.FileName))
	c.ok("reindex", "--config", "$CONFIG")

	if out := c.ok("hold", "list", "--config", "$CONFIG"); !strings.Contains(out, "police request ITÄ-77") {
		t.Errorf("hold lost:\n%s", out)
	}
	if out := c.ok("request", "list", "--config", "$CONFIG"); !strings.Contains(out, "ITÄ-77") {
		t.Errorf("request lost:\n%s", out)
	}
	if out := c.ok("user", "list", "--config", "$CONFIG"); !strings.Contains(out, "liisa") {
		t.Errorf("user lost:\n%s", out)
	}
	c.ok("audit", "verify", "--config", "$CONFIG")
	// Deletion stays paused until someone confirms.
	if _, errs, code := c.run("", "purge", "--config", "$CONFIG"); code == 0 || !strings.Contains(errs, "refused by interlock") {
		t.Errorf("purge after restore: exit %d: %s", code, errs)
	}
}

func mustPublicKey(t *testing.T, path string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := checkpoint.ParsePublicKey(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
