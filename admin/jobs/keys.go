package jobs

import (
	"context"
	"errors"
	"fmt"

	"vahti/registry"
)

// Keys is the service's keyring as the runner uses it (admin.Keyring):
// with sealed footage a job reads through the site key a keeper's login
// opened, and a job a keeper started keeps it open until it ends.
type Keys interface {
	// Unlocked reports whether the site key is open now.
	Unlocked() bool
	// Keep makes holder keep the open key until Release; false: locked.
	Keep(holder string) bool
	// Release ends holder's keep; true if that wiped the key (no keeper
	// session and no other job held it).
	Release(holder string) bool
	// OnOpen has fn called whenever a login opens the key.
	OnOpen(fn func())
}

// WaitingForKeys is the status text of a queued job that needs the
// footage keys while none is open (typically one resumed after a
// restart): it starts when a keeper logs in.
const WaitingForKeys = "waiting for a keeper to log in to open the footage keys"

// holder is job j's name among the keyring's holders.
func holder(id int64) string { return fmt.Sprintf("job:%d", id) }

// needsKeys reports whether jobs here need the site key: the site keys
// exist (vahti keys init ran), so footage may be sealed. Without a keyring
// (plain footage only, or a test) nothing waits.
func (r *Runner) needsKeys(ctx context.Context) (bool, error) {
	if r.Keys == nil {
		return false, nil
	}
	var sealed bool
	err := r.DB.View(ctx, func(tx *registry.Tx) error {
		_, err := tx.SealSiteKey()
		if errors.Is(err, registry.ErrNoKeys) {
			return nil
		}
		sealed = err == nil
		return err
	})
	return sealed, err
}

// startedByKeeper reports whether j's creator is an enabled keeper now:
// only a keeper's job keeps the key open past their session.
func (r *Runner) startedByKeeper(ctx context.Context, j registry.Job) bool {
	var ok bool
	_ = r.DB.View(ctx, func(tx *registry.Tx) error {
		u, err := tx.UserByName(j.CreatedBy)
		ok = err == nil && !u.Disabled && u.Has(registry.RoleKeeper)
		return nil
	})
	return ok
}

// takeKeys decides whether job j may start now. With sealed footage: a
// keeper's job keeps the open key (audited keys.keep) and starts; with no
// key open, any job waits, queued, with WaitingForKeys as its status
// (audited job.wait once). kept says whether the job must Release.
func (r *Runner) takeKeys(ctx context.Context, j registry.Job) (start, kept bool) {
	need, err := r.needsKeys(ctx)
	if err != nil {
		r.log().Warn("jobs: reading the site keys", "job", j.ID, "err", err)
		return false, false
	}
	if !need {
		return true, false
	}
	if r.startedByKeeper(ctx, j) && r.Keys.Keep(holder(j.ID)) {
		if err := r.audit(ctx, j.CreatedBy, j.Source, "keys.keep", holder(j.ID), map[string]any{"kind": j.Kind, "request": j.RequestID}); err != nil {
			r.Keys.Release(holder(j.ID)) // not kept unless audited; the next pass tries again
			return false, false
		}
		return true, true
	}
	if r.Keys.Unlocked() {
		return true, false // not a keeper's: reads while a keeper is logged in
	}
	err = r.DB.Update(ctx, func(tx *registry.Tx) error {
		changed, err := tx.SetJobWaiting(j.ID, WaitingForKeys)
		if err != nil || !changed {
			return err
		}
		_, err = tx.Audit("system", "service", "job.wait", holder(j.ID), map[string]any{"kind": j.Kind, "request": j.RequestID, "why": WaitingForKeys})
		return err
	})
	if err != nil && ctx.Err() == nil {
		r.log().Warn("jobs: marking a job waiting", "job", j.ID, "err", err)
	}
	return false, false
}

// releaseKeys ends job j's keep (why: done, failed, cancelled, stopped)
// and audits it, and the wipe when it was the key's last holder.
func (r *Runner) releaseKeys(ctx context.Context, j registry.Job, why string) {
	wiped := r.Keys.Release(holder(j.ID))
	r.audit(ctx, j.CreatedBy, j.Source, "keys.release", holder(j.ID), map[string]any{"why": why, "wiped": wiped})
	if wiped {
		r.log().Info("keyring wiped: job ended and no keeper session left", "job", j.ID)
		r.audit(ctx, "system", "service", "keys.wipe", "keys:site", map[string]any{"why": fmt.Sprintf("job %d ended; no keeper session left", j.ID)})
	}
}

func (r *Runner) audit(ctx context.Context, actor, source, kind, object string, details map[string]any) error {
	err := r.DB.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit(actor, source, kind, object, details)
		return err
	})
	if err != nil {
		r.log().Error("jobs: audit", "kind", kind, "object", object, "err", err)
	}
	return err
}
