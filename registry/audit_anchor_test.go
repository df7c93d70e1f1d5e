package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func openAuditDB(t *testing.T, n int) *DB {
	t.Helper()
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	err = db.Update(ctx, func(tx *Tx) error {
		for i := 0; i < n; i++ {
			if _, err := tx.Audit("u", "cli", "hold.add", "hold:1", map[string]any{"i": i}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func verifyWith(t *testing.T, db *DB, anchors []Anchor) (int, error) {
	t.Helper()
	var n int
	var verr error
	if err := db.View(context.Background(), func(tx *Tx) error { n, verr = tx.VerifyAuditWith(anchors); return nil }); err != nil {
		t.Fatal(err)
	}
	return n, verr
}

func headOf(t *testing.T, db *DB) Head {
	t.Helper()
	var h Head
	if err := db.View(context.Background(), func(tx *Tx) error { var err error; h, err = tx.AuditHead(); return err }); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAuditRefusesDetailThatCannotBeEncoded(t *testing.T) {
	db := openAuditDB(t, 2)
	for name, detail := range map[string]any{
		"NaN":              map[string]any{"x": math.NaN()},
		"invalid raw JSON": json.RawMessage(`{"x":`),
		"channel":          map[string]any{"c": make(chan int)},
	} {
		err := db.Update(context.Background(), func(tx *Tx) error {
			_, err := tx.Audit("u", "cli", "hold.add", "hold:1", detail)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("%s: audit accepted (err %v)", name, err)
		}
	}
	if h := headOf(t, db); h.Seq != 2 {
		t.Fatalf("refused entries were written: head %d", h.Seq)
	}
}

// An entry whose detail is not JSON used to hash as if its body were
// empty (sha256 of prev_hash alone): anyone could write such an entry.
func TestVerifyRejectsEntryWithUnencodableDetail(t *testing.T) {
	es := parseChain(t, exportedChain(t, 3))
	last := &es[2]
	last.Detail = json.RawMessage(`not json`)
	sum := sha256.Sum256([]byte(last.PrevHash))
	last.Hash = hex.EncodeToString(sum[:])
	wantBroken(t, "unencodable detail", es, 3, 2, "not valid JSON")
}

func TestVerifyAuditStreamsALongChain(t *testing.T) {
	db := openAuditDB(t, 2517)
	n, err := verifyWith(t, db, nil)
	if err != nil || n != 2517 {
		t.Fatalf("verify: %d entries, %v", n, err)
	}
	// An edit far into the chain is found there.
	if _, err := db.sql.Exec(`UPDATE audit SET actor = 'x' WHERE seq = ?`, 1505); err != nil {
		t.Fatal(err)
	}
	_, err = verifyWith(t, db, nil)
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Seq != 1505 {
		t.Fatalf("edit at 1505: %v", err)
	}
}

func TestVerifyAuditEmptyChainWithStateFails(t *testing.T) {
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := verifyWith(t, db, nil); err != nil || n != 0 {
		t.Fatalf("a fresh registry: %d, %v", n, err)
	}
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	err = db.Update(context.Background(), func(tx *Tx) error {
		return tx.AddSegment(&Segment{Camera: "yard", Start: start, End: start.Add(time.Minute), Path: SegmentPath("yard", start), Bytes: 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = verifyWith(t, db, nil)
	if err == nil || !strings.Contains(err.Error(), "empty") || !strings.Contains(err.Error(), "1 segments") {
		t.Fatalf("empty chain beside a segment: %v", err)
	}
}

func TestAnchorCatchesTailTruncation(t *testing.T) {
	db := openAuditDB(t, 10)
	h := headOf(t, db)
	anchor := []Anchor{{Seq: h.Seq, Hash: h.Hash, Name: "cp-10.txt"}}
	if _, err := verifyWith(t, db, anchor); err != nil {
		t.Fatalf("untouched chain against its checkpoint: %v", err)
	}
	if _, err := db.sql.Exec(`DELETE FROM audit WHERE seq > 7`); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyWith(t, db, nil); err != nil {
		t.Fatalf("the cut chain alone should verify (that is the hole anchors close): %v", err)
	}
	_, err := verifyWith(t, db, anchor)
	var ae *AnchorError
	if !errors.As(err, &ae) || ae.Anchor.Name != "cp-10.txt" || !strings.Contains(err.Error(), "cp-10.txt") {
		t.Fatalf("truncated chain: %v", err)
	}
}

func TestAnchorCatchesWholeChainRewrite(t *testing.T) {
	db := openAuditDB(t, 10)
	h := headOf(t, db)
	early := Anchor{Seq: 4, Name: "cp-4.txt"}
	db.View(context.Background(), func(tx *Tx) error { early.Hash, _ = tx.AuditHashAt(4); return nil })
	anchors := []Anchor{early, {Seq: h.Seq, Hash: h.Hash, Name: "cp-10.txt"}}
	// Rewrite entry 3 and re-hash everything after it: the chain is
	// internally consistent again.
	var es []Entry
	db.View(context.Background(), func(tx *Tx) error { var err error; es, err = tx.AuditEntries(AuditFilter{}); return err })
	es[2].Actor = "mallory"
	for i := 2; i < len(es); i++ {
		es[i].PrevHash = es[i-1].Hash
		es[i].Hash = es[i].ComputeHash()
		if _, err := db.sql.Exec(`UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`, es[i].Actor, es[i].PrevHash, es[i].Hash, es[i].Seq); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := verifyWith(t, db, nil); err != nil {
		t.Fatalf("rewritten chain alone should verify: %v", err)
	}
	_, err := verifyWith(t, db, anchors)
	var ae *AnchorError
	if !errors.As(err, &ae) || ae.Anchor.Name != "cp-4.txt" || !strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("rewritten chain: %v", err)
	}
}
