// Package directio writes a file that only grows, by O_DIRECT for whole
// blocks and through the page cache only for the last partial block.
//
// Why: footage and export packages are written once and not read back
// soon. Through the page cache every byte is copied into a freshly
// allocated cache page, which is then written back and later reclaimed;
// on the 2-core build VM that copy was 39 % of the recorder's CPU at 128
// cameras, and the largest cost of writing an export package (a first
// touch of each page costs the host a fault: a 2 GiB write took 1 CPU-s
// per 0.42 GB buffered, per 4.2 GB through this package; README
// "Benchmarks"). O_DIRECT hands the blocks to the disk from Vahti's own
// buffer. The price: each flush writes the partial last block through
// the page cache, and the kernel writes that page back once more before
// the direct write that completes it (a few KiB per flush, twice).
//
// The file stays an ordinary file at every moment a caller can see: the
// bytes that do not fill a block yet are written through the page cache
// at once (Flush), so the file's size is exactly what was written and a
// reader sees every flushed byte. When that block is completed later it
// is rewritten by O_DIRECT; the kernel writes back and drops the cached
// page first, so the two views never disagree. Sync is one fsync of the
// inode, which covers both (the direct writes have completed, the fsync
// flushes the disk's cache and the metadata).
//
// Where O_DIRECT is refused (tmpfs before Linux 6.6, some network and
// FUSE filesystems, other systems than Linux) the File writes through the
// page cache alone, with the same behaviour.
package directio

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// block is the alignment of every direct write: offset, length and
// memory address. 4 KiB covers 512-byte and 4K-sector disks.
const block = 4096

// chunkSize is the staging buffer: a direct write happens when it fills
// and at Flush, so a 4 Mbit/s camera's 0.5 MB fragment is two or three
// writes. It is borrowed only between a Write and its Flush, so 128
// cameras share a few of them instead of holding one each; with 1 MiB
// ones the recorder's RSS at 8 cameras was 1.8 MiB a camera higher
// (bench-recorder).
const chunkSize = 256 << 10

// freeChunks is a cache of staging buffers, shared by every File: a
// bounded free list rather than a sync.Pool, which drops its buffers at
// each GC (and at random under the race detector), so that a recorder's
// steady state allocates nothing. Beyond maxFreeChunks released at once
// (that many writers blocked in the disk together) a buffer goes to the
// GC.
var freeChunks = make(chan *[]byte, maxFreeChunks)

const maxFreeChunks = 16

func getChunk() *[]byte {
	select {
	case b := <-freeChunks:
		return b
	default:
		return alignedChunk(chunkSize)
	}
}

func putChunk(b *[]byte) {
	select {
	case freeChunks <- b:
	default:
	}
}

func alignedChunk(size int) *[]byte {
	raw := make([]byte, size+block)
	if size >= hugeMin {
		adviseHuge(raw)
	}
	off := alignOffset(raw)
	b := raw[off : off+size : off+size]
	return &b
}

// hugeMin is the smallest buffer worth huge pages: one of them.
const hugeMin = 2 << 20

// HugeBytes is make([]byte, n, c) for a large buffer that is filled once
// and reused: the kernel is asked to back it with huge pages. Why: on the
// 2-core VM the first touch of fresh pages (fault, zeroing, TLB
// shootdowns) was over a quarter of a 5-minute export's CPU, reading its
// sources into memory; with huge pages its page faults fell from 26 000
// to 8 700.
func HugeBytes(n, c int) []byte {
	b := make([]byte, n, c)
	if c >= hugeMin {
		adviseHuge(b)
	}
	return b
}

// File is a file being appended to. It is not safe for concurrent use.
type File struct {
	f      *os.File // the file through the page cache: tail writes, Truncate, Sync
	direct *os.File // the same file opened O_DIRECT; nil: page cache only
	name   string

	chunk *[]byte // borrowed staging buffer, nil between a Flush and the next Write
	n     int     // bytes of file in *chunk, from base
	tail  []byte  // the bytes of the last partial block, from base, when chunk is nil
	base  int64   // block-aligned file offset of (*chunk)[0] (or tail[0])
	size  int64   // the file's logical size: everything written, flushed or not
	done  int64   // bytes [0, done) are in the file
}

// Create creates name (O_CREATE|O_EXCL|O_WRONLY with perm) for
// appending. The file is new, so it starts empty.
func Create(name string, perm os.FileMode) (*File, error) {
	return OpenFile(name, os.O_CREATE|os.O_EXCL, perm)
}

// OpenFile opens name with flag (os.O_WRONLY is added) for appending.
// The file must be empty once opened: new, or truncated by os.O_TRUNC.
func OpenFile(name string, flag int, perm os.FileMode) (*File, error) {
	f, err := os.OpenFile(name, flag|os.O_WRONLY, perm)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || st.Size() != 0 {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s: not empty (%d bytes): a direct file is written from its start", name, st.Size())
		}
		return nil, err
	}
	return &File{f: f, direct: openDirect(f), name: name, tail: make([]byte, 0, block)}, nil
}

// Buffer is a size-byte slice for writing through a File: memory
// aligned for O_DIRECT, so that a Write of it at a block boundary of the
// file, with nothing staged, goes to the disk from the slice itself
// instead of through a staging copy.
func Buffer(size int) []byte { return *alignedChunk(size) }

// Name is the name the file was opened with.
func (d *File) Name() string { return d.name }

// File is the underlying file through the page cache (to fallocate, or
// to clone it); write to it only through d.
func (d *File) File() *os.File { return d.f }

// Direct tells whether whole blocks bypass the page cache.
func (d *File) Direct() bool { return d.direct != nil }

// Size is the number of bytes written, flushed or not.
func (d *File) Size() int64 { return d.size }

// Write appends p. It may only stage it: Flush (or Sync, Close) puts the
// rest in the file. A failed write leaves the file with a prefix of what
// was written; Truncate cuts it back.
func (d *File) Write(p []byte) (int, error) {
	if d.direct == nil {
		n, err := d.f.Write(p)
		d.size += int64(n)
		d.done = d.size
		return n, err
	}
	written := 0
	if d.chunk == nil && len(d.tail) == 0 && len(p) >= block && alignOffset(p) == 0 {
		// Nothing staged, the file ends on a block and p starts on one
		// in memory (Buffer): its whole blocks go to the disk from p
		// itself, uncopied.
		n := len(p) &^ (block - 1)
		if _, err := d.direct.WriteAt(p[:n], d.base); err != nil {
			if !errors.Is(err, errInvalid) {
				return 0, fmt.Errorf("%s: %w", d.name, err)
			}
			// Refused: p is staged below, and the staged path's direct
			// write, refused in turn, falls back to the page cache.
		} else {
			d.base += int64(n)
			d.size, d.done = d.base, d.base
			p, written = p[n:], n
		}
	}
	for len(p) > 0 {
		if d.chunk == nil {
			d.chunk = getChunk()
			d.n = copy(*d.chunk, d.tail)
		}
		c := copy((*d.chunk)[d.n:], p)
		d.n += c
		p = p[c:]
		written += c
		d.size += int64(c)
		if d.n == len(*d.chunk) {
			if err := d.writeDirect(d.n); err != nil {
				return written, err
			}
			if d.direct == nil { // fell back to the page cache
				n, err := d.f.Write(p)
				d.size += int64(n)
				d.done = d.size
				return written + n, err
			}
		}
	}
	return written, nil
}

// writeDirect writes the first n bytes of the chunk (n a multiple of the
// block) at base and moves the rest to the chunk's start.
func (d *File) writeDirect(n int) error {
	buf := *d.chunk
	if _, err := d.direct.WriteAt(buf[:n], d.base); err != nil {
		if !errors.Is(err, errInvalid) {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		// The filesystem refused it after all: page cache from now on.
		d.direct.Close()
		d.direct = nil
		if _, err := d.f.WriteAt(buf[:d.n], d.base); err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		if _, err := d.f.Seek(d.size, io.SeekStart); err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		d.done = d.base + int64(d.n)
		d.release()
		return nil
	}
	d.base += int64(n)
	d.done = max(d.done, d.base)
	d.n = copy(buf, buf[n:d.n])
	return nil
}

// Flush puts every byte written into the file: the whole blocks by
// O_DIRECT, the last partial one through the page cache.
func (d *File) Flush() error {
	if d.chunk == nil {
		return nil
	}
	if full := d.n &^ (block - 1); full > 0 {
		if err := d.writeDirect(full); err != nil {
			return err
		}
		if d.chunk == nil { // fell back to the page cache
			return nil
		}
	}
	rest := (*d.chunk)[:d.n]
	if from := d.done - d.base; from < int64(len(rest)) {
		if _, err := d.f.WriteAt(rest[from:], d.done); err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		d.done = d.base + int64(len(rest))
	}
	d.tail = append(d.tail[:0], rest...)
	d.release()
	return nil
}

func (d *File) release() {
	if d.chunk != nil {
		putChunk(d.chunk)
		d.chunk, d.n = nil, 0
	}
}

// Truncate cuts the file to size (at most its size) and continues there:
// what was written past it, flushed or not, is gone.
func (d *File) Truncate(size int64) error {
	if size < 0 || size > d.size {
		return fmt.Errorf("%s: truncate to %d: the file has %d bytes (it only shrinks)", d.name, size, d.size)
	}
	if d.chunk != nil && size > d.done {
		// Staged bytes below size that never reached the file go in
		// first, through the page cache.
		if _, err := d.f.WriteAt((*d.chunk)[d.done-d.base:size-d.base], d.done); err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		d.done = size
	}
	d.release()
	if err := d.f.Truncate(size); err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	d.size, d.done = size, min(d.done, size)
	if d.direct == nil {
		_, err := d.f.Seek(size, io.SeekStart)
		return err
	}
	// The partial block before size, read back from the file, so that
	// the next direct write starts block-aligned.
	d.base = size &^ (block - 1)
	d.tail = d.tail[:size-d.base]
	r, err := reopen(d.f, os.O_RDONLY)
	if err == nil {
		_, err = r.ReadAt(d.tail, d.base)
		r.Close()
	}
	if err != nil {
		// Without the partial block no direct write can start aligned:
		// the page cache from here on.
		d.tail = d.tail[:0]
		d.direct.Close()
		d.direct = nil
		_, err = d.f.Seek(size, io.SeekStart)
		return err
	}
	return nil
}

// Seek only answers where the file ends (appending is all a File does):
// Seek(Size(), io.SeekStart) and Seek(0, io.SeekEnd) succeed.
func (d *File) Seek(offset int64, whence int) (int64, error) {
	to := offset
	switch whence {
	case io.SeekCurrent, io.SeekEnd:
		to += d.size
	}
	if to != d.size {
		return d.size, fmt.Errorf("%s: seek to %d: a direct file only appends at %d", d.name, to, d.size)
	}
	return d.size, nil
}

// Sync flushes and fsyncs.
func (d *File) Sync() error {
	if err := d.Flush(); err != nil {
		return err
	}
	return d.f.Sync()
}

// Close flushes and closes; it does not fsync.
func (d *File) Close() error {
	errFlush := d.Flush()
	d.release()
	var errDirect error
	if d.direct != nil {
		errDirect = d.direct.Close()
		d.direct = nil
	}
	return errors.Join(errFlush, errDirect, d.f.Close())
}
