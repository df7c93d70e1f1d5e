package retention

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestLooseBackupCopiesExpire: a registry copy a keeper wrote into
// backup.path with `vahti backup --out` (the README's manual and
// before-upgrade copies) holds the same keys and register as a nightly
// one, so the purge deletes it max_age + 1 day after it was written, by
// its modification time, audited. A younger copy, a file that is not a
// database, a half-written copy (.tmp) and a folder of other names stay.
func TestLooseBackupCopiesExpire(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.cfg.Backup.Path = filepath.Join(f.dir, "backups")
	f.r = f.newRetention()
	if err := os.MkdirAll(f.cfg.Backup.Path, 0o700); err != nil {
		t.Fatal(err)
	}
	lapse := f.cfg.Retention.MaxAge.D() + 24*time.Hour
	at := func(name string) string { return filepath.Join(f.cfg.Backup.Path, name) }
	copyAged := func(name string, age time.Duration) {
		if err := f.db.Backup(ctx, at(name)); err != nil {
			t.Fatal(err)
		}
		mtime := t0.Add(-age)
		if err := os.Chtimes(at(name), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	copyAged("before-upgrade.db", lapse+time.Hour)
	copyAged("manual.db", lapse-time.Hour)
	copyAged("half.db", lapse+time.Hour)
	if err := os.Rename(at("half.db"), at("half.db.tmp")); err != nil {
		t.Fatal(err)
	}
	old := t0.Add(-lapse - time.Hour)
	if err := os.WriteFile(at("README.txt"), []byte("nightly copies of the registry\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(at("keep"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"README.txt", "keep"} {
		if err := os.Chtimes(at(name), old, old); err != nil {
			t.Fatal(err)
		}
	}

	dry, err := f.r.Purge(ctx, true, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dry.BackupsExpired, []string{"before-upgrade.db"}) {
		t.Fatalf("dry run: backups that would expire %v, want [before-upgrade.db]", dry.BackupsExpired)
	}
	if _, err := os.Stat(at("before-upgrade.db")); err != nil {
		t.Fatalf("the dry run removed it: %v", err)
	}

	rep := f.purge()
	if !slices.Equal(rep.BackupsExpired, []string{"before-upgrade.db"}) {
		t.Fatalf("backups expired %v, want [before-upgrade.db]", rep.BackupsExpired)
	}
	if _, err := os.Stat(at("before-upgrade.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("expired copy: %v, want gone", err)
	}
	for _, name := range []string{"manual.db", "half.db.tmp", "README.txt", "keep"} {
		if _, err := os.Stat(at(name)); err != nil {
			t.Errorf("%s: %v, want kept", name, err)
		}
	}
	if es := f.audit("registry.backup.expire"); len(es) != 1 {
		t.Fatalf("%d registry.backup.expire entries, want 1", len(es))
	}

	// Two hours on, the younger copy's time is up too.
	f.set(t0.Add(2 * time.Hour))
	if rep := f.purge(); !slices.Equal(rep.BackupsExpired, []string{"manual.db"}) {
		t.Fatalf("a day later: backups expired %v, want [manual.db]", rep.BackupsExpired)
	}
}
