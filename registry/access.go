package registry

// access.go holds what is particular to a data subject's right of access
// (GDPR art. 15): the statutory deadline, its extension, the keyed hash
// that tells whether a request is the requester's free one of the year,
// viewing the footage on site, and the expiry of a closed request.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// MaxExtensionMonths is how far GDPR art. 12(3) lets the answer to an
// access request be put off beyond its first month, in total.
const MaxExtensionMonths = 2

// FreeWindow is the rolling window of "free once a year": a request is the
// requester's free one when no access request with the same identifying
// key was received in the 365 days before it.
const FreeWindow = 365 * 24 * time.Hour

// AccessDeadline is the answer's deadline of an access request received at
// received, months months on (1 without extension), in the calendar of
// loc (nil: UTC). The rule is Regulation 1182/71 art. 3(2)(c), which GDPR
// periods follow: a period of months ends at the end of the day with the
// same date in the last month, or, if that month has no such date, at the
// end of its last day. So 31 January ends 28 February (29 in a leap year),
// 31 March ends 30 April, 15 November ends 15 December. The end of a day
// is 23:59:59 local time.
func AccessDeadline(received time.Time, months int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	r := received.In(loc)
	y, m, d := r.Date()
	first := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, loc) // normalised month
	last := time.Date(first.Year(), first.Month()+1, 0, 0, 0, 0, 0, loc).Day()
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, 23, 59, 59, 0, loc).UTC()
}

// SubjectSecretFile is the per-install key of the identifying-key hash,
// relative to state_dir. It is kept out of the database on purpose: a
// copy of registry.db (a backup) alone does not let anyone test names and
// dates of birth against the register.
const SubjectSecretFile = "keys/subject_hmac"

// LoadOrCreateSubjectSecret returns the install's 32-byte key for
// SubjectHash, creating it (mode 0600) at first use.
func LoadOrCreateSubjectSecret(stateDir string) ([]byte, error) {
	p := filepath.Join(stateDir, filepath.FromSlash(SubjectSecretFile))
	for attempt := 0; ; attempt++ {
		b, err := os.ReadFile(p)
		if err == nil {
			key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
			if derr == nil && len(key) == 32 {
				return key, nil
			}
			if attempt < 20 { // another process may be writing it this instant
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return nil, fmt.Errorf("subject key %s: not 32 hex-encoded bytes; restore it from the backup of state_dir (a new key would unlink every earlier request)", p)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("subject key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, fmt.Errorf("subject key: %w", err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("subject key: %w", err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, PrivateFileMode)
		if errors.Is(err, os.ErrExist) {
			continue // lost the race: read the winner's
		}
		if err != nil {
			return nil, fmt.Errorf("subject key: %w", err)
		}
		_, err = f.WriteString(hex.EncodeToString(key) + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("subject key %s: %w", p, err)
		}
		return key, nil
	}
}

// NormaliseSubjectKey is the form of an identifying key that is hashed:
// Unicode NFC (an "ä" typed as one or two code points is the same), lower
// case, runs of white space as one space, none at the ends.
func NormaliseSubjectKey(key string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFC.String(key))), " ")
}

// SubjectHash is the keyed hash (HMAC-SHA256 under the install's secret)
// of an identifying key, hex; "" for an empty key. Only this is stored.
func SubjectHash(secret []byte, key string) string {
	k := NormaliseSubjectKey(key)
	if k == "" {
		return ""
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("vahti-subject\x00" + k))
	return hex.EncodeToString(m.Sum(nil))
}

// RefHash is the keyed hash of a request's reference that an expired
// disclosure-log entry keeps instead of the request: the keeper who knows
// the reference can still find the entry; nobody else can read it.
func RefHash(secret []byte, reference string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("vahti-reference\x00" + strings.TrimSpace(reference)))
	return hex.EncodeToString(m.Sum(nil))
}

// EarlierAccessRequests counts the access requests with q's identifying
// key received in the FreeWindow before q (q itself excluded): 0 means q
// is the requester's free request of the last 12 months. A request
// without a recorded key gives -1 (unknown).
func (tx *Tx) EarlierAccessRequests(q Request) (int, error) {
	if q.SubjectHash == "" {
		return -1, nil
	}
	r := ns(q.Received)
	var n int
	err := tx.tx.QueryRow(`SELECT count(*) FROM requests WHERE kind = 'access' AND subject_hash = ? AND id != ?
		AND received_ns >= ? AND (received_ns < ? OR (received_ns = ? AND id < ?))`,
		q.SubjectHash, q.ID, r-int64(FreeWindow), r, r, q.ID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("request %d: earlier requests: %w", q.ID, err)
	}
	return n, nil
}

// ExtendDeadline puts an open access request's deadline off by months
// more (GDPR art. 12(3): by up to two further months in total, the
// requester told why), with a history event and "request.extend" audited.
// The new deadline is AccessDeadline(received, 1+all extensions, loc).
func (tx *Tx) ExtendDeadline(id int64, months int, reason string, loc *time.Location, actor, source string) (Request, error) {
	q, err := tx.Request(id)
	if err != nil {
		return q, err
	}
	reason = strings.TrimSpace(reason)
	var probs []string
	switch {
	case q.Kind != RequestAccess:
		probs = append(probs, "only an access request's deadline is extended (an authority sets its own)")
	case !q.Open():
		probs = append(probs, fmt.Sprintf("it is closed (%s)", q.Outcome))
	}
	if months < 1 || q.ExtensionMonths+months > MaxExtensionMonths {
		probs = append(probs, fmt.Sprintf("the deadline can be extended by at most %d months in all (already %d, asked %d)",
			MaxExtensionMonths, q.ExtensionMonths, months))
	}
	if reason == "" {
		probs = append(probs, "an extension needs a reason (the requester must be told why)")
	}
	if len(reason) > 4000 {
		probs = append(probs, "the reason is longer than 4000 characters")
	}
	if len(probs) > 0 {
		return q, fmt.Errorf("request %d: extension: %s", id, strings.Join(probs, "; "))
	}
	old := q.Deadline
	q.ExtensionMonths += months
	if q.ExtensionReason != "" {
		q.ExtensionReason += "\n"
	}
	q.ExtensionReason += reason
	q.Deadline = AccessDeadline(q.Received, 1+q.ExtensionMonths, loc)
	if _, err := tx.tx.Exec(`UPDATE requests SET deadline_ns = ?, extension_months = ?, extension_reason = ? WHERE id = ?`,
		ns(q.Deadline), q.ExtensionMonths, q.ExtensionReason, id); err != nil {
		return q, fmt.Errorf("request %d: %w", id, err)
	}
	if err := tx.addEvent(id, "extended", actor, source,
		fmt.Sprintf("+%d: %s → %s: %s", months, old.Format(time.RFC3339), q.Deadline.Format(time.RFC3339), reason)); err != nil {
		return q, err
	}
	_, err = tx.Audit(actor, source, "request.extend", fmt.Sprintf("request:%d", id), map[string]any{
		"months": months, "total_months": q.ExtensionMonths, "from": old, "to": q.Deadline, "reason": reason})
	return q, err
}

// RecordViewing records that the requester watched the footage on site
// with a keeper (viewedBy, an active keeper) at at, instead of receiving
// a copy: the request moves to viewed-on-site, no package is made, and
// it is audited as "request.view" with the cameras and range, like a
// playback.
func (tx *Tx) RecordViewing(id int64, viewedBy string, at time.Time, note, actor, source string) (Request, error) {
	q, err := tx.Request(id)
	if err != nil {
		return q, err
	}
	viewedBy, note = strings.TrimSpace(viewedBy), strings.TrimSpace(note)
	if viewedBy == "" {
		viewedBy = actor
	}
	var probs []string
	if q.Kind != RequestAccess {
		probs = append(probs, "only a data subject views footage on site (an authority receives a package)")
	}
	if u, err := tx.UserByName(viewedBy); err != nil || !u.Has(RoleKeeper) || u.Disabled {
		probs = append(probs, fmt.Sprintf("%q is not an active registry keeper", viewedBy))
	}
	now := tx.Now()
	if at.IsZero() {
		at = now
	}
	at = at.UTC()
	if at.After(now.Add(time.Minute)) {
		probs = append(probs, fmt.Sprintf("the viewing time (%s) is in the future", at.Format(time.RFC3339)))
	}
	if len(note) > 4000 {
		probs = append(probs, "the note is longer than 4000 characters")
	}
	if len(probs) > 0 {
		return q, fmt.Errorf("request %d: viewing: %s", id, strings.Join(probs, "; "))
	}
	what := fmt.Sprintf("%s, %s", viewedBy, at.Format(time.RFC3339))
	if note != "" {
		what += ": " + note
	}
	if q, err = tx.TransitionRequest(id, StateViewed, actor, source, what); err != nil {
		return q, err
	}
	_, err = tx.Audit(actor, source, "request.view", fmt.Sprintf("request:%d", id), map[string]any{
		"cameras": q.Cameras, "from": q.From, "to": q.To, "viewed_by": viewedBy, "at": at, "on_site": true,
		"reason": fmt.Sprintf("access request %d viewed on site", id)})
	return q, err
}

// ExpireRequest removes a closed request from the register: its history,
// its package links, its (released) hold and the request row; its
// disclosure-log entries stay, reduced by the one exception the log's
// trigger allows to counts and hashes (refHash is RefHash of the
// reference). Only retention's gate calls this (retention/remove.go),
// after DeletableRequest said yes inside the same transaction. It
// returns how many disclosure entries were reduced.
func (tx *Tx) ExpireRequest(id int64, refHash string) (int, error) {
	q, err := tx.Request(id)
	if err != nil {
		return 0, err
	}
	if q.Open() {
		return 0, fmt.Errorf("request %d: open requests never expire", id)
	}
	now := ns(tx.Now())
	res, err := tx.tx.Exec(`UPDATE disclosures SET request_id = NULL, recipient = '', ack_note = '', note = '',
		recipient_authority = CASE WHEN subject THEN '' ELSE recipient_authority END, request_ref_hash = ?, expired_ns = ?
		WHERE request_id = ?`, refHash, now, id)
	if err != nil {
		return 0, fmt.Errorf("request %d: disclosures: %w", id, err)
	}
	n, _ := res.RowsAffected()
	for _, stmt := range []string{`DELETE FROM request_events WHERE request_id = ?`, `DELETE FROM request_exports WHERE request_id = ?`} {
		if _, err := tx.tx.Exec(stmt, id); err != nil {
			return 0, fmt.Errorf("request %d: %w", id, err)
		}
	}
	if q.HoldID != 0 {
		if _, err := tx.tx.Exec(`DELETE FROM holds WHERE id = ? AND released_ns IS NOT NULL`, q.HoldID); err != nil {
			return 0, fmt.Errorf("request %d: hold %d: %w", id, q.HoldID, err)
		}
	}
	if _, err := tx.tx.Exec(`DELETE FROM requests WHERE id = ? AND status = 'closed'`, id); err != nil {
		return 0, fmt.Errorf("request %d: %w", id, err)
	}
	return int(n), nil
}

// ClosedRequestsBefore lists closed requests closed before t, oldest
// first: the candidates of register expiry.
func (tx *Tx) ClosedRequestsBefore(t time.Time) ([]Request, error) {
	rows, err := tx.tx.Query(`SELECT `+reqCols+` FROM requests WHERE status = 'closed' AND closed_ns < ? ORDER BY closed_ns, id`, ns(t))
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		q, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("requests: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}
