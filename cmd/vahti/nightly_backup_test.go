package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/registry"
	"vahti/retention"
)

func TestNightlyBackupWritesVerifiableCopiesAndRotates(t *testing.T) {
	c := newCLI(t, "yard")
	dst := filepath.Join(c.dir, "backup-disk")
	db := registryOf(t, c)
	h := registry.Hold{Cameras: []string{"yard"}, From: time.Now().Add(-time.Hour), To: time.Now(), Reason: "police case", CreatedBy: "keeper"}
	if err := retention.AddHold(context.Background(), db, &h, "keeper", "cli"); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(c.dir, "state", checkpointDir, "0001.json")
	os.MkdirAll(filepath.Dir(cp), 0o700)
	os.WriteFile(cp, []byte(`{"seq":1}`), 0o600)
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
	for _, f := range []string{registry.FileName, "signing-key.pub", "audit-checkpoint-0001.json", "SHA256SUMS"} {
		if _, err := os.Stat(filepath.Join(first, f)); err != nil {
			t.Errorf("backup lacks %s", f)
		}
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
