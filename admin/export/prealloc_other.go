//go:build !linux

package export

import "os"

func preallocate(*os.File, int64) {}

func cloneFile(dst, src *os.File) bool { return false }

func startWriteback(*os.File, int64, int64) {}

func willNeed(*os.File) {}
