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
	// OutcomeViewed: the data subject watched the footage on site with a
	// keeper instead of receiving a copy (no package is made).
	OutcomeViewed = "viewed-on-site"
)

// The status flow of a request: received → held → exported → delivered,
// or (access requests) held/exported → viewed-on-site, or refused, or
// withdrawn. Status ("open"/"closed") says whether the
// request is still being handled; State says how far it has got.
const (
	StateReceived  = "received"
	StateHeld      = "held"
	StateExported  = "exported"
	StateDelivered = "delivered"
	StateRefused   = "refused"
	StateWithdrawn = "withdrawn"
	StateViewed    = "viewed-on-site"
)

// RequestStates lists the states in flow order.
var RequestStates = []string{StateReceived, StateHeld, StateExported, StateDelivered, StateViewed, StateRefused, StateWithdrawn}

// Legal bases of the pick-list. The text of a request's basis is free;
// BasisCode says which usual Finnish basis it rests on ("other": the text
// says it all).
const (
	BasisCriminalInvestigation = "esitutkintalaki" // Esitutkintalaki 805/2011
	BasisPolice                = "poliisilaki"     // Poliisilaki 872/2011
	BasisCourtOrder            = "court-order"     // a court's order
	BasisAccess                = "gdpr-15"         // GDPR art. 15, the data subject's right of access
	BasisOther                 = "other"
)

// BasisCodes lists the pick-list in display order.
var BasisCodes = []string{BasisCriminalInvestigation, BasisPolice, BasisCourtOrder, BasisAccess, BasisOther}

// BasisLabels are the canonical texts of the pick-list, written into the
// register, the manifest and the disclosure log (Finnish law is cited in
// Finnish; the English gloss follows).
var BasisLabels = map[string]string{
	BasisCriminalInvestigation: "Esitutkintalaki 805/2011 (Criminal Investigation Act)",
	BasisPolice:                "Poliisilaki 872/2011 (Police Act)",
	BasisCourtOrder:            "Tuomioistuimen määräys (court order)",
	BasisAccess:                "EU:n tietosuoja-asetus 15 art. (GDPR art. 15, right of access)",
}

// Refusal grounds (`request close --outcome refused --ground CODE`).
var RefusalGrounds = []string{
	"no-footage",           // nothing of the range is recorded or kept any more (the footage no longer exists)
	"no-basis",             // the authority named no legal basis that allows disclosure
	"identity",             // the data subject's identity could not be verified (GDPR art. 12(6))
	"not-identifiable",     // the requester cannot be identified in the footage (GDPR art. 11(2), 12(2))
	"third-party",          // disclosure would harm others' rights (GDPR art. 15(4)); redaction cannot protect them
	"manifestly-unfounded", // manifestly unfounded or excessive (GDPR art. 12(5))
	"other",
}

// Request is an entry in the register of disclosure requests.
type Request struct {
	ID         int64
	Kind       string
	Cameras    []string
	From, To   time.Time
	Reference  string
	BasisCode  string // one of BasisCodes
	Basis      string
	Authority  string
	Officer    string // the authority's officer in charge
	Contact    string // how to reach them (phone, e-mail)
	Requester  string
	Identity   string // how a data subject's identity was verified
	VerifiedBy string // the account that verified it
	// SubjectHash is SubjectHash of the identifying key the keeper
	// recorded (e.g. name and date of birth); the key itself is never
	// stored. "" when none was recorded.
	SubjectHash     string
	ExtensionMonths int    // months the deadline was extended by (GDPR art. 12(3), at most 2)
	ExtensionReason string // why (one line per extension)
	// Calendar is the time zone a computed deadline follows (not stored;
	// nil: UTC). Callers pass the config's location.
	Calendar    *time.Location
	Description string // what is asked for (e.g. the person or event to find)
	Handler     string // the keeper handling it
	Notes       string
	Received    time.Time // when the request reached the shelter (may be before Created)
	Deadline    time.Time // zero: none given
	CreatedBy   string
	Created     time.Time
	HoldID      int64
	Status      string // "open" or "closed"
	State       string // one of RequestStates
	Outcome     string
	Ground      string // a refusal's ground
	ClosedBy    string
	Closed      time.Time
	CloseReason string
}

// Open reports whether the request is still being handled.
func (q Request) Open() bool { return q.Status == "open" }

// RequestRef names a request inside an export manifest and wherever a
// package must say what it was made for.
type RequestRef struct {
	ID        int64  `json:"id"`
	Kind      string `json:"kind"`
	Reference string `json:"reference"`
	Authority string `json:"authority"`
	Basis     string `json:"basis"`
}

// Ref is the request as an export manifest names it.
func (q Request) Ref() *RequestRef {
	return &RequestRef{ID: q.ID, Kind: q.Kind, Reference: q.Reference, Authority: q.Authority, Basis: q.Basis}
}

// RequestEvent is one step of a request's history.
type RequestEvent struct {
	ID        int64
	RequestID int64
	State     string // the state entered, or "closed"/"note"
	Actor     string
	Source    string
	Time      time.Time
	Note      string
}

// ErrTransition wraps every refused status change.
var ErrTransition = errors.New("illegal request transition")

// TransitionError is a refused status change; Hint says what to do.
type TransitionError struct {
	ID       int64
	From, To string
	Closed   bool
	Hint     string
}

func (e *TransitionError) Error() string {
	if e.Closed {
		return fmt.Sprintf("request %d is closed (%s): it cannot become %s", e.ID, e.From, e.To)
	}
	return fmt.Sprintf("request %d: cannot go from %s to %s: %s", e.ID, e.From, e.To, e.Hint)
}

func (e *TransitionError) Unwrap() error { return ErrTransition }

// CheckTransition says whether a request may move from its state to the
// state to. Re-entering exported (another package) and delivered (another
// handover, a correction) is allowed; nothing moves backwards, and
// nothing leaves a closed request.
func CheckTransition(q Request, to string) error {
	te := &TransitionError{ID: q.ID, From: q.State, To: to}
	if !q.Open() {
		te.Closed = true
		return te
	}
	ok := false
	switch q.State {
	case StateReceived:
		ok = to == StateHeld || to == StateRefused || to == StateWithdrawn
	case StateHeld:
		ok = to == StateExported || to == StateRefused || to == StateWithdrawn || (to == StateViewed && q.Kind == RequestAccess)
	case StateExported:
		ok = to == StateExported || to == StateDelivered || to == StateRefused || to == StateWithdrawn ||
			(to == StateViewed && q.Kind == RequestAccess)
	case StateDelivered:
		ok = to == StateDelivered
	case StateViewed:
		ok = to == StateViewed // another session on site
	}
	if ok {
		return nil
	}
	switch {
	case to == StateDelivered && (q.State == StateReceived || q.State == StateHeld):
		te.Hint = fmt.Sprintf("nothing has been exported yet; make the package first (vahti request export %d)", q.ID)
	case to == StateExported && q.State == StateReceived:
		te.Hint = "the footage is not held yet"
	case to == StateViewed && q.Kind != RequestAccess:
		te.Hint = "only a data subject views footage on site"
	case (q.State == StateDelivered || q.State == StateViewed) && (to == StateRefused || to == StateWithdrawn):
		te.Hint = "footage has already been handed over; record a correction in the disclosure log if the delivery was wrong"
	default:
		te.Hint = "that step does not follow"
	}
	return te
}

// ValidateRequest checks a request as a user entered it, against now:
// received may lie in the past, never in the future; a deadline is after
// received. It names every problem at once. An access request's deadline
// defaults to one month after received (GDPR art. 12(3)).
func ValidateRequest(q *Request, now time.Time) error {
	var probs []string
	if q.Kind != RequestPolice && q.Kind != RequestAccess {
		probs = append(probs, fmt.Sprintf("kind must be police or access, got %q", q.Kind))
	}
	q.Reference, q.Basis = strings.TrimSpace(q.Reference), strings.TrimSpace(q.Basis)
	if q.Reference == "" {
		probs = append(probs, "a reference is required")
	}
	if q.BasisCode == "" {
		q.BasisCode = BasisOther
	}
	if _, ok := BasisLabels[q.BasisCode]; !ok && q.BasisCode != BasisOther {
		probs = append(probs, fmt.Sprintf("basis code must be one of %s, got %q", strings.Join(BasisCodes, ", "), q.BasisCode))
	}
	if q.Basis == "" && q.BasisCode != BasisOther {
		q.Basis = BasisLabels[q.BasisCode]
	}
	if q.Basis == "" {
		probs = append(probs, "a basis is required")
	}
	if q.Received.IsZero() {
		q.Received = now
	}
	q.Received = q.Received.UTC()
	if q.Received.After(now.Add(time.Minute)) { // a minute for clocks and typing
		probs = append(probs, fmt.Sprintf("received (%s) is in the future", q.Received.Format(time.RFC3339)))
	}
	if q.Kind == RequestAccess {
		// GDPR art. 12(3): a month, longer only by a recorded extension.
		legal := AccessDeadline(q.Received, 1, q.Calendar)
		if q.Deadline.IsZero() {
			q.Deadline = legal
		} else if q.Deadline.After(legal) {
			probs = append(probs, fmt.Sprintf("an access request's deadline is at most one month after received (%s); extend it with a reason instead",
				legal.Format(time.RFC3339)))
		}
	}
	q.Deadline = q.Deadline.UTC()
	if !q.Deadline.IsZero() && !q.Deadline.After(q.Received) {
		probs = append(probs, fmt.Sprintf("the deadline (%s) must be after received (%s)", q.Deadline.Format(time.RFC3339),
			q.Received.Format(time.RFC3339)))
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"reference", q.Reference, 200}, {"authority", q.Authority, 200}, {"officer", q.Officer, 200},
		{"contact", q.Contact, 200}, {"requester", q.Requester, 200}, {"handler", q.Handler, 200},
		{"verified by", q.VerifiedBy, 200},
		{"basis", q.Basis, 4000}, {"identity", q.Identity, 4000}, {"description", q.Description, 4000}, {"notes", q.Notes, 4000}} {
		if len(f.v) > f.max {
			probs = append(probs, fmt.Sprintf("%s is longer than %d characters", f.name, f.max))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("request: %s", strings.Join(probs, "; "))
	}
	return nil
}

const reqCols = `id, kind, cameras, from_ns, to_ns, reference, basis, authority, requester, created_by, created_ns,
	hold_id, status, outcome, closed_by, closed_ns, close_reason, received_ns, deadline_ns, officer, contact, identity,
	description, basis_code, handler, notes, state, ground, verified_by, subject_hash, extension_months, extension_reason`

func scanRequest(r interface{ Scan(...any) error }) (Request, error) {
	var q Request
	var cams string
	var from, to, created int64
	var hold, closed, received, deadline sql.NullInt64
	err := r.Scan(&q.ID, &q.Kind, &cams, &from, &to, &q.Reference, &q.Basis, &q.Authority, &q.Requester, &q.CreatedBy,
		&created, &hold, &q.Status, &q.Outcome, &q.ClosedBy, &closed, &q.CloseReason, &received, &deadline, &q.Officer,
		&q.Contact, &q.Identity, &q.Description, &q.BasisCode, &q.Handler, &q.Notes, &q.State, &q.Ground, &q.VerifiedBy,
		&q.SubjectHash, &q.ExtensionMonths, &q.ExtensionReason)
	q.Cameras = strings.Split(cams, ",")
	q.From, q.To, q.Created, q.Closed = fromNS(from), fromNS(to), fromNS(created), nullNS(closed)
	q.Received, q.Deadline = nullNS(received), nullNS(deadline)
	q.HoldID = hold.Int64
	return q, err
}

// AddRequest stores a request in state received, with its first history
// event (by q.CreatedBy from source), and sets q.ID.
func (tx *Tx) AddRequest(q *Request, source string) error {
	q.Created, q.Status, q.State = tx.Now(), "open", StateReceived
	if q.Received.IsZero() {
		q.Received = q.Created
	}
	if q.BasisCode == "" {
		q.BasisCode = BasisOther
	}
	var hold any
	if q.HoldID != 0 {
		hold = q.HoldID
	}
	if q.VerifiedBy = strings.TrimSpace(q.VerifiedBy); q.VerifiedBy != "" {
		if u, err := tx.UserByName(q.VerifiedBy); err != nil || u.Disabled {
			return fmt.Errorf("request: verified by %q: not an active account", q.VerifiedBy)
		}
	}
	if q.SubjectHash != "" && (len(q.SubjectHash) != 64 || strings.Trim(q.SubjectHash, "0123456789abcdef") != "") {
		return fmt.Errorf("request: the subject hash is not a hex SHA-256 (the plain key is never stored)")
	}
	res, err := tx.tx.Exec(`INSERT INTO requests(kind, cameras, from_ns, to_ns, reference, basis, authority, requester,
		created_by, created_ns, hold_id, received_ns, deadline_ns, officer, contact, identity, description, basis_code,
		handler, notes, state, verified_by, subject_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, q.Kind,
		strings.Join(q.Cameras, ","), ns(q.From), ns(q.To), q.Reference, q.Basis, q.Authority, q.Requester, q.CreatedBy,
		ns(q.Created), hold, ns(q.Received), optNS(q.Deadline), q.Officer, q.Contact, q.Identity, q.Description, q.BasisCode,
		q.Handler, q.Notes, q.State, q.VerifiedBy, q.SubjectHash)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if q.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return tx.addEvent(q.ID, StateReceived, q.CreatedBy, source,
		"received "+q.Received.Format(time.RFC3339))
}

func (tx *Tx) addEvent(id int64, state, actor, source, note string) error {
	_, err := tx.tx.Exec(`INSERT INTO request_events(request_id, state, actor, source, time_ns, note) VALUES (?,?,?,?,?,?)`,
		id, state, actor, source, ns(tx.Now()), note)
	if err != nil {
		return fmt.Errorf("request %d: history: %w", id, err)
	}
	return nil
}

// SetRequestHold links a request to the hold placed for it.
func (tx *Tx) SetRequestHold(id, holdID int64) error {
	_, err := tx.tx.Exec(`UPDATE requests SET hold_id = ? WHERE id = ?`, holdID, id)
	return err
}

// TransitionRequest moves an open request to state to (CheckTransition),
// adds the history event and audits "request.state", all in tx.
// Re-entering the same state records the event without changing it.
func (tx *Tx) TransitionRequest(id int64, to, actor, source, note string) (Request, error) {
	q, err := tx.Request(id)
	if err != nil {
		return q, err
	}
	if err := CheckTransition(q, to); err != nil {
		return q, err
	}
	from := q.State
	if _, err := tx.tx.Exec(`UPDATE requests SET state = ? WHERE id = ?`, to, id); err != nil {
		return q, fmt.Errorf("request %d: %w", id, err)
	}
	q.State = to
	if err := tx.addEvent(id, to, actor, source, note); err != nil {
		return q, err
	}
	_, err = tx.Audit(actor, source, "request.state", fmt.Sprintf("request:%d", id),
		map[string]any{"from": from, "to": to, "note": note})
	return q, err
}

// RequestEvents is a request's history, oldest first.
func (tx *Tx) RequestEvents(id int64) ([]RequestEvent, error) {
	rows, err := tx.tx.Query(`SELECT id, request_id, state, actor, source, time_ns, note FROM request_events
		WHERE request_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("request %d: history: %w", id, err)
	}
	defer rows.Close()
	var out []RequestEvent
	for rows.Next() {
		var ev RequestEvent
		var t int64
		if err := rows.Scan(&ev.ID, &ev.RequestID, &ev.State, &ev.Actor, &ev.Source, &t, &ev.Note); err != nil {
			return nil, err
		}
		ev.Time = fromNS(t)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Request returns one request.
func (tx *Tx) Request(id int64) (Request, error) {
	q, err := scanRequest(tx.tx.QueryRow(`SELECT `+reqCols+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return q, fmt.Errorf("request %d: %w", id, ErrNotFound)
	}
	return q, err
}

// RequestFilter narrows the register; zero fields match everything.
type RequestFilter struct {
	Status string // "open" or "closed"
	Kind   string
	State  string
	Text   string // in the reference, authority, officer, requester or handler (case-insensitive)
	// From/To bound when the request was received.
	From, To time.Time
}

func (f RequestFilter) match(q Request) bool {
	if (f.Status != "" && q.Status != f.Status) || (f.Kind != "" && q.Kind != f.Kind) || (f.State != "" && q.State != f.State) {
		return false
	}
	if (!f.From.IsZero() && q.Received.Before(f.From)) || (!f.To.IsZero() && !q.Received.Before(f.To)) {
		return false
	}
	if t := strings.ToLower(strings.TrimSpace(f.Text)); t != "" {
		hay := strings.ToLower(strings.Join([]string{q.Reference, q.Authority, q.Officer, q.Requester, q.Handler}, "\x00"))
		return strings.Contains(hay, t)
	}
	return true
}

// Requests lists requests by deadline (soonest first; those without one
// last, newest first among them).
func (tx *Tx) Requests() ([]Request, error) { return tx.RequestsWhere(RequestFilter{}) }

// RequestsWhere lists the requests f matches, sorted as Requests.
func (tx *Tx) RequestsWhere(f RequestFilter) ([]Request, error) {
	rows, err := tx.tx.Query(`SELECT ` + reqCols + ` FROM requests ORDER BY deadline_ns IS NULL, deadline_ns, id DESC`)
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
		if f.match(q) {
			out = append(out, q)
		}
	}
	return out, rows.Err()
}

// CloseRequest closes an open request: refused and withdrawn are states of
// their own; delivered needs a recorded delivery first (the disclosure log
// must hold every handover). ground is a refusal's ground.
func (tx *Tx) CloseRequest(id int64, outcome, by, source, reason, ground string) (Request, error) {
	q, err := tx.Request(id)
	if err != nil {
		return q, err
	}
	if q.Status != "open" {
		return q, fmt.Errorf("request %d: already closed (%s)", id, q.Outcome)
	}
	switch outcome {
	case OutcomeDelivered, OutcomeViewed:
		if q.State != outcome {
			if err := CheckTransition(q, outcome); err != nil {
				return q, err
			}
			// The step itself is allowed, but closing is not the step:
			// the handover or the viewing must be recorded first.
			hint := "record the delivery first (the disclosure log must hold every handover)"
			if outcome == OutcomeViewed {
				hint = "record the viewing on site first"
			}
			return q, &TransitionError{ID: id, From: q.State, To: outcome, Hint: hint}
		}
		if err := tx.addEvent(id, "closed", by, source, reason); err != nil {
			return q, err
		}
	case OutcomeRefused, OutcomeWithdrawn:
		if q, err = tx.TransitionRequest(id, outcome, by, source, reason); err != nil {
			return q, err
		}
	default:
		return q, fmt.Errorf("request %d: outcome must be delivered, viewed-on-site, refused or withdrawn, got %q", id, outcome)
	}
	if outcome != OutcomeRefused {
		ground = ""
	} else if !oneOfStr(ground, RefusalGrounds) {
		return q, fmt.Errorf("request %d: a refusal needs a ground, one of %s", id, strings.Join(RefusalGrounds, ", "))
	}
	q.Status, q.Outcome, q.ClosedBy, q.Closed, q.CloseReason, q.Ground = "closed", outcome, by, tx.Now(), reason, ground
	_, err = tx.tx.Exec(`UPDATE requests SET status = 'closed', outcome = ?, closed_by = ?, closed_ns = ?, close_reason = ?,
		ground = ? WHERE id = ?`, outcome, by, ns(q.Closed), reason, ground, id)
	if err != nil {
		return q, fmt.Errorf("request %d: %w", id, err)
	}
	return q, nil
}

// LinkRequestExport records that a package was made for a request.
func (tx *Tx) LinkRequestExport(id int64, exportID string) error {
	_, err := tx.tx.Exec(`INSERT OR IGNORE INTO request_exports(request_id, export_id, created_ns) VALUES (?,?,?)`,
		id, exportID, ns(tx.Now()))
	if err != nil {
		return fmt.Errorf("request %d: package %s: %w", id, exportID, err)
	}
	return nil
}

// RequestExports lists the packages made for a request, newest first,
// deleted ones included (their rows say when they went).
func (tx *Tx) RequestExports(id int64) ([]Export, error) {
	rows, err := tx.tx.Query(`SELECT `+prefixCols("e.", exportCols)+` FROM exports e
		JOIN request_exports r ON r.export_id = e.id WHERE r.request_id = ? ORDER BY e.created_ns DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("request %d: packages: %w", id, err)
	}
	defer rows.Close()
	var out []Export
	for rows.Next() {
		e, err := scanExport(rows)
		if err != nil {
			return nil, fmt.Errorf("request %d: packages: %w", id, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func prefixCols(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// RequestExported links a package made for an open request to it, moves
// the request to exported and audits "request.export", all in tx.
func (tx *Tx) RequestExported(id int64, e Export, actor, source string) error {
	if _, err := tx.TransitionRequest(id, StateExported, actor, source, e.ID); err != nil {
		return err
	}
	if err := tx.LinkRequestExport(id, e.ID); err != nil {
		return err
	}
	_, err := tx.Audit(actor, source, "request.export", fmt.Sprintf("request:%d", id),
		map[string]any{"package": e.ID, "sha256": e.SHA256, "bytes": e.Bytes, "cameras": e.Cameras, "from": e.From, "to": e.To})
	return err
}

// SetRequestNotes replaces a request's handler (an active keeper) and
// notes, with a history event, audited as "request.update". Closed
// requests keep their notes open: the DPO may ask later what happened.
func (tx *Tx) SetRequestNotes(id int64, handler, notes, actor, source string) (Request, error) {
	q, err := tx.Request(id)
	if err != nil {
		return q, err
	}
	if len(notes) > 4000 {
		return q, fmt.Errorf("request %d: notes is longer than 4000 characters", id)
	}
	if handler != "" {
		u, err := tx.UserByName(handler)
		if err != nil || !u.Has(RoleKeeper) || u.Disabled {
			return q, fmt.Errorf("request %d: handler %q is not an active registry keeper", id, handler)
		}
	}
	if _, err := tx.tx.Exec(`UPDATE requests SET handler = ?, notes = ? WHERE id = ?`, handler, notes, id); err != nil {
		return q, fmt.Errorf("request %d: %w", id, err)
	}
	q.Handler, q.Notes = handler, notes
	if err := tx.addEvent(id, "note", actor, source, handler); err != nil {
		return q, err
	}
	_, err = tx.Audit(actor, source, "request.update", fmt.Sprintf("request:%d", id), map[string]any{"handler": handler, "notes": notes})
	return q, err
}

// RequestRecord is a request with what hangs on it, as the request page
// and `vahti request show` present it.
type RequestRecord struct {
	Request
	Events      []RequestEvent
	Packages    []Export
	Disclosures []Disclosure
	// Earlier is how many access requests with the same identifying key
	// came in the 365 days before this one (-1: no key recorded).
	Earlier int
}

// RequestRecord reads request id with its history, packages, deliveries
// and earlier access requests.
func (tx *Tx) RequestRecord(id int64) (RequestRecord, error) {
	var r RequestRecord
	var err error
	if r.Request, err = tx.Request(id); err != nil {
		return r, err
	}
	if r.Events, err = tx.RequestEvents(id); err != nil {
		return r, err
	}
	if r.Packages, err = tx.RequestExports(id); err != nil {
		return r, err
	}
	if r.Disclosures, err = tx.Disclosures(DisclosureFilter{RequestID: id}); err != nil {
		return r, err
	}
	r.Earlier, err = tx.EarlierAccessRequests(r.Request)
	return r, err
}
