package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the file in the state dir that the running service holds
// locked, so a second service or a restore cannot run beside it.
const LockFile = "vahti.lock"

// ErrLocked means another process holds the state-dir lock.
var ErrLocked = errors.New("state dir is in use by a running Vahti service")

// LockStateDir takes the exclusive state-dir lock without waiting. The lock
// is released by the returned func or when the process dies (flock).
func LockStateDir(stateDir string) (unlock func(), err error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	p := filepath.Join(stateDir, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", stateDir, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
