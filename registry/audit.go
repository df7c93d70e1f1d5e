package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// ComputeHash returns the hash the entry must carry.
func (e Entry) ComputeHash() string {
	body, _ := json.Marshal(struct {
		Seq    int64           `json:"seq"`
		Time   int64           `json:"time_ns"`
		Actor  string          `json:"actor"`
		Source string          `json:"source"`
		Kind   string          `json:"kind"`
		Object string          `json:"object"`
		Detail json.RawMessage `json:"detail"`
	}{e.Seq, e.Time.UnixNano(), e.Actor, e.Source, e.Kind, e.Object, e.Detail})
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Audit appends an entry to the chain. detail is marshalled to JSON. It
// runs in the caller's transaction, so the entry commits with the change
// it records, and the write lock orders the chain across processes.
func (tx *Tx) Audit(actor, source, kind, object string, detail any) (Entry, error) {
	d, err := json.Marshal(detail)
	if err != nil {
		return Entry{}, fmt.Errorf("audit %s: %w", kind, err)
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
	e.Hash = e.ComputeHash()
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
	q := `SELECT seq, time_ns, actor, source, kind, object, detail, prev_hash, hash FROM audit WHERE seq > ?`
	args := []any{f.AfterSeq}
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
		var e Entry
		var t int64
		var d string
		if err := rows.Scan(&e.Seq, &t, &e.Actor, &e.Source, &e.Kind, &e.Object, &d, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		e.Time, e.Detail = fromNS(t), json.RawMessage(d)
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
	prev, want := GenesisHash, int64(1)
	for i, e := range entries {
		switch {
		case e.Seq != want:
			return &ChainError{Seq: e.Seq, Index: i, Reason: fmt.Sprintf("sequence number %d where %d was expected (entry deleted, inserted or reordered)", e.Seq, want)}
		case e.PrevHash != prev:
			return &ChainError{Seq: e.Seq, Index: i, Reason: "prev_hash does not match the previous entry's hash"}
		case e.ComputeHash() != e.Hash:
			return &ChainError{Seq: e.Seq, Index: i, Reason: "content does not match its hash (entry edited)"}
		}
		prev, want = e.Hash, want+1
	}
	return nil
}

// VerifyAudit recomputes the whole chain in the database.
func (tx *Tx) VerifyAudit() (n int, err error) {
	entries, err := tx.AuditEntries(AuditFilter{})
	if err != nil {
		return 0, err
	}
	return len(entries), VerifyChain(entries)
}
