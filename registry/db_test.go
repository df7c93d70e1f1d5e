package registry

import (
	"context"
	"errors"
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
