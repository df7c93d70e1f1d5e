//go:build !linux

package export

import "os"

func preallocate(*os.File, int64) {}
