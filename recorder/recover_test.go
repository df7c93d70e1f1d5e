package recorder

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vahti/mp4read"
	"vahti/registry"
)

// makeSegment writes one real segment (the sample clip, about one loop
// long) under root, starting at start, and returns its row (not
// catalogued).
func makeSegment(t *testing.T, root string, start time.Time) registry.Segment {
	t.Helper()
	aus, _ := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	h.root = root
	h.w.cfg.root = root
	h.base = start
	h.w.segTicks = durToTicks(time.Hour, videoTimeScale)
	h.feed(t, aus, 0, nil)
	if err := h.w.close(); err != nil {
		t.Fatal(err)
	}
	if len(h.rows) != 1 {
		t.Fatalf("%d segments", len(h.rows))
	}
	return h.rows[0]
}

// fragmentEnds lists where each complete fragment of a file ends.
func fragmentEnds(t *testing.T, data []byte) []int64 {
	t.Helper()
	var ends []int64
	for off := int64(0); off+8 <= int64(len(data)); {
		size := int64(binary.BigEndian.Uint32(data[off:]))
		typ := string(data[off+4 : off+8])
		off += size
		if typ == "mdat" {
			ends = append(ends, off)
		}
	}
	return ends
}

func TestRecoverTornSegment(t *testing.T) {
	requireFFprobe(t)
	src := t.TempDir()
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	orig := makeSegment(t, src, start)
	data, err := os.ReadFile(abs(orig.Path, src))
	if err != nil {
		t.Fatal(err)
	}
	ends := fragmentEnds(t, data)
	if len(ends) < 5 {
		t.Fatalf("only %d fragments", len(ends))
	}

	root := t.TempDir()
	db := openDB(t)
	put := func(start time.Time, b []byte) string {
		rel := registry.UnfinishedPath("yard", start)
		p := abs(rel, root)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return rel
	}
	// 1. cut in the middle of the last fragment (a crash mid-write)
	torn := start
	cut := ends[len(ends)-2] + (ends[len(ends)-1]-ends[len(ends)-2])/2
	put(torn, data[:cut])
	// 2. whole, but followed by zeros (a power cut after the size grew)
	zeros := start.Add(time.Hour)
	put(zeros, append(append([]byte(nil), data...), make([]byte, 4096)...))
	// 3. the init section only, and 4. nothing at all: no footage
	initOnly := start.Add(2 * time.Hour)
	put(initOnly, data[:firstMoof(t, data)])
	empty := start.Add(3 * time.Hour)
	put(empty, nil)

	buf := &syncBuffer{}
	rep, err := Recover(context.Background(), root, db, testLogger(t, buf))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Recovered) != 2 || len(rep.Removed) != 2 || len(rep.Failed) != 0 {
		t.Fatalf("report %+v", rep)
	}
	leftovers, _ := filepath.Glob(filepath.Join(root, "yard", "*", "*", "*", "*.tmp"))
	if len(leftovers) != 0 {
		t.Errorf("unfinished files left: %v", leftovers)
	}
	origDur := orig.End.Sub(orig.Start)
	for _, st := range []time.Time{torn, zeros} {
		rel := registry.SegmentPath("yard", st)
		p := abs(rel, root)
		ffprobe(t, p)
		ffmpegDecode(t, p)
		var row registry.Segment
		if err := db.View(context.Background(), func(tx *registry.Tx) error {
			var err error
			row, err = tx.SegmentByPath(rel)
			return err
		}); err != nil {
			t.Fatalf("%s not catalogued: %v", rel, err)
		}
		info, err := ProbeSegment(p)
		if err != nil || info.SHA256 != row.SHA256 || !row.End.Equal(row.Start.Add(info.Duration)) || row.Params != orig.Params {
			t.Errorf("row %+v vs probe %+v (%v)", row, info, err)
		}
		lost := origDur - row.End.Sub(row.Start)
		switch st {
		case torn: // at most one part (plus the frame in flight) lost
			if lost < 0 || lost > testPart+80*time.Millisecond {
				t.Errorf("torn segment lost %s of %s", lost, origDur)
			}
		case zeros:
			if lost != 0 || row.SHA256 != orig.SHA256 {
				t.Errorf("zero tail: lost %s, sha equal %v", lost, row.SHA256 == orig.SHA256)
			}
		}
	}
	for _, st := range []time.Time{initOnly, empty} {
		if _, err := os.Stat(abs(registry.SegmentPath("yard", st), root)); !os.IsNotExist(err) {
			t.Errorf("segment without footage at %s was finished", st)
		}
	}
	// Running again changes nothing.
	rep, err = Recover(context.Background(), root, db, testLogger(t, nil))
	if err != nil || len(rep.Recovered)+len(rep.Removed)+len(rep.Failed) != 0 {
		t.Errorf("second run: %+v %v", rep, err)
	}
}

// firstMoof is where the first fragment starts (the init section's end).
func firstMoof(t *testing.T, data []byte) int64 {
	l, err := mp4read.SegmentLayout(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return l.InitEnd
}

// layout is mp4read.SegmentLayout over bytes, for the tests.
func layout(data []byte) (initEnd, complete int64, frags int, err error) {
	l, err := mp4read.SegmentLayout(bytes.NewReader(data), int64(len(data)))
	return l.InitEnd, l.Complete, l.Fragments, err
}
