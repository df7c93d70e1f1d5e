package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"vahti/configs"
	"vahti/mp4read"
	"vahti/registry"
)

// PurgeReport is the nightly purge's account, written to the audit chain
// ("purge.report") and to <state_dir>/purge-reports/<local date>.json.
type PurgeReport struct {
	Time            time.Time         `json:"time"`
	Since           time.Time         `json:"since"` // previous report (zero: first)
	Cameras         []CameraPurge     `json:"cameras"`
	ExportsDeleted  int               `json:"exports_deleted"`
	RequestsExpired int               `json:"requests_expired"` // closed requests that left the register (requests.retention)
	StraysDeleted   int               `json:"strays_deleted"`
	UnknownFiles    int               `json:"unknown_files"` // files under storage.root that are not segments (left alone)
	HoldsReleased   []int64           `json:"holds_released"`
	HoldsForReview  []int64           `json:"holds_for_review"`
	Refused         []string          `json:"refused"` // interlocks that stopped deletion tonight
	Messages        map[string]string `json:"messages,omitempty"`
	ReconcileFailed string            `json:"reconcile_failed,omitempty"`
	// Crypto-erase since the previous report (summed from the audit
	// chain): data keys destroyed per camera and UTC day, the days whose
	// epoch key was destroyed, key files of released holds removed, and
	// registry backups expired (max_age + 1 day).
	KeysDestroyed       []KeyErasure `json:"keys_destroyed"`
	EpochsDestroyed     []string     `json:"epochs_destroyed"`
	HoldKeyFilesRemoved int          `json:"hold_key_files_removed"`
	BackupsExpired      int          `json:"backups_expired"`
}

// CameraPurge is one camera's line of the purge report.
type CameraPurge struct {
	Camera         string      `json:"camera"`
	DeletedCount   int64       `json:"deleted_count"` // since the previous report, all reasons
	DeletedBytes   int64       `json:"deleted_bytes"`
	OldestFootage  time.Time   `json:"oldest_footage"` // start of the oldest segment left (zero: none)
	NewestFootage  time.Time   `json:"newest_footage"`
	Segments       int64       `json:"segments"`
	HeldRanges     []HeldRange `json:"held_ranges"`
	MaxAge         string      `json:"max_age"`
	OverdueFootage bool        `json:"overdue_footage"` // footage older than max_age left unheld (should be false)
}

// HeldRange is an active hold's range on a camera.
type HeldRange struct {
	Hold int64     `json:"hold"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Nightly runs the nightly purge now: reconcile, the catalog/disk
// interlock, a deleting pass, stray expired files, emptied folders, hold
// review, and the report.
func (r *Retention) Nightly(ctx context.Context) (PurgeReport, error) {
	now := r.now().UTC()
	rep := PurgeReport{Time: now}
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if r.recon != nil {
		if err := r.recon(ctx); err != nil {
			rep.ReconcileFailed = err.Error()
			keep(fmt.Errorf("reconcile: %w", err))
		}
	}
	strays, dayDirs, found, unknown, err := r.scanDisk(ctx, now)
	keep(err)
	rep.UnknownFiles = unknown
	if err == nil {
		keep(r.checkCatalog(ctx, found))
	}

	pass, err := r.pass(ctx, now, false, "expired")
	keep(err)
	rep.Refused, rep.Messages = pass.Refused, pass.Messages
	rep.ExportsDeleted = len(pass.Exports)
	if len(pass.Refused) == 0 && rep.ReconcileFailed == "" && len(strays) > 0 {
		gone, _, err := r.removeStrays(ctx, now, strays)
		keep(err)
		rep.StraysDeleted = len(gone)
	}
	if len(pass.Refused) == 0 && rep.ReconcileFailed == "" {
		// Rows whose file vanished and keys whose segment never got a row
		// or a file, then the epochs the strays and these left without
		// keys.
		_, err := r.removeMissingRows(ctx, now)
		keep(err)
		_, err = r.removeOrphanKeys(ctx, now)
		keep(err)
		_, err = r.destroyEpochs(ctx, now)
		keep(err)
	}
	r.checkpoint(ctx, now, true)

	if len(rep.Refused) == 0 {
		// The register's own retention, held back like footage by the
		// interlocks (a clock jumped forward would expire it all).
		n, err := r.expireRequests(ctx, now)
		keep(err)
		rep.RequestsExpired = n
	}

	if len(rep.Refused) == 0 {
		// Folders emptied earlier (e.g. by the disk guard, whose days were
		// still too recent to remove then).
		r.removeEmptyDirs(dayDirs, now)
	}

	released, review, err := r.reviewHolds(ctx, now)
	keep(err)
	rep.HoldsReleased, rep.HoldsForReview = released, review

	keep(r.fillReport(ctx, &rep))
	file, err := r.writeReport(ctx, rep)
	keep(err)
	if err == nil && r.ckpt != nil {
		// The report is in the chain: anchor it outside the database.
		if err := r.ckpt(ctx); err != nil {
			keep(fmt.Errorf("audit checkpoint after the purge report: %w", err))
		}
	}
	err = r.db.Update(ctx, func(tx *registry.Tx) error {
		return setMetaTime(tx, metaLastNightly, now)
	})
	keep(err)
	r.update(func(s *Status) {
		s.LastNightly = now
		s.NextNightly = nextNightly(now, now, r.cfg.Location(), r.nightlyAt()).UTC()
		if file != "" {
			s.LastReport = &PurgeInfo{Time: now, File: file}
		}
	})
	return rep, firstErr
}

func (r *Retention) nightlyAt() time.Duration {
	d, _ := configs.ParseClock(r.cfg.Retention.NightlyPurgeAt)
	return d
}

// scanDisk walks storage.root. It returns the uncatalogued-looking expired
// candidates (segment paths whose start is older than the shortest max
// age plus the longest segment: only those can possibly be allowed by the
// gate, so the catalog is asked about few files), how many segment files
// exist, and how many other files there are.
func (r *Retention) scanDisk(ctx context.Context, now time.Time) (cands []string, dayDirs map[string]bool, found, unknown int, err error) {
	root := r.cfg.Storage.Root
	limit := now.Add(-r.minMaxAge() - strayMaxSpan)
	dayDirs = map[string]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return fs.SkipAll
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if rel, err := filepath.Rel(root, p); err == nil && strings.Count(filepath.ToSlash(rel), "/") == 3 {
				dayDirs[p] = true // camera/YYYY/MM/DD
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if mp4read.IsIndexName(rel) {
			return nil // a segment's fragment index: goes with it (remove.go)
		}
		_, start, _, perr := registry.ParseSegmentPath(rel)
		if perr != nil {
			unknown++
			return nil
		}
		found++
		if start.Before(limit) {
			cands = append(cands, rel)
		}
		return nil
	})
	if err != nil {
		return nil, nil, found, unknown, fmt.Errorf("scan %s: %w", root, err)
	}
	return cands, dayDirs, found, unknown, nil
}

// checkCatalog is the catalog/disk interlock: an empty catalog while
// segment files exist (a lost or replaced registry, and with it perhaps
// the holds), or a catalog mostly marked missing, pauses all deletion.
func (r *Retention) checkCatalog(ctx context.Context, filesOnDisk int) error {
	var counts map[string]int64
	err := r.db.View(ctx, func(tx *registry.Tx) error {
		var err error
		counts, _, err = tx.CountByState()
		return err
	})
	if err != nil {
		return err
	}
	ok, missing := counts[registry.SegmentOK], counts[registry.SegmentMissing]
	msg := ""
	switch {
	case ok == 0 && filesOnDisk > 0:
		msg = fmt.Sprintf("the catalog is empty but %d segment files are on disk: deletion paused (was the registry replaced? run `vahti reindex`, then `vahti purge --force`)", filesOnDisk)
	case missing > 10 && missing > ok:
		msg = fmt.Sprintf("%d catalogued segments are missing on disk and only %d present: deletion paused (is storage.root mounted?)", missing, ok)
	}
	if err := r.db.Update(ctx, func(tx *registry.Tx) error { return tx.SetMeta(metaMismatch, msg) }); err != nil {
		return err
	}
	if msg != "" {
		r.raise(ctx, AlarmCatalogMismatch, msg, true)
	} else {
		r.clear(AlarmCatalogMismatch)
	}
	return nil
}

// reviewHolds handles holds past their review date: released when
// retention.hold_auto_release is on, otherwise flagged.
func (r *Retention) reviewHolds(ctx context.Context, now time.Time) (released, flagged []int64, err error) {
	var due []registry.Hold
	err = r.db.View(ctx, func(tx *registry.Tx) error {
		due, err = tx.HoldsDueForReview(now)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	for _, h := range due {
		if r.cfg.Retention.HoldAutoRelease {
			if _, err := ReleaseHold(ctx, r.db, h.ID, r.actor, r.source,
				"review date "+h.Review.Format(time.RFC3339)+" passed (retention.hold_auto_release)"); err != nil {
				return released, flagged, err
			}
			released = append(released, h.ID)
			continue
		}
		flagged = append(flagged, h.ID)
	}
	r.update(func(s *Status) { s.HoldsForReview = flagged })
	if len(flagged) > 0 {
		r.raise(ctx, AlarmHoldReview, fmt.Sprintf("%d hold(s) are past their review date: %v", len(flagged), flagged), false)
	} else {
		r.clear(AlarmHoldReview)
	}
	return released, flagged, nil
}

// fillReport adds per-camera lines: deletions since the previous report
// (summed from the audit chain, so the sweeper's and disk guard's count
// too), what is left, and held ranges.
func (r *Retention) fillReport(ctx context.Context, rep *PurgeReport) error {
	return r.db.View(ctx, func(tx *registry.Tx) error {
		since, err := metaTime(tx, metaLastNightly)
		if err != nil {
			return err
		}
		rep.Since = since
		per := map[string]*CameraPurge{}
		get := func(c string) *CameraPurge {
			if per[c] == nil {
				per[c] = &CameraPurge{Camera: c, MaxAge: configs.Duration(r.cfg.MaxAgeFor(c)).String(), HeldRanges: []HeldRange{}}
			}
			return per[c]
		}
		for _, c := range r.cfg.CameraIDs() {
			get(c)
		}
		entries, err := tx.AuditEntries(registry.AuditFilter{Kind: "segments.delete", From: since})
		if err != nil {
			return err
		}
		keys := keyTally{}
		for _, e := range entries {
			var d DeletionDetail
			if json.Unmarshal(e.Detail, &d) == nil && d.Camera != "" {
				cp := get(d.Camera)
				cp.DeletedCount += d.Count
				cp.DeletedBytes += d.Bytes
				keys.addDays(d.Camera, d.KeyDays)
			}
		}
		if err := r.fillErasure(tx, since, rep, keys); err != nil {
			return err
		}
		sums, err := tx.Summaries()
		if err != nil {
			return err
		}
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		for c, s := range sums {
			cp := get(c)
			cp.OldestFootage, cp.NewestFootage, cp.Segments = s.Oldest, s.Newest, s.Segments
		}
		for c, cp := range per {
			for _, h := range holds {
				if h.Covers(c, h.From, h.To) {
					cp.HeldRanges = append(cp.HeldRanges, HeldRange{Hold: h.ID, From: h.From, To: h.To})
				}
			}
			sort.Slice(cp.HeldRanges, func(i, j int) bool { return cp.HeldRanges[i].From.Before(cp.HeldRanges[j].From) })
		}
		// Overdue: the oldest unheld segment ends before the cutoff.
		cands, err := tx.ExpiryCandidates(rep.Time.Add(-r.minMaxAge()), 0)
		if err != nil {
			return err
		}
		ix := newHoldIndex(holds)
		for _, s := range cands {
			if ok, _ := Deletable(s, rep.Time, r.cfg.MaxAgeFor(s.Camera), ix.For(s.Camera)); ok {
				get(s.Camera).OverdueFootage = true
			}
		}
		names := make([]string, 0, len(per))
		for c := range per {
			names = append(names, c)
		}
		sort.Strings(names)
		for _, c := range names {
			rep.Cameras = append(rep.Cameras, *per[c])
		}
		return nil
	})
}

// writeReport stores the report as JSON in <state_dir>/purge-reports/ and
// in the audit chain. It returns the file's path.
func (r *Retention) writeReport(ctx context.Context, rep PurgeReport) (string, error) {
	dir := filepath.Join(r.cfg.StateDir, "purge-reports")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("purge report: %w", err)
	}
	name := rep.Time.In(r.cfg.Location()).Format("2006-01-02T150405") + ".json"
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", fmt.Errorf("purge report: %w", err)
	}
	full := filepath.Join(dir, name)
	tmp := full + ".tmp"
	if err := writeFileSync(tmp, append(b, '\n')); err != nil {
		return "", fmt.Errorf("purge report: %w", err)
	}
	if err := os.Rename(tmp, full); err != nil {
		return "", fmt.Errorf("purge report: %w", err)
	}
	syncDir(dir)
	err = r.db.Update(ctx, func(tx *registry.Tx) error {
		if err := tx.SetMeta(metaLastReport, name); err != nil {
			return err
		}
		_, err := tx.Audit(r.actor, r.source, "purge.report", "retention", rep)
		return err
	})
	return full, err
}

func writeFileSync(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fillErasure adds the crypto-erase lines since the previous report: keys
// (segments.delete entries' counts, already in keys, and orphan keys),
// epochs destroyed, hold key files removed and backups expired.
func (r *Retention) fillErasure(tx *registry.Tx, since time.Time, rep *PurgeReport, keys keyTally) error {
	orphans, err := tx.AuditEntries(registry.AuditFilter{Kind: "keys.segment.destroy", From: since})
	if err != nil {
		return err
	}
	for _, e := range orphans {
		var d DeletionDetail
		if json.Unmarshal(e.Detail, &d) == nil && d.Camera != "" {
			keys.addDays(d.Camera, d.KeyDays)
		}
	}
	rep.KeysDestroyed = keys.list()
	epochs, err := tx.AuditEntries(registry.AuditFilter{Kind: "keys.epoch.destroy", From: since})
	if err != nil {
		return err
	}
	rep.EpochsDestroyed = []string{}
	for _, e := range epochs {
		var d EpochDestroyDetail
		if json.Unmarshal(e.Detail, &d) == nil && d.Kind == "day" {
			rep.EpochsDestroyed = append(rep.EpochsDestroyed, d.Day)
		}
	}
	sort.Strings(rep.EpochsDestroyed)
	for kind, n := range map[string]*int{"hold.keys.delete": &rep.HoldKeyFilesRemoved, "registry.backup.expire": &rep.BackupsExpired} {
		es, err := tx.AuditEntries(registry.AuditFilter{Kind: kind, From: since})
		if err != nil {
			return err
		}
		*n = len(es)
	}
	return nil
}
