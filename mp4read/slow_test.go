package mp4read

import (
	"bytes"
	"math/rand"
	"os"
	"testing"
	"time"
)

func TestFindHang(t *testing.T) {
	base := smallSegment(t, 1)
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 20000; i++ {
		b := append([]byte{}, base...)
		for k := 0; k < 1+r.Intn(3); k++ {
			switch r.Intn(3) {
			case 0:
				b[r.Intn(len(b))] = byte(r.Intn(256))
			case 1:
				p := r.Intn(len(b) - 4)
				copy(b[p:], []byte{0, 0, 0, byte(r.Intn(256))})
			case 2:
				p := r.Intn(len(b) - 4)
				copy(b[p:], []byte{0xff, 0xff, 0xff, byte(r.Intn(256))})
			}
		}
		done := make(chan struct{})
		go func() { Read(bytes.NewReader(b), int64(len(b)), nil); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			os.WriteFile("/tmp/hang.mp4", b, 0o644)
			t.Fatalf("hang at %d", i)
		}
	}
}
