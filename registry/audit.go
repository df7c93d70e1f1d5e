package registry

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Entry is one link of the audit chain. Hash is the SHA-256 of PrevHash
// and the canonical JSON of the other fields, so editing, deleting or
// reordering any entry breaks every hash after it.
type Entry struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	Actor    string          `json:"actor"`  // user name, or "system"
	Source   string          `json:"source"` // remote address, "cli", or "service"
	Kind     string          `json:"kind"`   // e.g. "hold.add", "segments.delete", "login.fail"
	Object   string          `json:"object"` // what it concerns, e.g. "hold:7", "camera:yard"
	Detail   json.RawMessage `json:"detail"` // kind-specific facts; never footage, never secrets
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// GenesisHash is the PrevHash of the first entry.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// ComputeHash returns the hash the entry must carry, or "" (never a valid
// hash) when the entry cannot be encoded, e.g. a detail that is not JSON:
// such an entry must fail verification, not hash as if it were empty.
func (e Entry) ComputeHash() string {
	h, err := e.hash()
	if err != nil {
		return ""
	}
	return h
}

func (e Entry) hash() (string, error) {
	body, err := json.Marshal(struct {
		Seq    int64           `json:"seq"`
		Time   int64           `json:"time_ns"`
		Actor  string          `json:"actor"`
		Source string          `json:"source"`
		Kind   string          `json:"kind"`
		Object string          `json:"object"`
		Detail json.RawMessage `json:"detail"`
	}{e.Seq, e.Time.UnixNano(), e.Actor, e.Source, e.Kind, e.Object, e.Detail})
	if err != nil {
		return "", fmt.Errorf("audit entry %d: cannot encode: %w", e.Seq, err)
	}
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Audit appends an entry to the chain. detail is marshalled to JSON. It
// runs in the caller's transaction, so the entry commits with the change
// it records, and the write lock orders the chain across processes.
func (tx *Tx) Audit(actor, source, kind, object string, detail any) (Entry, error) {
	d, err := json.Marshal(detail)
	if err != nil {
		// Refused, never hashed as empty: an entry must say what it records.
		return Entry{}, fmt.Errorf("audit %s: refused, detail cannot be encoded: %w", kind, err)
	}
	if detail == nil {
		d = []byte("{}")
	}
	e := Entry{Time: tx.Now(), Actor: actor, Source: source, Kind: kind, Object: object, Detail: compactJSON(d)}
	var last int64
	var prev string
	err = tx.tx.QueryRow(`SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	if err != nil {
		last, prev = 0, GenesisHash
	}
	e.Seq, e.PrevHash = last+1, prev
	if e.Hash, err = e.hash(); err != nil {
		return Entry{}, fmt.Errorf("audit %s: refused: %w", kind, err)
	}
	_, err = tx.tx.Exec(`INSERT INTO audit(seq, time_ns, actor, source, kind, object, detail, prev_hash, hash)
		VALUES (?,?,?,?,?,?,?,?,?)`, e.Seq, ns(e.Time), e.Actor, e.Source, e.Kind, e.Object, string(e.Detail), e.PrevHash, e.Hash)
	if err != nil {
		return e, fmt.Errorf("audit %s: %w", kind, err)
	}
	return e, nil
}

func compactJSON(b []byte) json.RawMessage {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, _ := json.Marshal(v) // sorted keys: one canonical form
	return out
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	From, To time.Time
	Actor    string
	Kind     string // prefix match: "hold" matches "hold.add"
	Object   string
	AfterSeq int64
	Limit    int
}

// AuditEntries lists entries in chain order.
func (tx *Tx) AuditEntries(f AuditFilter) ([]Entry, error) {
	// The scan starts after one bound on seq (given two, SQLite walks from
	// the lower).
	after, args := `?`, []any{f.AfterSeq}
	if !f.From.IsZero() {
		// The chain is in time order but for a clock set back, so no entry
		// from From on (and before To) comes before the lowest seq stamped
		// in that range, found through audit_time: the scan starts there,
		// not at the chain's first entry, and the time test still decides.
		upTo := int64(math.MaxInt64)
		if !f.To.IsZero() {
			upTo = ns(f.To)
		}
		after = `max(?, COALESCE((SELECT MIN(seq) FROM audit INDEXED BY audit_time WHERE time_ns >= ? AND time_ns < ?), ?) - 1)`
		args = append(args, ns(f.From), upTo, int64(math.MaxInt64))
	}
	q := `SELECT seq, time_ns, actor, source, kind, object, detail, prev_hash, hash FROM audit WHERE seq > ` + after
	if !f.From.IsZero() {
		q += ` AND time_ns >= ?`
		args = append(args, ns(f.From))
	}
	if !f.To.IsZero() {
		q += ` AND time_ns < ?`
		args = append(args, ns(f.To))
	}
	if f.Actor != "" {
		q += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Kind != "" {
		q += ` AND (kind = ? OR kind LIKE ? ESCAPE '\')`
		args = append(args, f.Kind, escapeLike(f.Kind)+".%")
	}
	if f.Object != "" {
		q += ` AND object = ?`
		args = append(args, f.Object)
	}
	q += ` ORDER BY seq`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := tx.tx.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func escapeLike(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '_' || s[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// ChainError names the first entry at which a chain fails to verify.
type ChainError struct {
	Seq    int64 // the entry's own seq, or the seq expected there
	Index  int   // position in the checked sequence (0-based)
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit chain broken at entry %d (seq %d): %s", e.Index+1, e.Seq, e.Reason)
}

// VerifyChain checks a complete chain from its first entry.
func VerifyChain(entries []Entry) error {
	v := NewChainVerifier(nil)
	for _, e := range entries {
		if err := v.Add(e); err != nil {
			return err
		}
	}
	return v.Finish()
}

// Anchor is a (seq, hash) pair known from outside the database, such as a
// signed checkpoint; Name says where it came from (a file name).
type Anchor struct {
	Seq  int64
	Hash string
	Name string
}

// AnchorError means the chain disagrees with an anchor: it was cut short
// or rewritten after the anchor was taken.
type AnchorError struct {
	Anchor Anchor
	Reason string
}

func (e *AnchorError) Error() string {
	return fmt.Sprintf("audit chain tampered: %s (checkpoint %s, seq %d)", e.Reason, e.Anchor.Name, e.Anchor.Seq)
}

// ChainVerifier checks a chain one entry at a time, so a chain of any
// length is verified in constant memory.
type ChainVerifier struct {
	prev    string
	want    int64
	n       int
	anchors []Anchor // sorted by seq; consumed as the chain passes them
	failed  error
}

// NewChainVerifier starts a verification against anchors (may be nil).
func NewChainVerifier(anchors []Anchor) *ChainVerifier {
	a := append([]Anchor(nil), anchors...)
	sort.SliceStable(a, func(i, j int) bool { return a[i].Seq < a[j].Seq })
	return &ChainVerifier{prev: GenesisHash, want: 1, anchors: a}
}

// Add checks the next entry; after the first error it keeps returning it.
func (v *ChainVerifier) Add(e Entry) error {
	if v.failed != nil {
		return v.failed
	}
	i := v.n
	h, herr := e.hash()
	switch {
	case e.Seq != v.want:
		v.failed = &ChainError{Seq: e.Seq, Index: i, Reason: fmt.Sprintf("sequence number %d where %d was expected (entry deleted, inserted or reordered)", e.Seq, v.want)}
	case e.PrevHash != v.prev:
		v.failed = &ChainError{Seq: e.Seq, Index: i, Reason: "prev_hash does not match the previous entry's hash"}
	case herr != nil:
		v.failed = &ChainError{Seq: e.Seq, Index: i, Reason: "detail is not valid JSON (entry edited)"}
	case h != e.Hash:
		v.failed = &ChainError{Seq: e.Seq, Index: i, Reason: "content does not match its hash (entry edited)"}
	}
	if v.failed != nil {
		return v.failed
	}
	for len(v.anchors) > 0 && v.anchors[0].Seq <= e.Seq {
		a := v.anchors[0]
		v.anchors = v.anchors[1:]
		if a.Seq == e.Seq && a.Hash != e.Hash {
			v.failed = &AnchorError{Anchor: a, Reason: fmt.Sprintf("entry %d has hash %s, the checkpoint signed %s (chain rewritten)", e.Seq, short(e.Hash), short(a.Hash))}
			return v.failed
		}
	}
	v.prev, v.want, v.n = e.Hash, v.want+1, v.n+1
	return nil
}

// Finish reports anchors beyond the end of the chain: entries that were
// there when the anchor was taken have been removed.
func (v *ChainVerifier) Finish() error {
	if v.failed != nil {
		return v.failed
	}
	if len(v.anchors) > 0 {
		a := v.anchors[len(v.anchors)-1]
		v.failed = &AnchorError{Anchor: a, Reason: fmt.Sprintf("the chain ends at seq %d but the checkpoint signed seq %d (entries removed from the end)", v.want-1, a.Seq)}
	}
	return v.failed
}

// Len is the number of entries verified so far.
func (v *ChainVerifier) Len() int { return v.n }

// Head is the last verified entry's seq and hash (0 and GenesisHash for none).
func (v *ChainVerifier) Head() (int64, string) { return v.want - 1, v.prev }

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// EachAuditEntry calls fn for every entry in chain order, one row at a
// time: a chain of any length (or with huge junk rows) is never held in
// memory at once. The caller's transaction gives one consistent snapshot;
// fn must not use tx (the query is still open).
func (tx *Tx) EachAuditEntry(fn func(Entry) error) error {
	rows, err := tx.tx.Query(`SELECT seq, time_ns, actor, source, kind, object, detail, prev_hash, hash FROM audit ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func scanEntry(rows *sql.Rows) (Entry, error) {
	var e Entry
	var t int64
	var d string
	if err := rows.Scan(&e.Seq, &t, &e.Actor, &e.Source, &e.Kind, &e.Object, &d, &e.PrevHash, &e.Hash); err != nil {
		return e, fmt.Errorf("audit: %w", err)
	}
	e.Time, e.Detail = fromNS(t), json.RawMessage(d)
	return e, nil
}

// Head is the newest entry of the chain.
type Head struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// AuditHead returns the newest entry's seq, hash and time (zero Seq and
// GenesisHash when the chain is empty).
func (tx *Tx) AuditHead() (Head, error) {
	var h Head
	var t int64
	err := tx.tx.QueryRow(`SELECT seq, hash, time_ns FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &h.Hash, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return Head{Hash: GenesisHash}, nil
	}
	if err != nil {
		return Head{}, fmt.Errorf("audit head: %w", err)
	}
	h.Time = fromNS(t)
	return h, nil
}

// AuditHashAt returns the stored hash of entry seq (ErrNotFound if none).
func (tx *Tx) AuditHashAt(seq int64) (string, error) {
	var h string
	err := tx.tx.QueryRow(`SELECT hash FROM audit WHERE seq = ?`, seq).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	return h, nil
}

// stateTables are the tables whose rows every Vahti writes an audit entry
// for: rows there with an empty chain mean the chain was deleted.
var stateTables = []string{"segments", "holds", "requests", "users", "api_tokens", "exports"}

// stateRows counts the rows of stateTables.
func (tx *Tx) stateRows() (map[string]int64, int64, error) {
	out := map[string]int64{}
	var total int64
	for _, t := range stateTables {
		var n int64
		if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM ` + t).Scan(&n); err != nil {
			return nil, 0, fmt.Errorf("audit: count %s: %w", t, err)
		}
		if n > 0 {
			out[t] = n
			total += n
		}
	}
	return out, total, nil
}

// VerifyAudit recomputes the whole chain in the database.
func (tx *Tx) VerifyAudit() (n int, err error) { return tx.VerifyAuditWith(nil) }

// VerifyAuditWith recomputes the whole chain in the database, streaming
// it row by row, and checks it against anchors. An empty chain in a registry that holds
// segments, holds, requests, users, tokens or exports is an error: every
// one of those was audited, so the chain was removed.
func (tx *Tx) VerifyAuditWith(anchors []Anchor) (n int, err error) {
	v := NewChainVerifier(anchors)
	if err := tx.EachAuditEntry(v.Add); err != nil {
		return v.Len(), err
	}
	if err := v.Finish(); err != nil {
		return v.Len(), err
	}
	if v.Len() == 0 {
		rows, total, err := tx.stateRows()
		if err != nil {
			return 0, err
		}
		if total > 0 {
			var parts []string
			for _, t := range stateTables {
				if rows[t] > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", rows[t], t))
				}
			}
			return 0, &ChainError{Seq: 1, Index: 0, Reason: "the chain is empty but the registry holds " + strings.Join(parts, ", ") + " (the audit entries were removed)"}
		}
	}
	return v.Len(), nil
}
