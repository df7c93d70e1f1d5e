package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
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
	// A copy in backup.path expires there like a nightly one, so the
	// purge, running as the service account, must be able to read it.
	managed := inBackupPath(ce.cfg.Backup.Path, *out)
	backup := ce.db.Backup
	if managed {
		backup = ce.db.BackupForService
	}
	if err := backup(ctx, *out); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	// The copy holds the register and the sealed footage's keys, so it may
	// live no longer than a nightly copy: max_age plus a day.
	due := st.ModTime().UTC().Add(ce.cfg.Retention.MaxAge.D() + 24*time.Hour)
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
// the purge expires registry copies. Both sides are compared with their
// symbolic links resolved, as the purge reads the folder through them.
func inBackupPath(backupPath, file string) bool {
	if backupPath == "" {
		return false
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return false
	}
	return realPath(backupPath) == realPath(dir)
}

// realPath is p with its symbolic links resolved, or p cleaned when it
// cannot be resolved (it does not exist yet).
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}
