package recorder

import (
	"bytes"
	"context"
	"os"
	"testing"

	"vahti/mp4read"
)

// Each finished segment gets its sidecar index, bound to the segment's
// SHA-256 and equal to the table read from the file; reconcile adopts the
// segments and does not call the indexes garbage.
func TestFinishedSegmentsAreIndexed(t *testing.T) {
	aus, length := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	for loop := int64(0); loop < 2; loop++ {
		h.feed(t, aus, loop*length, nil)
	}
	if err := h.w.close(); err != nil {
		t.Fatal(err)
	}
	if len(h.rows) < 2 {
		t.Fatalf("%d segments", len(h.rows))
	}
	for _, s := range h.rows {
		p := abs(s.Path, h.root)
		b, err := os.ReadFile(mp4read.IndexPath(p))
		if err != nil {
			t.Fatalf("%s: no index: %v", s.Path, err)
		}
		ix, err := mp4read.DecodeIndex(b, nil)
		if err != nil || ix.SHA256 != s.SHA256 || ix.Segment.Size != s.Bytes {
			t.Fatalf("%s: index %v, sha %s size %d; row %s %d", s.Path, err, ix.SHA256, ix.Segment.Size, s.SHA256, s.Bytes)
		}
		seg, err := mp4read.ReadFile(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := mp4read.EncodeIndex(seg, s.SHA256)
		if !bytes.Equal(b, want) {
			t.Errorf("%s: index differs from the file's own table", s.Path)
		}
	}
	db := openDB(t)
	rep, err := Reconcile(context.Background(), h.root, db, h.clock.now, testLogger(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Garbage) > 0 || len(rep.Adopted) != len(h.rows) {
		t.Errorf("reconcile: %d adopted of %d, garbage %v", len(rep.Adopted), len(h.rows), rep.Garbage)
	}
}
