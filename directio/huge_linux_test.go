package directio

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// vmFlags returns the VmFlags of the mapping of this process that holds
// address a (/proc/self/smaps).
func vmFlags(t *testing.T, a uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 { // a mapping's first line
			in = lo <= a && a < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping holds %#x", a)
	return nil
}

// A large buffer for reading sources whole is asked to have huge pages
// (VmFlags "hg": madvise(MADV_HUGEPAGE) took), a small one is not, and
// both are ordinary zeroed slices of the length and capacity asked for.
func TestHugeBytesAdvisesLargeBuffersOnly(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("this kernel has no transparent huge pages")
	}
	big := HugeBytes(15<<20, 17<<20)
	if len(big) != 15<<20 || cap(big) != 17<<20 || big[0] != 0 || big[len(big)-1] != 0 {
		t.Fatalf("HugeBytes: len %d cap %d", len(big), cap(big))
	}
	if fs := vmFlags(t, uintptr(unsafe.Pointer(&big[8<<20]))); !slices.Contains(fs, "hg") {
		t.Errorf("a 17 MiB buffer's mapping is not advised for huge pages: VmFlags %v", fs)
	}
	slab := Buffer(16 << 20)
	if fs := vmFlags(t, uintptr(unsafe.Pointer(&slab[8<<20]))); !slices.Contains(fs, "hg") {
		t.Errorf("a 16 MiB aligned buffer's mapping is not advised for huge pages: VmFlags %v", fs)
	}
	small := HugeBytes(4096, 64<<10)
	if fs := vmFlags(t, uintptr(unsafe.Pointer(&small[0]))); slices.Contains(fs, "hg") {
		t.Errorf("a 64 KiB buffer's mapping was advised for huge pages: VmFlags %v", fs)
	}
	runtime.KeepAlive(big)
	runtime.KeepAlive(slab)
}
