package recorder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"vahti/mp4read"
	"vahti/registry"
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
		checkIndexMatchesFile(t, h.root, s, 1)
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

// checkIndexMatchesFile asserts that the index the writer wrote for
// segment s is byte for byte the one mp4read builds by reading the file,
// that it names the file's real SHA-256 and size, and that it lists
// tracks tracks.
func checkIndexMatchesFile(t *testing.T, root string, s registry.Segment, tracks int) {
	t.Helper()
	p := abs(s.Path, root)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != s.SHA256 || int64(len(data)) != s.Bytes {
		t.Fatalf("%s: catalogued SHA-256/size %s/%d are not the file's", s.Path, s.SHA256, s.Bytes)
	}
	got, err := os.ReadFile(mp4read.IndexPath(p))
	if err != nil {
		t.Fatalf("%s: no index: %v", s.Path, err)
	}
	seg, err := mp4read.ReadFile(p, nil)
	if err != nil {
		t.Fatalf("%s: %v", s.Path, err)
	}
	want, err := mp4read.EncodeIndex(seg, s.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: the writer's index (%d bytes) differs from the one read from the file (%d bytes)", s.Path, len(got), len(want))
	}
	ix, err := mp4read.DecodeIndex(got, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Segment.Tracks) != tracks {
		t.Fatalf("%s: index lists %d tracks, want %d", s.Path, len(ix.Segment.Tracks), tracks)
	}
	// Load trusts it: planning needs no read of the moof boxes.
	if _, used, err := mp4read.Load(p, s.SHA256, nil); err != nil || used == nil {
		t.Fatalf("%s: Load did not use the index (%v)", s.Path, err)
	}
}

// The index the writer builds from its own sample tables is byte for byte
// the one read back from the finished file: video only, with AAC, with
// G.711 (as LPCM), after a torn fragment write, and for a segment left
// unfinished by a crash and finished by Recover.
func TestWriterIndexEqualsFileIndex(t *testing.T) {
	aus, length := loadClip(t, "h264.mp4")
	t.Run("video", func(t *testing.T) {
		h := newWriterHarness(t)
		for loop := int64(0); loop < 3; loop++ {
			h.feed(t, aus, loop*length, nil)
		}
		closeAndCheck(t, h, 1)
	})
	t.Run("video+aac", func(t *testing.T) {
		h := newWriterHarness(t)
		conf := mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 16000, ChannelCount: 1}
		h.w = newWriter(h.w.cfg, false, &audioSpec{name: "aac", timeScale: 16000, codec: &mp4.CodecMPEG4Audio{Config: conf}})
		var next int64
		for loop := int64(0); loop < 3; loop++ {
			for _, a := range aus {
				at := a.dts + loop*length
				for next*videoTimeScale/16000 <= at {
					// AAC frames vary in size: the index must carry each.
					au := bytes.Repeat([]byte{0x21}, 40+int(next/1024)%23)
					if err := h.w.writeAudio(au, next, mpeg4audio.SamplesPerAccessUnit); err != nil {
						t.Fatal(err)
					}
					next += mpeg4audio.SamplesPerAccessUnit
				}
				h.clock.t = h.base.Add(ticksToDur(at, videoTimeScale))
				if err := h.w.writeVideo(a.au, a.pts+loop*length, at); err != nil {
					t.Fatal(err)
				}
			}
		}
		closeAndCheck(t, h, 2)
	})
	t.Run("video+g711", func(t *testing.T) {
		h := newAudioHarness(t)
		pcm := make([]byte, 320)
		var next int64
		lead := durToTicks(300*time.Millisecond, videoTimeScale)
		for loop := int64(0); loop < 3; loop++ {
			feedAV(t, h, aus, loop*length, lead, &next, pcm)
		}
		closeAndCheck(t, h, 2)
	})
	t.Run("torn write", func(t *testing.T) {
		h := newAudioHarness(t)
		// The third fragment of every file is written half, then fails
		// (a full disk): the file is cut back, the next fragment follows
		// the last whole one.
		tf := &tornFile{failAt: 3}
		h.w.cfg.wrapFile = func(f segFile) segFile { tf.segFile, tf.n = f, 0; return tf }
		pcm := make([]byte, 320)
		var next int64
		for loop := int64(0); loop < 3; loop++ {
			feedAVLenient(t, h, aus, loop*length, &next, pcm)
		}
		if tf.torn == 0 {
			t.Fatal("no write was torn")
		}
		closeAndCheck(t, h, 2)
		for _, s := range h.rows {
			ffmpegDecode(t, abs(s.Path, h.root))
		}
	})
	t.Run("recovered", func(t *testing.T) {
		h := newAudioHarness(t)
		h.w.segTicks = durToTicks(time.Hour, videoTimeScale)
		pcm := make([]byte, 320)
		var next int64
		feedAV(t, h, aus, 0, 0, &next, pcm)
		// A crash: the process dies with the file unfinished and a torn
		// fragment at its end.
		seg := h.w.seg
		if seg == nil || seg.f == nil || seg.parts < 2 {
			t.Fatal("no unfinished segment with fragments")
		}
		if _, err := seg.f.Write([]byte{0, 0, 1, 0, 'm', 'o', 'o', 'f', 1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		seg.f.Close()
		sum := hex.EncodeToString(seg.hash.Sum(nil))
		want, err := h.w.ix.Encode(h.w.initMoov, seg.size, sum)
		if err != nil {
			t.Fatal(err)
		}
		want = bytes.Clone(want)
		db := openDB(t)
		rep, err := Recover(context.Background(), h.root, db, testLogger(t, nil))
		if err != nil || len(rep.Recovered) != 1 {
			t.Fatalf("recover: %v %+v", err, rep)
		}
		rows := segments(t, db, "yard")
		if len(rows) != 1 || rows[0].SHA256 != sum || rows[0].Bytes != seg.size {
			t.Fatalf("recovered %+v; the writer had written %d bytes, %s", rows, seg.size, sum)
		}
		got, err := os.ReadFile(mp4read.IndexPath(abs(rows[0].Path, h.root)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("the index Recover read from the file differs from the writer's table of the same fragments")
		}
		checkIndexMatchesFile(t, h.root, rows[0], 2)
	})
}

func closeAndCheck(t *testing.T, h *writerHarness, tracks int) {
	t.Helper()
	if err := h.w.close(); err != nil {
		t.Fatal(err)
	}
	if len(h.rows) < 2 {
		t.Fatalf("%d segments", len(h.rows))
	}
	for _, s := range h.rows {
		checkIndexMatchesFile(t, h.root, s, tracks)
	}
	left, _ := filepath.Glob(filepath.Join(h.root, "*", "*", "*", "*", "*.tmp"))
	for _, l := range left {
		if !strings.Contains(l, registry.SegmentExt) {
			t.Errorf("temp file left: %s", l)
		}
	}
}

// feedAVLenient is feedAV with 20 ms LPCM packets alongside the video,
// logging the writer's errors instead of failing (a torn write is one).
func feedAVLenient(t *testing.T, h *writerHarness, aus []clipAU, off int64, next *int64, pcm []byte) {
	t.Helper()
	for _, a := range aus {
		at := a.dts + off
		for *next*videoTimeScale/8000 <= at {
			_ = h.w.writeAudio(pcm, *next, 160)
			*next += 160
		}
		h.clock.t = h.base.Add(ticksToDur(at, videoTimeScale))
		if err := h.w.writeVideo(a.au, a.pts+off, at); err != nil {
			t.Logf("writer: %v", err)
		}
	}
}

// tornFile writes fragment failAt of each file half, then fails.
type tornFile struct {
	segFile
	n, failAt, torn int
}

func (f *tornFile) Write(b []byte) (int, error) {
	f.n++
	if f.n == f.failAt {
		f.torn++
		k, _ := f.segFile.Write(b[:len(b)/2])
		return k, errors.New("no space left on device (test)")
	}
	return f.segFile.Write(b)
}

// checkSealedIndex asserts that ix, the sidecar index of the sealed
// segment at path, shows nothing of plainIx (its table in clear, for
// the plaintext seg): it carries the sealed-index magic, not the plain
// encoder's, no keyless decoder reads it, and no 12-byte run of the
// encoded sample tables (every frame's size, time and keyframe flag) nor
// the moov is in it.
func checkSealedIndex(t *testing.T, path string, ix, plainIx []byte, seg *mp4read.Segment) {
	t.Helper()
	if !mp4read.IsSealedIndex(ix) || bytes.Contains(ix, []byte("VAHTIIX1")) {
		t.Errorf("%s: the sidecar index is not sealed (%q…)", path, ix[:min(len(ix), 24)])
	}
	if _, err := mp4read.DecodeIndex(ix, nil); err == nil {
		t.Errorf("%s: a keyless DecodeIndex reads the sealed index", path)
	}
	from := 8 + 8 + 32 + 4 + len(seg.Moov) + 1
	tables := plainIx[from : len(plainIx)-32]
	if len(tables) < 64 || !bytes.Contains(plainIx, tables[:12]) {
		t.Fatalf("%s: the plain index has no sample tables to look for", path)
	}
	for i := 0; i+12 <= len(tables); i += 4 {
		if bytes.Contains(ix, tables[i:i+12]) {
			t.Fatalf("%s: the sealed index holds bytes %d… of the clear sample tables", path, i)
		}
	}
	if bytes.Contains(ix, seg.Moov[8:]) {
		t.Errorf("%s: the sealed index holds the moov in clear", path)
	}
}
