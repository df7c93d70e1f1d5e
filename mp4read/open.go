package mp4read

import (
	"errors"
	"fmt"
	"io"
	"os"

	"vahti/directio"
	"vahti/seal"
)

// ErrLocked: a segment is sealed and no key can open it now, because no
// keeper is logged in (or the reader was given no keys at all).
var ErrLocked = errors.New("footage is sealed: a keeper must be logged in to open it")

// ErrUnfinished: a sealed segment that should be finished has no end
// marker, so it may have been cut at a record boundary.
var ErrUnfinished = errors.New("sealed segment has no end marker")

// File is one segment opened for reading: the fMP4 bytes, whether the file
// on disk is plain fMP4 or sealed (seal/DESIGN.md). Every reader of
// footage opens segments through OpenSegment, so decryption happens in
// this one place and the rest of the reader sees fMP4 either way.
type File struct {
	f        *os.File
	r        io.ReaderAt // f itself, or the sealed file's plaintext
	size     int64       // fMP4 bytes
	diskSize int64       // bytes on disk (the catalogue's size and SHA-256 are of these)
	sealed   *seal.Reader
	unwrap   seal.Unwrapper
}

// OpenSegment opens the segment file at path. It sniffs seal.Magic: a
// plain file is read as it is; a sealed one is opened with the data key
// unwrap finds (nil: only plain files can be opened). A sealed file that
// no key opens now gives an error wrapping ErrLocked; one that fails
// authentication, seal's error.
func OpenSegment(path string, unwrap seal.Unwrapper) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	sf, err := openFile(f, unwrap)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sf, nil
}

func openFile(f *os.File, unwrap seal.Unwrapper) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sf := &File{f: f, r: f, size: st.Size(), diskSize: st.Size()}
	var magic [len(seal.Magic)]byte
	if n, _ := f.ReadAt(magic[:], 0); n < len(magic) || magic != seal.Magic {
		return sf, nil
	}
	if unwrap == nil {
		return nil, ErrLocked
	}
	rd, err := seal.OpenSegment(f, st.Size(), locked(unwrap))
	if err != nil {
		return nil, err
	}
	sf.r, sf.size, sf.sealed, sf.unwrap = rd, rd.Size(), rd, locked(unwrap)
	return sf, nil
}

// locked makes a wiped keyring's refusal ErrLocked, so every caller can
// tell "log in" from "this file is damaged".
func locked(unwrap seal.Unwrapper) seal.Unwrapper {
	return func(h seal.Header) (*seal.DataKey, error) {
		k, err := unwrap(h)
		if errors.Is(err, seal.ErrWiped) && !errors.Is(err, ErrLocked) {
			err = fmt.Errorf("%w (%w)", ErrLocked, err)
		}
		return k, err
	}
}

// ReadAt reads the fMP4 bytes (decrypted, for a sealed file).
func (s *File) ReadAt(p []byte, off int64) (int, error) { return s.r.ReadAt(p, off) }

// Size is the length of the fMP4 bytes.
func (s *File) Size() int64 { return s.size }

// DiskSize is the length of the file on disk (sealed: header, records and
// end marker included). The catalogue's bytes and SHA-256 are of these.
func (s *File) DiskSize() int64 { return s.diskSize }

// Sealed reports whether the file on disk is sealed.
func (s *File) Sealed() bool { return s.sealed != nil }

// Complete reports whether the file is whole as its writer closed it: a
// plain file always (mp4read's own checks find a torn one), a sealed one
// when its end marker is there.
func (s *File) Complete() bool { return s.sealed == nil || s.sealed.Tail().Complete }

// RequireFinished is the check for a finished segment (one with a catalog
// row): a sealed one must end with its end marker, unless its row says it
// was recovered after a crash (recovery holds no key to write one).
// Without the marker a finished file cut at a record boundary would read
// as a shorter, valid segment.
func (s *File) RequireFinished(recovered bool) error {
	if s.Complete() || recovered {
		return nil
	}
	t := s.sealed.Tail()
	return fmt.Errorf("%w (%d whole records, %d torn bytes): it was cut short or not closed", ErrUnfinished, t.Records, t.Torn)
}

// Close closes the file.
func (s *File) Close() error { return s.f.Close() }

// ReadAll reads the whole file once: the bytes on disk (what the
// catalogue's SHA-256 is of) and the fMP4 bytes: the same slice for a
// plain file; for a sealed one, decrypted and authenticated from those
// very bytes in memory (not from a second read of the file, which could
// have changed since). disk and plain are reused when large enough.
func (s *File) ReadAll(disk, plain []byte) (d, p []byte, err error) {
	d = growBytes(disk, s.diskSize)
	if n, err := s.f.ReadAt(d, 0); int64(n) != s.diskSize {
		return disk, plain, fmt.Errorf("read %s: %w", s.f.Name(), err)
	}
	if s.sealed == nil {
		return d, d, nil
	}
	rd, err := seal.OpenSegment(seal.Bytes(d), int64(len(d)), s.unwrap) // decrypted from d itself, no copy
	if err != nil {
		return d, plain, fmt.Errorf("read %s: %w", s.f.Name(), err)
	}
	if rd.Size() != s.size || rd.Tail() != s.sealed.Tail() {
		return d, plain, fmt.Errorf("read %s: changed while being read", s.f.Name())
	}
	p = growBytes(plain, s.size)
	if n, err := rd.ReadAt(p, 0); int64(n) != s.size {
		return d, plain, fmt.Errorf("read %s: %w", s.f.Name(), err)
	}
	return d, p, nil
}

// growBytes returns b[:n], or a new slice with room to spare: segments
// of one camera differ in size by a few kilobytes, and a buffer that fits
// only the one it was made for would be reused for hardly any other (each
// new one costs its pages' first-touch faults, a fifth of a short
// export's CPU, fewer with huge pages).
func growBytes(b []byte, n int64) []byte {
	if int64(cap(b)) < n {
		return directio.HugeBytes(int(n), int(n+n/8))
	}
	return b[:n]
}

// LoadFile is Load for an opened segment: the sidecar index of segPath is
// used only if it decodes, names the catalogued SHA-256 (wantSHA; empty:
// never) and the length of the fMP4 bytes (for a sealed segment the index
// describes the plaintext: its offsets and size are the plaintext's, its
// SHA-256 the sealed file's, the catalogue's). A sealed segment's index is
// sealed (sealed_index.go) and opened through its Reader. Otherwise the
// table is read from the file and ix is nil; for a sealed segment the
// table so read is written back as its sealed index if the file is the
// catalogued one (a plain segment's index is written back by the export,
// which verifies the bytes it copies anyway). Never in clear.
func LoadFile(sf *File, segPath, wantSHA string, ic *InitCache) (seg *Segment, ix *Index, err error) {
	if wantSHA != "" {
		if ix, err := sf.readIndex(segPath, ic); err == nil && ix.SHA256 == wantSHA && ix.Segment.Size == sf.Size() {
			return ix.Segment, ix, nil
		}
	}
	seg, err = Read(sf, sf.Size(), ic)
	if err == nil && sf.sealed != nil && wantSHA != "" {
		_ = sf.writeSealedIndex(segPath, seg, wantSHA) // best effort: only a cache
	}
	return seg, nil, err
}
