package directio

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// check asserts that the file at path holds exactly want.
func check(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		at := 0
		for at < min(len(got), len(want)) && got[at] == want[at] {
			at++
		}
		t.Fatalf("file has %d bytes, want %d; first difference at %d", len(got), len(want), at)
	}
}

// supportsDirect tells whether dir's filesystem takes O_DIRECT, asked
// without the package.
func supportsDirect(t *testing.T, dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_CREATE|os.O_WRONLY|syscall.O_DIRECT, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// TestAppend writes random pieces (a few bytes to several chunks) with a
// Flush at random points, and after every Flush reads the file through
// another descriptor: it must hold exactly what was written, in both
// modes (O_DIRECT and the page cache alone).
func TestAppend(t *testing.T) {
	for _, direct := range []bool{true, false} {
		name := map[bool]string{true: "direct", false: "page cache"}[direct]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "seg.mp4")
			f, err := Create(path, 0o640)
			if err != nil {
				t.Fatal(err)
			}
			if direct && !f.Direct() {
				if supportsDirect(t, dir) {
					t.Fatal("the filesystem takes O_DIRECT but the file does not use it")
				}
				t.Skipf("%s refuses O_DIRECT (the page-cache run covers the rest)", dir)
			}
			if !direct {
				f.direct.Close()
				f.direct = nil
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var want []byte
			for i := 0; i < 300; i++ {
				n := rng.IntN(9000)
				if i%37 == 0 {
					n = chunkSize*2 + rng.IntN(chunkSize) // several chunks in one Write
				}
				p := make([]byte, n)
				for j := range p {
					p[j] = byte(rng.Uint32())
				}
				k, err := f.Write(p)
				if err != nil || k != n {
					t.Fatalf("write %d: %d, %v", n, k, err)
				}
				want = append(want, p...)
				if f.Size() != int64(len(want)) {
					t.Fatalf("Size %d, want %d", f.Size(), len(want))
				}
				if rng.IntN(4) == 0 {
					if err := f.Flush(); err != nil {
						t.Fatal(err)
					}
					check(t, path, want)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			check(t, path, want)
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			check(t, path, want)
		})
	}
}

// TestTruncate cuts a file back to the end of its last whole "fragment"
// after a torn one, flushed or only staged, and goes on writing there:
// the file is the whole fragments, then the next, nothing of the torn.
func TestTruncate(t *testing.T) {
	for _, flushTorn := range []bool{true, false} {
		dir := t.TempDir()
		path := filepath.Join(dir, "seg.mp4")
		f, err := Create(path, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		good := bytes.Repeat([]byte("fragment"), 100_003) // not block-aligned
		if _, err := f.Write(good); err != nil {
			t.Fatal(err)
		}
		if err := f.Flush(); err != nil {
			t.Fatal(err)
		}
		at := f.Size()
		if _, err := f.Write(bytes.Repeat([]byte{0xee}, 3*chunkSize/2)); err != nil {
			t.Fatal(err)
		}
		if flushTorn {
			if err := f.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Truncate(at); err != nil {
			t.Fatal(err)
		}
		if pos, err := f.Seek(at, io.SeekStart); err != nil || pos != at {
			t.Fatalf("seek to the end: %d, %v", pos, err)
		}
		if _, err := f.Seek(at-1, io.SeekStart); err == nil {
			t.Fatal("seek into the file succeeded")
		}
		if err := f.Truncate(at + 1); err == nil {
			t.Fatal("truncate past the end succeeded")
		}
		next := bytes.Repeat([]byte("next"), 5000)
		if _, err := f.Write(next); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		check(t, path, append(good[:len(good):len(good)], next...))
	}
}

// TestCreateExclusive: footage is never overwritten.
func TestCreateExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(path, []byte("footage"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path, 0o640); err == nil {
		t.Fatal("Create opened an existing file")
	}
	check(t, path, []byte("footage"))
}

// TestAppendFromBuffer: whole blocks written from a Buffer at a block
// boundary go to the disk from the caller's memory (no staging buffer is
// borrowed), and the file is exactly what was written whatever comes
// between: an unaligned write, a flush, a truncation back to a block
// boundary, an unaligned slice of a Buffer.
func TestAppendFromBuffer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "package.zip")
	f, err := Create(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Direct() {
		t.Skipf("%s refuses O_DIRECT", dir)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(p []byte) []byte {
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	var want []byte
	write := func(p []byte, uncopied bool) {
		t.Helper()
		if n, err := f.Write(p); err != nil || n != len(p) {
			t.Fatalf("write %d: %d, %v", len(p), n, err)
		}
		want = append(want, p...)
		if uncopied && f.chunk != nil {
			t.Fatalf("write of %d aligned bytes at %d borrowed a staging buffer", len(p), len(want)-len(p))
		}
	}
	buf := Buffer(1 << 20)
	write(fill(buf), true)
	write(fill(buf[:3*block]), true)
	write(fill(buf[:5*block+17]), false) // the 17 are staged
	write(fill(buf[:2*block]), false)    // behind staged bytes: copied
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	check(t, path, want)
	at := f.Size() &^ (block - 1)
	if err := f.Truncate(at); err != nil {
		t.Fatal(err)
	}
	want = want[:at]
	write(fill(buf), true)
	write(fill(buf[1:block+1]), false) // not aligned in memory
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	check(t, path, want)
}
