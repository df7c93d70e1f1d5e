package registry

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestDoomAndDeleteByRunsAndLists: the ids retention claims mix runs of
// consecutive ids (sent as ranges) with loose ones (sent as lists), out of
// order and repeated. Exactly the rows named and in the right state change,
// each id is returned once, and the rows between two runs are untouched.
func TestDoomAndDeleteByRunsAndLists(t *testing.T) {
	db, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	var segs []Segment
	for i := 0; i < 1200; i++ {
		st := base.Add(time.Duration(i) * time.Minute)
		segs = append(segs, Segment{Camera: "yard", Start: st, End: st.Add(time.Minute), Path: SegmentPath("yard", st), Bytes: 1})
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.AddSegments(segs) }); err != nil {
		t.Fatal(err)
	}
	id := func(i int) int64 { return segs[i].ID }
	// Row 40 is already doomed by another deleter: never claimed twice.
	if err := db.Update(ctx, func(tx *Tx) error { return tx.SetSegmentState(id(40), SegmentDoomed) }); err != nil {
		t.Fatal(err)
	}
	var ask []int64
	want := map[int64]bool{}
	add := func(i int) {
		ask = append(ask, id(i))
		if i != 40 {
			want[id(i)] = true
		}
	}
	for i := 700; i >= 10; i-- { // two runs around 30, and 600 ids past one list
		if i != 30 {
			add(i)
		}
	}
	for i := 900; i < 1000; i += 2 { // loose
		add(i)
	}
	add(1100) // a short run of 3
	add(1101)
	add(1102)
	ask = append(ask, id(12), id(901-1), 999999) // repeated, and an id no row has
	var doomed []int64
	if err := db.Update(ctx, func(tx *Tx) (err error) { doomed, err = tx.DoomSegments(ask); return err }); err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "doomed", doomed, want)
	states := func() map[int64]string {
		m := map[int64]string{}
		db.View(ctx, func(tx *Tx) error {
			all, err := tx.querySegments(`SELECT ` + segCols + ` FROM segments`)
			for _, s := range all {
				m[s.ID] = s.State
			}
			return err
		})
		return m
	}
	st := states()
	for i, s := range segs {
		wantState := SegmentOK
		if want[s.ID] || i == 40 {
			wantState = SegmentDoomed
		}
		if st[s.ID] != wantState {
			t.Errorf("row %d: state %q, want %q", i, st[s.ID], wantState)
		}
	}
	// Put a run and a loose id back, then delete what is still doomed of
	// the ones asked for.
	back := []int64{id(100), id(101), id(902)}
	var undone, deleted []int64
	err = db.Update(ctx, func(tx *Tx) (err error) {
		if undone, err = tx.UndoomSegments(back); err != nil {
			return err
		}
		deleted, err = tx.DeleteDoomedRows(ask)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, "undoomed", undone, map[int64]bool{id(100): true, id(101): true, id(902): true})
	gone := map[int64]bool{id(40): true} // doomed before, and asked for
	for k := range want {
		if !slices.Contains(back, k) {
			gone[k] = true
		}
	}
	checkIDs(t, "deleted", deleted, gone)
	st = states()
	if len(st) != len(segs)-len(gone) {
		t.Errorf("%d rows left, want %d", len(st), len(segs)-len(gone))
	}
	for _, k := range back {
		if st[k] != SegmentOK {
			t.Errorf("row %d put back: state %q", k, st[k])
		}
	}
}

func checkIDs(t *testing.T, what string, got []int64, want map[int64]bool) {
	t.Helper()
	seen := map[int64]bool{}
	for _, id := range got {
		if !want[id] || seen[id] {
			t.Errorf("%s: id %d not asked for, or twice", what, id)
		}
		seen[id] = true
	}
	if len(seen) != len(want) {
		t.Errorf("%s: %d ids, want %d", what, len(seen), len(want))
	}
}
