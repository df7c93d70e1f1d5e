package seal

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestReadAtWholeRecords: reads that cover whole records (decrypted
// straight into the caller's buffer) and reads that do not (through the
// cached record) give the plaintext for every start and length at record
// boundaries and a few bytes beside them; a whole read across a record
// that fails authentication stops at it with ErrAuth and leaves none of
// its bytes in the buffer. The same over a file read into memory (Bytes,
// decrypted from the slice itself) and the Meta of every record.
func TestReadAtWholeRecords(t *testing.T) {
	for name, mk := range map[string]func([]byte) io.ReaderAt{
		"file":   func(b []byte) io.ReaderAt { return bytes.NewReader(b) },
		"memory": func(b []byte) io.ReaderAt { return Bytes(b) },
	} {
		t.Run(name, func(t *testing.T) { readAtWholeRecords(t, mk) })
	}
}

func readAtWholeRecords(t *testing.T, mk func([]byte) io.ReaderAt) {
	k := testKey(t)
	us := units(11, 7)
	file := sealUnits(t, testHeader("yard"), k, us, true)
	want := bytes.Join(us, nil)
	var starts []int64
	var pt int64
	for _, u := range us {
		starts = append(starts, pt)
		pt += int64(len(u))
	}
	starts = append(starts, pt)
	rd, err := Open(mk(file), int64(len(file)), k)
	if err != nil {
		t.Fatal(err)
	}
	for i := range us {
		if m, err := rd.Meta(i); err != nil || !bytes.Equal(m, testMeta(i)) {
			t.Fatalf("Meta(%d) = %q, %v; want %q", i, m, err, testMeta(i))
		}
	}
	var offs []int64
	for _, s := range starts {
		offs = append(offs, max(s-3, 0), s, s+3)
	}
	for _, from := range offs {
		for _, to := range offs {
			if from >= to || to > pt || from >= pt {
				continue
			}
			// A small read first, so a cached record sits beside the reads.
			var one [1]byte
			if _, err := rd.ReadAt(one[:], (from+to)/2); err != nil {
				t.Fatal(err)
			}
			p := make([]byte, to-from)
			n, err := rd.ReadAt(p, from)
			if err != nil && !(errors.Is(err, io.EOF) && n == len(p)) {
				t.Fatalf("ReadAt [%d, %d): %d bytes, %v", from, to, n, err)
			}
			if !bytes.Equal(p, want[from:to]) {
				t.Fatalf("ReadAt [%d, %d): not the plaintext", from, to)
			}
		}
	}

	bad := bytes.Clone(file)
	bad[recordOffsets(t, file)[2]+recHead+int64(len(testMeta(2)))+5] ^= 1
	rd, err = Open(mk(bad), int64(len(bad)), k)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, pt)
	n, err := rd.ReadAt(p, 0)
	if !errors.Is(err, ErrAuth) || int64(n) != starts[2] {
		t.Fatalf("read across a tampered record: %d bytes, %v; want %d bytes and ErrAuth", n, err, starts[2])
	}
	if !bytes.Equal(p[:n], want[:n]) {
		t.Error("the records before the tampered one are not the plaintext")
	}
	if !bytes.Equal(p[starts[2]:starts[3]], make([]byte, starts[3]-starts[2])) {
		t.Error("bytes of the record that failed authentication were left in the buffer")
	}
}

// countingReader counts the reads of record bodies (longer than the
// 6-byte lengths Open scans).
type countingReader struct {
	r     io.ReaderAt
	reads int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	if len(p) > recHead {
		c.reads++
	}
	return c.r.ReadAt(p, off)
}

// TestReadAtBoxWindows: mp4read's reads of a sealed segment (a 4 KiB
// window at each box: ftyp at 0, moov just after it in the small init
// record, so both windows run into the first fragment's record; then the
// fragment's moof and mdat) decrypt the first fragment once, not once
// per window.
func TestReadAtBoxWindows(t *testing.T) {
	k := testKey(t)
	us := [][]byte{bytes.Repeat([]byte{1}, 1000), bytes.Repeat([]byte{2}, 300000), bytes.Repeat([]byte{3}, 300000)}
	file := sealUnits(t, testHeader("yard"), k, us, true)
	cr := &countingReader{r: bytes.NewReader(file)}
	rd, err := Open(cr, int64(len(file)), k)
	if err != nil {
		t.Fatal(err)
	}
	cr.reads = 0
	want := bytes.Join(us, nil)
	for _, off := range []int64{0, 32, 1000, 1008, 1900} {
		p := make([]byte, 4096)
		if _, err := rd.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, want[off:off+4096]) {
			t.Fatalf("ReadAt(%d): not the plaintext", off)
		}
	}
	// The init record twice (it is tiny), the first fragment once.
	if cr.reads > 3 {
		t.Errorf("%d record reads and decryptions for two records, want at most 3", cr.reads)
	}
}
