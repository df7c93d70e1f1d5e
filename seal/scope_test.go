package seal

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// mapStore is a KeyStore over maps, counting the data key lookups.
type mapStore struct {
	keys    map[KeyID][]byte
	day     EpochID
	pub     []byte
	sealed  []byte
	lookups int
}

func (s *mapStore) SealedDataKey(id KeyID) (EpochID, []byte, error) {
	s.lookups++
	k, ok := s.keys[id]
	if !ok {
		return 0, nil, fmt.Errorf("key %s: not found", id)
	}
	return s.day, k, nil
}

func (s *mapStore) SealedEpoch(id EpochID) ([]byte, []byte, error) {
	if id != s.day {
		return nil, nil, fmt.Errorf("epoch %s: not found", id)
	}
	return s.pub, s.sealed, nil
}

// TestScopeUnwrapsEachKeyOnce: within one scope a segment opened three
// times (as an export opens each source) reads the same plaintext each
// time and costs one unwrap; another segment costs its own; a header that
// names a known key id but another camera is not given the cached key
// (it goes to the keyring, which refuses it); after end the scope opens
// nothing and its kept keys are zeroed.
func TestScopeUnwrapsEachKeyOnce(t *testing.T) {
	s := newSite(t)
	day := EpochFor(testStart)
	epub, esealed, err := NewEpoch(s.pub, day)
	if err != nil {
		t.Fatal(err)
	}
	st := &mapStore{keys: map[KeyID][]byte{}, day: day, pub: epub.Bytes(), sealed: esealed}
	us := units(7, 12)
	var files [][]byte
	var hs []Header
	for i := range 2 {
		h, file, sealed := recordSegment(t, epub, "yard", testStart.Add(time.Duration(i)*time.Minute), us)
		st.keys[h.KeyID] = sealed
		files, hs = append(files, file), append(hs, h)
	}
	want := bytes.Join(us, nil)
	unwrap, end := Scope(s.ring.Unwrapper(st))
	for round := range 3 {
		for i, f := range files {
			rd, err := OpenSegment(bytes.NewReader(f), int64(len(f)), unwrap)
			if err != nil {
				t.Fatalf("round %d, segment %d: %v", round, i, err)
			}
			if got, err := plaintext(rd); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("round %d, segment %d: plaintext differs (%v)", round, i, err)
			}
		}
	}
	if st.lookups != 2 {
		t.Errorf("%d unwraps for 2 segments opened 3 times each, want 2", st.lookups)
	}

	forged := hs[0]
	forged.Camera = "gate"
	if _, err := unwrap(forged); err == nil {
		t.Error("a header naming segment 0's key id for another camera got a key")
	}
	if st.lookups != 3 {
		t.Errorf("the forged header was answered from the scope (%d lookups), not by the keyring", st.lookups)
	}

	var kept []*DataKey
	sc := newScope(s.ring.Unwrapper(st))
	if _, err := sc.get(hs[1]); err != nil {
		t.Fatal(err)
	}
	for _, c := range sc.keys {
		kept = append(kept, c.k)
	}
	sc.end()
	if len(kept) != 1 || kept[0].b != [32]byte{} {
		t.Errorf("end left a data key in memory (%d kept)", len(kept))
	}
	end()
	if _, err := OpenSegment(bytes.NewReader(files[0]), int64(len(files[0])), unwrap); !errors.Is(err, ErrWiped) {
		t.Errorf("open after end: %v, want ErrWiped", err)
	}
	if u, e := Scope(nil); u != nil {
		t.Error("Scope(nil) is not nil")
	} else {
		e()
	}
}
