package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Request kinds and outcomes.
const (
	RequestPolice = "police" // a competent authority's request (legal basis)
	RequestAccess = "access" // a data subject's right of access (GDPR art. 15)

	OutcomeDelivered = "delivered"
	OutcomeRefused   = "refused"
	OutcomeWithdrawn = "withdrawn"
)

// Request is an entry in the register of disclosure requests.
type Request struct {
	ID          int64
	Kind        string
	Cameras     []string
	From, To    time.Time
	Reference   string
	Basis       string
	Authority   string
	Requester   string
	CreatedBy   string
	Created     time.Time
	HoldID      int64
	Status      string // "open" or "closed"
	Outcome     string
	ClosedBy    string
	Closed      time.Time
	CloseReason string
}

const reqCols = `id, kind, cameras, from_ns, to_ns, reference, basis, authority, requester, created_by, created_ns,
	hold_id, status, outcome, closed_by, closed_ns, close_reason`

func scanRequest(r interface{ Scan(...any) error }) (Request, error) {
	var q Request
	var cams string
	var from, to, created int64
	var hold, closed sql.NullInt64
	err := r.Scan(&q.ID, &q.Kind, &cams, &from, &to, &q.Reference, &q.Basis, &q.Authority, &q.Requester, &q.CreatedBy,
		&created, &hold, &q.Status, &q.Outcome, &q.ClosedBy, &closed, &q.CloseReason)
	q.Cameras = strings.Split(cams, ",")
	q.From, q.To, q.Created, q.Closed = fromNS(from), fromNS(to), fromNS(created), nullNS(closed)
	q.HoldID = hold.Int64
	return q, err
}

// AddRequest stores a request and sets q.ID.
func (tx *Tx) AddRequest(q *Request) error {
	q.Created, q.Status = tx.Now(), "open"
	var hold any
	if q.HoldID != 0 {
		hold = q.HoldID
	}
	res, err := tx.tx.Exec(`INSERT INTO requests(kind, cameras, from_ns, to_ns, reference, basis, authority, requester,
		created_by, created_ns, hold_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)`, q.Kind, strings.Join(q.Cameras, ","),
		ns(q.From), ns(q.To), q.Reference, q.Basis, q.Authority, q.Requester, q.CreatedBy, ns(q.Created), hold)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	q.ID, err = res.LastInsertId()
	return err
}

// SetRequestHold links a request to the hold placed for it.
func (tx *Tx) SetRequestHold(id, holdID int64) error {
	_, err := tx.tx.Exec(`UPDATE requests SET hold_id = ? WHERE id = ?`, holdID, id)
	return err
}

// Request returns one request.
func (tx *Tx) Request(id int64) (Request, error) {
	q, err := scanRequest(tx.tx.QueryRow(`SELECT `+reqCols+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return q, fmt.Errorf("request %d: %w", id, ErrNotFound)
	}
	return q, err
}

// Requests lists requests, newest first.
func (tx *Tx) Requests() ([]Request, error) {
	rows, err := tx.tx.Query(`SELECT ` + reqCols + ` FROM requests ORDER BY id DESC`)
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

// CloseRequest closes an open request.
func (tx *Tx) CloseRequest(id int64, outcome, by, reason string) (Request, error) {
	q, err := tx.Request(id)
	if err != nil {
		return q, err
	}
	if q.Status != "open" {
		return q, fmt.Errorf("request %d: already closed (%s)", id, q.Outcome)
	}
	q.Status, q.Outcome, q.ClosedBy, q.Closed, q.CloseReason = "closed", outcome, by, tx.Now(), reason
	_, err = tx.tx.Exec(`UPDATE requests SET status = 'closed', outcome = ?, closed_by = ?, closed_ns = ?, close_reason = ?
		WHERE id = ?`, outcome, by, ns(q.Closed), reason, id)
	if err != nil {
		return q, fmt.Errorf("request %d: %w", id, err)
	}
	return q, nil
}
