package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vahti/admin/export"
	"vahti/checkpoint"
	"vahti/registry"
)

// The nightly registry backup. After each nightly purge (seen as
// retention's LastNightly moving), and at start when the newest copy is
// older than a day, a copy is written to backup.path:
//
//	vahti-registry-20261122T030512Z/
//	  registry.db        consistent online copy (VACUUM INTO, checked)
//	  signing-key.pub    the public half of the export signing key
//	  NNN…-T.txt(.sig)   the newest signed audit checkpoint, if any
//	  SHA256SUMS         `sha256sum -c` format
//
// It is written under a ".partial" name and renamed when complete; the
// oldest copies beyond backup.keep are removed.

const (
	backupPrefix   = registry.BackupDirPrefix // retention expires copies by this name (registry.ParseBackupDirName)
	backupPartial  = registry.BackupPartialSuffix
	backupStale    = 48 * time.Hour
	backupAtStart  = 24 * time.Hour // at start, a copy older than this is renewed
	backupPollTime = 10 * time.Second
)

// AlarmBackup is raised when the last backup failed or the newest is
// older than 48 h.
const AlarmBackup = "backup-failed"

type backupState struct {
	mu      sync.Mutex
	lastOK  time.Time // the newest complete copy
	lastErr string
}

// runBackups writes the nightly copies until ctx ends (no-op without
// backup.path).
func (s *service) runBackups(ctx context.Context) {
	if s.cfg.Backup.Path == "" {
		return
	}
	if t, ok := newestBackup(s.cfg.Backup.Path); ok {
		s.backups.mu.Lock()
		s.backups.lastOK = t
		s.backups.mu.Unlock()
	}
	seen := s.ret.Status().LastNightly
	s.backups.mu.Lock()
	due := s.now().Sub(s.backups.lastOK) > backupAtStart
	s.backups.mu.Unlock()
	t := time.NewTicker(backupPollTime)
	defer t.Stop()
	for {
		if due {
			s.backupNow(ctx)
			due = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ln := s.ret.Status().LastNightly; !ln.Equal(seen) {
			seen, due = ln, !ln.IsZero()
		}
	}
}

// backupNow writes one copy and records the outcome.
func (s *service) backupNow(ctx context.Context) (string, error) {
	dir, err := s.writeBackup(ctx, s.now().UTC())
	if ctx.Err() != nil {
		return dir, err
	}
	s.backups.mu.Lock()
	if err != nil {
		s.backups.lastErr = err.Error()
	} else {
		s.backups.lastErr, s.backups.lastOK = "", s.now().UTC()
	}
	s.backups.mu.Unlock()
	if err != nil {
		s.log.Error("registry backup failed", "err", err)
	} else {
		s.log.Info("registry backup written", "dir", dir)
	}
	return dir, err
}

func (s *service) writeBackup(ctx context.Context, now time.Time) (string, error) {
	root := s.cfg.Backup.Path
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("backup.path: %w", err)
	}
	final := filepath.Join(root, backupPrefix+now.Format(registry.BackupTimeLayout))
	if _, err := os.Stat(final); err == nil {
		return final, fmt.Errorf("backup %s exists already", final)
	}
	tmp := final + backupPartial
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(tmp) // deletion-gate: our own half-written copy of the registry, never footage
		return "", fmt.Errorf("backup: %w", err)
	}
	if err := s.db.Backup(ctx, filepath.Join(tmp, registry.FileName)); err != nil {
		return fail(err)
	}
	pub, err := export.PublicKeyString(s.cfg.StateDir)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "signing-key.pub"), []byte(pub+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if cp, ok := s.latestCheckpoint(); ok {
		// The checkpoint and its signature under their own names, so
		// `vahti audit verify --checkpoints COPY --pubkey
		// COPY/signing-key.pub` reads them straight from the copy.
		for _, name := range []string{cp.File, cp.File + checkpoint.SigSuffix} {
			src := filepath.Join(checkpoint.Dir(s.cfg.StateDir), name)
			if err := registry.CopySynced(src, filepath.Join(tmp, name)); err != nil {
				return fail(err)
			}
		}
	}
	sums, err := sha256Sums(tmp)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "SHA256SUMS"), []byte(sums), 0o600); err != nil {
		return fail(err)
	}
	if err := syncDir(tmp); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	syncDir(root)
	st, _ := os.Stat(filepath.Join(final, registry.FileName))
	var size int64
	if st != nil {
		size = st.Size()
	}
	if err := s.db.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit("system", "service", "registry.backup", "registry", map[string]any{"dir": final, "bytes": size})
		return err
	}); err != nil {
		return final, fmt.Errorf("backup written but not audited: %w", err)
	}
	s.rotateBackups(root)
	return final, nil
}

// rotateBackups keeps the newest backup.keep copies and removes the rest,
// and any .partial left by a crash.
func (s *service) rotateBackups(root string) {
	es, err := os.ReadDir(root)
	if err != nil {
		return
	}
	var done []string
	for _, e := range es {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, backupPrefix) {
			continue
		}
		if strings.HasSuffix(n, backupPartial) {
			os.RemoveAll(filepath.Join(root, n)) // deletion-gate: an unfinished registry copy from a crashed run, never footage
			continue
		}
		done = append(done, n)
	}
	sort.Strings(done) // the names sort by time
	for len(done) > s.cfg.Backup.Keep {
		// deletion-gate: a rotated registry copy in backup.path (backup.keep), never footage
		if err := os.RemoveAll(filepath.Join(root, done[0])); err != nil {
			s.log.Warn("old backup not removed", "dir", done[0], "err", err)
		}
		done = done[1:]
	}
}

// newestBackup is the time in the name of the newest complete copy.
func newestBackup(root string) (time.Time, bool) {
	es, err := os.ReadDir(root)
	if err != nil {
		return time.Time{}, false
	}
	var newest time.Time
	for _, e := range es {
		n := e.Name()
		if !e.IsDir() || !strings.HasPrefix(n, backupPrefix) || strings.HasSuffix(n, backupPartial) {
			continue
		}
		if t, err := time.Parse(registry.BackupTimeLayout, strings.TrimPrefix(n, backupPrefix)); err == nil && t.After(newest) {
			newest = t
		}
	}
	return newest, !newest.IsZero()
}

// sha256Sums hashes every file in dir, in `sha256sum` format.
func sha256Sums(dir string) (string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, e := range es {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), e.Name())
	}
	return b.String(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// backupAlarm is the backup's part of the alarms ("" message: none).
func (s *service) backupAlarm(now time.Time) string {
	if s.cfg.Backup.Path == "" {
		return ""
	}
	s.backups.mu.Lock()
	defer s.backups.mu.Unlock()
	switch {
	case s.backups.lastErr != "":
		return "the last registry backup failed: " + s.backups.lastErr
	case s.backups.lastOK.IsZero():
		return "" // the first copy is being written
	case now.Sub(s.backups.lastOK) > backupStale:
		return fmt.Sprintf("the newest registry backup is from %s, older than 48 h", s.backups.lastOK.Format(time.RFC3339))
	}
	return ""
}

var descBackupLast = desc("vahti_backup_last_success_timestamp_seconds", "When the newest registry backup was written; absent without backup.path or a copy.")

type backupCollector struct{ s *service }

func (c backupCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descBackupLast }
func (c backupCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.backups.mu.Lock()
	t := c.s.backups.lastOK
	c.s.backups.mu.Unlock()
	if !t.IsZero() {
		ch <- prometheus.MustNewConstMetric(descBackupLast, prometheus.GaugeValue, unixSeconds(t))
	}
}
