package registry

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func modeOf(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func mkfile(t *testing.T, p string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// The default layout: the recordings inside the state dir, everything
// left loose by an older Vahti or a careless copy.
func TestSecureDirsTightensWhatItOwns(t *testing.T) {
	top := t.TempDir()
	state := filepath.Join(top, "state")
	root := filepath.Join(state, "recordings")
	seg := filepath.Join(root, SegmentPath("yard", t0()))
	mkfile(t, seg, 0o666)
	mkfile(t, filepath.Join(state, FileName), 0o644)
	mkfile(t, filepath.Join(state, "keys", "export_ed25519"), 0o644)
	mkfile(t, filepath.Join(state, "exports", "p.zip"), 0o664)
	outside := filepath.Join(top, "outside.txt")
	mkfile(t, outside, 0o644)
	if err := os.Symlink(outside, filepath.Join(root, "yard", "link.mp4")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{state, root, filepath.Join(root, "yard"), filepath.Join(state, "keys")} {
		os.Chmod(d, 0o777)
	}
	if err := SecureDirs(state, root); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{
		state: 0o700, filepath.Join(state, FileName): 0o600, filepath.Join(state, "keys"): 0o700,
		filepath.Join(state, "keys", "export_ed25519"): 0o600, filepath.Join(state, "exports", "p.zip"): 0o600,
		root: 0o750, filepath.Join(root, "yard"): 0o750, filepath.Dir(seg): 0o750, seg: 0o640,
		outside: 0o644, // behind a symlink: not Vahti's, not followed
	} {
		if got := modeOf(t, p); got != want {
			t.Errorf("%s: mode %04o, want %04o", p, got, want)
		}
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (chown to another user)")
		}
		t.Skip("needs root (chown to another user)")
	}
}

func TestSecureDirsRefusesWhatOthersCouldWriteOrRead(t *testing.T) {
	needRoot(t)
	const stranger = 4242
	for _, tc := range []struct {
		name   string
		mode   fs.FileMode
		dir    bool
		reason string
	}{
		{"segment readable by others", 0o644, false, "readable by others"},
		{"segment writable by group", 0o660, false, "writable by group"},
		{"camera folder writable by others", 0o757, true, "writable by group or others"},
		{"camera folder others may enter", 0o751, true, "readable by others"},
	} {
		top := t.TempDir()
		state, root := filepath.Join(top, "state"), filepath.Join(top, "rec")
		os.MkdirAll(state, 0o700)
		seg := filepath.Join(root, SegmentPath("yard", t0()))
		mkfile(t, seg, 0o640)
		p := seg
		if tc.dir {
			p = filepath.Join(root, "yard")
		}
		os.Chown(p, stranger, stranger)
		os.Chmod(p, tc.mode)
		err := SecureDirs(state, root)
		var pe *PermError
		if !errors.As(err, &pe) || pe.Path != p || !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", tc.name, err)
		}
		// Group may read footage (a backup account): not refused.
		os.Chmod(p, tc.mode&0o750)
		if err := SecureDirs(state, root); err != nil {
			t.Errorf("%s with mode %04o: %v", tc.name, tc.mode&0o750, err)
		}
	}
	// Parents others may write (not sticky) are refused; /tmp-like sticky
	// ones are fine.
	top := t.TempDir()
	parent := filepath.Join(top, "shared")
	state, root := filepath.Join(parent, "state"), filepath.Join(parent, "rec")
	os.MkdirAll(state, 0o700)
	os.MkdirAll(root, 0o750)
	os.Chmod(parent, 0o777)
	var pe *PermError
	if err := SecureDirs(state, root); !errors.As(err, &pe) || pe.Path != parent {
		t.Errorf("world-writable parent: %v", err)
	}
	os.Chmod(parent, 0o777|fs.ModeSticky)
	if err := SecureDirs(state, root); err != nil {
		t.Errorf("sticky parent: %v", err)
	}
}

// registry.db, its WAL and a backup are 0600 even when the process umask
// would let SQLite make them world-readable.
func TestDatabaseAndBackupArePrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(context.Background(), func(tx *Tx) error { _, err := tx.Audit("u", "cli", "x", "y", nil); return err }); err != nil {
		t.Fatal(err)
	}
	bk := filepath.Join(dir, "backup.db")
	if err := db.Backup(context.Background(), bk); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, FileName), filepath.Join(dir, FileName+"-wal"), filepath.Join(dir, FileName+"-shm"), bk} {
		if got := modeOf(t, p); got != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", p, got)
		}
	}
}

func t0() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }
