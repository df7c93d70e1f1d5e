package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
		p := bytes.Repeat([]byte{byte(i)}, (i*7919)%(3*hashChunk/2)+1)
		if n, err := hw.Write(p); n != len(p) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
		want = append(want, p...)
	}
	sum := hw.sum()
	h := sha256.Sum256(want)
	if sum != hex.EncodeToString(h[:]) || hw.n != int64(len(want)) {
		t.Fatalf("sum %s n %d; want %x, %d", sum, hw.n, h, len(want))
	}
	if !bytes.Equal(disk.Bytes(), want) {
		t.Fatal("the file's bytes differ from those written")
	}
}
