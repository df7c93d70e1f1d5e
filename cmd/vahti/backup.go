package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
	"vahti/registry"
)

func runBackup(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "backup")
	path := fs.configFlag()
	out := fs.String("out", "", "file to write the copy to (must not exist)")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := required("config", *path, "out", *out); err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	if err := ce.db.Backup(ctx, *out); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	// The copy holds the register and the sealed footage's keys, so it may
	// live no longer than a nightly copy: max_age plus a day.
	due := st.ModTime().UTC().Add(ce.cfg.Retention.MaxAge.D() + 24*time.Hour)
	managed := inBackupPath(ce.cfg.Backup.Path, *out)
	if managed {
		if err := ownAsRegistry(*out, filepath.Join(ce.cfg.StateDir, registry.FileName)); err != nil {
			return err
		}
	}
	if err := ce.audit(ctx, "registry.backup", "registry", map[string]any{"file": *out, "bytes": st.Size(),
		"expires": due, "expired_by_vahti": managed}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backup written to %s (%d bytes, verified)\n", *out, st.Size())
	when := due.In(ce.cfg.Location()).Format("2006-01-02 15:04 MST")
	if managed {
		fmt.Fprintf(e.stdout, "it is in backup.path: the purge deletes it after %s (retention.max_age + 1 day), like the nightly copies\n", when)
	} else {
		fmt.Fprintf(e.stderr, "WARNING: this copy holds the register and the keys that open sealed footage; Vahti will not delete it: destroy it by %s (retention.max_age + 1 day), or write it into backup.path, where the purge does\n", when)
	}
	return nil
}

// inBackupPath reports whether file lies directly in backup.path, where
// the purge expires registry copies.
func inBackupPath(backupPath, file string) bool {
	if backupPath == "" {
		return false
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return false
	}
	return filepath.Clean(backupPath) == dir
}

// ownAsRegistry gives file, a copy root wrote into backup.path (sudo vahti
// backup), the owner of the live registry db: the service account the
// purge runs as, which must read the copy to know it for a registry copy.
// The registry's owner, not the folder's: it already holds every key the
// copy does, whoever else a misconfigured backup.path belongs to.
func ownAsRegistry(file, db string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat(db)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid == 0 {
		return nil
	}
	if err := os.Chown(file, int(sys.Uid), int(sys.Gid)); err != nil {
		return fmt.Errorf("backup %s: give it to the registry's owner: %w", file, err)
	}
	return nil
}
