package mp4read

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	"vahti/seal"
)

// countingReader counts the reads of a segment's fMP4 bytes: planning
// from an index reads none (no moof is parsed, no record decrypted).
type countingReader struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.n.Add(1)
	return c.r.ReadAt(p, off)
}

// sampleTables is the encoded sample tables of a plain index (after the
// header and moov, before the checksum): every frame's size, time and
// flags.
func sampleTables(t *testing.T, ix []byte, moov []byte) []byte {
	t.Helper()
	from := len(indexMagic) + 8 + 32 + 4 + len(moov) + 1
	if len(ix) < from+32 || !bytes.Equal(ix[len(indexMagic)+8+32+4:][:len(moov)], moov) {
		t.Fatal("not a plain index")
	}
	return ix[from : len(ix)-32]
}

// leaks reports whether any 12-byte run of the sample tables is in b.
func leaks(b, tables []byte) bool {
	for i := 0; i+12 <= len(tables); i += 4 {
		if bytes.Contains(b, tables[i:i+12]) {
			return true
		}
	}
	return false
}

// TestSealedIndex: a sealed segment's sidecar index is sealed (no clear
// sample table, no plain index magic), used for planning without a read
// of the segment's fMP4 bytes, and never trusted blindly: altered, clear,
// another segment's, or naming another SHA-256, it is not used and the
// table is read from the plaintext; it is then written back sealed, and
// only when the file is the catalogued one.
func TestSealedIndex(t *testing.T) {
	plain := smallSegment(t, 4)
	truth, err := Read(bytes.NewReader(plain), int64(len(plain)), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sp, op := filepath.Join(dir, "sealed.mp4"), filepath.Join(dir, "other.mp4")
	ring, err := seal.NewSite()
	if err != nil {
		t.Fatal(err)
	}
	ks := &memKeys{}
	k, h := sealFile(t, ring, ks, plain, sp, true)
	sealFile(t, ring, ks, plain, op, true)
	unwrap := ring.Unwrapper(ks)
	disk, _ := os.ReadFile(sp)
	odisk, _ := os.ReadFile(op)
	want := sha(disk)
	plainIx, err := EncodeIndex(truth, want)
	if err != nil {
		t.Fatal(err)
	}
	tables := sampleTables(t, plainIx, truth.Moov)
	if !leaks(plainIx, tables) {
		t.Fatal("the leak scan does not find the tables in the plain index")
	}

	// load plans sp, reporting whether the index was used and how many
	// reads of the fMP4 bytes it took.
	load := func(path, wantSHA string) (*Index, int64) {
		t.Helper()
		sf, err := OpenSegment(path, unwrap)
		if err != nil {
			t.Fatal(err)
		}
		defer sf.Close()
		cr := &countingReader{r: sf.r}
		sf.r = cr
		seg, ix, err := LoadFile(sf, path, wantSHA, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range truth.Tracks {
			if !reflect.DeepEqual(seg.Tracks[i].Samples, truth.Tracks[i].Samples) {
				t.Fatalf("track %d: the table is not the plaintext's", i)
			}
		}
		return ix, cr.n.Load()
	}
	onDisk := func() []byte {
		t.Helper()
		b, err := os.ReadFile(IndexPath(sp))
		if err != nil {
			t.Fatalf("no index: %v", err)
		}
		return b
	}
	checkSealed := func(b []byte) {
		t.Helper()
		if !IsSealedIndex(b) || bytes.Contains(b, []byte(indexMagic)) || leaks(b, tables) || bytes.Contains(b, truth.Moov[8:]) {
			t.Fatalf("the sidecar index of a sealed segment shows its table in clear (%d bytes)", len(b))
		}
	}

	// The recorder's index: sealed, and planning reads no fMP4 byte.
	rec, err := SealIndex(k, h, plainIx)
	if err != nil {
		t.Fatal(err)
	}
	checkSealed(rec)
	if err := WriteIndex(sp, rec); err != nil {
		t.Fatal(err)
	}
	if ix, reads := load(sp, want); ix == nil || reads != 0 {
		t.Fatalf("recorder's sealed index: used %v, %d reads of the segment", ix != nil, reads)
	}
	if _, err := DecodeIndex(rec, nil); err == nil {
		t.Fatal("a keyless DecodeIndex reads a sealed index")
	}

	// Missing: rebuilt from the plaintext, written back sealed, then used.
	os.Remove(IndexPath(sp))
	if ix, reads := load(sp, want); ix != nil || reads == 0 {
		t.Fatalf("no index: used %v, %d reads", ix != nil, reads)
	}
	checkSealed(onDisk())
	if ix, reads := load(sp, want); ix == nil || reads != 0 {
		t.Fatalf("written-back index: used %v, %d reads", ix != nil, reads)
	}

	// Altered anywhere (magic, version, nonce, ciphertext, tag): not used,
	// rebuilt, written back sealed and usable again.
	for _, at := range []int{0, len(SealedIndexMagic), len(SealedIndexMagic) + 5, len(rec) / 2, len(rec) - 1} {
		b := bytes.Clone(rec)
		b[at] ^= 0x10
		if err := WriteIndex(sp, b); err != nil {
			t.Fatal(err)
		}
		if ix, _ := load(sp, want); ix != nil {
			t.Fatalf("index altered at byte %d was used", at)
		}
		if got := onDisk(); bytes.Equal(got, b) {
			t.Fatalf("index altered at byte %d was not rebuilt", at)
		} else {
			checkSealed(got)
		}
		if ix, reads := load(sp, want); ix == nil || reads != 0 {
			t.Fatalf("rebuilt after byte %d: used %v, %d reads", at, ix != nil, reads)
		}
	}

	// A clear index beside a sealed segment (what an earlier Vahti wrote):
	// not used, replaced by a sealed one.
	WriteIndex(sp, plainIx)
	if ix, _ := load(sp, want); ix != nil {
		t.Fatal("a clear index was used for a sealed segment")
	}
	checkSealed(onDisk())

	// Another segment's sealed index (same plaintext, same SHA-256 named):
	// bound to its own header, it opens for sp with nothing.
	ok, _ := OpenSegment(op, unwrap)
	osb, err := ok.sealed.SealAux(IndexAuxKind, plainIx)
	ok.Close()
	if err != nil {
		t.Fatal(err)
	}
	WriteIndex(sp, append([]byte(SealedIndexMagic), osb...))
	if ix, _ := load(sp, want); ix != nil {
		t.Fatal("another segment's sealed index was used")
	}

	// A catalogue SHA-256 that is not the file's: the valid index is not
	// used, and nothing is written back that would name it.
	before := onDisk()
	if ix, _ := load(sp, sha(odisk)); ix != nil {
		t.Fatal("an index naming another SHA-256 was used")
	}
	if !bytes.Equal(onDisk(), before) {
		t.Fatal("an index was written for a file that is not the catalogued one")
	}
	// No catalogue value: never an index, never a write.
	os.Remove(IndexPath(sp))
	if ix, _ := load(sp, ""); ix != nil {
		t.Fatal("index used without a catalogued SHA-256")
	}
	if _, err := os.Stat(IndexPath(sp)); err == nil {
		t.Fatal("index written without a catalogued SHA-256")
	}
}

// A plain segment's index stays the plain encoding: LoadFile uses it,
// and, missing, does not write one (the export does, from verified bytes).
func TestPlainIndexUnchanged(t *testing.T) {
	plain := smallSegment(t, 2)
	p := filepath.Join(t.TempDir(), "plain.mp4")
	os.WriteFile(p, plain, 0o644)
	sf, err := OpenSegment(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	if _, ix, err := LoadFile(sf, p, sha(plain), nil); err != nil || ix != nil {
		t.Fatalf("no index: %v %v", ix, err)
	}
	if _, err := os.Stat(IndexPath(p)); err == nil {
		t.Fatal("LoadFile wrote a plain index")
	}
	if err := IndexFile(p, sha(plain), nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(IndexPath(p))
	if IsSealedIndex(b) || !bytes.HasPrefix(b, []byte(indexMagic)) {
		t.Fatal("a plain segment's index is not the plain encoding")
	}
	if _, ix, err := LoadFile(sf, p, sha(plain), nil); err != nil || ix == nil {
		t.Fatalf("plain index not used: %v", err)
	}
}
