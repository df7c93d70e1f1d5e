package seal

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestKeyringKeepsEpochKeys: a keyring opens a day's key once for all
// the day's segments; when the store no longer has the epoch (destroyed
// by a purge) the kept key is wiped and nothing opens; Wipe wipes every
// kept key.
func TestKeyringKeepsEpochKeys(t *testing.T) {
	s := newSite(t)
	day := EpochFor(testStart)
	epub, esealed, err := NewEpoch(s.pub, day)
	if err != nil {
		t.Fatal(err)
	}
	st := &purgeStore{mapStore: &mapStore{keys: map[KeyID][]byte{}, day: day, pub: epub.Bytes(), sealed: esealed}}
	us := units(3, 5)
	var files [][]byte
	for i := range 3 {
		h, file, sealed := recordSegment(t, epub, "yard", testStart.Add(time.Duration(i)*time.Minute), us)
		st.keys[h.KeyID] = sealed
		files = append(files, file)
	}
	unwrap := s.ring.Unwrapper(st)
	var first *EpochKey
	for i, f := range files {
		rd, err := OpenSegment(bytes.NewReader(f), int64(len(f)), unwrap)
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		if got, err := plaintext(rd); err != nil || !bytes.Equal(got, bytes.Join(us, nil)) {
			t.Fatalf("segment %d: plaintext differs (%v)", i, err)
		}
		if s.ring.keptEpochs() != 1 {
			t.Fatalf("segment %d: %d epoch keys kept, want 1", i, s.ring.keptEpochs())
		}
		k := s.ring.epochs[day].key
		if first == nil {
			first = k
		} else if k != first {
			t.Fatalf("segment %d opened the day's key again", i)
		}
	}

	// The purge destroys the epoch: the next read finds it gone, the kept
	// copy is wiped, and nothing opens even though the data key is stored.
	st.destroyed = true
	if _, err := OpenSegment(bytes.NewReader(files[0]), int64(len(files[0])), unwrap); err == nil {
		t.Fatal("a segment of a destroyed epoch opened from the kept key")
	}
	if s.ring.keptEpochs() != 0 || first.seed != nil {
		t.Fatalf("the destroyed epoch's key is still kept (%d kept, seed wiped: %v)", s.ring.keptEpochs(), first.seed == nil)
	}

	// Back (a store that has it), kept again, then the keyring's Wipe
	// wipes it with the site key.
	st.destroyed = false
	if _, err := OpenSegment(bytes.NewReader(files[1]), int64(len(files[1])), unwrap); err != nil {
		t.Fatal(err)
	}
	kept := s.ring.epochs[day].key
	s.ring.Wipe()
	if s.ring.keptEpochs() != 0 || kept.seed != nil {
		t.Fatal("Wipe left an epoch key in memory")
	}
	if _, err := OpenSegment(bytes.NewReader(files[2]), int64(len(files[2])), unwrap); !errors.Is(err, ErrWiped) {
		t.Fatalf("after Wipe: %v, want ErrWiped", err)
	}
}

// purgeStore is a mapStore whose epoch can be destroyed.
type purgeStore struct {
	*mapStore
	destroyed bool
}

func (s *purgeStore) SealedEpoch(id EpochID) ([]byte, []byte, error) {
	if s.destroyed {
		return nil, nil, errors.New("epoch destroyed: not found")
	}
	return s.mapStore.SealedEpoch(id)
}
