package registry

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestBackupForServiceHandsTheCopyToTheRegistrysOwner: run as root, a
// copy for the service's purge belongs to the live registry's owner with
// mode 0600, an ordinary copy stays root's, and a copy that cannot be
// handed over is not left behind at all.
func TestBackupForServiceHandsTheCopyToTheRegistrysOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("ownership is only handed over by root")
	}
	dir := t.TempDir()
	db, err := Open(filepath.Join(dir, "state"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := os.Chown(db.Path(), 4321, 4322); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	owner := func(p string) (uint32, uint32, os.FileMode) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		return sys.Uid, sys.Gid, st.Mode().Perm()
	}
	svc := filepath.Join(dir, "svc.db")
	if err := db.BackupForService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if u, g, m := owner(svc); u != 4321 || g != 4322 || m != 0o600 {
		t.Errorf("copy for the service: owner %d:%d mode %o, want 4321:4322 600", u, g, m)
	}
	plain := filepath.Join(dir, "plain.db")
	if err := db.Backup(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if u, _, m := owner(plain); u != 0 || m != 0o600 {
		t.Errorf("ordinary copy: owner %d mode %o, want root 600", u, m)
	}
	// The registry's file is gone from under the open database: its owner
	// cannot be read, so the copy cannot be handed over.
	if err := os.Rename(db.Path(), db.Path()+".moved"); err != nil {
		t.Fatal(err)
	}
	lost := filepath.Join(dir, "lost.db")
	if err := db.BackupForService(ctx, lost); err == nil {
		t.Fatal("a copy that could not be handed over was reported written")
	}
	for _, p := range []string{lost, lost + ".tmp"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}
