package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"vahti/registry"

	"github.com/gin-gonic/gin"
)

// What an unauthenticated client can make the service do is bounded here:
// how many argon2 runs happen at once (each takes 64 MiB), how many guesses
// one source gets at one account and in all, and how many audit entries a
// refused source writes. The counts are in memory, so a restart lifts
// throttles and lockouts; the users table keeps the latest lock of each
// account for an administrator to see (`locked_until`) and to lift.
const (
	// maxLoginName is the user-name rule's length; a longer name is no
	// account and is never looked up.
	maxLoginName = registry.MaxUserName
	// loginBodyLimit bounds a login request body (JSON or form): a name,
	// a password, a code and a CSRF token fit many times over.
	loginBodyLimit = 4 << 10
	// maxConcurrentHashes is how many argon2 runs (64 MiB each) may run
	// at once; one more login is answered 429 at once, not queued.
	maxConcurrentHashes = 2
	// maxTrackedSources bounds the limiter's memory. A shelter's LAN has
	// far fewer hosts; past it, a new source is refused as throttled.
	maxTrackedSources = 4096
	// unknownTagLen is how many hex digits of a keyed hash name a login
	// name that is no account, in the audit log and the system log.
	unknownTagLen = 8
)

// refusal is why an attempt was not admitted to the password check.
type refusal int

const (
	admitted  refusal = iota
	throttled         // the source made too many failed logins in the window
	locked            // this account is locked for this source
)

// loginLimits counts failed logins per source address and per account
// and source, and reserves an attempt's slot BEFORE its password hash is
// computed: a burst of parallel attempts gets exactly as many guesses as
// sequential ones.
type loginLimits struct {
	mu        sync.Mutex
	perPair   int           // failures of one account from one source before it locks
	perSource int           // failures from one source, any accounts, before it is throttled
	window    time.Duration // the counting window, the lockout and the throttle period
	sources   map[string]*sourceState
	pairs     map[pairKey]*pairState
	gcAt      int

	hashes   chan struct{} // the argon2 semaphore
	hashRuns atomic.Int64  // argon2 runs started, for tests
	hashing  atomic.Int64  // argon2 runs now
	peak     atomic.Int64  // most argon2 runs at once, for tests

	tagKey []byte // keys the hash naming unknown login names; new per process
}

type sourceState struct {
	fails      []time.Time
	inflight   int
	audited    time.Time // last audit entry for a refused attempt
	suppressed int       // refused attempts not audited since
}

type pairKey struct{ account, source string }

type pairState struct {
	fails       []time.Time
	inflight    int
	lockedUntil time.Time
	recorded    bool // the lock is in the users table, where `user enable` can lift it
}

func newLoginLimits(perPair int, window time.Duration) *loginLimits {
	if perPair <= 0 {
		perPair = 5
	}
	if window <= 0 {
		window = 15 * time.Minute
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the kernel's RNG does not fail on Linux
	}
	return &loginLimits{
		perPair: perPair, perSource: 4 * perPair, window: window,
		sources: map[string]*sourceState{}, pairs: map[pairKey]*pairState{}, gcAt: 256,
		hashes: make(chan struct{}, maxConcurrentHashes), tagKey: key,
	}
}

// unknownLabel is how the logs name a login name that is no account:
// "unknown:" and a short keyed hash. The same mistyped name gets the same
// label until the service restarts, so a reader can tell one guesser
// from many, but a password typed into the name field is not kept.
func (l *loginLimits) unknownLabel(name string) string {
	m := hmac.New(sha256.New, l.tagKey)
	m.Write([]byte(name))
	return "unknown:" + hex.EncodeToString(m.Sum(nil))[:unknownTagLen]
}

// sourceOf is the throttle key of a client address: the address for IPv4,
// its /64 for IPv6 (one host can pick any address in its /64).
func sourceOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

func within(ts []time.Time, now time.Time, d time.Duration) []time.Time {
	keep := ts[:0]
	for _, t := range ts {
		if now.Sub(t) < d {
			keep = append(keep, t)
		}
	}
	return keep
}

// loginAttempt is an admitted attempt; it holds one reserved failure
// slot of its source and of its account from that source until it ends
// with failed, succeeded or cancel.
type loginAttempt struct {
	l    *loginLimits
	key  pairKey
	done bool
}

// admit reserves slots for one attempt at account from source, or says
// why not. A lock comes with its end and whether it is recorded in the
// users table yet (only a recorded lock can have been lifted there).
func (l *loginLimits) admit(account, source string, now time.Time) (*loginAttempt, refusal, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gc(now)
	src := l.sources[source]
	if src == nil {
		if len(l.sources) >= maxTrackedSources {
			return nil, throttled, time.Time{}, false
		}
		src = &sourceState{}
		l.sources[source] = src
	}
	src.fails = within(src.fails, now, l.window)
	key := pairKey{account, source}
	pr := l.pairs[key]
	if pr != nil && now.Before(pr.lockedUntil) {
		return nil, locked, pr.lockedUntil, pr.recorded
	}
	if len(src.fails)+src.inflight >= l.perSource {
		return nil, throttled, time.Time{}, false
	}
	if pr == nil {
		pr = &pairState{}
		l.pairs[key] = pr
	}
	pr.fails = within(pr.fails, now, l.window)
	if len(pr.fails)+pr.inflight >= l.perPair {
		// Enough guesses are already in flight to lock the account if
		// they fail: this one waits for their outcome by trying again.
		return nil, locked, time.Time{}, false
	}
	src.inflight++
	pr.inflight++
	return &loginAttempt{l: l, key: key}, admitted, time.Time{}, false
}

// recorded notes that the lock ending at until is in the users table.
func (l *loginLimits) recorded(account, source string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pr := l.pairs[pairKey{account, source}]; pr != nil && pr.lockedUntil.Equal(until) {
		pr.recorded = true
	}
}

// lift forgets the lock ending at until: the users table, read after the
// lock was recorded there, no longer has it (`user enable`).
func (l *loginLimits) lift(account, source string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pr := l.pairs[pairKey{account, source}]; pr != nil && pr.lockedUntil.Equal(until) {
		pr.lockedUntil, pr.fails, pr.recorded = time.Time{}, nil, false
	}
}

// release gives back the reserved slots.
func (a *loginAttempt) release() (*sourceState, *pairState) {
	src, pr := a.l.sources[a.key.source], a.l.pairs[a.key]
	if a.done {
		return nil, nil
	}
	a.done = true
	src.inflight--
	pr.inflight--
	return src, pr
}

// failed counts the attempt as a failed login. It returns when the
// account is now locked for this source, zero if it is not.
func (a *loginAttempt) failed(now time.Time) time.Time {
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	src, pr := a.release()
	if src == nil {
		return time.Time{}
	}
	src.fails = append(src.fails, now)
	pr.fails = append(pr.fails, now)
	if len(pr.fails) >= a.l.perPair {
		pr.fails, pr.lockedUntil, pr.recorded = nil, now.Add(a.l.window), false
		return pr.lockedUntil
	}
	return time.Time{}
}

// succeeded ends the attempt; the account's failures from this source are
// forgotten (the source's are not: it may be walking through accounts).
func (a *loginAttempt) succeeded() {
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	if _, pr := a.release(); pr != nil {
		pr.fails = nil
	}
}

// cancel ends an attempt that checked no password (the service was busy).
func (a *loginAttempt) cancel() {
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	a.release()
}

// auditRefusal reports whether a refused attempt from source is written
// to the audit log: at most one per source per window, carrying how many
// refusals went unrecorded before it.
func (l *loginLimits) auditRefusal(source string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	src := l.sources[source]
	if src == nil { // not tracked: the limiter is full
		return false, 0
	}
	if !src.audited.IsZero() && now.Sub(src.audited) < l.window {
		src.suppressed++
		return false, 0
	}
	n := src.suppressed
	src.audited, src.suppressed = now, 0
	return true, n
}

// tryHash takes an argon2 slot without waiting.
func (l *loginLimits) tryHash() bool {
	select {
	case l.hashes <- struct{}{}:
		l.hashRuns.Add(1)
		n := l.hashing.Add(1)
		for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
		}
		return true
	default:
		return false
	}
}

func (l *loginLimits) hashDone() {
	l.hashing.Add(-1)
	<-l.hashes
}

// gc forgets what no longer counts, once the maps have doubled since the
// last time, so a flood of sources costs amortised constant work.
func (l *loginLimits) gc(now time.Time) {
	if len(l.sources)+len(l.pairs) < l.gcAt {
		return
	}
	for k, p := range l.pairs {
		p.fails = within(p.fails, now, l.window)
		if len(p.fails) == 0 && p.inflight == 0 && !now.Before(p.lockedUntil) {
			delete(l.pairs, k)
		}
	}
	for k, s := range l.sources {
		s.fails = within(s.fails, now, l.window)
		if len(s.fails) == 0 && s.inflight == 0 && now.Sub(s.audited) >= l.window {
			delete(l.sources, k)
		}
	}
	l.gcAt = max(256, 2*(len(l.sources)+len(l.pairs)))
}

// retryAfter is the Retry-After header's seconds for a throttled source.
func (l *loginLimits) retryAfter() string {
	return strconv.Itoa(int(l.window / time.Second))
}

const loginTooLarge = "login request too large (at most 4 KiB)"

// limitLoginBody refuses a login body over loginBodyLimit before anything
// reads it, and bounds what is read when the length is not announced.
func (s *Server) limitLoginBody(api bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		refuse := func() {
			c.Header("Connection", "close")
			if api {
				jsonError(c, http.StatusRequestEntityTooLarge, loginTooLarge)
				return
			}
			s.renderError(c, http.StatusRequestEntityTooLarge, "error.toolarge")
		}
		if c.Request.ContentLength > loginBodyLimit {
			refuse()
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, loginBodyLimit)
		if !api {
			// Parse the form here, where a too-large body has an answer;
			// gin's PostForm would swallow the error and log in with "".
			if err := c.Request.ParseForm(); err != nil {
				var big *http.MaxBytesError
				if errors.As(err, &big) {
					refuse()
					return
				}
			}
		}
		c.Next()
	}
}

// retryAfter tells a refused client when to try again.
func (s *Server) retryAfter(c *gin.Context, err error) {
	if errors.Is(err, errBusy) {
		c.Header("Retry-After", "1")
		return
	}
	c.Header("Retry-After", s.limits.retryAfter())
}
