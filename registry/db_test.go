package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A transaction whose context ends is rolled back by database/sql; the
// caller must see a cancellation it can recognise, not a failure.
func TestCancelledTransactionReportsCancellation(t *testing.T) {
	db, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	err = db.Update(ctx, func(tx *Tx) error {
		s := Segment{Camera: "yard", Start: time.Unix(100, 0), End: time.Unix(160, 0), Path: SegmentPath("yard", time.Unix(100, 0))}
		if err := tx.AddSegment(&s); err != nil {
			return err
		}
		cancel()
		time.Sleep(50 * time.Millisecond) // database/sql rolls back on ctx.Done in its own goroutine
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context: %v, want context.Canceled", err)
	}
	var n int64
	db.View(context.Background(), func(tx *Tx) error { n, _, err = tx.CountSegments(); return err })
	if n != 0 {
		t.Errorf("the interrupted transaction left %d rows", n)
	}
}

// A context that ends while rows are being read (reconcile walking the
// catalog when the service is told to stop) is a cancellation too, not
// the error the statement under way happened to return: database/sql
// closes the rows, and the scan then says "sql: Rows are closed".
func TestCancelledScanReportsCancellation(t *testing.T) {
	db, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	scanErr := errors.New("sql: Rows are closed") // unexported in database/sql
	err = db.View(ctx, func(tx *Tx) error {
		cancel()
		time.Sleep(50 * time.Millisecond) // database/sql rolls back on ctx.Done in its own goroutine
		return fmt.Errorf("segments: %w", scanErr)
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a scan cut short by its context: %v, want context.Canceled", err)
	}
	// Without a cancelled context, the same error is a failure.
	err = db.View(context.Background(), func(tx *Tx) error { return scanErr })
	if !errors.Is(err, scanErr) || errors.Is(err, context.Canceled) {
		t.Errorf("a failing scan: %v, want the scan's error", err)
	}
}

// Every path that creates an account meets the same name rule.
func TestAddUserRefusesANameLoginCannotUse(t *testing.T) {
	db, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range []string{strings.Repeat("a", MaxUserName+1), "bad name", ".dot"} {
		err := db.Update(context.Background(), func(tx *Tx) error {
			return tx.AddUser(&User{Name: name, Roles: []string{RoleKeeper}, PassHash: "x"})
		})
		if !errors.Is(err, ErrUserName) {
			t.Errorf("AddUser(%q): %v, want ErrUserName", name, err)
		}
	}
	if err := db.Update(context.Background(), func(tx *Tx) error {
		return tx.AddUser(&User{Name: strings.Repeat("a", MaxUserName), Roles: []string{RoleKeeper}, PassHash: "x"})
	}); err != nil {
		t.Errorf("a 64-character name: %v", err)
	}
}
