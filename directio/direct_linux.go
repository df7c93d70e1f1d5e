package directio

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// errInvalid is what a filesystem answers a direct write it cannot do.
var errInvalid error = syscall.EINVAL

// openDirect opens f's file a second time, O_DIRECT, through
// /proc/self/fd: the same inode even if its name has changed. nil where
// the filesystem refuses O_DIRECT.
func openDirect(f *os.File) *os.File {
	d, err := reopen(f, os.O_WRONLY|syscall.O_DIRECT)
	if err != nil {
		return nil
	}
	return d
}

// reopen opens f's inode again with flag.
func reopen(f *os.File, flag int) (*os.File, error) {
	return os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), flag, 0)
}

// alignOffset is how far into b the first block-aligned byte is.
func alignOffset(b []byte) int {
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % block); r != 0 {
		return block - r
	}
	return 0
}

// adviseHuge asks the kernel to back b with transparent huge pages where
// they are enabled only on request (the "madvise" mode, Debian's
// default): a large buffer filled once then faults once per 2 MiB instead
// of once per 4 KiB. Advice only: refused, the pages stay small. b must
// start on a page: any Go allocation over 32 KiB does (its own span).
func adviseHuge(b []byte) { _ = syscall.Madvise(b[:cap(b)], syscall.MADV_HUGEPAGE) }
