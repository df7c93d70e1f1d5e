package retention

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"vahti/registry"
)

// Meta keys kept in the registry so a restart remembers them.
const (
	metaLastSeen    = "retention.last_seen_ns"     // latest clock reading seen by a pass
	metaLastPass    = "retention.last_pass_ns"     // clock reading of the last deleting pass
	metaLastNightly = "retention.last_nightly_ns"  // clock reading of the last nightly purge
	metaLastReport  = "retention.last_report"      // file name of the last purge report
	metaMismatch    = "retention.catalog_mismatch" // the catalog/disk interlock's message while tripped
)

// clockJumpLimit: a clock reading this far after the last one seen is
// treated as a wrong clock, not as time passing, and pauses deletion until
// an operator confirms with `vahti purge --force`. A box that was really
// off this long gets the same alarm; keeping footage a little longer is
// the recoverable error, destroying it early is not.
const clockJumpLimit = 24 * time.Hour

// sweepBatch bounds how many rows one write transaction claims, so the
// recorder's inserts never wait long for the write lock (Retention.batch;
// tests make it small).
const sweepBatch = 5000

// plan is what one pass would destroy at a given instant.
type plan struct {
	at      time.Time
	segs    []registry.Segment // the gate allows each
	held    int                // expired but kept by a hold
	exports []registry.Export
	heldExp int
	total   int64 // catalogued segments in state ok (only counted when segs is not empty)
}

// minMaxAge is the shortest retention of any camera: candidates are read
// with its cutoff and each is then judged with its own camera's max age.
func (r *Retention) minMaxAge() time.Duration {
	m := r.cfg.Retention.MaxAge.D()
	for _, c := range r.cfg.Cameras {
		m = min(m, r.cfg.MaxAgeFor(c.ID))
	}
	return m
}

// planPass reads the candidates (end <= at - shortest max age, through the
// end_ns index, so the cost follows what expires) and asks the gate.
func (r *Retention) planPass(ctx context.Context, at time.Time) (plan, error) {
	p := plan{at: at}
	err := r.db.View(ctx, func(tx *registry.Tx) error {
		cands, err := tx.ExpiryCandidates(at.Add(-r.minMaxAge()), 0)
		if err != nil {
			return err
		}
		exps, err := tx.Exports()
		if err != nil {
			return err
		}
		if len(cands) == 0 && len(exps) == 0 {
			return nil
		}
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		ix := newHoldIndex(holds)
		for _, s := range cands {
			ok, why := Deletable(s, at, r.cfg.MaxAgeFor(s.Camera), ix.For(s.Camera))
			switch {
			case ok:
				p.segs = append(p.segs, s)
			case why == WhyHeld:
				p.held++
			}
		}
		for _, e := range exps {
			ok, why := DeletableExport(e, at, r.exportMaxAge(e), holds)
			switch {
			case ok:
				p.exports = append(p.exports, e)
			case why == WhyHeld:
				p.heldExp++
			}
		}
		if len(p.segs) > 0 {
			if p.total, err = tx.CountOK(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("plan: %w", err)
	}
	return p, nil
}

// verdict is the interlocks' answer for a pass.
type verdict struct {
	refused  []string // alarm kinds that stop the pass
	messages map[string]string
}

func (v *verdict) refuse(kind, msg string) {
	v.refused = append(v.refused, kind)
	if v.messages == nil {
		v.messages = map[string]string{}
	}
	v.messages[kind] = msg
}

// interlocks judges a plan made at now. It has no side effects.
func (r *Retention) interlocks(ctx context.Context, now time.Time, p plan) (verdict, map[string]string, error) {
	var v verdict
	warn := map[string]string{}
	var lastSeen, lastPass time.Time
	var mismatch string
	err := r.db.View(ctx, func(tx *registry.Tx) error {
		var err error
		if lastSeen, err = metaTime(tx, metaLastSeen); err != nil {
			return err
		}
		if mismatch, err = tx.Meta(metaMismatch); err != nil {
			return err
		}
		if fresh, err := tx.Meta(metaNewRegistry); err != nil {
			return err
		} else if fresh != "" {
			mismatch = fresh
		}
		lastPass, err = metaTime(tx, metaLastPass)
		return err
	})
	if err != nil {
		return v, warn, err
	}
	if !lastSeen.IsZero() {
		switch {
		case now.After(lastSeen.Add(clockJumpLimit)):
			v.refuse(AlarmClockJump, fmt.Sprintf("clock reads %s, %s after the last time seen (%s): deletion paused; if the time is right, confirm with `vahti purge --force`",
				now.Format(time.RFC3339), now.Sub(lastSeen).Round(time.Second), lastSeen.Format(time.RFC3339)))
		case now.Before(lastSeen.Add(-time.Minute)):
			warn[AlarmClockBackwards] = fmt.Sprintf("clock reads %s, %s before the last time seen (%s); nothing is deleted early, footage may be kept longer",
				now.Format(time.RFC3339), lastSeen.Sub(now).Round(time.Second), lastSeen.Format(time.RFC3339))
		}
	}
	// Kept in the registry, so a CLI purge in another process sees what
	// the service's nightly check found.
	if mismatch != "" {
		v.refuse(AlarmCatalogMismatch, mismatch)
	}
	if len(p.segs) > 0 && p.total > 0 {
		frac := float64(len(p.segs)) / float64(p.total)
		// Expected: what ended since the last pass. Twice that, or the
		// configured fraction if larger, is allowed; a config with a short
		// max_age and a long sweep interval would otherwise always trip.
		since := r.cfg.Retention.SweepInterval.D()
		if !lastPass.IsZero() && now.After(lastPass) {
			since = now.Sub(lastPass)
		}
		expected := float64(since) / float64(r.minMaxAge())
		allowed := max(r.cfg.Retention.MaxDeleteFraction, 2*expected)
		if frac > allowed {
			v.refuse(AlarmDeleteFraction, fmt.Sprintf("one pass would delete %d of %d catalogued segments (%.1f%%, allowed %.1f%%): deletion paused; check the clock and the config, then confirm with `vahti purge --force`",
				len(p.segs), p.total, 100*frac, 100*allowed))
		}
	}
	return v, warn, nil
}

// pass runs one deleting pass at now: plan, interlocks, destroy. force
// overrides the interlocks (an operator confirmed). reason is recorded.
func (r *Retention) pass(ctx context.Context, now time.Time, force bool, reason string) (Report, error) {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	rep := Report{Time: now, At: now, Forced: force}
	p, err := r.planPass(ctx, now)
	if err != nil {
		return rep, err
	}
	v, warn, err := r.interlocks(ctx, now, p)
	if err != nil {
		return rep, err
	}
	for kind, msg := range warn {
		r.raise(ctx, kind, msg, true)
	}
	if _, back := warn[AlarmClockBackwards]; !back {
		r.clear(AlarmClockBackwards)
	}
	rep.HeldKept, rep.HeldExports = p.held, p.heldExp
	if len(v.refused) > 0 && !force {
		for _, kind := range v.refused {
			r.raise(ctx, kind, v.messages[kind], true)
		}
		rep.Refused, rep.Messages = v.refused, v.messages
		r.update(func(s *Status) { s.LastSweep, s.LastSweepCount = now, 0 })
		for _, k := range []string{AlarmClockJump, AlarmDeleteFraction, AlarmCatalogMismatch} {
			if !contains(v.refused, k) {
				r.clear(k)
			}
		}
		return rep, nil
	}
	if force {
		err := r.db.Update(ctx, func(tx *registry.Tx) error {
			if err := tx.SetMeta(metaMismatch, ""); err != nil {
				return err
			}
			if err := tx.SetMeta(metaNewRegistry, ""); err != nil {
				return err
			}
			_, err := tx.Audit(r.actor, r.source, "retention.force", "retention", map[string]any{
				"overridden": v.refused, "would_delete": len(p.segs), "catalogued": p.total})
			return err
		})
		if err != nil {
			return rep, err
		}
		for _, k := range []string{AlarmClockJump, AlarmDeleteFraction, AlarmCatalogMismatch, AlarmClockBackwards} {
			r.clear(k)
		}
	} else {
		r.clear(AlarmClockJump)
		r.clear(AlarmDeleteFraction)
		r.clear(AlarmCatalogMismatch)
	}
	del, keys, firstErr := r.removeSegments(ctx, now, r.cfg.MaxAgeFor, p.segs, reason)
	rep.addSegments(del)
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if len(p.exports) > 0 {
		ids := make([]string, len(p.exports))
		for i, e := range p.exports {
			ids[i] = e.ID
		}
		gone, err := r.removeExports(ctx, now, ids)
		rep.addExports(gone)
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	rep.KeysDestroyed = keys.list()
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	// Rows of ended ad-hoc export jobs whose package went, or that made
	// none (remove.go, DeletableJob).
	jobs, err := r.expireJobs(ctx, now)
	keep(err)
	rep.JobsExpired = jobs
	// The second erasure layer, the held footage's key files of released
	// holds, and expired registry backups (remove.go, erase.go).
	days, err := r.destroyEpochs(ctx, now)
	keep(err)
	rep.EpochsDestroyed = days
	r.checkpoint(ctx, now, false)
	files, err := RemoveReleasedHoldKeys(ctx, r.db, r.cfg.StateDir, r.actor, r.source, r.log)
	keep(err)
	rep.HoldKeyFilesRemoved = files
	backups, err := r.expireBackups(ctx, now)
	keep(err)
	rep.BackupsExpired = backups
	// Remember the clock: a forced pass accepts now even if it went back.
	err = r.db.Update(ctx, func(tx *registry.Tx) error {
		seen, err := metaTime(tx, metaLastSeen)
		if err != nil {
			return err
		}
		if force || now.After(seen) {
			if err := setMetaTime(tx, metaLastSeen, now); err != nil {
				return err
			}
		}
		return setMetaTime(tx, metaLastPass, now)
	})
	if err != nil && firstErr == nil {
		firstErr = err
	}
	r.update(func(s *Status) { s.LastSweep, s.LastSweepCount = now, len(rep.Segments) })
	if firstErr != nil {
		r.raise(ctx, AlarmError, firstErr.Error(), false)
	} else {
		r.clear(AlarmError)
	}
	return rep, firstErr
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func metaTime(tx *registry.Tx, key string) (time.Time, error) {
	v, err := tx.Meta(key)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("meta %s: %w", key, err)
	}
	return time.Unix(0, n).UTC(), nil
}

func setMetaTime(tx *registry.Tx, key string, t time.Time) error {
	return tx.SetMeta(key, strconv.FormatInt(t.UnixNano(), 10))
}

// sortSegments orders by camera, then start.
func sortSegments(s []registry.Segment) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Camera != s[j].Camera {
			return s[i].Camera < s[j].Camera
		}
		return s[i].Start.Before(s[j].Start)
	})
}
