//go:build !linux

package directio

import (
	"errors"
	"os"
)

// errInvalid never matches: there are no direct writes to refuse.
var errInvalid = errors.New("directio: no O_DIRECT on this system")

// openDirect: the page cache alone outside Linux.
func openDirect(*os.File) *os.File { return nil }

func reopen(f *os.File, flag int) (*os.File, error) { return os.OpenFile(f.Name(), flag, 0) }

func alignOffset([]byte) int { return 0 }

func adviseHuge([]byte) {}
