package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vahti/mp4read"
	"vahti/registry"
)

func goldenWant(t *testing.T, name string) goldenCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]goldenCase
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	return want[name]
}

func sameGolden(t *testing.T, got, want goldenCase) {
	t.Helper()
	gj, _ := json.MarshalIndent(got, "", "  ")
	wj, _ := json.MarshalIndent(want, "", "  ")
	if !bytes.Equal(gj, wj) {
		t.Errorf("output differs from the golden file\n got: %s\nwant: %s", gj, wj)
	}
}

func indexAll(t *testing.T, e *env, segs []registry.Segment) {
	t.Helper()
	for _, s := range segs {
		if err := mp4read.IndexFile(e.abs(s), s.SHA256, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// forge rewrites a segment's index with a valid checksum but a table that
// leaves out the video samples after the first second's keyframe: what an
// attacker with write access to the storage root would try to hide frames.
func forge(t *testing.T, seg registry.Segment, abs string) {
	t.Helper()
	b, err := os.ReadFile(mp4read.IndexPath(abs))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := mp4read.DecodeIndex(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := ix.Segment.Video()
	v.Samples = v.Samples[:len(v.Samples)/2]
	nb, err := mp4read.EncodeIndex(ix.Segment, seg.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mp4read.IndexPath(abs), nb, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Planned from the recorder's indexes, an export is byte for byte the one
// planned from the segments' own boxes.
func TestExportFromIndexMatchesGolden(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", fixedStream(t, "h264", false), 0, 1, 2)
	indexAll(t, e, segs)
	p, err := loadSegment(e.abs(segs[0]), segs[0].SHA256, segs[0].Bytes, nil, true, nil)
	if err != nil || p.index == nil {
		t.Fatalf("index not used: %v", err)
	}
	res, _ := e.export([]string{"yard"}, 500*time.Millisecond, 3900*time.Millisecond)
	sameGolden(t, goldenOf(res.Manifest), goldenWant(t, "h264-aac-gap"))
}

// A forged index (valid checksum, right SHA-256, a table hiding frames) is
// caught by the export's pass over the bytes: the package is the honest
// one, and the index is rewritten from the verified segment.
func TestTamperedIndexIsNotTrusted(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", fixedStream(t, "h264", false), 0, 1, 2)
	indexAll(t, e, segs)
	forge(t, segs[1], e.abs(segs[1]))
	if p, err := loadSegment(e.abs(segs[1]), segs[1].SHA256, segs[1].Bytes, nil, true, nil); err != nil || p.index == nil {
		t.Fatalf("forged index not even loaded (test is void): %v", err)
	}
	res, _ := e.export([]string{"yard"}, 500*time.Millisecond, 3900*time.Millisecond)
	sameGolden(t, goldenOf(res.Manifest), goldenWant(t, "h264-aac-gap"))
	honest, err := mp4read.ReadFile(e.abs(segs[1]), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := mp4read.EncodeIndex(honest, segs[1].SHA256)
	if got, _ := os.ReadFile(mp4read.IndexPath(e.abs(segs[1]))); !bytes.Equal(got, want) {
		t.Error("forged index not rewritten from the verified segment")
	}
}

// A missing, torn, stale or corrupt index is never used: the table is
// rebuilt from the segment, and playback serves the same bytes.
func TestBadIndexRebuilt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, ix string, seg registry.Segment)
	}{
		{"missing", func(t *testing.T, ix string, _ registry.Segment) { os.Remove(ix) }},
		{"torn", func(t *testing.T, ix string, _ registry.Segment) {
			b, _ := os.ReadFile(ix)
			os.WriteFile(ix, b[:len(b)/2], 0o644)
		}},
		{"flipped-byte", func(t *testing.T, ix string, _ registry.Segment) {
			b, _ := os.ReadFile(ix)
			b[len(b)/2] ^= 0x40
			os.WriteFile(ix, b, 0o644)
		}},
		{"other-segment", func(t *testing.T, ix string, seg registry.Segment) {
			// A valid index of a file with another SHA-256 (a stale index
			// of a replaced segment) and a forged table.
			b, _ := os.ReadFile(ix)
			dec, err := mp4read.DecodeIndex(b, nil)
			if err != nil {
				t.Fatal(err)
			}
			v := dec.Segment.Video()
			v.Samples = v.Samples[:3]
			other := sha256.Sum256([]byte("another file"))
			nb, _ := mp4read.EncodeIndex(dec.Segment, hex.EncodeToString(other[:]))
			os.WriteFile(ix, nb, 0o644)
		}},
		{"other-size", func(t *testing.T, ix string, seg registry.Segment) {
			b, _ := os.ReadFile(ix)
			body := b[:len(b)-32]
			binary.BigEndian.PutUint64(body[8:], uint64(seg.Bytes+1000))
			sum := sha256.Sum256(body)
			os.WriteFile(ix, append(body, sum[:]...), 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			segs := e.addSegments("yard", fixedStream(t, "h264", false), 0, 1, 1)
			indexAll(t, e, segs)
			tc.spoil(t, mp4read.IndexPath(e.abs(segs[0])), segs[0])
			if p, err := loadSegment(e.abs(segs[0]), segs[0].SHA256, segs[0].Bytes, nil, true, nil); err != nil || p.index != nil {
				t.Fatalf("spoilt index used: %v", err)
			}
			req := httptest.NewRequest("GET", "/", nil)
			rec := httptest.NewRecorder()
			e.ex.Playback(rec, req, "yard", e.base.Add(300*time.Millisecond), e.base.Add(4*time.Second))
			b, _ := io.ReadAll(rec.Body)
			sum := sha256.Sum256(b)
			if want := goldenWant(t, "playback-gap"); hex.EncodeToString(sum[:]) != want.PlaybackSHA256 {
				t.Errorf("playback differs from golden (%d bytes, want %d)", len(b), want.PlaybackBytes)
			}
		})
	}
}

// --out on the stored package's filesystem is the stored package itself
// (a hard link: no second write); on another filesystem, an equal copy.
func TestOutIsALinkOrOneCopy(t *testing.T) {
	e := newEnv(t)
	e.addSegments("yard", fixedStream(t, "h264", false), 0, 1)
	res, out := e.export([]string{"yard"}, 0, 4*time.Second)
	a, err1 := os.Stat(res.Path)
	b, err2 := os.Stat(out)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !os.SameFile(a, b) {
		t.Errorf("--out on the same filesystem is a second copy, not a link")
	}
	shm, err := os.MkdirTemp("/dev/shm", "vahti-out-")
	if err != nil {
		t.Skip("no /dev/shm for a second filesystem")
	}
	defer os.RemoveAll(shm)
	other := filepath.Join(shm, "case.zip")
	if err := deliver(res.Path, other); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(res.Path)
	y, _ := os.ReadFile(other)
	c, _ := os.Stat(other)
	if !bytes.Equal(x, y) || os.SameFile(a, c) || c.Mode().Perm() != 0o600 {
		t.Errorf("copy to another filesystem: equal %v, mode %v", bytes.Equal(x, y), c.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(shm, ".*")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// Playback planned from the recorder's indexes serves the golden bytes.
func TestPlaybackFromIndexMatchesGolden(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", fixedStream(t, "h264", false), 0, 1, 1)
	indexAll(t, e, segs)
	if p, err := loadSegment(e.abs(segs[0]), segs[0].SHA256, segs[0].Bytes, nil, true, nil); err != nil || p.index == nil {
		t.Fatalf("index not used: %v", err)
	}
	rec := httptest.NewRecorder()
	e.ex.Playback(rec, httptest.NewRequest("GET", "/", nil), "yard", e.base.Add(300*time.Millisecond), e.base.Add(4*time.Second))
	sum := sha256.Sum256(rec.Body.Bytes())
	if want := goldenWant(t, "playback-gap"); hex.EncodeToString(sum[:]) != want.PlaybackSHA256 {
		t.Errorf("playback from indexes differs from golden (%d bytes, want %d)", rec.Body.Len(), want.PlaybackBytes)
	}
}
