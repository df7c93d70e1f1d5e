package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"vahti/registry"
)

// A session id is 256 random bits. The registry keeps only its SHA-256, so
// a copy of the database or a backup cannot be replayed as a cookie.
// Sessions live in the registry (registry.Session), not in this process:
// a restart keeps people logged in, and a credential change made anywhere
// (the CLI is another process on the same database) deletes the rows in
// the transaction that makes it, so the next request is refused.
//
// session is the row as read at the start of one request.
type session struct {
	key      string // hex SHA-256 of the id
	userID   int64
	created  time.Time
	lastSeen time.Time
	csrf     string
	reason   string // why the keeper is viewing footage in this session
	flash    string
	totp     string // a second-factor secret being enrolled, not yet confirmed
	keys     string // at login only: what the login did with the footage keys (keyring.go)
}

type sessionStore struct {
	db     *registry.DB
	idle   time.Duration
	maxAge time.Duration
}

// touchEvery bounds how often a session's last use is written: a video
// element's range requests arrive many to the second, and each write is a
// synchronous commit. The idle limit is therefore exact to a second.
const touchEvery = time.Second

func newSessionStore(db *registry.DB, idle, maxAge time.Duration) *sessionStore {
	if idle <= 0 {
		idle = 15 * time.Minute
	}
	if maxAge <= 0 {
		maxAge = 8 * time.Hour
	}
	return &sessionStore{db: db, idle: idle, maxAge: maxAge}
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

func fromRow(r registry.Session) *session {
	return &session{key: r.Key, userID: r.UserID, created: r.Created, lastSeen: r.LastSeen, csrf: r.CSRF,
		reason: r.Reason, flash: r.Flash, totp: r.PendingTOTP}
}

// add stores a new session inside tx (the login's transaction) and returns
// its id (for the cookie only). Expired sessions are removed first.
func (st *sessionStore) add(tx *registry.Tx, userID int64, now time.Time) (string, *session, error) {
	if _, err := tx.DeleteExpiredSessions(now.Add(-st.idle), now.Add(-st.maxAge)); err != nil {
		return "", nil, err
	}
	id := randomToken()
	r := registry.Session{Key: hashToken(id), UserID: userID, Created: now, LastSeen: now, CSRF: randomToken()}
	if err := tx.AddSession(r); err != nil {
		return "", nil, err
	}
	return id, fromRow(r), nil
}

// get returns a live session and marks it used; an expired one is deleted.
// (nil, nil): no such session.
func (st *sessionStore) get(ctx context.Context, id string, now time.Time) (*session, error) {
	if id == "" {
		return nil, nil
	}
	var r registry.Session
	err := st.db.View(ctx, func(tx *registry.Tx) (err error) { r, err = tx.Session(hashToken(id)); return })
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := fromRow(r)
	if st.expired(s, now) {
		return nil, st.delete(ctx, s)
	}
	if now.Sub(s.lastSeen) >= touchEvery {
		if err := st.db.Update(ctx, func(tx *registry.Tx) error { return tx.TouchSession(s.key, now) }); err != nil {
			return nil, err
		}
		s.lastSeen = now
	}
	return s, nil
}

func (st *sessionStore) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) >= st.idle || now.Sub(s.created) >= st.maxAge
}

func (st *sessionStore) delete(ctx context.Context, s *session) error {
	return st.db.Update(ctx, func(tx *registry.Tx) error { return tx.DeleteSession(s.key) })
}

func (st *sessionStore) setReason(ctx context.Context, s *session, reason string) error {
	if err := st.db.Update(ctx, func(tx *registry.Tx) error { return tx.SetSessionReason(s.key, reason) }); err != nil {
		return err
	}
	s.reason = reason
	return nil
}

func (st *sessionStore) reasonOf(s *session) string {
	if s == nil {
		return ""
	}
	return s.reason
}

// firstPlay reports whether a playback range is new in this session, and
// records it. A <video> element asks for the same range many times while
// seeking; one audit entry per range and reason is what a reader wants.
// When the registry cannot answer, the range counts as new: one audit
// entry too many is better than a viewing not recorded.
func (st *sessionStore) firstPlay(ctx context.Context, s *session, key string) bool {
	first := true
	err := st.db.Update(ctx, func(tx *registry.Tx) (err error) { first, err = tx.MarkPlayed(s.key, key); return })
	return err != nil || first
}

// forgetPlay undoes firstPlay when the audit entry could not be written.
func (st *sessionStore) forgetPlay(ctx context.Context, s *session, key string) error {
	return st.db.Update(ctx, func(tx *registry.Tx) error { return tx.UnmarkPlayed(s.key, key) })
}

func (st *sessionStore) setPendingTOTP(ctx context.Context, s *session, secret string) error {
	if err := st.db.Update(ctx, func(tx *registry.Tx) error { return tx.SetSessionPendingTOTP(s.key, secret) }); err != nil {
		return err
	}
	s.totp = secret
	return nil
}

func (st *sessionStore) pendingTOTP(s *session) string {
	if s == nil {
		return ""
	}
	return s.totp
}

func (st *sessionStore) setFlash(ctx context.Context, s *session, msg string) error {
	return st.db.Update(ctx, func(tx *registry.Tx) error { return tx.SetSessionFlash(s.key, msg) })
}

// takeFlash returns the message left for this page and clears it; the
// row read at the start of the request tells whether there is one, so a
// page without a message costs no write.
func (st *sessionStore) takeFlash(ctx context.Context, s *session) string {
	if s.flash == "" {
		return ""
	}
	var msg string
	if err := st.db.Update(ctx, func(tx *registry.Tx) (err error) { msg, err = tx.TakeSessionFlash(s.key); return }); err != nil {
		return ""
	}
	s.flash = ""
	return msg
}
