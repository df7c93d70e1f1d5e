package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Backup writes a consistent copy of the database to dst (which must not
// exist) while other processes keep using it: SQLite's VACUUM INTO reads
// one snapshot. The copy is checked before Backup returns.
func (db *DB) Backup(ctx context.Context, dst string) error { return db.backup(ctx, dst, false) }

// BackupForService is Backup for a copy that the service's purge must read
// later (one written into backup.path, where copies expire). Run as root
// (sudo vahti backup), it gives the copy to the live registry's owner, the
// service account, before the copy takes its name, so a copy that cannot
// be handed over is removed, never left behind root's, unaudited. The
// registry's owner, not the folder's: it already holds every key the copy
// does, whoever else a misconfigured folder belongs to.
func (db *DB) BackupForService(ctx context.Context, dst string) error {
	return db.backup(ctx, dst, true)
}

func (db *DB) backup(ctx context.Context, dst string, forService bool) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("backup %s: file exists", dst)
	}
	tmp := dst + ".tmp"
	os.Remove(tmp)
	// VACUUM INTO accepts an empty file: create it 0600 so the copy of
	// password hashes and secrets is never readable by others, whatever
	// the umask.
	if err := privateFile(tmp, true); err != nil {
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	if _, err := db.sql.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	if err := CheckFile(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup %s: the copy does not verify: %w", dst, err)
	}
	err := privateFile(tmp, false)
	if err == nil && forService {
		err = ownLike(tmp, db.path)
	}
	if err == nil {
		err = syncFile(tmp)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	return syncDir(filepath.Dir(dst))
}

// CheckFile opens a database file read-only and checks that it is an
// intact Vahti registry: SQLite's integrity check, a known schema version
// and an unbroken audit chain.
func CheckFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	ok := hasSQLiteHeader(f)
	f.Close()
	if !ok {
		return fmt.Errorf("%s: not an SQLite database", path)
	}
	s, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	defer s.Close()
	var res string
	if err := s.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	var v int
	if err := s.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return fmt.Errorf("not a Vahti registry: %w", err)
	}
	if v < 1 || v > len(migrations) {
		return fmt.Errorf("schema version %d is not one this Vahti knows (1..%d)", v, len(migrations))
	}
	db := &DB{sql: s, path: path}
	return db.View(context.Background(), func(tx *Tx) error {
		_, err := tx.VerifyAudit()
		return err
	})
}

// Restore replaces the database at dbPath with the backup at src after
// checking it. The caller must make sure no service uses dbPath (the
// state-dir lock).
func Restore(src, dbPath string) error {
	if err := CheckFile(src); err != nil {
		return fmt.Errorf("restore: refusing %s: %w", src, err)
	}
	tmp := dbPath + ".restore.tmp"
	if err := CopySynced(src, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	// The old WAL belongs to the old database: applying it to the restored
	// file would corrupt it.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			os.Remove(tmp)
			return fmt.Errorf("restore: %w", err)
		}
	}
	err := os.Chmod(tmp, PrivateFileMode)
	if err == nil {
		err = os.Rename(tmp, dbPath)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	return syncDir(filepath.Dir(dbPath))
}

// CopySynced copies src to dst (created or truncated, mode 0600) and
// fsyncs it: the registry's own copies and the files packed beside them.
func CopySynced(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, PrivateFileMode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return err
	}
	return nil
}

// Nightly backups (the service's copies in backup.path) are folders named
// BackupDirPrefix + the UTC time of the copy in BackupTimeLayout, written
// under a BackupPartialSuffix name until complete. The name is the copy's
// age: retention expires copies by it (a backup holds sealed keys, so it
// must not outlive the footage it opens).
const (
	BackupDirPrefix     = "vahti-registry-"
	BackupTimeLayout    = "20060102T150405Z"
	BackupPartialSuffix = ".partial"
)

// BackupDirName is the folder name of a nightly copy made at t.
func BackupDirName(t time.Time) string { return BackupDirPrefix + t.UTC().Format(BackupTimeLayout) }

// ParseBackupDirName is the time of a complete nightly copy's folder
// name; false for anything else (a .partial, another file).
func ParseBackupDirName(name string) (time.Time, bool) {
	if !strings.HasPrefix(name, BackupDirPrefix) || strings.HasSuffix(name, BackupPartialSuffix) {
		return time.Time{}, false
	}
	t, err := time.Parse(BackupTimeLayout, strings.TrimPrefix(name, BackupDirPrefix))
	if err != nil || BackupDirName(t) != name {
		return time.Time{}, false
	}
	return t, true
}

// IsSQLiteFile reports whether path is a regular file that starts with
// SQLite's header: a registry copy (vahti backup --out) left in
// backup.path is one, a note beside it is not.
func IsSQLiteFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	return hasSQLiteHeader(f)
}

// hasSQLiteHeader reads the 16 bytes every SQLite database starts with.
func hasSQLiteHeader(r io.Reader) bool {
	head := make([]byte, 16)
	_, err := io.ReadFull(r, head)
	return err == nil && string(head) == "SQLite format 3\x00"
}

// ownLike gives file the owner of ref when the process runs as root and
// ref belongs to someone else; otherwise the file stays the caller's.
func ownLike(file, ref string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat(ref)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid == 0 {
		return nil
	}
	if err := os.Chown(file, int(sys.Uid), int(sys.Gid)); err != nil {
		return fmt.Errorf("give it to the registry's owner: %w", err)
	}
	return nil
}
