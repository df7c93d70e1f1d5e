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

	"vahti/registry"
)

// segment is one file being written. The file is created with its first
// fragment (never an init-only file), named registry.UnfinishedPath while
// it grows, synced at most every fsyncInterval, and renamed to its final
// name when finished. The SHA-256 is computed from the bytes as they are
// written, so finishing never re-reads the file.
type segment struct {
	root, camera string
	start        time.Time // wall clock of the first frame; names the file
	startDTS     int64     // video dts of the first frame (90 kHz)
	init         []byte    // marshalled init section (ftyp+moov)
	params       string    // hex SHA-256 of init
	codecs       string

	rel      string // final relative path
	f        segFile
	wrap     func(*os.File) segFile // tests: a file that fails on cue
	hash     hash.Hash
	size     int64
	lastSync time.Time
	parts    int
	videoEnd int64 // end of the video written so far, 90 kHz from startDTS
}

func newSegment(root, camera string, start time.Time, startDTS int64, init []byte, params, codecs string) *segment {
	start = start.UTC().Truncate(time.Microsecond)
	return &segment{root: root, camera: camera, start: start, startDTS: startDTS,
		init: init, params: params, codecs: codecs}
}

// segFile is what a segment needs of its file (an *os.File; tests wrap
// it to fail a write half way).
type segFile interface {
	io.WriteSeeker
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
func (s *segment) writePart(frag [][]byte, now time.Time, fsyncEvery time.Duration) (int64, error) {
	if s.f == nil {
		if err := s.create(now); err != nil {
			return 0, err
		}
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
	for _, p := range frag {
		s.hash.Write(p)
	}
	s.size += int64(n)
	s.parts++
	if now.Sub(s.lastSync) >= fsyncEvery {
		if err := s.f.Sync(); err != nil {
			return at, fmt.Errorf("segment %s: fsync: %w", s.rel, err)
		}
		s.lastSync = now
	}
	return at, nil
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
	tmp := filepath.Join(s.root, filepath.FromSlash(s.rel+registry.UnfinishedSuffix))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, registry.SegmentFileMode)
	if err != nil {
		return fmt.Errorf("segment %s: %w", s.rel, err)
	}
	s.f = f
	if s.wrap != nil {
		s.f = s.wrap(f)
	}
	s.hash = sha256.New()
	if _, err := f.Write(s.init); err != nil {
		// Left for Recover, which removes unfinished files without a
		// complete fragment at the next start: deleting is not the
		// writer's business.
		f.Close()
		s.f = nil
		return fmt.Errorf("segment %s: %w", s.rel, err)
	}
	s.hash.Write(s.init)
	s.size = int64(len(s.init))
	// The directory entry of the new file must survive a power cut too;
	// the data itself is synced with the first fragment below.
	if err := syncDir(filepath.Dir(tmp)); err != nil {
		return err
	}
	s.lastSync = time.Time{}
	return nil
}

// finish syncs, closes and renames the file and returns its catalog row.
// ok is false when no fragment was ever written (and no file exists).
func (s *segment) finish(end time.Time) (seg registry.Segment, ok bool, err error) {
	if s.f == nil {
		return seg, false, nil
	}
	tmp := filepath.Join(s.root, filepath.FromSlash(s.rel+registry.UnfinishedSuffix))
	final := filepath.Join(s.root, filepath.FromSlash(s.rel))
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
