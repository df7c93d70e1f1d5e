// Package seal is the sealed-footage format and its key hierarchy, shared by
// the recorder (which seals), the reader (which opens), retention (which
// destroys keys) and admin (which unlocks them). See DESIGN.md for the why.
//
// A sealed segment is a header followed by records, one per fMP4 write unit
// (the init section, then each moof+mdat fragment). Each record is its
// lengths and an optional clear metadata blob (what keyless crash recovery
// and reconcile need: durations, codecs), then an AES-256-GCM ciphertext
// whose nonce is the record's index and whose additional data binds the
// header (camera, start, key id, epoch), the index and the metadata. The plaintext, read through Reader, is the
// fMP4 file byte for byte.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Magic opens every sealed segment file; a scan of a raw disk image finds
// sealed segments (and their remnants in free blocks) by it.
var Magic = [8]byte{'V', 'H', 'T', 'S', 'E', 'A', 'L', '\n'}

const (
	// Version is the format version this package writes and reads.
	Version = 1
	// SuiteAES256GCM: records are AES-256-GCM under the segment's data key;
	// keys are HPKE MLKEM768X25519 / HKDF-SHA256 / AES-256-GCM.
	SuiteAES256GCM = 1

	fixedHeader = 41 // magic 8, version 1, suite 1, length 2, key id 16, epoch 4, start 8, camera length 1
	recHead     = 6  // ciphertext length 4, metadata length 2
	tagSize     = 16
	// MaxCamera bounds the camera id in the header (config ids are shorter).
	MaxCamera = 64
	// MaxRecord is the largest plaintext of one record. A fragment is far
	// smaller (a second of 4K video is a few MB); Write seals a record
	// early rather than grow past it, and a reader refuses a length above
	// it instead of allocating what a corrupt length field asks for.
	MaxRecord = 64 << 20
	// MaxMeta is the largest clear metadata of one record.
	MaxMeta = 4096
)

// Errors a caller can tell apart.
var (
	// ErrNotSealed: the file does not start with Magic (a plain fMP4
	// segment, or not a segment at all).
	ErrNotSealed = errors.New("not a sealed segment")
	// ErrCorrupt: the structure is broken somewhere other than a torn tail
	// (a length out of range, a record after the end marker).
	ErrCorrupt = errors.New("sealed segment corrupt")
	// ErrAuth: a record failed authentication: it was altered, swapped,
	// moved from another file, or the header was changed, or the key is
	// not this segment's.
	ErrAuth = errors.New("sealed segment record failed authentication")
	// ErrClosed: the Writer was closed, or an earlier write failed.
	ErrClosed = errors.New("sealed segment writer closed")
)

// KeyID names a segment's data key in the registry; random per segment.
type KeyID [16]byte

func (k KeyID) String() string { return hex.EncodeToString(k[:]) }

// EpochID is the epoch a segment's data key is sealed to: the UTC day of
// the epoch, as days since 1970-01-01.
type EpochID uint32

// EpochFor is the epoch of the UTC day holding t.
func EpochFor(t time.Time) EpochID { return EpochID(t.UTC().Unix() / 86400) }

// Day is the UTC midnight starting the epoch.
func (e EpochID) Day() time.Time { return time.Unix(int64(e)*86400, 0).UTC() }

func (e EpochID) String() string { return e.Day().Format("2006-01-02") }

// Header is what a sealed segment says about itself, in clear. Every
// record's additional data binds all of it.
type Header struct {
	KeyID  KeyID
	Epoch  EpochID
	Camera string
	Start  time.Time // UTC, nanoseconds kept
}

// MarshalBinary is the header as written at the start of the file.
func (h Header) MarshalBinary() ([]byte, error) {
	if h.Camera == "" || len(h.Camera) > MaxCamera {
		return nil, fmt.Errorf("seal: header: camera id %q: 1 to %d bytes", h.Camera, MaxCamera)
	}
	if h.Start.IsZero() {
		return nil, errors.New("seal: header: no segment start")
	}
	n := fixedHeader + len(h.Camera)
	b := make([]byte, n)
	copy(b, Magic[:])
	b[8] = Version
	b[9] = SuiteAES256GCM
	binary.BigEndian.PutUint16(b[10:], uint16(n))
	copy(b[12:28], h.KeyID[:])
	binary.BigEndian.PutUint32(b[28:], uint32(h.Epoch))
	binary.BigEndian.PutUint64(b[32:], uint64(h.Start.UnixNano()))
	b[40] = byte(len(h.Camera))
	copy(b[41:], h.Camera)
	return b, nil
}

// ReadHeader reads the header at the start of r; it returns the header and
// its length in bytes. A file that is not sealed gives ErrNotSealed.
func ReadHeader(r io.ReaderAt, size int64) (Header, int, error) {
	var b [fixedHeader + MaxCamera]byte
	n, err := r.ReadAt(b[:min(int64(len(b)), max(size, 0))], 0)
	if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
		if errors.Is(err, io.EOF) {
			return Header{}, 0, ErrNotSealed
		}
		return Header{}, 0, fmt.Errorf("seal: read header: %w", err)
	}
	if n < len(Magic) || !bytes.Equal(b[:8], Magic[:]) {
		return Header{}, 0, ErrNotSealed
	}
	if n < fixedHeader {
		return Header{}, 0, fmt.Errorf("%w: header cut at %d bytes", ErrCorrupt, n)
	}
	if b[8] != Version {
		return Header{}, 0, fmt.Errorf("seal: format version %d, this Vahti reads %d", b[8], Version)
	}
	if b[9] != SuiteAES256GCM {
		return Header{}, 0, fmt.Errorf("seal: unknown cipher suite %d", b[9])
	}
	cl := int(b[40])
	hl := int(binary.BigEndian.Uint16(b[10:]))
	if cl == 0 || cl > MaxCamera || hl != fixedHeader+cl {
		return Header{}, 0, fmt.Errorf("%w: header length %d with a camera id of %d bytes", ErrCorrupt, hl, cl)
	}
	if n < hl {
		return Header{}, 0, fmt.Errorf("%w: header cut at %d of %d bytes", ErrCorrupt, n, hl)
	}
	var h Header
	copy(h.KeyID[:], b[12:28])
	h.Epoch = EpochID(binary.BigEndian.Uint32(b[28:]))
	h.Start = time.Unix(0, int64(binary.BigEndian.Uint64(b[32:]))).UTC()
	h.Camera = string(b[41:hl])
	return h, hl, nil
}

// DataKey is one segment's AES-256 key. The recorder holds it only while
// it writes that segment; the registry keeps it only sealed (SealDataKey).
type DataKey struct {
	b [32]byte
}

// NewDataKey makes a fresh random data key.
func NewDataKey() (*DataKey, error) {
	k := new(DataKey)
	if _, err := rand.Read(k.b[:]); err != nil {
		return nil, fmt.Errorf("seal: data key: %w", err)
	}
	return k, nil
}

// Wipe zeroes the key. The AES key schedule inside a cipher.AEAD made from
// it is not reachable and is not wiped (see DESIGN.md, "What Wipe can do").
func (k *DataKey) Wipe() { clear(k.b[:]) }

func (k *DataKey) aead() (cipher.AEAD, error) {
	blk, err := aes.NewCipher(k.b[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// recordAAD is the fixed start of every record's additional data: a label,
// the SHA-256 of the header (camera, start, key id, epoch), then room for
// the record index and whether it is the end marker (aadFor fills them in
// and appends the record's clear metadata).
func recordAAD(hdr []byte) []byte {
	sum := sha256.Sum256(hdr)
	aad := make([]byte, 0, len(aadLabel)+32+9)
	aad = append(aad, aadLabel...)
	aad = append(aad, sum[:]...)
	return append(aad, make([]byte, 9)...)
}

const aadLabel = "vahti seal record v1\x00"

func aadFor(dst, fixed []byte, idx uint64, final bool, meta []byte) []byte {
	dst = append(dst[:0], fixed...)
	binary.BigEndian.PutUint64(dst[len(dst)-9:], idx)
	if final {
		dst[len(dst)-1] = 1
	}
	return append(dst, meta...)
}

func nonce(dst *[12]byte, idx uint64) {
	*dst = [12]byte{}
	binary.BigEndian.PutUint64(dst[4:], idx)
}

// Writer seals a segment as it is written. Write buffers plaintext; Flush
// seals what is buffered as one record and hands it to the file in one
// Write call, so a record is exactly one fMP4 write unit when the caller
// flushes after each (the init section, then each fragment). The caller
// syncs the file; Close writes the end marker.
//
// After an error from the underlying writer the Writer refuses further
// writes (ErrClosed): the file may now end in a torn record, and appending
// after it would bury the tear mid-file. Start a new segment.
type Writer struct {
	w      io.Writer
	aead   cipher.AEAD
	aad    []byte // recordAAD
	aadBuf []byte
	idx    uint64
	// buf is the record being built: room for its head and metadata
	// (bufHead bytes), then the buffered plaintext, which FlushMeta seals
	// in place, so a fragment is copied once and held once.
	buf     []byte
	out     []byte // WriteRecord's output (the caller's bytes are not ours to seal in place)
	nonce   [12]byte
	err     error
	written int64
}

// bufHead is the room before the buffered plaintext: a record's head and
// the largest metadata.
const bufHead = recHead + MaxMeta

// NewWriter writes h to w and returns a Writer sealing records under key.
func NewWriter(w io.Writer, h Header, key *DataKey) (*Writer, error) {
	sw := &Writer{}
	if err := sw.Reset(w, h, key); err != nil {
		return nil, err
	}
	return sw, nil
}

// Reset makes the Writer start a new segment (h, under key, written to w),
// keeping its buffers: a recorder that reuses one Writer per camera does
// not allocate a fragment's worth of buffer for every segment.
func (w *Writer) Reset(dst io.Writer, h Header, key *DataKey) error {
	hdr, err := h.MarshalBinary()
	if err != nil {
		return err
	}
	a, err := key.aead()
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	w.w, w.aead, w.aad, w.idx, w.err, w.written = dst, a, recordAAD(hdr), 0, nil, 0
	if cap(w.buf) < bufHead {
		w.buf = make([]byte, bufHead, bufHead+64<<10)
	}
	w.buf = w.buf[:bufHead]
	if _, err := dst.Write(hdr); err != nil {
		w.err = fmt.Errorf("%w: header failed to write: %v", ErrClosed, err)
		return fmt.Errorf("seal: write header: %w", err)
	}
	w.written = int64(len(hdr))
	return nil
}

// Write buffers p for the current record. A record reaching MaxRecord is
// sealed at once (it then no longer aligns with a fragment; nothing is lost).
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		take := min(len(p), MaxRecord-(len(w.buf)-bufHead))
		w.buf = append(w.buf, p[:take]...)
		p, n = p[take:], n+take
		if len(w.buf)-bufHead == MaxRecord {
			if err := w.Flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// WriteRecord seals p as one record with clear metadata meta (after any
// buffered bytes, which are flushed first). It saves Write's copy when the
// caller has the whole fragment in hand. A p above MaxRecord becomes
// several records, meta on the last.
func (w *Writer) WriteRecord(p, meta []byte) error {
	if err := w.Flush(); err != nil {
		return err
	}
	for len(p) > MaxRecord {
		if err := w.seal(p[:MaxRecord], nil, false); err != nil {
			return err
		}
		p = p[MaxRecord:]
	}
	if len(p) == 0 {
		if len(meta) > 0 {
			return errors.New("seal: metadata for an empty record")
		}
		return nil
	}
	return w.seal(p, meta, false)
}

// Flush seals the buffered bytes as one record and writes it. With nothing
// buffered it writes nothing: a data record is never empty (an empty record
// is the end marker).
func (w *Writer) Flush() error { return w.FlushMeta(nil) }

// Seal is Flush: it ends the current record.
func (w *Writer) Seal() error { return w.Flush() }

// FlushMeta is Flush with clear metadata for the record: bytes anyone with
// the file can read (nothing that is not already in the registry's segment
// row: a fragment's duration, the init section's codecs), authenticated
// with the record. Crash recovery and reconcile read them with no key.
func (w *Writer) FlushMeta(meta []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == bufHead {
		if len(meta) > 0 {
			return errors.New("seal: metadata for an empty record")
		}
		return nil
	}
	err := w.sealBuf(meta)
	w.buf = w.buf[:bufHead]
	return err
}

// sealBuf seals the buffered plaintext in place: head and metadata go
// just before it, the tag after, and the record leaves in one write.
func (w *Writer) sealBuf(meta []byte) error {
	if len(meta) > MaxMeta {
		return fmt.Errorf("seal: record metadata of %d bytes, at most %d", len(meta), MaxMeta)
	}
	p := w.buf[bufHead:]
	if cap(w.buf)-len(w.buf) < tagSize {
		w.buf = append(w.buf, make([]byte, tagSize)...)[:len(w.buf)]
		p = w.buf[bufHead:]
	}
	start := bufHead - recHead - len(meta)
	head := w.buf[start:bufHead]
	binary.BigEndian.PutUint32(head, uint32(len(p)+tagSize))
	binary.BigEndian.PutUint16(head[4:], uint16(len(meta)))
	copy(head[recHead:], meta)
	w.aadBuf = aadFor(w.aadBuf, w.aad, w.idx, false, meta)
	nonce(&w.nonce, w.idx)
	sealed := w.aead.Seal(p[:0], w.nonce[:], p, w.aadBuf) // in place: dst and plaintext are the same bytes
	return w.emit(w.buf[start : bufHead+len(sealed)])
}

// emit writes one whole record.
func (w *Writer) emit(rec []byte) error {
	if _, err := w.w.Write(rec); err != nil {
		w.err = fmt.Errorf("%w: record %d failed to write: %v", ErrClosed, w.idx, err)
		return fmt.Errorf("seal: write record %d: %w", w.idx, err)
	}
	w.idx++
	w.written += int64(len(rec))
	return nil
}

func (w *Writer) seal(p, meta []byte, final bool) error {
	if w.err != nil {
		return w.err
	}
	if len(meta) > MaxMeta {
		return fmt.Errorf("seal: record metadata of %d bytes, at most %d", len(meta), MaxMeta)
	}
	w.aadBuf = aadFor(w.aadBuf, w.aad, w.idx, final, meta)
	nonce(&w.nonce, w.idx)
	need := recHead + len(meta) + len(p) + tagSize
	if cap(w.out) < need {
		w.out = make([]byte, need, need+need/4)
	}
	out := w.out[:recHead]
	binary.BigEndian.PutUint32(out, uint32(len(p)+tagSize))
	binary.BigEndian.PutUint16(out[4:], uint16(len(meta)))
	out = append(out, meta...)
	out = w.aead.Seal(out, w.nonce[:], p, w.aadBuf)
	return w.emit(out)
}

// Close flushes the last record and writes the end marker, so a reader can
// tell a finished segment from one cut short. It does not close the
// underlying writer or sync it.
func (w *Writer) Close() error {
	if err := w.Flush(); err != nil {
		return err
	}
	if err := w.seal(nil, nil, true); err != nil {
		return err
	}
	w.err = ErrClosed
	return nil
}

// Records is the number of records written so far (the end marker included).
func (w *Writer) Records() uint64 { return w.idx }

// Size is the number of bytes handed to the underlying writer.
func (w *Writer) Size() int64 { return w.written }

// Tail is what a keyless scan of a sealed file finds: where its whole
// records end and what lies after them.
type Tail struct {
	// Keep is the file length up to the end of the last whole record (the
	// header alone when there is none): truncate a torn file to it.
	Keep int64
	// Records is the number of whole records, the end marker included.
	Records int
	// Torn is the number of bytes after Keep (a record cut by a crash).
	Torn int64
	// Complete: the last whole record is the end marker (Writer.Close ran).
	// Without the key it is a structural guess; Open authenticates it.
	Complete bool
}

type record struct {
	off   int64 // file offset of the record's lengths
	meta  int   // metadata length
	ptOff int64 // plaintext offset of the record's first byte
	n     int   // plaintext length
}

// Recover scans a sealed file's record lengths without any key and says
// where its whole records end, so crash recovery can cut a torn tail. A
// length out of range, or a record after the end marker, is not a tear: it
// gives ErrCorrupt, with Tail describing the records before it.
func Recover(r io.ReaderAt, size int64) (Tail, error) {
	_, _, t, err := scan(r, size)
	return t, err
}

// RecordInfo is one data record as a keyless scan sees it.
type RecordInfo struct {
	Off  int64  // file offset of the record
	Size int    // plaintext length
	Meta []byte // clear metadata; authenticated only when read with the key
}

// Scan is Recover with each whole data record's size and clear metadata,
// for crash recovery and reconcile, which hold no key: they learn a
// segment's fragments, durations and codecs from the metadata the
// recorder wrote. Without the key nothing here is authenticated.
func Scan(r io.ReaderAt, size int64) (Header, []RecordInfo, Tail, error) {
	h, recs, t, err := scan(r, size)
	if t.Complete {
		recs = recs[:len(recs)-1]
	}
	infos := make([]RecordInfo, 0, len(recs))
	for _, rc := range recs {
		m := make([]byte, rc.meta)
		if _, rerr := r.ReadAt(m, rc.off+recHead); rerr != nil {
			return h, infos, t, fmt.Errorf("seal: read record metadata at byte %d: %w", rc.off, rerr)
		}
		infos = append(infos, RecordInfo{Off: rc.off, Size: rc.n, Meta: m})
	}
	return h, infos, t, err
}

func scan(r io.ReaderAt, size int64) (Header, []record, Tail, error) {
	h, hl, err := ReadHeader(r, size)
	if err != nil {
		return Header{}, nil, Tail{}, err
	}
	t := Tail{Keep: int64(hl)}
	var recs []record
	var pt int64
	var lb [recHead]byte
	for off := int64(hl); off < size; {
		if t.Complete {
			return h, recs, t, fmt.Errorf("%w: data after the end marker at byte %d", ErrCorrupt, off)
		}
		if size-off < recHead {
			break
		}
		if _, err := r.ReadAt(lb[:], off); err != nil {
			return h, recs, t, fmt.Errorf("seal: read record %d length: %w", len(recs), err)
		}
		l := int64(binary.BigEndian.Uint32(lb[:]))
		ml := int64(binary.BigEndian.Uint16(lb[4:]))
		if l < tagSize || l > MaxRecord+tagSize {
			return h, recs, t, fmt.Errorf("%w: record %d at byte %d: length %d out of range", ErrCorrupt, len(recs), off, l)
		}
		if ml > MaxMeta {
			return h, recs, t, fmt.Errorf("%w: record %d at byte %d: metadata length %d out of range", ErrCorrupt, len(recs), off, ml)
		}
		end := off + recHead + ml + l
		if end > size {
			break
		}
		recs = append(recs, record{off: off, meta: int(ml), ptOff: pt, n: int(l - tagSize)})
		pt += l - tagSize
		t.Records++
		t.Complete = l == tagSize
		t.Keep = end
		off = end
	}
	t.Torn = size - t.Keep
	return h, recs, t, nil
}

// Bytes is a sealed file held in memory as an io.ReaderAt. A Reader over
// it decrypts each record from the slice itself instead of copying the
// ciphertext out first (an export reads each source whole, then opens
// those bytes).
type Bytes []byte

// ReadAt is bytes.Reader's ReadAt.
func (b Bytes) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("seal: negative offset")
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Reader is a sealed segment's plaintext: an io.ReaderAt over the fMP4
// bytes, Size long, decrypting (and authenticating) a record at a time.
// A read that covers a whole record decrypts it into the caller's buffer;
// otherwise the record is decrypted into one of two buffers that keep the
// last two, for the next small reads (a box header, then the box). It is
// safe for concurrent use.
type Reader struct {
	r      io.ReaderAt
	hdr    Header
	aead   cipher.AEAD
	aux    *auxCipher // aux data of this segment (aux.go)
	aad    []byte     // recordAAD
	aadBuf []byte
	recs   []record // data records only
	size   int64
	tail   Tail
	mu     sync.Mutex
	// slots hold the plaintext of the two records read last (see fill).
	slots [2]slot
	mru   int // the slot used last
	ct    []byte
	meta  []byte // the metadata of the record last opened, as authenticated
}

// Open reads a sealed segment of size bytes with its data key. The
// plaintext ends at the last whole record: a torn tail is left out (Tail
// says how much). The end marker, when present, is authenticated here;
// data records are authenticated as they are read (Verify reads them all).
func Open(r io.ReaderAt, size int64, key *DataKey) (*Reader, error) {
	h, recs, t, err := scan(r, size)
	if err != nil {
		return nil, err
	}
	hdr, _ := h.MarshalBinary()
	a, err := key.aead()
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	// The aux key is derived now: the caller wipes the data key once the
	// Reader has its ciphers.
	ax, err := newAuxCipher(key, hdr)
	if err != nil {
		return nil, err
	}
	rd := &Reader{r: r, hdr: h, aead: a, aux: ax, aad: recordAAD(hdr), recs: recs, tail: t, slots: [2]slot{{i: -1}, {i: -1}}}
	if t.Complete {
		last := recs[len(recs)-1]
		rd.recs = recs[:len(recs)-1]
		if _, err := rd.openInto(nil, len(recs)-1, last, true); err != nil {
			return nil, err
		}
	}
	if len(rd.recs) > 0 {
		l := rd.recs[len(rd.recs)-1]
		rd.size = l.ptOff + int64(l.n)
	}
	return rd, nil
}

// Header is the segment's header.
func (rd *Reader) Header() Header { return rd.hdr }

// Size is the plaintext length.
func (rd *Reader) Size() int64 { return rd.size }

// Tail describes the file's end: whether it was closed, any torn bytes.
func (rd *Reader) Tail() Tail { return rd.tail }

// Records is the number of data records (fMP4 write units).
func (rd *Reader) Records() int { return len(rd.recs) }

// slot is one decrypted data record: its index (-1: none) and plaintext.
type slot struct {
	i   int
	buf []byte
}

// cached is the slot holding data record i, or nil (rd.mu held).
func (rd *Reader) cached(i int) *slot {
	for k := range rd.slots {
		if rd.slots[k].i == i {
			rd.mru = k
			return &rd.slots[k]
		}
	}
	return nil
}

// fill decrypts data record i into the slot used least recently (rd.mu
// held). Two slots, not one: mp4read reads a box header with a 4 KiB
// window, and the window at the init section (ftyp, then moov: a record of
// a few KiB) runs into the first fragment's record; with one slot the moov
// read after the ftyp read decrypted both records again.
func (rd *Reader) fill(i int) ([]byte, error) {
	k := 1 - rd.mru
	sl := &rd.slots[k]
	sl.i = -1
	pt, err := rd.openInto(sl.buf[:0], i, rd.recs[i], false)
	if err != nil {
		return nil, err
	}
	sl.buf, sl.i, rd.mru = pt, i, k
	return pt, nil
}

// openInto decrypts record i, appending its plaintext to dst (rd.mu held,
// or during Open). On an authentication failure GCM zeroes what it wrote.
func (rd *Reader) openInto(dst []byte, i int, rec record, final bool) ([]byte, error) {
	// Metadata and ciphertext are adjacent: one read, or none from a
	// file in memory.
	l := rec.meta + rec.n + tagSize
	var b []byte
	if mem, ok := rd.r.(Bytes); ok && rec.off+recHead+int64(l) <= int64(len(mem)) {
		b = mem[rec.off+recHead : rec.off+recHead+int64(l)]
	} else {
		if cap(rd.ct) < l {
			rd.ct = make([]byte, l)
		}
		b = rd.ct[:l]
		if _, err := rd.r.ReadAt(b, rec.off+recHead); err != nil {
			return nil, fmt.Errorf("seal: read record %d: %w", i, err)
		}
	}
	meta, ct := b[:rec.meta], b[rec.meta:]
	rd.meta = meta
	rd.aadBuf = aadFor(rd.aadBuf, rd.aad, uint64(i), final, meta)
	var nc [12]byte
	nonce(&nc, uint64(i))
	pt, err := rd.aead.Open(dst, nc[:], ct, rd.aadBuf)
	if err != nil {
		what := "record"
		if final {
			what = "end marker"
		}
		return nil, fmt.Errorf("%w: %s %d at byte %d (camera %s, start %s)", ErrAuth, what, i, rec.off,
			rd.hdr.Camera, rd.hdr.Start.Format(time.RFC3339Nano))
	}
	return pt, nil
}

// ReadAt reads plaintext at off. A record that fails authentication is an
// error (ErrAuth), never bytes.
func (rd *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("seal: negative offset")
	}
	if off >= rd.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	// The record holding off: the last whose plaintext starts at or before it.
	lo, hi := 0, len(rd.recs)
	for hi-lo > 1 {
		m := (lo + hi) / 2
		if rd.recs[m].ptOff <= off {
			lo = m
		} else {
			hi = m
		}
	}
	n := 0
	for i := lo; n < len(p) && i < len(rd.recs); i++ {
		rec := rd.recs[i]
		var pt []byte
		if sl := rd.cached(i); sl != nil {
			pt = sl.buf
		} else if off+int64(n) == rec.ptOff && len(p)-n >= rec.n {
			// The whole record is wanted (a source read whole, a long
			// range): decrypt it straight into p rather than into a
			// slot and copy it; the slots keep what they hold.
			if _, err := rd.openInto(p[n:n], i, rec, false); err != nil {
				return n, err
			}
			n += rec.n
			continue
		} else {
			var err error
			if pt, err = rd.fill(i); err != nil {
				return n, err
			}
		}
		c := copy(p[n:], pt[off+int64(n)-rec.ptOff:])
		n += c
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Meta is data record i's clear metadata, authenticated (the record is
// decrypted to check it).
func (rd *Reader) Meta(i int) ([]byte, error) {
	if i < 0 || i >= len(rd.recs) {
		return nil, fmt.Errorf("seal: no record %d (%d records)", i, len(rd.recs))
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if _, err := rd.fill(i); err != nil {
		return nil, err
	}
	return bytes.Clone(rd.meta), nil
}

// Verify authenticates every record.
func (rd *Reader) Verify() error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for i := range rd.recs {
		if _, err := rd.fill(i); err != nil {
			return err
		}
	}
	return nil
}

// WriteTo writes the whole plaintext to w (for vahti cat), authenticating
// each record before any of its bytes go out.
func (rd *Reader) WriteTo(w io.Writer) (int64, error) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	var n int64
	for i := range rd.recs {
		pt, err := rd.fill(i)
		if err != nil {
			return n, err
		}
		m, err := w.Write(pt)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
