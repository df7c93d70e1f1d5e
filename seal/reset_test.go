package seal

import (
	"bytes"
	"testing"
	"time"
)

// TestWriterResetIsAFreshWriter: a Writer reset for a new segment (as the
// recorder reuses one per camera) writes exactly the file a new Writer
// writes, however large the records of its previous segment were, and
// the file opens.
func TestWriterResetIsAFreshWriter(t *testing.T) {
	s := newSite(t)
	epub, _, err := NewEpoch(s.pub, EpochFor(testStart))
	if err != nil {
		t.Fatal(err)
	}
	k1, h1, _, err := NewSegmentKey(epub, "yard", testStart)
	if err != nil {
		t.Fatal(err)
	}
	k2, h2, _, err := NewSegmentKey(epub, "yard", testStart.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	us := units(5, 9)
	fresh := sealUnits(t, h2, k2, us, true)

	var first, second bytes.Buffer
	w, err := NewWriter(&first, h1, k1)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{0xab}, 3<<20) // a larger record first: the buffers grow
	if _, err := w.Write(big); err != nil {
		t.Fatal(err)
	}
	if err := w.FlushMeta([]byte("meta")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Reset(&second, h2, k2); err != nil {
		t.Fatal(err)
	}
	for i, u := range us {
		if i%2 == 0 {
			w.Write(u[:len(u)/2])
			w.Write(u[len(u)/2:])
			if err := w.FlushMeta(testMeta(i)); err != nil {
				t.Fatal(err)
			}
		} else if err := w.WriteRecord(u, testMeta(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(second.Bytes(), fresh) {
		t.Fatalf("a reset Writer wrote %d bytes unlike a fresh one's %d", second.Len(), len(fresh))
	}
	rd, err := Open(bytes.NewReader(first.Bytes()), int64(first.Len()), k1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := plaintext(rd); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the first segment does not read back (%v)", err)
	}
}
