package mp4read

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// IndexSuffix names a segment's index: yard/2026/11/22/14-05-00.123456.mp4.idx
// beside yard/2026/11/22/14-05-00.123456.mp4.
const IndexSuffix = ".idx"

// IndexPath is the sidecar index of the segment file at segPath.
func IndexPath(segPath string) string { return segPath + IndexSuffix }

const indexMagic = "VAHTIIX1"

// Per-sample flags of the index encoding: most fields repeat or follow
// from the sample before, so a sample costs two to four bytes.
const (
	fNonSync = 1 << iota
	fDur     // duration differs from the previous sample's: uvarint follows
	fPTSOff  // composition offset not zero: varint follows
	fDTS     // DTS is not the previous DTS + duration: varint delta follows
	fOff     // payload does not follow the previous one: varint delta follows
	fSize    // size differs from the previous sample's: uvarint follows
)

// Index is a decoded index: the segment table and what it claims to describe.
type Index struct {
	Segment *Segment
	SHA256  string   // hex SHA-256 of the segment file the table was made from
	Sum     [32]byte // SHA-256 of the index's own bytes before it (its last 32 bytes)
}

// EncodeIndex writes seg's table compactly, bound to the SHA-256 (hex) of
// the segment file it was read from. The encoding is deterministic: the
// same file always gives the same bytes.
func EncodeIndex(seg *Segment, segSHA256 string) ([]byte, error) {
	var e IndexEncoder
	ids := make([]int, len(seg.Tracks))
	for i, t := range seg.Tracks {
		ids[i] = t.ID
	}
	e.Reset(ids...)
	for _, t := range seg.Tracks {
		for _, s := range t.Samples {
			e.Add(t.ID, s)
		}
	}
	return e.Encode(seg.Moov, seg.Size, segSHA256)
}

// ErrBadIndex marks an index that cannot be used: torn, corrupt, of
// another format, or describing another file. The table is then rebuilt
// from the segment itself.
var ErrBadIndex = errors.New("unusable segment index")

func badIndex(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadIndex, fmt.Sprintf(format, args...))
}

// DecodeIndex checks an index's own checksum and decodes it. Every sample
// must lie inside the file the index names (by size); the codecs come from
// its moov, decoded through ic.
func DecodeIndex(b []byte, ic *InitCache) (*Index, error) {
	if len(b) < len(indexMagic)+8+32+4+1+32 || string(b[:len(indexMagic)]) != indexMagic {
		return nil, badIndex("not a Vahti index")
	}
	body := b[:len(b)-32]
	var ix Index
	copy(ix.Sum[:], b[len(b)-32:])
	if sha256.Sum256(body) != ix.Sum {
		return nil, badIndex("checksum mismatch (torn or altered)")
	}
	d := decoder{b: body[len(indexMagic):]}
	size := int64(d.u64())
	ix.SHA256 = hex.EncodeToString(d.bytes(32))
	moov := d.bytes(int(d.u32()))
	if d.err != nil || size <= 0 {
		return nil, badIndex("short header")
	}
	in, err := ic.Get(moov)
	if err != nil {
		return nil, badIndex("moov: %v", err)
	}
	seg := &Segment{Size: size, Moov: bytes.Clone(moov), Init: in}
	codecs := map[int]*Track{}
	for _, it := range in.Tracks {
		codecs[it.ID] = &Track{ID: it.ID, TimeScale: it.TimeScale, Codec: it.Codec}
	}
	nt := int(d.u8())
	for k := 0; k < nt && d.err == nil; k++ {
		id, n := int(d.u32()), d.u32()
		t := codecs[id]
		if t == nil || len(t.Samples) > 0 || t.Codec == nil || t.TimeScale == 0 {
			return nil, badIndex("track %d not in the moov, repeated or unknown", id)
		}
		if n == 0 || n > maxTrackSamples || int(n) > len(d.b) {
			return nil, badIndex("track %d: %d samples", id, n)
		}
		samples, rest, ok := decodeSamples(d.b, n, size)
		if !ok {
			return nil, badIndex("track %d: malformed sample table", id)
		}
		t.Samples, d.b = samples, rest
		seg.Tracks = append(seg.Tracks, t)
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, badIndex("malformed sample table")
	}
	if len(seg.Tracks) == 0 || !seg.Tracks[0].Codec.IsVideo() {
		return nil, badIndex("no video track first")
	}
	for _, t := range seg.Tracks[1:] {
		if t.Codec.IsVideo() {
			return nil, badIndex("second video track")
		}
	}
	ix.Segment = seg
	return &ix, nil
}

// decodeSamples decodes n samples from b (the hot loop of planning from
// indexes: an hour is some 260 000 samples), each inside a file of size
// bytes. It returns the rest of b.
func decodeSamples(b []byte, n uint32, size int64) ([]Sample, []byte, bool) {
	out := make([]Sample, n)
	var prev Sample
	for i := range out {
		if len(b) == 0 {
			return nil, nil, false
		}
		f := b[0]
		b = b[1:]
		s := Sample{NonSync: f&fNonSync != 0, Dur: prev.Dur, DTS: prev.DTS + int64(prev.Dur), Off: prev.Off + int64(prev.Size), Size: prev.Size}
		if f&fDur != 0 {
			v, k := binary.Uvarint(b)
			if k <= 0 || v > 1<<32-1 {
				return nil, nil, false
			}
			s.Dur, b = uint32(v), b[k:]
		}
		if f&fPTSOff != 0 {
			v, k := binary.Varint(b)
			if k <= 0 || v > 1<<31-1 || v < -(1<<31) {
				return nil, nil, false
			}
			s.PTSOff, b = int32(v), b[k:]
		}
		if f&fDTS != 0 {
			v, k := binary.Varint(b)
			if k <= 0 || v > 1<<62 || v < -(1<<62) {
				return nil, nil, false
			}
			s.DTS, b = s.DTS+v, b[k:]
		}
		if f&fOff != 0 {
			v, k := binary.Varint(b)
			if k <= 0 || v > 1<<62 || v < -(1<<62) {
				return nil, nil, false
			}
			s.Off, b = s.Off+v, b[k:]
		}
		if f&fSize != 0 {
			v, k := binary.Uvarint(b)
			if k <= 0 || v > 1<<32-1 {
				return nil, nil, false
			}
			s.Size, b = uint32(v), b[k:]
		}
		if s.Off < 0 || s.Off+int64(s.Size) > size {
			return nil, nil, false
		}
		out[i] = s
		prev = s
	}
	return out, b, true
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = ErrBadIndex, nil }

func (d *decoder) bytes(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u32() uint32 {
	if b := d.bytes(4); b != nil {
		return be32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.bytes(8); b != nil {
		return be64(b)
	}
	return 0
}

// Load is how export and playback get a segment's table. The sidecar
// index is used only if it decodes, names the catalogued SHA-256 (wantSHA,
// hex; empty: no catalogue value, never trust an index) and the file's
// current size. Otherwise the table is rebuilt from the segment file and
// ix is nil: an index is a cache, never the truth.
func Load(segPath, wantSHA string, ic *InitCache) (seg *Segment, ix *Index, err error) {
	if wantSHA != "" {
		if ix, err := loadIndex(segPath, wantSHA, ic); err == nil {
			return ix.Segment, ix, nil
		}
	}
	seg, err = ReadFile(segPath, ic)
	return seg, nil, err
}

func loadIndex(segPath, wantSHA string, ic *InitCache) (*Index, error) {
	b, err := os.ReadFile(IndexPath(segPath))
	if err != nil {
		return nil, err
	}
	ix, err := DecodeIndex(b, ic)
	if err != nil {
		return nil, err
	}
	if ix.SHA256 != wantSHA {
		return nil, badIndex("made from a file with SHA-256 %s, catalogue says %s", ix.SHA256, wantSHA)
	}
	st, err := os.Stat(segPath)
	if err != nil {
		return nil, err
	}
	if st.Size() != ix.Segment.Size {
		return nil, badIndex("made from a file of %d bytes, the file has %d", ix.Segment.Size, st.Size())
	}
	return ix, nil
}

// WriteIndex writes the sidecar index of the segment at segPath
// atomically (temp name, rename), so a reader never sees a torn one. It
// is not fsynced: a power cut may lose it or leave it empty, and a
// missing or unreadable index is rebuilt from the segment.
func WriteIndex(segPath string, b []byte) error {
	dst := IndexPath(segPath)
	f, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".*.tmp")
	if err != nil {
		return fmt.Errorf("index %s: %w", dst, err)
	}
	mode := fs.FileMode(0o640)
	if st, err := os.Stat(segPath); err == nil {
		mode = st.Mode().Perm()
	}
	_, err = f.Write(b)
	err = errors.Join(err, f.Chmod(mode), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name()) // deletion-gate: our own temp index, never footage
		return fmt.Errorf("index %s: %w", dst, err)
	}
	return nil
}

// BuildIndex reads the segment file at segPath, whose SHA-256 the caller
// has computed from its bytes (data), and writes its sidecar index.
func BuildIndex(segPath string, data []byte, segSHA256 string, ic *InitCache) error {
	seg, err := Read(bytes.NewReader(data), int64(len(data)), ic)
	if err != nil {
		return fmt.Errorf("index %s: %w", segPath, err)
	}
	b, err := EncodeIndex(seg, segSHA256)
	if err != nil {
		return err
	}
	return WriteIndex(segPath, b)
}

// IndexFile writes the sidecar index of a segment file whose SHA-256 the
// caller knows (reconcile adopting a file): the table is read from the
// moof boxes, the payloads are not read again. (The recorder builds the
// index of the segments it writes with an IndexEncoder instead.)
func IndexFile(segPath, segSHA256 string, ic *InitCache) error {
	seg, err := ReadFile(segPath, ic)
	if err != nil {
		return fmt.Errorf("index %s: %w", segPath, err)
	}
	b, err := EncodeIndex(seg, segSHA256)
	if err != nil {
		return err
	}
	return WriteIndex(segPath, b)
}

// IsIndexName tells whether a file name is a segment's index or a temp
// file of one being written (WriteIndex), not footage.
func IsIndexName(name string) bool {
	name = filepath.Base(name)
	return strings.HasSuffix(name, IndexSuffix) || (strings.Contains(name, IndexSuffix+".") && strings.HasSuffix(name, ".tmp"))
}
