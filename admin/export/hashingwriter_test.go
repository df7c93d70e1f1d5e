package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

// The package writer hashes in a goroutine of its own: what reaches the
// file and the SHA-256 it reports are exactly the bytes given, in order,
// whatever the sizes of the writes.
func TestHashingWriterWritesAndHashesInOrder(t *testing.T) {
	var want []byte
	disk := &bytes.Buffer{}
	hw := newHashingWriter(disk)
	for i := 0; i < 400; i++ {
		p := bytes.Repeat([]byte{byte(i)}, (i*7919)%(3*hashChunkSize/2)+1)
		if n, err := hw.Write(p); n != len(p) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
		want = append(want, p...)
	}
	sum, err := hw.finish()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(want)
	if sum != hex.EncodeToString(h[:]) || hw.n != int64(len(want)) {
		t.Fatalf("sum %s n %d; want %x, %d", sum, hw.n, h, len(want))
	}
	if !bytes.Equal(disk.Bytes(), want) {
		t.Fatal("the file's bytes differ from those written")
	}
}

// A write to the file that fails is not lost in the goroutine that made
// it: the next Write and finish return it, and nothing after it is
// written.
func TestHashingWriterReportsTheDiskError(t *testing.T) {
	full := errors.New("no space left on device")
	disk := &failingWriter{room: 3 * hashChunkSize, err: full}
	hw := newHashingWriter(disk)
	p := make([]byte, hashChunkSize/3)
	var werr error
	for i := 0; i < 200 && werr == nil; i++ {
		_, werr = hw.Write(p)
	}
	if _, err := hw.finish(); !errors.Is(err, full) {
		t.Fatalf("finish: %v, want %v", err, full)
	}
	if werr != nil && !errors.Is(werr, full) {
		t.Fatalf("write: %v, want %v", werr, full)
	}
	if disk.got > 3*hashChunkSize {
		t.Fatalf("%d bytes reached the file after its write failed at %d", disk.got, 3*hashChunkSize)
	}
	if _, err := hw.Write(p); err == nil {
		t.Fatal("a write after finish succeeded")
	}
}

type failingWriter struct {
	room, got int
	err       error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.got+len(p) > w.room {
		return 0, w.err
	}
	w.got += len(p)
	return len(p), nil
}
