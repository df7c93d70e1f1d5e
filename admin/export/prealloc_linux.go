package export

import (
	"os"

	"golang.org/x/sys/unix"
)

// preallocate reserves size bytes for f before it is written. On ext4
// writing into allocated extents was several times faster than allocating
// while writing (measured 0.3 GB/s -> 1-4 GB/s for 1 GB), and the zip is
// the largest write Vahti makes. Best effort: errors are ignored.
func preallocate(f *os.File, size int64) {
	if size > 0 {
		_ = unix.Fallocate(int(f.Fd()), 0, 0, size)
	}
}

// cloneFile makes dst share src's blocks (FICLONE: btrfs, XFS) so the
// --out copy costs no second write; false where the filesystem cannot.
func cloneFile(dst, src *os.File) bool {
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())) == nil
}
