package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// exportedChain builds a chain of n entries in a fresh registry and returns
// it as exported JSONL lines (what `vahti audit export` writes).
func exportedChain(t *testing.T, n int) [][]byte {
	t.Helper()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	db, err := Open(t.TempDir(), func() time.Time { now = now.Add(time.Second); return now })
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		err := db.Update(ctx, func(tx *Tx) error {
			_, err := tx.Audit("keeper", "cli", "segments.delete", "camera:yard", map[string]any{"count": i, "bytes": 100 * i})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var entries []Entry
	if err := db.View(ctx, func(tx *Tx) error {
		var err error
		entries, err = tx.AuditEntries(AuditFilter{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b)
	}
	return lines
}

func parseChain(t *testing.T, lines [][]byte) []Entry {
	t.Helper()
	var out []Entry
	for _, l := range lines {
		var e Entry
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func wantBroken(t *testing.T, name string, entries []Entry, seq int64, index int, reason string) {
	t.Helper()
	err := VerifyChain(entries)
	var ce *ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: verify passed or failed oddly: %v", name, err)
	}
	if ce.Seq != seq || ce.Index != index || !strings.Contains(ce.Reason, reason) {
		t.Fatalf("%s: broken at seq %d index %d (%s), want seq %d index %d (%s)", name, ce.Seq, ce.Index, ce.Reason, seq, index, reason)
	}
	if !strings.Contains(err.Error(), "entry") {
		t.Fatalf("%s: error does not name the entry: %v", name, err)
	}
}

func TestAuditChainExportRoundTripVerifies(t *testing.T) {
	lines := exportedChain(t, 5)
	if err := VerifyChain(parseChain(t, lines)); err != nil {
		t.Fatal(err)
	}
}

func TestAuditChainEditedFieldFails(t *testing.T) {
	lines := exportedChain(t, 5)
	for _, c := range []struct{ from, to string }{
		{`"actor":"keeper"`, `"actor":"mallory"`},
		{`"count":2`, `"count":0`},
		{`"kind":"segments.delete"`, `"kind":"segments.keep"`},
		{`"object":"camera:yard"`, `"object":"camera:lobby"`},
	} {
		edited := append([][]byte(nil), lines...)
		edited[2] = bytes.Replace(lines[2], []byte(c.from), []byte(c.to), 1)
		if bytes.Equal(edited[2], lines[2]) {
			t.Fatalf("edit %s did not apply to %s", c.from, lines[2])
		}
		wantBroken(t, "edit "+c.from, parseChain(t, edited), 3, 2, "edited")
	}
	// A forger who also recomputes the edited entry's hash breaks the link
	// to the next entry.
	es := parseChain(t, lines)
	es[2].Actor = "mallory"
	es[2].Hash = es[2].ComputeHash()
	wantBroken(t, "edit with rehash", es, 4, 3, "prev_hash")
	// Editing the time is caught too.
	es = parseChain(t, lines)
	es[1].Time = es[1].Time.Add(time.Hour)
	wantBroken(t, "edit time", es, 2, 1, "edited")
}

func TestAuditChainDeletedEntryFails(t *testing.T) {
	es := parseChain(t, exportedChain(t, 5))
	gone := append(append([]Entry(nil), es[:1]...), es[2:]...) // entry seq 2 deleted
	wantBroken(t, "delete", gone, 3, 1, "sequence")
	// Deleting the first entry is caught as well.
	wantBroken(t, "delete first", es[1:], 2, 0, "sequence")
	// Renumbering after a deletion does not help: the hashes no longer link.
	renum := append([]Entry(nil), gone...)
	for i := range renum {
		renum[i].Seq = int64(i + 1)
	}
	if err := VerifyChain(renum); err == nil {
		t.Fatal("renumbered chain with a deleted entry verifies")
	}
	// Truncating the tail cannot be seen from the chain alone; the
	// registry's own check compares with what it holds.
}

func TestAuditChainReorderedEntriesFail(t *testing.T) {
	es := parseChain(t, exportedChain(t, 5))
	es[1], es[2] = es[2], es[1]
	wantBroken(t, "reorder", es, 3, 1, "sequence")
	// Swapping the sequence numbers back does not help.
	es[1].Seq, es[2].Seq = 2, 3
	wantBroken(t, "reorder with renumber", es, 2, 1, "")
}

func TestAuditChainInDatabaseDetectsTampering(t *testing.T) {
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		db.Update(ctx, func(tx *Tx) error { _, err := tx.Audit("u", "cli", "hold.add", "hold:1", nil); return err })
	}
	if _, err := db.sql.Exec(`UPDATE audit SET actor = 'x' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx *Tx) error { _, err := tx.VerifyAudit(); return err })
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Seq != 2 {
		t.Fatalf("tampered database chain: %v", err)
	}
}

// TestAuditEntriesFromATimeWithTheClockSetBack: entries from a time on are
// found by where the chain reaches that time (audit_time), yet an entry
// written after the clock was set back, and one stamped ahead before it,
// are each returned exactly when their own time matches.
func TestAuditEntriesFromATimeWithTheClockSetBack(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := t0
	db, err := Open(t.TempDir(), func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	// seq 1 at 0 h, 2 at 10 h, 3 at 2 h (the clock set back), 4 at 11 h.
	for _, h := range []int{0, 10, 2, 11} {
		clock = t0.Add(time.Duration(h) * time.Hour)
		if err := db.Update(ctx, func(tx *Tx) error { _, err := tx.Audit("u", "test", "note.add", "x", nil); return err }); err != nil {
			t.Fatal(err)
		}
	}
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	for _, c := range []struct {
		f    AuditFilter
		want []int64
	}{
		{AuditFilter{From: at(5)}, []int64{2, 4}},
		{AuditFilter{From: at(1)}, []int64{2, 3, 4}},
		{AuditFilter{From: at(1), To: at(3)}, []int64{3}},
		{AuditFilter{From: at(1), To: at(11)}, []int64{2, 3}},
		{AuditFilter{From: at(1), AfterSeq: 2}, []int64{3, 4}},
		{AuditFilter{From: at(12)}, nil},
		{AuditFilter{From: at(0), Kind: "note", Limit: 2}, []int64{1, 2}},
	} {
		var es []Entry
		if err := db.View(ctx, func(tx *Tx) (err error) { es, err = tx.AuditEntries(c.f); return err }); err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, e := range es {
			got = append(got, e.Seq)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("from %s to %s after %d: seqs %v, want %v", c.f.From.Format("15h"), c.f.To.Format("15h"), c.f.AfterSeq, got, c.want)
		}
	}
}
