package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Handover channels of the disclosure log.
var DisclosureChannels = []string{"usb", "in-person", "secure-email", "post", "other"}

// Disclosure is one entry of the disclosure log: which package went to
// whom, when, on which basis and how. The log is append-only (the table's
// triggers refuse UPDATE and DELETE); a correction is a new entry whose
// Corrects names the entry it corrects.
type Disclosure struct {
	ID                 int64
	RequestID          int64
	PackageID          string
	PackageSHA256      string
	Recipient          string
	RecipientAuthority string
	Basis              string
	Channel            string
	HandedBy           string
	Acknowledged       bool   // the recipient signed or confirmed receipt
	AckNote            string // e.g. "signed receipt filed in case folder"
	At                 time.Time
	RecordedBy         string
	Recorded           time.Time
	Corrects           int64
	Note               string
	// Subject marks a data-subject disclosure (an access request's: the
	// footage went to the person in it), kind "access" in reports.
	Subject bool
	// Expired is when the entry's request left the register; the entry
	// then keeps counts and hashes only: RequestID is 0, recipient and
	// notes are blank (and a data subject's authority field), and
	// RequestRefHash is the keyed hash of the request's reference.
	Expired        time.Time
	RequestRefHash string
}

// Kind is "access" for a data-subject disclosure, else "authority".
func (d Disclosure) Kind() string {
	if d.Subject {
		return RequestAccess
	}
	return "authority"
}

const discCols = `id, request_id, package_id, package_sha256, recipient, recipient_authority, basis, channel, handed_by,
	acknowledged, ack_note, at_ns, recorded_by, recorded_ns, corrects, note, subject, request_ref_hash, expired_ns`

func scanDisclosure(r interface{ Scan(...any) error }) (Disclosure, error) {
	var d Disclosure
	var at, rec int64
	var corr, req, exp sql.NullInt64
	err := r.Scan(&d.ID, &req, &d.PackageID, &d.PackageSHA256, &d.Recipient, &d.RecipientAuthority, &d.Basis,
		&d.Channel, &d.HandedBy, &d.Acknowledged, &d.AckNote, &at, &d.RecordedBy, &rec, &corr, &d.Note, &d.Subject,
		&d.RequestRefHash, &exp)
	d.At, d.Recorded, d.Corrects, d.RequestID, d.Expired = fromNS(at), fromNS(rec), corr.Int64, req.Int64, nullNS(exp)
	return d, err
}

// DisclosureDetail is the audit detail of "disclosure.add".
func (d Disclosure) auditDetail() map[string]any {
	m := map[string]any{"request": d.RequestID, "package": d.PackageID, "sha256": d.PackageSHA256,
		"recipient": d.Recipient, "authority": d.RecipientAuthority, "basis": d.Basis, "channel": d.Channel,
		"handed_by": d.HandedBy, "acknowledged": d.Acknowledged, "at": d.At, "kind": d.Kind()}
	if d.Corrects != 0 {
		m["corrects"] = d.Corrects
		m["note"] = d.Note
	}
	if d.Subject {
		// The audit chain is kept for good; the data subject's name must
		// not outlive the request (it stays in the log until the request
		// expires). The entry says a data subject received it.
		m["recipient"], m["authority"] = "(data subject)", ""
	}
	return m
}

// RecordDelivery writes a disclosure-log entry for request d.RequestID and
// moves the request to delivered, audited as "disclosure.add", all in tx.
// The package must be one made for the request and still kept; its
// SHA-256 is taken from the registry, never from the caller. Basis and
// recipient authority default to the request's. A correction (Corrects
// set) needs a note saying what was wrong.
func (tx *Tx) RecordDelivery(d *Disclosure, actor, source string) error {
	q, err := tx.Request(d.RequestID)
	if err != nil {
		return err
	}
	var probs []string
	d.Subject = q.Kind == RequestAccess
	d.Recipient, d.PackageID = strings.TrimSpace(d.Recipient), strings.TrimSpace(d.PackageID)
	if d.Recipient == "" {
		probs = append(probs, "the recipient is required")
	}
	if !oneOfStr(d.Channel, DisclosureChannels) {
		probs = append(probs, fmt.Sprintf("channel must be one of %s, got %q", strings.Join(DisclosureChannels, ", "), d.Channel))
	}
	if d.HandedBy = strings.TrimSpace(d.HandedBy); d.HandedBy == "" {
		d.HandedBy = actor
	}
	if strings.TrimSpace(d.Basis) == "" {
		d.Basis = q.Basis
	}
	if strings.TrimSpace(d.RecipientAuthority) == "" {
		d.RecipientAuthority = q.Authority
	}
	now := tx.Now()
	if d.At.IsZero() {
		d.At = now
	}
	d.At = d.At.UTC()
	if d.At.After(now.Add(time.Minute)) {
		probs = append(probs, fmt.Sprintf("the handover time (%s) is in the future", d.At.Format(time.RFC3339)))
	}
	for _, f := range []struct {
		name, v string
	}{{"recipient", d.Recipient}, {"authority", d.RecipientAuthority}, {"handed by", d.HandedBy}} {
		if len(f.v) > 200 {
			probs = append(probs, f.name+" is longer than 200 characters")
		}
	}
	if len(d.Note) > 4000 || len(d.AckNote) > 4000 || len(d.Basis) > 4000 {
		probs = append(probs, "a note or the basis is longer than 4000 characters")
	}
	if d.Corrects != 0 {
		old, err := tx.Disclosure(d.Corrects)
		switch {
		case errors.Is(err, ErrNotFound):
			probs = append(probs, fmt.Sprintf("disclosure %d (to correct) does not exist", d.Corrects))
		case err != nil:
			return err
		case old.RequestID != d.RequestID:
			probs = append(probs, fmt.Sprintf("disclosure %d belongs to request %d, not %d", d.Corrects, old.RequestID, d.RequestID))
		}
		if strings.TrimSpace(d.Note) == "" {
			probs = append(probs, "a correction needs a note saying what was wrong")
		}
	}
	if d.PackageID == "" {
		probs = append(probs, "the package is required")
	} else {
		var sum string
		var deleted sql.NullInt64
		err := tx.tx.QueryRow(`SELECT e.sha256, e.deleted_ns FROM exports e JOIN request_exports r ON r.export_id = e.id
			WHERE r.request_id = ? AND e.id = ?`, d.RequestID, d.PackageID).Scan(&sum, &deleted)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			probs = append(probs, fmt.Sprintf("package %s was not made for request %d (export it from the request first)", d.PackageID, d.RequestID))
		case err != nil:
			return fmt.Errorf("disclosure: %w", err)
		case deleted.Valid:
			probs = append(probs, fmt.Sprintf("package %s has been deleted", d.PackageID))
		default:
			d.PackageSHA256 = sum
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("request %d: delivery: %s", d.RequestID, strings.Join(probs, "; "))
	}
	// A correction records what really happened; it does not move the flow.
	to := d.Recipient
	if d.Subject {
		to = "(data subject)" // audited as the step's note: the chain must not keep the name
	}
	what := fmt.Sprintf("%s → %s (%s)", d.PackageID, to, d.Channel) // names and codes only: shown in any language
	if d.Corrects == 0 || q.State != StateDelivered {
		if _, err := tx.TransitionRequest(d.RequestID, StateDelivered, actor, source, what); err != nil {
			return err
		}
	} else if err := tx.addEvent(d.RequestID, "correction", actor, source,
		fmt.Sprintf("#%d: %s; %s", d.Corrects, what, d.Note)); err != nil {
		return err
	}
	d.RecordedBy, d.Recorded = actor, now
	var corr any
	if d.Corrects != 0 {
		corr = d.Corrects
	}
	res, err := tx.tx.Exec(`INSERT INTO disclosures(request_id, package_id, package_sha256, recipient, recipient_authority,
		basis, channel, handed_by, acknowledged, ack_note, at_ns, recorded_by, recorded_ns, corrects, note, subject)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, d.RequestID, d.PackageID, d.PackageSHA256, d.Recipient,
		d.RecipientAuthority, d.Basis, d.Channel, d.HandedBy, d.Acknowledged, d.AckNote, ns(d.At), d.RecordedBy,
		ns(d.Recorded), corr, d.Note, d.Subject)
	if err != nil {
		return fmt.Errorf("disclosure: %w", err)
	}
	if d.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	_, err = tx.Audit(actor, source, "disclosure.add", fmt.Sprintf("disclosure:%d", d.ID), d.auditDetail())
	return err
}

// Disclosure returns one log entry.
func (tx *Tx) Disclosure(id int64) (Disclosure, error) {
	d, err := scanDisclosure(tx.tx.QueryRow(`SELECT `+discCols+` FROM disclosures WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("disclosure %d: %w", id, ErrNotFound)
	}
	return d, err
}

// DisclosureFilter narrows the log; zero fields match everything. From and
// To bound the handover time [From, To).
type DisclosureFilter struct {
	RequestID int64
	From, To  time.Time
}

// Disclosures lists log entries in the order they were written.
func (tx *Tx) Disclosures(f DisclosureFilter) ([]Disclosure, error) {
	q := `SELECT ` + discCols + ` FROM disclosures WHERE 1=1`
	var args []any
	if f.RequestID != 0 {
		q += ` AND request_id = ?`
		args = append(args, f.RequestID)
	}
	if !f.From.IsZero() {
		q += ` AND at_ns >= ?`
		args = append(args, ns(f.From))
	}
	if !f.To.IsZero() {
		q += ` AND at_ns < ?`
		args = append(args, ns(f.To))
	}
	rows, err := tx.tx.Query(q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("disclosures: %w", err)
	}
	defer rows.Close()
	var out []Disclosure
	for rows.Next() {
		d, err := scanDisclosure(rows)
		if err != nil {
			return nil, fmt.Errorf("disclosures: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func oneOfStr(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}
