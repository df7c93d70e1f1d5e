package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AllCameras in a hold's or request's camera list means every camera,
// including ones added later.
const AllCameras = "all"

// Hold is a legal hold: footage it overlaps is never deleted while it is active.
type Hold struct {
	ID            int64
	Cameras       []string // camera ids, or [AllCameras]
	From, To      time.Time
	Reason        string
	CaseRef       string
	Basis         string
	CreatedBy     string
	Created       time.Time
	Review        time.Time // zero: no review date
	ReleasedBy    string
	Released      time.Time // zero while active
	ReleaseReason string
	RequestID     int64
}

// Active reports whether the hold still protects footage.
func (h Hold) Active() bool { return h.Released.IsZero() }

// Covers reports whether the hold (active or not) names the camera and
// overlaps [start, end]. Edges touch: a hold ending exactly at a segment's
// start still covers it, because keeping one segment too many is the safe
// error for evidence.
func (h Hold) Covers(camera string, start, end time.Time) bool {
	if start.After(h.To) || end.Before(h.From) {
		return false
	}
	for _, c := range h.Cameras {
		if c == AllCameras || c == camera {
			return true
		}
	}
	return false
}

const holdCols = `id, cameras, from_ns, to_ns, reason, case_ref, basis, created_by, created_ns, review_ns,
	released_by, released_ns, release_reason, request_id`

func scanHold(r interface{ Scan(...any) error }) (Hold, error) {
	var h Hold
	var cams string
	var from, to, created int64
	var review, released, req sql.NullInt64
	err := r.Scan(&h.ID, &cams, &from, &to, &h.Reason, &h.CaseRef, &h.Basis, &h.CreatedBy, &created, &review,
		&h.ReleasedBy, &released, &h.ReleaseReason, &req)
	h.Cameras = strings.Split(cams, ",")
	h.From, h.To, h.Created = fromNS(from), fromNS(to), fromNS(created)
	h.Review, h.Released = nullNS(review), nullNS(released)
	h.RequestID = req.Int64
	return h, err
}

// AddHold stores a new hold and sets h.ID and h.Created. Validation of the
// user's input (reason required, from before to) is the caller's; the
// registry refuses only what would corrupt the table.
func (tx *Tx) AddHold(h *Hold) error {
	if len(h.Cameras) == 0 || strings.TrimSpace(h.Reason) == "" || h.To.Before(h.From) {
		return fmt.Errorf("hold: cameras, reason and from <= to are required")
	}
	h.Created = tx.Now()
	var req any
	if h.RequestID != 0 {
		req = h.RequestID
	}
	res, err := tx.tx.Exec(`INSERT INTO holds(cameras, from_ns, to_ns, reason, case_ref, basis, created_by, created_ns, review_ns, request_id)
		VALUES (?,?,?,?,?,?,?,?,?,?)`, strings.Join(h.Cameras, ","), ns(h.From), ns(h.To), h.Reason, h.CaseRef, h.Basis,
		h.CreatedBy, ns(h.Created), optNS(h.Review), req)
	if err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	h.ID, err = res.LastInsertId()
	return err
}

// Hold returns a hold by id.
func (tx *Tx) Hold(id int64) (Hold, error) {
	h, err := scanHold(tx.tx.QueryRow(`SELECT `+holdCols+` FROM holds WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("hold %d: %w", id, ErrNotFound)
	}
	return h, err
}

// Holds lists holds, newest first; activeOnly leaves out released ones.
func (tx *Tx) Holds(activeOnly bool) ([]Hold, error) {
	q := `SELECT ` + holdCols + ` FROM holds`
	if activeOnly {
		q += ` WHERE released_ns IS NULL`
	}
	rows, err := tx.tx.Query(q + ` ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	defer rows.Close()
	var out []Hold
	for rows.Next() {
		h, err := scanHold(rows)
		if err != nil {
			return nil, fmt.Errorf("holds: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// ErrHoldOfOpenRequest: the hold belongs to a request still being handled.
var ErrHoldOfOpenRequest = errors.New("the hold of an open request is released only by closing the request")

// HoldOfOpenRequestError refuses releasing an open request's hold on its
// own: one keeper must not be able to let a police request's footage go
// at the next sweep. Closing the request (with its outcome, a reason and
// the choice to release) is the only way.
type HoldOfOpenRequestError struct{ HoldID, RequestID int64 }

func (e *HoldOfOpenRequestError) Error() string {
	return fmt.Sprintf("hold %d belongs to open request %d: it is released only by closing the request "+
		"(vahti request close %d --outcome delivered|refused|withdrawn --reason TEXT --release-hold)", e.HoldID, e.RequestID, e.RequestID)
}

func (e *HoldOfOpenRequestError) Unwrap() error { return ErrHoldOfOpenRequest }

// ReleaseHold ends a hold. Releasing twice is an error, and so is
// releasing the hold of an open request (HoldOfOpenRequestError).
func (tx *Tx) ReleaseHold(id int64, by, reason string) (Hold, error) {
	h, err := tx.Hold(id)
	if err != nil {
		return h, err
	}
	if !h.Active() {
		return h, fmt.Errorf("hold %d: already released %s by %s", id, h.Released.Format(time.RFC3339), h.ReleasedBy)
	}
	if strings.TrimSpace(reason) == "" {
		return h, fmt.Errorf("hold %d: a reason is required to release", id)
	}
	if h.RequestID != 0 {
		q, err := tx.Request(h.RequestID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return h, err
		}
		if err == nil && q.Open() {
			return h, &HoldOfOpenRequestError{HoldID: id, RequestID: q.ID}
		}
	}
	h.Released, h.ReleasedBy, h.ReleaseReason = tx.Now(), by, reason
	_, err = tx.tx.Exec(`UPDATE holds SET released_by = ?, released_ns = ?, release_reason = ? WHERE id = ?`,
		by, ns(h.Released), reason, id)
	if err != nil {
		return h, fmt.Errorf("hold %d: %w", id, err)
	}
	return h, nil
}
