package admin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

// Keyring is the service's one unlocked site key (seal/DESIGN.md, "Admin"):
// a keeper's login opens it from their wrap, and it stays while a session
// that opened it lives. When the last such session ends (logout, expiry,
// a credential change that ends it, the account disabled) it is wiped, and
// from then on nothing in the process opens a sealed segment until a
// keeper logs in again. The exporter, playback and redaction read through
// its Unwrapper.
//
// A background job a keeper started (admin/jobs: a long export or a
// redaction) holds the key too, as "job:ID" (Keep, Release): the key it
// found open when it started stays open until it ends, fails or is
// cancelled, even if every keeper logs out meanwhile, and the session
// sweep never drops it. While a job holds it, the key opens footage for
// the whole service, as while a keeper is logged in. A job resumed after a
// restart finds no key and waits, queued, until a keeper's login opens it
// (OnOpen wakes the runner).
//
// Sessions live in the registry and survive a restart; the keyring does
// not. A keeper whose session outlived a restart logs in again to open
// footage (the page says so).
type Keyring struct {
	db *registry.DB
	mu sync.Mutex
	// ring is the unlocked site key; nil: locked.
	ring *seal.Keyring
	// last is the ring most recently held, kept only so Wiped can check
	// that its seed was zeroed.
	last *seal.Keyring
	// holders are the sessions (registry keys) whose login opened the key.
	holders map[string]bool
	// jobs are the running jobs ("job:ID") that keep the key open.
	jobs map[string]bool
	// opened are called (each in its own goroutine) when a login opens
	// the key while none was open (OnOpen).
	opened []func()
}

// NewKeyring returns a locked keyring over db's key tables.
func NewKeyring(db *registry.DB) *Keyring {
	return &Keyring{db: db, holders: map[string]bool{}, jobs: map[string]bool{}}
}

// Unwrapper is the seal.Unwrapper every reader of footage in the service
// uses: while locked it fails with mp4read.ErrLocked. Each lookup reads
// the registry as it is now (registry.DB.KeyStore), so a key destroyed by
// a purge is gone for it too.
func (k *Keyring) Unwrapper() seal.Unwrapper {
	store := k.db.KeyStore(context.Background())
	return func(h seal.Header) (*seal.DataKey, error) {
		k.mu.Lock()
		r := k.ring
		k.mu.Unlock()
		if r == nil {
			return nil, mp4read.ErrLocked
		}
		return r.Unwrapper(store)(h) // a Wipe racing this gives seal.ErrWiped, which readers report as locked
	}
}

// Unlocked reports whether the site key is in memory.
func (k *Keyring) Unlocked() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ring != nil
}

// Wiped is the test hook of the key lifecycle: true when no site key is
// in memory, and the last one held had its seed zeroed.
func (k *Keyring) Wiped() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ring == nil && (k.last == nil || k.last.Wiped())
}

// hold keeps r, unlocked by the login of session key. When a key is held
// already (another keeper is logged in) it is the same site key: the new
// copy is wiped at once, so one copy lives in memory.
func (k *Keyring) hold(session string, r *seal.Keyring) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.holders[session] = true
	if k.ring != nil {
		r.Wipe()
		return
	}
	k.ring, k.last = r, r
	for _, fn := range k.opened {
		go fn()
	}
}

// OnOpen has fn called (in its own goroutine) each time a login opens the
// key while none was open: the job runner starts the jobs that wait for
// it, the service seals the keys of holds placed from the command line
// (Use gives fn the key).
func (k *Keyring) OnOpen(fn func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.opened = append(k.opened, fn)
}

// Keep makes holder (a running job, "job:ID") keep the key open until
// Release(holder). It only keeps a key that is open now: false when the
// key is locked (nothing is opened for a job).
func (k *Keyring) Keep(holder string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		return false
	}
	k.jobs[holder] = true
	return true
}

// Release ends holder's keep. When no keeper session and no other job
// holds the key any more, it is wiped; Release reports whether it wiped.
// A keeper session that expired while the job ran is dropped by the next
// sweep (keySweepEvery) as usual.
func (k *Keyring) Release(holder string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.jobs[holder] {
		return false
	}
	delete(k.jobs, holder)
	if len(k.jobs) > 0 || len(k.holders) > 0 || k.ring == nil {
		return false
	}
	k.wipeLocked()
	return true
}

// Use runs fn with the open site key, or fails with mp4read.ErrLocked.
// fn runs without the keyring's lock, so readers are not held up; a
// logout that wipes the key meanwhile makes fn fail with seal.ErrWiped.
func (k *Keyring) Use(fn func(*seal.Keyring) error) error {
	r := k.held()
	if r == nil {
		return mp4read.ErrLocked
	}
	return fn(r)
}

// held returns the held key, or nil.
func (k *Keyring) held() *seal.Keyring {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ring
}

// Wipe zeroes the site key and forgets every holder, jobs included (the
// service is stopping).
func (k *Keyring) Wipe() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.wipeLocked()
}

func (k *Keyring) wipeLocked() {
	if k.ring != nil {
		k.ring.Wipe()
	}
	k.ring = nil
	clear(k.holders)
	clear(k.jobs)
}

// sweep drops the holders whose session is gone or expired (idle, maxAge
// at now) or whose account can no longer open footage, and wipes the key
// when none is left and no job keeps it. It reports whether it wiped. Job
// holders are never dropped here: a job releases its own.
func (k *Keyring) sweep(ctx context.Context, now time.Time, idle, maxAge time.Duration) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ring == nil {
		return false, nil
	}
	var gone []string
	err := k.db.View(ctx, func(tx *registry.Tx) error {
		for key := range k.holders {
			s, err := tx.Session(key)
			if errors.Is(err, registry.ErrNotFound) {
				gone = append(gone, key)
				continue
			}
			if err != nil {
				return err
			}
			if now.Sub(s.LastSeen) >= idle || now.Sub(s.Created) >= maxAge {
				gone = append(gone, key)
				continue
			}
			u, err := tx.User(s.UserID)
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				return err
			}
			if err != nil || u.Disabled || !u.Has(registry.RoleKeeper) {
				gone = append(gone, key)
			}
		}
		return nil
	})
	if err != nil {
		// The registry cannot say who is logged in: fail closed for the
		// sessions. A running job's keep does not depend on sessions.
		clear(k.holders)
		if len(k.jobs) > 0 {
			return false, fmt.Errorf("keyring: reading sessions (sessions dropped; kept for %d running job(s)): %w", len(k.jobs), err)
		}
		k.wipeLocked()
		return true, fmt.Errorf("keyring: reading sessions (key wiped): %w", err)
	}
	for _, key := range gone {
		delete(k.holders, key)
	}
	if len(k.holders) > 0 || len(k.jobs) > 0 {
		return false, nil
	}
	k.wipeLocked()
	return true, nil
}

// keySweepEvery is how often the service looks for keeper sessions that
// expired without a request (a closed laptop): the key outlives its last
// session by at most this long.
const keySweepEvery = 10 * time.Second

// sweepKeys runs the keyring's sweep and audits a wipe.
func (s *Server) sweepKeys(ctx context.Context) {
	wiped, err := s.keys.sweep(ctx, s.now(), s.sessions.idle, s.sessions.maxAge)
	if err != nil {
		s.cfg.Log.Error("admin: keyring", "err", err)
	}
	if wiped {
		s.cfg.Log.Info("keyring wiped: no keeper session left")
		s.auditLog(ctx, "system", "service", "keys.wipe", "keys:site", map[string]any{"why": "no keeper session left"})
	}
}

// runKeySweep sweeps until ctx ends, then wipes: a stopped service holds
// no key.
func (s *Server) runKeySweep(ctx context.Context) {
	t := time.NewTicker(keySweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.keys.Wipe()
			return
		case <-t.C:
			s.sweepKeys(ctx)
		}
	}
}

// Outcomes of opening a keeper's wrap at login.
const (
	keysUnlocked = "unlocked"   // the site key is open
	keysNoGrant  = "no-grant"   // a keeper without a wrap: logs in, opens no footage
	keysNotInit  = "not-sealed" // vahti keys init has not run: nothing is sealed
	keysFailed   = "unopened"   // the wrap did not open with the login password
)

// unlockKeys opens u's wrap with the password that just verified. It is
// the login's second argon2 run (DESIGN.md: accepted).
func (s *Server) unlockKeys(ctx context.Context, u registry.User, password string) (*seal.Keyring, string, error) {
	var site registry.SealSite
	var wrap []byte
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		if site, err = tx.SealSiteKey(); err != nil {
			return err
		}
		wrap, err = tx.KeeperWrap(u.ID)
		return err
	})
	switch {
	case errors.Is(err, registry.ErrNoKeys):
		return nil, keysNotInit, nil
	case errors.Is(err, registry.ErrNotFound):
		return nil, keysNoGrant, nil
	case err != nil:
		return nil, keysFailed, err
	}
	pub, err := seal.ParseSitePublicKey(site.PublicKey)
	if err != nil {
		return nil, keysFailed, err
	}
	r, err := seal.UnlockPassword(pub, wrap, []byte(password))
	if err != nil {
		return nil, keysFailed, err
	}
	return r, keysUnlocked, nil
}

// wrapParams is the argon2 cost of a keeper's wrap: the login hash's.
func (s *Server) wrapParams() seal.Argon2Params {
	p := s.cfg.HashParams
	return seal.Argon2Params{Time: p.Time, Memory: p.Memory, Threads: p.Threads}
}

// grantRing is the keyring a grant by p may use: p must be a keeper who
// holds a wrap of their own (so has footage access to pass on), and the
// key must be open. nil otherwise: the account is made, not granted.
func (s *Server) grantRing(tx *registry.Tx, p *principal) (*seal.Keyring, error) {
	if p == nil || p.token || !p.user.Has(registry.RoleKeeper) {
		return nil, nil
	}
	r := s.keys.held()
	if r == nil {
		return nil, nil
	}
	if _, err := tx.KeeperWrap(p.user.ID); errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return r, nil
}

// sealed reports whether the site keys exist (vahti keys init ran).
func sealed(tx *registry.Tx) (bool, error) {
	_, err := tx.SealSiteKey()
	if errors.Is(err, registry.ErrNoKeys) {
		return false, nil
	}
	return err == nil, err
}
