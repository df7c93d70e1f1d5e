package retention

import (
	"context"
	"fmt"
	"time"

	"vahti/registry"
)

// Run finishes deletions a crash interrupted, then runs the disk guard
// (every GuardInterval and on RequestDiskCheck), the sweeper (every
// retention.sweep_interval) and the nightly purge (at nightly_purge_at in
// retention.timezone, or at once if the last one was missed) until ctx
// ends. Errors of single passes raise alarms and are retried; Run returns
// only when ctx ends or the startup recovery fails.
func (r *Retention) Run(ctx context.Context) error {
	// A stop during start-up is a clean stop, not a failed recovery: the
	// rows stay doomed and the next start finishes them.
	if _, err := r.finishDoomed(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("retention: finish interrupted deletions: %w", err)
	}
	var lastNightly time.Time
	if err := r.db.View(ctx, func(tx *registry.Tx) error {
		var err error
		lastNightly, err = metaTime(tx, metaLastNightly)
		return err
	}); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("retention: %w", err)
	}
	loc, at := r.cfg.Location(), r.nightlyAt()
	// The very first start has missed nothing: the schedule counts from
	// now and the first nightly purge runs at the next slot.
	schedFrom := lastNightly
	if schedFrom.IsZero() {
		schedFrom = r.now().UTC()
	}
	// A missed nightly purge (box was off) runs a little after start, not
	// in the same second as the recorder's own start-up recovery and
	// reconcile. Real elapsed time: a scheduling delay, not a decision
	// about footage.
	started := time.Now()
	sweepEvery := r.cfg.Retention.SweepInterval.D()
	tick := min(r.guardT, sweepEvery, time.Second*5)
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastGuard, lastSweep time.Time
	for {
		now := r.now().UTC()
		r.update(func(s *Status) {
			s.LastNightly, s.NextNightly = lastNightly, nextNightly(now, schedFrom, loc, at).UTC()
		})
		if lastGuard.IsZero() || now.Sub(lastGuard) >= r.guardT || now.Before(lastGuard) {
			r.CheckDisk(ctx) // errors are alarms
			lastGuard = now
		}
		if lastSweep.IsZero() || now.Sub(lastSweep) >= sweepEvery || now.Before(lastSweep) {
			if _, err := r.pass(ctx, now, false, "expired"); err != nil && ctx.Err() == nil {
				r.log.Error("retention sweep", "err", err)
			}
			lastSweep = now
		}
		if nightlyDue(now, schedFrom, loc, at) && time.Since(started) >= r.nightlyGrace {
			if _, err := r.Nightly(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("nightly purge", "err", err)
				r.raise(ctx, AlarmError, "nightly purge: "+err.Error(), false)
			}
			lastNightly, schedFrom = now, now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.kick:
			lastGuard = time.Time{}
		}
	}
}

// Recover finishes deletions a crash interrupted (rows left "doomed"),
// re-asking the gate first. Run does this at start; call it only when no
// other Vahti process is deleting (e.g. holding the state-dir lock).
func (r *Retention) Recover(ctx context.Context) (int, error) {
	return r.finishDoomed(ctx)
}

// RequestDiskCheck asks Run to run the disk guard at once (e.g. the
// recorder got ENOSPC). It never blocks.
func (r *Retention) RequestDiskCheck() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}
