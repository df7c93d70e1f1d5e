package registry

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Session is a logged-in browser (or API client with a cookie). Key is the
// hex SHA-256 of the cookie value: the registry never holds a value that
// could be replayed as a cookie. Sessions live here, not in the service's
// memory, so a restart keeps people logged in and a credential change made
// by any process (UI, API, CLI) ends them in the same transaction.
type Session struct {
	Key         string
	UserID      int64
	Created     time.Time
	LastSeen    time.Time
	CSRF        string
	Reason      string // why the keeper is viewing footage in this session
	Flash       string // a message for the next page (post/redirect/get)
	PendingTOTP string // a second-factor secret being enrolled, not yet confirmed
}

const sessionCols = `key, user_id, created_ns, last_seen_ns, csrf, reason, flash, pending_totp`

// AddSession stores a new session.
func (tx *Tx) AddSession(s Session) error {
	if s.Key == "" || s.UserID == 0 || s.CSRF == "" {
		return errors.New("session: key, user and CSRF token are required")
	}
	_, err := tx.tx.Exec(`INSERT INTO sessions(`+sessionCols+`) VALUES (?,?,?,?,?,?,?,?)`,
		s.Key, s.UserID, ns(s.Created), ns(s.LastSeen), s.CSRF, s.Reason, s.Flash, s.PendingTOTP)
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// Session returns a session by key.
func (tx *Tx) Session(key string) (Session, error) {
	var s Session
	var created, seen int64
	err := tx.tx.QueryRow(`SELECT `+sessionCols+` FROM sessions WHERE key = ?`, key).Scan(
		&s.Key, &s.UserID, &created, &seen, &s.CSRF, &s.Reason, &s.Flash, &s.PendingTOTP)
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("session: %w", err)
	}
	s.Created, s.LastSeen = fromNS(created), fromNS(seen)
	return s, nil
}

// TouchSession marks a session used at t.
func (tx *Tx) TouchSession(key string, t time.Time) error {
	_, err := tx.tx.Exec(`UPDATE sessions SET last_seen_ns = ? WHERE key = ? AND last_seen_ns < ?`, ns(t), key, ns(t))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// DeleteSession ends one session (logout, expiry).
func (tx *Tx) DeleteSession(key string) error {
	if _, err := tx.tx.Exec(`DELETE FROM sessions WHERE key = ?`, key); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// EndUserSessions ends every session of an account except keep (a key, or
// "" for none) and returns how many ended. UpdateUser calls it whenever a
// credential changes.
func (tx *Tx) EndUserSessions(userID int64, keep string) (int, error) {
	res, err := tx.tx.Exec(`DELETE FROM sessions WHERE user_id = ? AND key != ?`, userID, keep)
	if err != nil {
		return 0, fmt.Errorf("sessions of user %d: %w", userID, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// UserSessions counts the live rows of an account (for tests and reports).
func (tx *Tx) UserSessions(userID int64) (int, error) {
	var n int
	err := tx.tx.QueryRow(`SELECT COUNT(*) FROM sessions WHERE user_id = ?`, userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sessions of user %d: %w", userID, err)
	}
	return n, nil
}

// DeleteExpiredSessions removes sessions last used before idleBefore or
// created before createdBefore. A session holds no footage, so a plain
// DELETE is right here (retention's gate is for footage and packages).
func (tx *Tx) DeleteExpiredSessions(idleBefore, createdBefore time.Time) (int, error) {
	res, err := tx.tx.Exec(`DELETE FROM sessions WHERE last_seen_ns <= ? OR created_ns <= ?`, ns(idleBefore), ns(createdBefore))
	if err != nil {
		return 0, fmt.Errorf("expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SetSessionReason sets the viewing reason; the playback ranges audited
// under the old reason are forgotten, so the next viewing is audited with
// the new one.
func (tx *Tx) SetSessionReason(key, reason string) error {
	if _, err := tx.tx.Exec(`UPDATE sessions SET reason = ? WHERE key = ?`, reason, key); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	if _, err := tx.tx.Exec(`DELETE FROM session_plays WHERE session = ?`, key); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// SetSessionFlash stores a message for the session's next page.
func (tx *Tx) SetSessionFlash(key, msg string) error {
	if _, err := tx.tx.Exec(`UPDATE sessions SET flash = ? WHERE key = ?`, msg, key); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// TakeSessionFlash returns the stored message and clears it.
func (tx *Tx) TakeSessionFlash(key string) (string, error) {
	var msg string
	err := tx.tx.QueryRow(`SELECT flash FROM sessions WHERE key = ?`, key).Scan(&msg)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	if msg == "" {
		return "", nil
	}
	if _, err := tx.tx.Exec(`UPDATE sessions SET flash = '' WHERE key = ?`, key); err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	return msg, nil
}

// SetSessionPendingTOTP stores (or with "" clears) a second-factor secret
// being enrolled in this session.
func (tx *Tx) SetSessionPendingTOTP(key, secret string) error {
	if _, err := tx.tx.Exec(`UPDATE sessions SET pending_totp = ? WHERE key = ?`, secret, key); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// MarkPlayed records that a playback range (any string naming range and
// reason) has been audited in a session; it reports whether it is new.
func (tx *Tx) MarkPlayed(key, rangeKey string) (bool, error) {
	res, err := tx.tx.Exec(`INSERT OR IGNORE INTO session_plays(session, range_hash) VALUES (?,?)`, key, playHash(rangeKey))
	if err != nil {
		return false, fmt.Errorf("session: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UnmarkPlayed undoes MarkPlayed (the audit entry could not be written).
func (tx *Tx) UnmarkPlayed(key, rangeKey string) error {
	if _, err := tx.tx.Exec(`DELETE FROM session_plays WHERE session = ? AND range_hash = ?`, key, playHash(rangeKey)); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// playHash keeps the stored row small whatever the reason's length.
func playHash(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}
