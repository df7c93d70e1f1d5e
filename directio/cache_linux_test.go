package directio

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestBypassesPageCache is what the package is for: after 8 MiB written
// and flushed, at most the last partial block's page of the file is in
// the page cache (mincore), where a page-cache write leaves all of it.
func TestBypassesPageCache(t *testing.T) {
	dir := t.TempDir()
	if !supportsDirect(t, dir) {
		t.Skipf("%s refuses O_DIRECT", dir)
	}
	for _, direct := range []bool{true, false} {
		path := filepath.Join(dir, map[bool]string{true: "direct", false: "cached"}[direct])
		f, err := Create(path, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if !direct {
			f.direct.Close()
			f.direct = nil
		}
		piece := make([]byte, 300_001)
		for i := 0; i < 28; i++ {
			if _, err := f.Write(piece); err != nil {
				t.Fatal(err)
			}
			if err := f.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		pages, resident := residentPages(t, path)
		t.Logf("direct=%v: %d of %d pages in the page cache", direct, resident, pages)
		if direct && resident > 1 {
			t.Errorf("O_DIRECT file: %d of %d pages in the page cache, want at most the tail's", resident, pages)
		}
		if !direct && resident < pages/2 {
			t.Errorf("page-cache file: only %d of %d pages cached; the check cannot tell the modes apart", resident, pages)
		}
	}
}

func residentPages(t *testing.T, path string) (pages, resident int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	for _, v := range vec {
		if v&1 != 0 {
			resident++
		}
	}
	return len(vec), resident
}
