package recorder

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"vahti/directio"
	"vahti/registry"
	"vahti/seal"
)

// segment is one file being written. The file is created with its first
// fragment (never an init-only file), named registry.UnfinishedPath while
// it grows, synced at most every fsyncInterval, and renamed to its final
// name when finished. The SHA-256 is computed from the bytes as they are
// written, so finishing never re-reads the file.
//
// Sealed (sealer set, seal.go): the file is the seal header and one record
// per write unit (the init section, then each fragment); the hash and size
// are of the sealed bytes on disk, the offsets the writer indexes are of
// the fMP4 plaintext (what seal.Reader serves).
type segment struct {
	root, camera string
	start        time.Time // wall clock of the first frame; names the file
	startDTS     int64     // video dts of the first frame (90 kHz)
	init         []byte    // marshalled init section (ftyp+moov)
	params       string    // hex SHA-256 of init
	codecs       string

	rel      string // final relative path
	f        segFile
	wrap     func(segFile) segFile // tests: a file that fails on cue
	hash     hash.Hash
	size     int64
	lastSync time.Time
	parts    int
	videoEnd int64 // end of the video written so far, 90 kHz from startDTS

	sealer *sealer       // nil: a plain fMP4 file
	key    *seal.DataKey // this segment's data key while it is written, and until its index is sealed
	hdr    seal.Header   // its seal header
	sw     *seal.Writer
	// spare is a seal writer of an earlier segment of the connection,
	// reset for this one (its buffers kept: no fragment-sized allocation
	// per segment); after finish, the writer to hand to the next segment.
	spare   *seal.Writer
	swErr   error  // the seal writer failed: the file ends at size, whole records only
	plain   int64  // fMP4 bytes written (size, for a plain file)
	metaBuf []byte // fragment metadata, reused
}

func newSegment(root, camera string, start time.Time, startDTS int64, init []byte, params, codecs string) *segment {
	start = start.UTC().Truncate(time.Microsecond)
	return &segment{root: root, camera: camera, start: start, startDTS: startDTS,
		init: init, params: params, codecs: codecs}
}

// segFile is what a segment needs of its file (a *directio.File: whole
// blocks bypass the page cache; tests wrap it to fail a write half way).
// Written bytes are in the file once Flush returns.
type segFile interface {
	io.WriteSeeker
	Flush() error
	Truncate(size int64) error
	Sync() error
	Close() error
}

// writePart appends one fragment, creating the file first if needed, and
// returns the file offset it was written at. On a failed write the file
// is cut back to the last complete fragment so that what is on disk stays
// playable, and the next fragment goes where the torn one began: the
// file, its SHA-256 and the index the writer builds describe the same
// bytes.
func (s *segment) writePart(frag [][]byte, meta fragMeta, now time.Time, fsyncEvery time.Duration) (int64, error) {
	if s.f == nil {
		if err := s.create(now); err != nil {
			return 0, err
		}
	}
	if s.sealer != nil {
		return s.writeSealed(frag, meta, now, fsyncEvery)
	}
	at := s.size
	n := 0
	for _, p := range frag {
		if _, err := s.f.Write(p); err != nil {
			_ = s.f.Truncate(at)
			_, _ = s.f.Seek(at, io.SeekStart)
			return 0, fmt.Errorf("segment %s: %w", s.rel, err)
		}
		n += len(p)
	}
	if err := s.f.Flush(); err != nil {
		_ = s.f.Truncate(at)
		_, _ = s.f.Seek(at, io.SeekStart)
		return 0, fmt.Errorf("segment %s: %w", s.rel, err)
	}
	for _, p := range frag {
		s.hash.Write(p)
	}
	s.size += int64(n)
	s.plain = s.size
	s.parts++
	return at, s.syncDue(now, fsyncEvery)
}

func (s *segment) syncDue(now time.Time, fsyncEvery time.Duration) error {
	if now.Sub(s.lastSync) >= fsyncEvery {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("segment %s: fsync: %w", s.rel, err)
		}
		s.lastSync = now
	}
	return nil
}

// writeSealed appends one fragment as one record and returns its
// plaintext offset. A failed write cuts the file back to its last whole
// record; the seal writer then refuses more (appending after a torn
// record would bury the tear), so the writer finishes the segment there.
func (s *segment) writeSealed(frag [][]byte, meta fragMeta, now time.Time, fsyncEvery time.Duration) (int64, error) {
	if s.swErr != nil {
		return 0, fmt.Errorf("segment %s: an earlier write failed: %w", s.rel, s.swErr)
	}
	at := s.plain
	n := 0
	for _, p := range frag {
		// Write only buffers (a fragment is far below seal.MaxRecord): the
		// record goes to the file in FlushMeta's one write.
		if _, err := s.sw.Write(p); err != nil {
			return 0, s.sealFailed(err)
		}
		n += len(p)
	}
	s.metaBuf = appendFragMeta(s.metaBuf[:0], meta)
	if err := s.sw.FlushMeta(s.metaBuf); err != nil {
		return 0, s.sealFailed(err)
	}
	s.plain += int64(n)
	s.parts++
	return at, s.syncDue(now, fsyncEvery)
}

// sealFailed cuts the file back to its last whole record after a failed
// write and remembers the failure.
func (s *segment) sealFailed(err error) error {
	s.swErr = err
	_ = s.f.Truncate(s.size)
	_, _ = s.f.Seek(s.size, io.SeekStart)
	return fmt.Errorf("segment %s: %w", s.rel, err)
}

// sealSink is the file as the seal writer sees it: a record arrives in one
// Write, and only one written whole counts towards the size and hash.
type sealSink struct{ s *segment }

func (k sealSink) Write(p []byte) (int, error) {
	n, err := k.s.f.Write(p)
	if err == nil {
		err = k.s.f.Flush()
	}
	if err != nil {
		return n, err
	}
	k.s.hash.Write(p)
	k.s.size += int64(n)
	return n, nil
}

func (s *segment) create(now time.Time) error {
	for {
		s.rel = registry.SegmentPath(s.camera, s.start)
		if _, err := os.Lstat(filepath.Join(s.root, filepath.FromSlash(s.rel))); errors.Is(err, fs.ErrNotExist) {
			break
		}
		// A file of that name exists (a clock step back): never overwrite
		// footage, move the start by a microsecond.
		s.start = s.start.Add(time.Microsecond)
	}
	if err := mkdirAllSync(s.root, path.Dir(s.rel)); err != nil {
		return err
	}
	var h seal.Header
	if s.sealer != nil {
		// Key first: a crash after this commit leaves a key row without a
		// file (retention's orphan); the other order could leave footage
		// whose key was never stored.
		k, hd, err := s.sealer.newKey(s.camera, s.start, now)
		if err != nil {
			return fmt.Errorf("segment %s: not recording: %w", s.rel, err)
		}
		s.key, h, s.hdr = k, hd, hd
	}
	tmp := filepath.Join(s.root, filepath.FromSlash(s.rel+registry.UnfinishedSuffix))
	f, err := directio.Create(tmp, registry.SegmentFileMode)
	if err != nil {
		s.wipeKey()
		return fmt.Errorf("segment %s: %w", s.rel, err)
	}
	s.f = f
	if s.wrap != nil {
		s.f = s.wrap(f)
	}
	s.hash = sha256.New()
	if s.sealer != nil {
		return s.createSealed(f, tmp, h)
	}
	_, err = f.Write(s.init)
	if err == nil {
		err = f.Flush()
	}
	if err != nil {
		// Left for Recover, which removes unfinished files without a
		// complete fragment at the next start: deleting is not the
		// writer's business.
		f.Close()
		s.f = nil
		return fmt.Errorf("segment %s: %w", s.rel, err)
	}
	s.hash.Write(s.init)
	s.size = int64(len(s.init))
	s.plain = s.size
	// The directory entry of the new file must survive a power cut too;
	// the data itself is synced with the first fragment below.
	if err := syncDir(filepath.Dir(tmp)); err != nil {
		return err
	}
	s.lastSync = time.Time{}
	return nil
}

// createSealed writes the seal header and the init section's record.
func (s *segment) createSealed(f io.Closer, tmp string, h seal.Header) error {
	s.size = 0
	var sw *seal.Writer
	var err error
	if s.spare != nil {
		sw, err = s.spare, s.spare.Reset(sealSink{s}, h, s.key)
	} else {
		sw, err = seal.NewWriter(sealSink{s}, h, s.key)
	}
	if err == nil {
		s.sw = sw
		err = sw.WriteRecord(s.init, marshalInitMeta(s.codecs, s.params))
	}
	if err != nil {
		// Left for Recover, which removes it (a header and no fragment)
		// with its key at the next start.
		f.Close()
		s.f, s.sw = nil, nil
		s.wipeKey()
		return fmt.Errorf("segment %s: %w", s.rel, err)
	}
	s.plain = int64(len(s.init))
	if err := syncDir(filepath.Dir(tmp)); err != nil {
		return err
	}
	s.lastSync = time.Time{}
	return nil
}

func (s *segment) wipeKey() {
	if s.key != nil {
		s.key.Wipe()
		s.key = nil
	}
}

// finish syncs, closes and renames the file and returns its catalog row.
// ok is false when no fragment was ever written (and no file exists).
func (s *segment) finish(end time.Time) (seg registry.Segment, ok bool, err error) {
	if s.f == nil {
		return seg, false, nil
	}
	tmp := filepath.Join(s.root, filepath.FromSlash(s.rel+registry.UnfinishedSuffix))
	final := filepath.Join(s.root, filepath.FromSlash(s.rel))
	if s.sw != nil {
		// The end marker tells a reader the segment is whole. After a
		// failed write there is none: the file ends at its last whole
		// record, as a recovered one does, and is catalogued as such.
		if s.swErr == nil {
			if err := s.sw.Close(); err != nil {
				_ = s.sealFailed(err)
			}
		}
		s.spare, s.sw = s.sw, nil
		// The key stays until the writer has sealed the segment's index
		// (writeIndex); finishSegment wipes it.
	}
	errSync := s.f.Sync()
	errClose := s.f.Close()
	s.f = nil
	if err := errors.Join(errSync, errClose); err != nil {
		return seg, false, fmt.Errorf("segment %s: %w", s.rel, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return seg, false, fmt.Errorf("segment %s: %w", s.rel, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return seg, false, err
	}
	sum := hex.EncodeToString(s.hash.Sum(nil))
	return registry.Segment{
		Camera: s.camera,
		Start:  s.start,
		End:    end,
		Path:   s.rel,
		Bytes:  s.size,
		Codecs: s.codecs,
		Params: s.params,
		SHA256: sum,
	}, true, nil
}

// mkdirAllSync creates root/rel and syncs the parent of every directory
// it creates, so that a power cut cannot lose a directory holding footage.
func mkdirAllSync(root, rel string) error {
	dir := filepath.Join(root, filepath.FromSlash(rel))
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if rel != "." && rel != "" && parent != root {
		if err := mkdirAllSync(root, path.Dir(rel)); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, registry.SegmentDirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
