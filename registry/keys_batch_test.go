package registry

import (
	"context"
	"encoding/binary"
	"testing"
	"time"
)

// TestDeleteSegmentKeysAtInBatches: over more segments than one statement
// names, on two cameras, the batched delete reports exactly the segments
// that had a key or a held copy, destroys both, leaves other cameras'
// keys at the same instants alone, and finds nothing a second time.
func TestDeleteSegmentKeysAtInBatches(t *testing.T) {
	db, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	const n = 2*keyBatch + 37
	keyID := func(cam byte, i int, held bool) []byte {
		id := make([]byte, 16)
		id[0], id[1] = cam, 0
		if held {
			id[1] = 1
		}
		binary.BigEndian.PutUint64(id[8:], uint64(i))
		return id
	}
	var segs []SegmentAt
	want := map[int]bool{}
	err = db.Update(ctx, func(tx *Tx) error {
		if err := tx.AddEpoch(100, []byte("p"), []byte("s")); err != nil {
			return err
		}
		if err := tx.AddHeldEpoch(100, []byte("p"), []byte("s")); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			st := base.Add(time.Duration(i) * time.Minute)
			for _, cam := range []string{"yard", "door"} {
				k := SegmentKey{KeyID: keyID(cam[0], i, false), Camera: cam, Start: st, EpochDay: 100, SealedKey: []byte("k")}
				// yard: every third segment has a key, every fifth a held copy too;
				// door: every segment has a key, and is never asked for.
				if cam == "door" || i%3 == 0 {
					if err := tx.PutSegmentKey(k); err != nil {
						return err
					}
				}
				if cam == "yard" && i%5 == 0 {
					k.KeyID = keyID(cam[0], i, true)
					if err := tx.PutHeldKey(k); err != nil {
						return err
					}
				}
			}
			segs = append(segs, SegmentAt{Camera: "yard", Start: st})
			want[i] = i%3 == 0 || i%5 == 0
		}
		// A camera with no keys at all, in the same call.
		segs = append(segs, SegmentAt{Camera: "hall", Start: base})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var had, again []bool
	if err := db.Update(ctx, func(tx *Tx) error {
		var err error
		had, err = tx.DeleteSegmentKeysAt(segs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(had) != len(segs) {
		t.Fatalf("%d answers for %d segments", len(had), len(segs))
	}
	for i := 0; i < n; i++ {
		if had[i] != want[i] {
			t.Errorf("yard segment %d: had %v, want %v", i, had[i], want[i])
		}
	}
	if had[n] {
		t.Error("hall: a key reported where none was stored")
	}
	if err := db.Update(ctx, func(tx *Tx) error {
		var err error
		again, err = tx.DeleteSegmentKeysAt(segs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i, h := range again {
		if h {
			t.Fatalf("segment %d: a key left after the delete", i)
		}
	}
	err = db.View(ctx, func(tx *Tx) error {
		left, err := tx.SegmentKeyCount()
		if err != nil {
			return err
		}
		if left != n {
			t.Errorf("%d keys left, want door's %d", left, n)
		}
		var held int
		if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM seal_held_keys`).Scan(&held); err != nil {
			return err
		}
		if held != 0 {
			t.Errorf("%d held keys left", held)
		}
		has, err := tx.HasSegmentKeysAt([]SegmentAt{{Camera: "door", Start: base}, {Camera: "yard", Start: base}})
		if err != nil {
			return err
		}
		if !has[0] || has[1] {
			t.Errorf("HasSegmentKeysAt(door, yard at the first minute) = %v, want [true false]", has)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
