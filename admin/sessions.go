package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"
)

// A session id is 256 random bits. The store keeps only its SHA-256, so a
// memory dump or a debug print of the map cannot be replayed as a cookie.
type session struct {
	key      string // hex SHA-256 of the id
	userID   int64
	name     string
	created  time.Time
	lastSeen time.Time
	csrf     string
	reason   string          // why the keeper is viewing footage in this session
	played   map[string]bool // playback ranges already audited in this session
	flash    string
	totp     string // a second-factor secret being enrolled, not yet confirmed
}

type sessionStore struct {
	mu     sync.Mutex
	m      map[string]*session
	idle   time.Duration
	maxAge time.Duration
}

func newSessionStore(idle, maxAge time.Duration) *sessionStore {
	if idle <= 0 {
		idle = 15 * time.Minute
	}
	if maxAge <= 0 {
		maxAge = 8 * time.Hour
	}
	return &sessionStore{m: map[string]*session{}, idle: idle, maxAge: maxAge}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the kernel's RNG does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// create starts a session and returns its id (for the cookie only).
func (st *sessionStore) create(userID int64, name string, now time.Time) (string, *session) {
	id := randomToken()
	s := &session{key: hashToken(id), userID: userID, name: name, created: now, lastSeen: now,
		csrf: randomToken(), played: map[string]bool{}}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.gc(now)
	st.m[s.key] = s
	return id, s
}

// get returns a live session and marks it used; expired ones are removed.
func (st *sessionStore) get(id string, now time.Time) (*session, bool) {
	if id == "" {
		return nil, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	k := hashToken(id)
	s, ok := st.m[k]
	if !ok {
		return nil, false
	}
	if st.expired(s, now) {
		delete(st.m, k)
		return nil, false
	}
	s.lastSeen = now
	return s, true
}

func (st *sessionStore) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) >= st.idle || now.Sub(s.created) >= st.maxAge
}

func (st *sessionStore) gc(now time.Time) {
	for k, s := range st.m {
		if st.expired(s, now) {
			delete(st.m, k)
		}
	}
}

func (st *sessionStore) delete(s *session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, s.key)
}

// deleteUser ends every session of an account (disabled, password changed).
func (st *sessionStore) deleteUser(userID int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, s := range st.m {
		if s.userID == userID {
			delete(st.m, k)
		}
	}
}

func (st *sessionStore) setReason(s *session, reason string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.reason = reason
	s.played = map[string]bool{}
}

func (st *sessionStore) reasonOf(s *session) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.reason
}

// firstPlay reports whether a playback range is new in this session, and
// records it. A <video> element asks for the same range many times while
// seeking; one audit entry per range and reason is what a reader wants.
func (st *sessionStore) firstPlay(s *session, key string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.played[key] {
		return false
	}
	s.played[key] = true
	return true
}

// forgetPlay undoes firstPlay when the audit entry could not be written.
func (st *sessionStore) forgetPlay(s *session, key string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(s.played, key)
}

func (st *sessionStore) setPendingTOTP(s *session, secret string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.totp = secret
}

func (st *sessionStore) pendingTOTP(s *session) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.totp
}

func (st *sessionStore) setFlash(s *session, msg string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.flash = msg
}

func (st *sessionStore) takeFlash(s *session) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}
