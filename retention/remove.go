package retention

// remove.go is the ONLY file in Vahti that unlinks footage or export
// packages (see TestOnlyRemoveGoUnlinks). Every function here re-asks the
// gate (Deletable / DeletableExport) with holds read inside the write
// transaction that claims the rows, so a hold committed by another process
// before that transaction is honoured even if the caller's list is stale.
//
// Crash-safe sequence for segments:
//
//	1. write tx: read active holds, re-run the gate, mark rows "doomed"
//	2. unlink each file (ENOENT counts as gone), fsync each directory once
//	3. write tx: delete the rows still doomed, audit one entry per camera
//
// A crash after 1 leaves doomed rows; finishDoomed (run at startup) repeats
// 2 and 3 for them, first re-running the gate so a hold that arrived in the
// meantime keeps the file. Nothing is moved to a trash folder: deletion is
// final, as the privacy notice promises.
//
// Crypto-erase (seal/DESIGN.md, "Wiring: Retention"): the transaction of
// step 3 also deletes each dropped segment's data key (and its held copy),
// so from its commit a leftover copy of the file's bytes opens with nothing
// the registry holds. The same goes for strays, torn files and orphan key
// rows; erase.go then destroys the epochs left without keys. Held segments'
// key files and expired registry backups are also deleted here.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"vahti/mp4read"
	"vahti/registry"
)

// unlinkWorkers is how many unlinks run at once.
const unlinkWorkers = 8

// errCrashed is what a simulated crash (tests only) returns.
var errCrashed = errors.New("simulated crash")

func (r *Retention) crashed(stage string, n int) bool { return r.crash != nil && r.crash(stage, n) }

// ErrHeld is returned when a hold forbids a deletion that was asked for.
var ErrHeld = errors.New("covered by an active legal hold")

// removeSegments destroys the segments the gate allows at now, with
// maxAge(camera) as the age rule (the disk guard passes 0). reason goes
// into the audit entries. It returns the segments actually destroyed.
//
// A pass's many segments go r.batch at a time, so that the recorder's
// inserts never wait long for the write lock (the disk guard's few are
// one batch). Each batch still goes step 1, 2, 3 in order, but while one
// batch's files are unlinked (the file system's work) the next batch is
// doomed (the registry's), so on two cores the two overlap. A crash then leaves
// at most two batches doomed, which finishDoomed completes like one at the
// next start; so does a pass stopped by shutdown between two batches.
// Emptied folders are removed once, after the last batch.
func (r *Retention) removeSegments(ctx context.Context, now time.Time, maxAge func(string) time.Duration,
	segs []registry.Segment, reason string) ([]registry.Segment, keyTally, error) {
	var deleted []registry.Segment
	keys := keyTally{}
	dirs := map[string]bool{}
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	batch := func(i int) []registry.Segment { return segs[min(i*r.batch, len(segs)):min((i+1)*r.batch, len(segs))] }
	n := (len(segs) + r.batch - 1) / r.batch
	next, nextErr := r.doom(ctx, now, maxAge, batch(0))
	for i := 0; i < n && ctx.Err() == nil; i++ {
		cur, err := next, nextErr
		next, nextErr = nil, nil
		keep(err)
		if len(cur) > 0 && r.crashed("doomed", 0) {
			return deleted, keys, errCrashed
		}
		var u unlinked
		done := make(chan struct{})
		go func() {
			defer close(done)
			u = r.unlinkFiles(cur)
		}()
		if i+1 < n {
			next, nextErr = r.doom(ctx, now, maxAge, batch(i+1))
		}
		<-done
		if u.crashed {
			return deleted, keys, errCrashed
		}
		del, k, err := r.dropDoomed(ctx, cur, u, reason)
		deleted = append(deleted, del...)
		keys.merge(k)
		keep(err)
		if errors.Is(err, errCrashed) {
			return deleted, keys, err
		}
		for d := range u.dirs {
			dirs[d] = true
		}
	}
	if err := ctx.Err(); err != nil {
		keep(err)
	}
	r.removeEmptyDirs(dirs, r.now())
	return deleted, keys, firstErr
}

// doom is step 1: in one write transaction, with the holds read there, it
// moves the segments of segs the gate allows at now to doomed and returns
// them by id (a row already doomed or gone is not claimed twice).
func (r *Retention) doom(ctx context.Context, now time.Time, maxAge func(string) time.Duration,
	segs []registry.Segment) (map[int64]registry.Segment, error) {
	if len(segs) == 0 {
		return nil, nil
	}
	byID := make(map[int64]registry.Segment, len(segs))
	err := r.db.Update(ctx, func(tx *registry.Tx) error {
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		ix := newHoldIndex(holds)
		ids := make([]int64, 0, len(segs))
		for _, s := range segs {
			if ok, _ := Deletable(s, now, maxAge(s.Camera), ix.For(s.Camera)); ok {
				ids = append(ids, s.ID)
				byID[s.ID] = s
			}
		}
		doomed, err := tx.DoomSegments(ids)
		if err != nil {
			return err
		}
		keep := make(map[int64]registry.Segment, len(doomed))
		for _, id := range doomed {
			keep[id] = byID[id]
		}
		byID = keep
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("doom segments: %w", err)
	}
	return byID, nil
}

// unlinkDoomed carries out steps 2 and 3 for rows already doomed. It
// returns the segments whose rows went and the data keys destroyed with
// them.
func (r *Retention) unlinkDoomed(ctx context.Context, doomed map[int64]registry.Segment, reason string) ([]registry.Segment, keyTally, error) {
	u := r.unlinkFiles(doomed)
	if u.crashed {
		return nil, nil, errCrashed
	}
	deleted, keys, err := r.dropDoomed(ctx, doomed, u, reason)
	if errors.Is(err, errCrashed) {
		return nil, nil, err
	}
	r.removeEmptyDirs(u.dirs, r.now())
	return deleted, keys, err
}

// unlinked is what step 2 did to a set of doomed segments.
type unlinked struct {
	gone, failed []int64         // ids whose file is gone (or was), and those still there
	dirs         map[string]bool // folders that lost a file
	err          error           // the first failure
	crashed      bool            // a simulated crash stopped it (tests)
}

// unlinkFiles is step 2: it unlinks each doomed segment's file and index,
// then fsyncs each folder once.
func (r *Retention) unlinkFiles(doomed map[int64]registry.Segment) unlinked {
	root := r.cfg.Storage.Root
	u := unlinked{dirs: map[string]bool{}}
	ids := make([]int64, 0, len(doomed))
	for id := range doomed {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	// Unlinks of different files are independent; on a slow disk they are
	// done by a few workers at once. Order does not matter for crash
	// safety: every row stays doomed until all are done. (Tests that
	// simulate a crash after the n-th unlink run them one by one.)
	workers := unlinkWorkers
	if r.crash != nil {
		workers = 1
	}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				if i >= len(ids) || u.crashed {
					mu.Unlock()
					return
				}
				if r.crashed("unlink", i) {
					u.crashed = true
					mu.Unlock()
					return
				}
				mu.Unlock()
				id := ids[i]
				s := doomed[id]
				full := filepath.Join(root, filepath.FromSlash(s.Path))
				err := unlinkSegment(full)
				mu.Lock()
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					u.failed = append(u.failed, id)
					if u.err == nil {
						u.err = fmt.Errorf("segment %s: %w", s.Path, err)
					}
				} else {
					u.gone = append(u.gone, id)
					u.dirs[filepath.Dir(full)] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if u.crashed {
		return u
	}
	for d := range u.dirs {
		if err := syncDir(d); err != nil && u.err == nil {
			u.err = err
		}
	}
	return u
}

// dropDoomed is step 3: one write transaction deletes the rows of the
// unlinked files and their data keys, puts back to ok the rows whose
// unlink failed, and audits the deletion.
func (r *Retention) dropDoomed(ctx context.Context, doomed map[int64]registry.Segment, u unlinked, reason string) ([]registry.Segment, keyTally, error) {
	if len(doomed) == 0 {
		return nil, keyTally{}, u.err // a batch the gate kept whole
	}
	if r.crashed("rows", 0) {
		return nil, nil, errCrashed
	}
	var deleted []registry.Segment
	var keys keyTally
	err := r.db.Update(ctx, func(tx *registry.Tx) error {
		ids, err := tx.DeleteDoomedRows(u.gone)
		if err != nil {
			return err
		}
		deleted = make([]registry.Segment, 0, len(ids))
		keys = keyTally{}
		for _, id := range ids {
			deleted = append(deleted, doomed[id])
		}
		// The keys go with the rows, in this transaction: crypto-erase.
		if err := destroyKeys(tx, deleted, keys); err != nil {
			return err
		}
		if _, err := tx.UndoomSegments(u.failed); err != nil {
			return err
		}
		return auditDeletions(tx, r.actor, r.source, reason, deleted, keys)
	})
	if err != nil {
		return deleted, nil, fmt.Errorf("delete segment rows: %w", err)
	}
	r.keysErased(keys)
	return deleted, keys, u.err
}

// auditDeletions writes one "segments.delete" entry per camera: time range,
// count and bytes, and the data keys destroyed per UTC day, never content.
func auditDeletions(tx *registry.Tx, actor, source, reason string, deleted []registry.Segment, keys keyTally) error {
	type agg struct {
		from, to time.Time
		n, bytes int64
	}
	per := map[string]*agg{}
	var cams []string
	for _, s := range deleted {
		a := per[s.Camera]
		if a == nil {
			a = &agg{from: s.Start, to: s.End}
			per[s.Camera] = a
			cams = append(cams, s.Camera)
		}
		if s.Start.Before(a.from) {
			a.from = s.Start
		}
		if s.End.After(a.to) {
			a.to = s.End
		}
		a.n++
		a.bytes += s.Bytes
	}
	sort.Strings(cams)
	for _, c := range cams {
		a := per[c]
		kd := keys.days(c)
		_, err := tx.Audit(actor, source, "segments.delete", "camera:"+c, DeletionDetail{
			Reason: reason, Camera: c, From: a.from, To: a.to, Count: a.n, Bytes: a.bytes, Keys: sumDays(kd), KeyDays: kd})
		if err != nil {
			return err
		}
	}
	return nil
}

// DeletionDetail is the detail of a "segments.delete" audit entry (and of
// "keys.segment.destroy", orphan keys: no segment, Count 0).
type DeletionDetail struct {
	Reason string    `json:"reason"` // expired, disk-full, recovered, stray, missing (orphan-key for keys.segment.destroy)
	Camera string    `json:"camera"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Count  int64     `json:"count"`
	Bytes  int64     `json:"bytes"`
	// Keys is how many sealed segments' data keys were destroyed with
	// them (plain segments have none); KeyDays splits it by UTC day.
	Keys    int64            `json:"keys_destroyed"`
	KeyDays map[string]int64 `json:"keys_destroyed_by_day,omitempty"`
}

// finishDoomed completes deletions a crash interrupted. The gate is asked
// again (age rule 0, holds read now): a doomed segment a hold now covers,
// or that ends in the future, goes back to ok if its file is still there.
func (r *Retention) finishDoomed(ctx context.Context) (int, error) {
	now := r.now().UTC()
	doomed := map[int64]registry.Segment{}
	err := r.db.Update(ctx, func(tx *registry.Tx) error {
		segs, err := tx.SegmentsInState(registry.SegmentDoomed)
		if err != nil {
			return err
		}
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		ix := newHoldIndex(holds)
		var back []int64
		for _, s := range segs {
			if ok, _ := Deletable(s, now, 0, ix.For(s.Camera)); ok {
				doomed[s.ID] = s
				continue
			}
			if _, err := os.Stat(filepath.Join(r.cfg.Storage.Root, filepath.FromSlash(s.Path))); err == nil {
				back = append(back, s.ID)
			} else if err := tx.SetSegmentState(s.ID, registry.SegmentMissing); err != nil {
				return err
			}
		}
		_, err = tx.UndoomSegments(back)
		return err
	})
	if err != nil || len(doomed) == 0 {
		return 0, err
	}
	del, _, err := r.unlinkDoomed(ctx, doomed, "recovered")
	return len(del), err
}

// removeStrays destroys uncatalogued segment files (relative paths under
// storage.root) that the gate allows: the file is judged as a segment that
// started at its path time and ended strayMaxSpan later, the longest a
// segment can be, so a stray is never destroyed before any frame in it
// could be older than max_age.
func (r *Retention) removeStrays(ctx context.Context, now time.Time, rels []string) ([]registry.Segment, keyTally, error) {
	var allowed []registry.Segment
	err := r.db.View(ctx, func(tx *registry.Tx) error {
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		ix := newHoldIndex(holds)
		for _, rel := range rels {
			seg, ok := strayAsSegment(rel)
			if !ok {
				continue
			}
			fi, err := os.Lstat(filepath.Join(r.cfg.Storage.Root, filepath.FromSlash(rel)))
			if err != nil || !fi.Mode().IsRegular() {
				continue // gone meanwhile (e.g. the sweeper took it), or not a file
			}
			seg.Bytes = fi.Size()
			if _, err := tx.SegmentByPath(strings.TrimSuffix(rel, registry.UnfinishedSuffix)); err == nil {
				continue // catalogued (maybe as the finished twin): the sweeper's business
			} else if !errors.Is(err, registry.ErrNotFound) {
				return err
			}
			if ok, _ := Deletable(seg, now, r.cfg.MaxAgeFor(seg.Camera), ix.For(seg.Camera)); ok {
				allowed = append(allowed, seg)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("strays: %w", err)
	}
	var gone []registry.Segment
	dirs := map[string]bool{}
	var firstErr error
	for _, s := range allowed {
		full := filepath.Join(r.cfg.Storage.Root, filepath.FromSlash(s.Path))
		if err := unlinkSegment(full); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("stray %s: %w", s.Path, err)
			}
			continue
		}
		gone = append(gone, s)
		dirs[filepath.Dir(full)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	keys := keyTally{}
	if len(gone) > 0 {
		err := r.db.Update(ctx, func(tx *registry.Tx) error {
			for _, s := range gone {
				// A stray's name has its start to the microsecond; its
				// key row (if the recorder stored one) to the nanosecond.
				n, err := tx.DeleteSegmentKeysIn(s.Camera, s.Start, s.Start.Add(time.Microsecond))
				if err != nil {
					return err
				}
				keys.add(s.Camera, s.Start, n)
			}
			return auditDeletions(tx, r.actor, r.source, "stray", gone, keys)
		})
		if err != nil {
			keys = nil
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	r.keysErased(keys)
	r.removeEmptyDirs(dirs, now)
	return gone, keys, firstErr
}

// strayMaxSpan is the longest a segment can last (registry.SegmentsIn
// assumes the same bound).
const strayMaxSpan = 2 * time.Hour

// strayAsSegment describes an uncatalogued file for the gate.
func strayAsSegment(rel string) (registry.Segment, bool) {
	cam, start, _, err := registry.ParseSegmentPath(rel)
	if err != nil {
		return registry.Segment{}, false
	}
	// The gate checks the path; for an unfinished name it checks the
	// finished spelling, which names the same camera and start.
	return registry.Segment{Camera: cam, Start: start, End: start.Add(strayMaxSpan),
		Path: rel, State: registry.SegmentOK}, true
}

// removeExports destroys the export packages the export gate allows.
func (r *Retention) removeExports(ctx context.Context, now time.Time, ids []string) ([]registry.Export, error) {
	var allowed []registry.Export
	err := r.db.View(ctx, func(tx *registry.Tx) error {
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		for _, id := range ids {
			e, err := tx.Export(id)
			if err != nil {
				return err
			}
			if ok, _ := DeletableExport(e, now, r.exportMaxAge(e), holds); ok {
				allowed = append(allowed, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("exports: %w", err)
	}
	var gone []registry.Export
	var firstErr error
	for _, e := range allowed {
		full := filepath.Join(r.cfg.StateDir, filepath.FromSlash(e.Path))
		if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
			if firstErr == nil {
				firstErr = fmt.Errorf("export %s: %w", e.ID, err)
			}
			continue
		}
		if err := syncDir(filepath.Dir(full)); err != nil && firstErr == nil {
			firstErr = err
		}
		err := r.db.Update(ctx, func(tx *registry.Tx) error {
			if err := tx.MarkExportDeleted(e.ID); err != nil {
				return err
			}
			_, err := tx.Audit(r.actor, r.source, "export.delete", "export:"+e.ID, map[string]any{
				"reason": "expired", "cameras": e.Cameras, "from": e.From, "to": e.To,
				"footage_end": e.FootageEnd, "bytes": e.Bytes})
			return err
		})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		gone = append(gone, e)
	}
	return gone, firstErr
}

// expireRequests removes from the register the closed requests the
// request gate allows at now, each in its own write transaction that
// re-reads the request and the holds and re-asks the gate: the request's
// history, package links and released hold go with it; its disclosure-log
// entries are reduced to counts and hashes (registry.ExpireRequest). Each
// is audited as "request.expire" without personal data.
func (r *Retention) expireRequests(ctx context.Context, now time.Time) (int, error) {
	keep := r.cfg.Requests.Retention.D()
	var cands []registry.Request
	if err := r.db.View(ctx, func(tx *registry.Tx) error {
		var err error
		cands, err = tx.ClosedRequestsBefore(now.Add(-keep))
		return err
	}); err != nil || len(cands) == 0 {
		return 0, err
	}
	secret, err := registry.LoadOrCreateSubjectSecret(r.cfg.StateDir)
	if err != nil {
		return 0, fmt.Errorf("request expiry: %w", err)
	}
	n := 0
	for _, c := range cands {
		err := r.db.Update(ctx, func(tx *registry.Tx) error {
			q, err := tx.Request(c.ID)
			if errors.Is(err, registry.ErrNotFound) {
				return nil // another process expired it
			}
			if err != nil {
				return err
			}
			holds, err := tx.Holds(true)
			if err != nil {
				return err
			}
			if ok, _ := DeletableRequest(q, now, keep, holds); !ok {
				return nil
			}
			// Its job rows go first, each through the job gate and
			// audited; a job still queued or running keeps the request.
			if ok, err := expireRequestJobs(tx, r.actor, r.source, q, now); err != nil || !ok {
				return err
			}
			reduced, err := tx.ExpireRequest(q.ID, registry.RefHash(secret, q.Reference))
			if err != nil {
				return err
			}
			n++
			_, err = tx.Audit(r.actor, r.source, "request.expire", fmt.Sprintf("request:%d", q.ID), map[string]any{
				"reason": "expired", "kind": q.Kind, "outcome": q.Outcome, "received": q.Received, "closed": q.Closed,
				"retention": r.cfg.Requests.Retention.String(), "hold": q.HoldID, "disclosures_reduced": reduced})
			return err
		})
		if err != nil {
			return n, fmt.Errorf("request %d: expiry: %w", c.ID, err)
		}
	}
	return n, nil
}

// exportMaxAge is the shortest retention of the cameras in a package: it
// goes when the first of its footage would have.
func (r *Retention) exportMaxAge(e registry.Export) time.Duration {
	m := r.cfg.Retention.MaxAge.D()
	for _, c := range e.Cameras {
		m = min(m, r.cfg.MaxAgeFor(c))
	}
	return m
}

// unlinkSegment unlinks a segment file and then its sidecar index
// (mp4read), which describes the footage and goes with it, here, in the
// one place that deletes. Either already gone is fine. unlink(2), not
// os.Remove: a directory by a segment's name is never removed, and a
// missing file costs one system call, not two.
func unlinkSegment(full string) error {
	for _, p := range []string{full, mp4read.IndexPath(full)} {
		if err := syscall.Unlink(p); err != nil && err != syscall.ENOENT {
			return &fs.PathError{Op: "unlink", Path: p, Err: err}
		}
	}
	return nil
}

// removeOrphanIndexes deletes, in an old day folder, the fragment indexes
// whose segment is gone (deleted behind Vahti's back) and temp indexes a
// crash left: an index describes footage and must not outlive it, nor keep
// an emptied folder. Only old days come here, so no index is being written.
func removeOrphanIndexes(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !mp4read.IsIndexName(name) {
			continue
		}
		if strings.HasSuffix(name, mp4read.IndexSuffix) {
			if _, err := os.Lstat(filepath.Join(dir, strings.TrimSuffix(name, mp4read.IndexSuffix))); !errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		os.Remove(filepath.Join(dir, name))
	}
}

// DiscardTorn removes an unfinished segment (<path>.mp4.tmp) that recovery
// found unrecoverable, unless an active hold covers its camera and time,
// and audits it. It is the recorder's way to delete footage that never
// became a segment without unlinking outside this file.
func DiscardTorn(ctx context.Context, db *registry.DB, root, rel string, now time.Time) error {
	cam, start, finished, err := registry.ParseSegmentPath(rel)
	if err != nil || finished {
		return fmt.Errorf("discard %s: not an unfinished segment path", rel)
	}
	held := false
	err = db.View(ctx, func(tx *registry.Tx) error {
		holds, err := tx.Holds(true)
		for _, h := range holds {
			held = held || h.Covers(cam, start, start.Add(strayMaxSpan))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("discard %s: %w", rel, err)
	}
	if held {
		return fmt.Errorf("discard %s: %w", rel, ErrHeld)
	}
	full := filepath.Join(root, filepath.FromSlash(rel))
	fi, err := os.Stat(full)
	if err != nil {
		return fmt.Errorf("discard %s: %w", rel, err)
	}
	if err := os.Remove(full); err != nil {
		return fmt.Errorf("discard %s: %w", rel, err)
	}
	if err := syncDir(filepath.Dir(full)); err != nil {
		return err
	}
	return db.Update(ctx, func(tx *registry.Tx) error {
		// Its data key goes in the transaction that records the discard.
		n, err := tx.DeleteSegmentKeysIn(cam, start, start.Add(time.Microsecond))
		if err != nil {
			return err
		}
		_, err = tx.Audit("system", "service", "segments.discard-torn", "camera:"+cam, map[string]any{
			"camera": cam, "start": start, "bytes": fi.Size(), "path": rel, "checked_at": now.UTC(),
			"keys_destroyed": n})
		return err
	})
}

// removeEmptyDirs removes emptied day, month and year folders above the
// given directories. Only folders of days that ended two days before now
// are touched, so the recorder, which writes today's (and around midnight
// yesterday's) folder, never finds its folder vanish under it.
func (r *Retention) removeEmptyDirs(dirs map[string]bool, now time.Time) {
	root := filepath.Clean(r.cfg.Storage.Root)
	limit := now.UTC().AddDate(0, 0, -2)
	tried := map[string]bool{}
	for d := range dirs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			continue
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 4 { // camera/YYYY/MM/DD
			continue
		}
		day, err := time.Parse("2006/01/02", path.Join(parts[1:]...))
		if err != nil || !day.AddDate(0, 0, 1).Before(limit) {
			continue
		}
		// day, then month, then year; each only if now empty (rmdir fails
		// on a non-empty folder, which is the check). A month or year is
		// only removed when it ended before the limit too.
		levels := []struct {
			dir string
			end time.Time
		}{
			{d, day.AddDate(0, 0, 1)},
			{filepath.Dir(d), time.Date(day.Year(), day.Month()+1, 1, 0, 0, 0, 0, time.UTC)},
			{filepath.Dir(filepath.Dir(d)), time.Date(day.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)},
		}
		removeOrphanIndexes(d)
		for _, l := range levels {
			if tried[l.dir] || !l.end.Before(limit) {
				break
			}
			tried[l.dir] = true
			if err := os.Remove(l.dir); err != nil {
				break
			}
			syncDir(filepath.Dir(l.dir))
		}
	}
}

// syncDir makes a directory's entries (an unlink) durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// removeOrphanKeys destroys data keys (originals and held copies) whose
// segment has neither a catalog row nor a file (finished or .tmp), once
// the gate would let such a segment go: judged, like a stray, as a segment
// that started at the key's start and lasted strayMaxSpan, so an active
// hold over it keeps the key. A recorder that died between storing a key
// and creating its file leaves such rows.
func (r *Retention) removeOrphanKeys(ctx context.Context, now time.Time) (keyTally, error) {
	keys := keyTally{}
	// Found in a read transaction (a scan), each re-checked in the write
	// transaction that destroys it.
	var orphans []registry.OrphanKey
	if err := r.db.View(ctx, func(tx *registry.Tx) error {
		var err error
		orphans, err = tx.OrphanSegmentKeys(now.Add(-r.minMaxAge()-strayMaxSpan), sweepBatch)
		return err
	}); err != nil || len(orphans) == 0 {
		return nil, err
	}
	err := r.db.Update(ctx, func(tx *registry.Tx) error {
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		ix := newHoldIndex(holds)
		for _, k := range orphans {
			rel := registry.SegmentPath(k.Camera, k.Start)
			seg := registry.Segment{Camera: k.Camera, Start: k.Start, End: k.Start.Add(strayMaxSpan), Path: rel, State: registry.SegmentOK}
			if ok, _ := Deletable(seg, now, r.cfg.MaxAgeFor(k.Camera), ix.For(k.Camera)); !ok {
				continue
			}
			full := filepath.Join(r.cfg.Storage.Root, filepath.FromSlash(rel))
			if fileThere(full) || fileThere(full+registry.UnfinishedSuffix) {
				continue // a stray: removeStrays judges the file, and its key goes with it
			}
			if row, err := tx.SegmentRowNear(k.Camera, k.Start); err != nil || row {
				if err != nil {
					return err
				}
				continue // catalogued meanwhile (reconcile adopted a file)
			}
			had, err := tx.DeleteSegmentKeyAt(k.Camera, k.Start)
			if err != nil {
				return err
			}
			if had {
				keys.add(k.Camera, k.Start, 1)
			}
		}
		for _, c := range keys.cameras() {
			kd := keys.days(c)
			if _, err := tx.Audit(r.actor, r.source, "keys.segment.destroy", "camera:"+c, DeletionDetail{
				Reason: "orphan-key", Camera: c, Keys: sumDays(kd), KeyDays: kd}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("orphan keys: %w", err)
	}
	r.keysErased(keys)
	return keys, nil
}

// fileThere: something is at p (an error other than not-exist counts as
// there: never destroy a key whose file might exist).
func fileThere(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

// RemoveReleasedHoldKeys deletes the key files (heldkeys.go) of holds that
// were released: the held footage's data keys sealed to the recovery key
// must not outlive the hold. A file whose hold the registry does not know
// is kept (a registry restored from an older backup must not cost
// evidence) and logged. Each deletion is audited "hold.keys.delete". The
// retention pass runs it; a caller that just released a hold may too.
func RemoveReleasedHoldKeys(ctx context.Context, db *registry.DB, stateDir, actor, source string, log *slog.Logger) ([]int64, error) {
	dir := HoldKeysDir(stateDir)
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hold key files: %w", err)
	}
	var removed []int64
	var firstErr error
	for _, e := range es {
		id, ok := parseHoldKeysName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		var h registry.Hold
		err := db.View(ctx, func(tx *registry.Tx) error {
			var err error
			h, err = tx.Hold(id)
			return err
		})
		if errors.Is(err, registry.ErrNotFound) {
			if log != nil {
				log.Warn("hold key file of a hold the registry does not know: kept", "file", e.Name())
			}
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("hold key files: %w", err)
		}
		if h.Active() {
			continue
		}
		full := filepath.Join(dir, e.Name())
		if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
			if firstErr == nil {
				firstErr = fmt.Errorf("hold key file %s: %w", e.Name(), err)
			}
			continue
		}
		if err := syncDir(dir); err != nil && firstErr == nil {
			firstErr = err
		}
		if err := db.Update(ctx, func(tx *registry.Tx) error {
			_, err := tx.Audit(actor, source, "hold.keys.delete", fmt.Sprintf("hold:%d", id), map[string]any{
				"file": e.Name(), "released": h.Released})
			return err
		}); err != nil && firstErr == nil {
			firstErr = err
		}
		removed = append(removed, id)
	}
	return removed, firstErr
}

// expireBackups removes the nightly registry copies in backup.path that
// DeletableBackup allows, each audited "registry.backup.expire". The
// audit chain's exports and checkpoints elsewhere are not touched.
func (r *Retention) expireBackups(ctx context.Context, now time.Time) ([]string, error) {
	root := r.cfg.Backup.Path
	due, err := r.expiredBackups(now)
	if err != nil {
		return nil, err
	}
	var gone []string
	var firstErr error
	for _, b := range due {
		full, taken := filepath.Join(root, b.name), b.taken
		if err := os.RemoveAll(full); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("backup %s: %w", b.name, err)
			}
			continue
		}
		if err := syncDir(root); err != nil && firstErr == nil {
			firstErr = err
		}
		if err := r.db.Update(ctx, func(tx *registry.Tx) error {
			_, err := tx.Audit(r.actor, r.source, "registry.backup.expire", "registry", map[string]any{
				"dir": full, "taken": taken, "max_age": r.cfg.Retention.MaxAge.String(), "reason": "expired"})
			return err
		}); err != nil && firstErr == nil {
			firstErr = err
		}
		gone = append(gone, b.name)
	}
	return gone, firstErr
}

// backupDir is one registry copy in backup.path: a nightly folder, or a
// loose file from vahti backup --out.
type backupDir struct {
	name  string
	taken time.Time
}

// expiredBackups lists the registry copies in backup.path (nightly
// folders and loose copies) that
// DeletableBackup lets go at now: what expireBackups removes and a dry run
// lists.
func (r *Retention) expiredBackups(now time.Time) ([]backupDir, error) {
	root := r.cfg.Backup.Path
	if root == "" {
		return nil, nil
	}
	es, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backups: %w", err)
	}
	var due []backupDir
	for _, e := range es {
		taken, ok := registry.ParseBackupDirName(e.Name())
		if !ok || !e.IsDir() {
			if taken, ok = looseCopy(root, e); !ok {
				continue
			}
		}
		if ok, _ := DeletableBackup(taken, now, r.cfg.Retention.MaxAge.D()); ok {
			due = append(due, backupDir{e.Name(), taken})
		}
	}
	return due, nil
}

// looseCopy reports whether e, in backup.path, is a registry copy a keeper
// wrote there with `vahti backup --out` (the README's manual and
// before-upgrade copies), and when: its modification time, which nothing
// but Vahti's account can change in that 0700 folder. It holds the same
// keys and register as a nightly copy, so it expires the same way; any
// other file is left alone.
func looseCopy(root string, e fs.DirEntry) (time.Time, bool) {
	if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".tmp") || !registry.IsSQLiteFile(filepath.Join(root, e.Name())) {
		return time.Time{}, false
	}
	st, err := e.Info()
	if err != nil {
		return time.Time{}, false
	}
	return st.ModTime().UTC(), true
}

// removeMissingRows drops the rows of segments whose file vanished behind
// Vahti's back (state missing) once the gate would have let the segment
// go, with their data keys, in one transaction: nothing is left to unlink,
// but the key would open a copy of the file wherever it went, and it
// would keep its day's epoch alive for ever. A file that came back is
// left to reconcile. Audited as "segments.delete" with reason "missing".
func (r *Retention) removeMissingRows(ctx context.Context, now time.Time) (keyTally, error) {
	keys := keyTally{}
	err := r.db.Update(ctx, func(tx *registry.Tx) error {
		segs, err := tx.SegmentsInState(registry.SegmentMissing)
		if err != nil || len(segs) == 0 {
			return err
		}
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		ix := newHoldIndex(holds)
		var gone []registry.Segment
		for _, s := range segs {
			judged := s
			judged.State = registry.SegmentOK // judged by age and holds, as if its file were there
			if ok, _ := Deletable(judged, now, r.cfg.MaxAgeFor(s.Camera), ix.For(s.Camera)); !ok {
				continue
			}
			if fileThere(filepath.Join(r.cfg.Storage.Root, filepath.FromSlash(s.Path))) {
				continue
			}
			if err := tx.DeleteSegmentRow(s.ID); err != nil {
				return err
			}
			gone = append(gone, s)
		}
		if err := destroyKeys(tx, gone, keys); err != nil {
			return err
		}
		return auditDeletions(tx, r.actor, r.source, "missing", gone, keys)
	})
	if err != nil {
		return nil, fmt.Errorf("missing segments: %w", err)
	}
	r.keysErased(keys)
	return keys, nil
}

// jobExpiryBatch bounds the candidates one pass reads.
const jobExpiryBatch = 1000

// expireJobs removes the rows of ended ad-hoc export jobs the job gate
// allows at now, each in its own write transaction that re-reads the job
// and its package and asks the gate again, audited as "job.expire" (no
// cameras, reason or case: those were in the job's own entries).
func (r *Retention) expireJobs(ctx context.Context, now time.Time) (int, error) {
	cands, err := r.jobCandidates(ctx, now)
	if err != nil || len(cands) == 0 {
		return 0, err
	}
	n := 0
	for _, c := range cands {
		err := r.db.Update(ctx, func(tx *registry.Tx) error {
			j, pkg, ok, err := r.jobGate(tx, c.ID, now, nil)
			if err != nil || !ok {
				return err
			}
			gone, err := deleteJob(tx, r.actor, r.source, j, map[string]any{"package_expired": pkg != nil, "max_age": r.cfg.Retention.MaxAge.String()})
			if gone {
				n++
			}
			return err
		})
		if err != nil {
			return n, fmt.Errorf("job %d: expiry: %w", c.ID, err)
		}
	}
	return n, nil
}

// expiringJobs is expireJobs's count for a dry run at now, removing
// nothing. exports are the packages the same pass would remove first, so
// the jobs that made them count as their packages would be gone.
func (r *Retention) expiringJobs(ctx context.Context, now time.Time, exports []registry.Export) (int, error) {
	cands, err := r.jobCandidates(ctx, now)
	if err != nil || len(cands) == 0 {
		return 0, err
	}
	gone := make(map[string]bool, len(exports))
	for _, e := range exports {
		gone[e.ID] = true
	}
	n := 0
	err = r.db.View(ctx, func(tx *registry.Tx) error {
		for _, c := range cands {
			_, _, ok, err := r.jobGate(tx, c.ID, now, gone)
			if err != nil {
				return fmt.Errorf("job %d: expiry: %w", c.ID, err)
			}
			if ok {
				n++
			}
		}
		return nil
	})
	return n, err
}

// jobCandidates reads the ended ad-hoc jobs that may expire at now, at
// most jobExpiryBatch of them.
func (r *Retention) jobCandidates(ctx context.Context, now time.Time) (cands []registry.Job, err error) {
	err = r.db.View(ctx, func(tx *registry.Tx) error {
		cands, err = tx.EndedAdHocJobsBefore(now, jobExpiryBatch)
		return err
	})
	return cands, err
}

// jobGate reads job id and the package it made and asks DeletableJob
// whether the row goes at now. A package named in gone counts as removed
// at now (a dry run's). ok is false, with no error, when the row is
// already gone.
func (r *Retention) jobGate(tx *registry.Tx, id int64, now time.Time, gone map[string]bool) (j registry.Job, pkg *registry.Export, ok bool, err error) {
	j, err = tx.Job(id)
	if errors.Is(err, registry.ErrNotFound) {
		return j, nil, false, nil
	}
	if err != nil {
		return j, nil, false, err
	}
	if j.Package != "" {
		e, err := tx.Export(j.Package)
		switch {
		case errors.Is(err, registry.ErrNotFound):
		case err != nil:
			return j, nil, false, err
		default:
			if gone[e.ID] && e.Deleted.IsZero() {
				e.Deleted = now
			}
			pkg = &e
		}
	}
	ok, _ = DeletableJob(j, now, r.cfg.Retention.MaxAge.D(), pkg, false)
	return j, pkg, ok, nil
}

// expireRequestJobs removes the rows of request q's jobs as the request
// leaves the register (expireRequests, in its transaction). It reports
// false, removing nothing, if one of them is still queued or running: the
// request then stays until the next purge.
func expireRequestJobs(tx *registry.Tx, actor, source string, q registry.Request, now time.Time) (bool, error) {
	js, err := tx.JobsOfRequest(q.ID)
	if err != nil {
		return false, err
	}
	for _, j := range js {
		if ok, _ := DeletableJob(j, now, 0, nil, true); !ok {
			return false, nil
		}
	}
	for _, j := range js {
		if _, err := deleteJob(tx, actor, source, j, map[string]any{"with_request": q.ID}); err != nil {
			return false, err
		}
	}
	return true, nil
}

// deleteJob removes an ended job's row and audits it.
func deleteJob(tx *registry.Tx, actor, source string, j registry.Job, extra map[string]any) (bool, error) {
	gone, err := tx.DeleteJob(j.ID)
	if err != nil || !gone {
		return false, err
	}
	d := map[string]any{"reason": "expired", "kind": j.Kind, "state": j.State, "request": j.RequestID,
		"created": j.Created, "finished": j.Finished, "package": j.Package}
	for k, v := range extra {
		d[k] = v
	}
	_, err = tx.Audit(actor, source, "job.expire", fmt.Sprintf("job:%d", j.ID), d)
	return true, err
}

// destroyKeys deletes the data keys (and held copies) of segs and counts
// those that existed in keys.
func destroyKeys(tx *registry.Tx, segs []registry.Segment, keys keyTally) error {
	at := keysOf(segs)
	had, err := tx.DeleteSegmentKeysAt(at)
	if err != nil {
		return err
	}
	keys.addHad(at, had)
	return nil
}

// keysOf names segs as their data keys are stored.
func keysOf(segs []registry.Segment) []registry.SegmentAt {
	at := make([]registry.SegmentAt, len(segs))
	for i, s := range segs {
		at[i] = registry.SegmentAt{Camera: s.Camera, Start: s.Start}
	}
	return at
}

// addHad counts the segments of at whose key had[i] says existed.
func (k keyTally) addHad(at []registry.SegmentAt, had []bool) {
	for i, h := range had {
		if h {
			k.add(at[i].Camera, at[i].Start, 1)
		}
	}
}
