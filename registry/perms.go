package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// PermError names a path whose mode lets others in where Vahti cannot fix
// it (someone else owns it).
type PermError struct {
	Path   string
	Mode   fs.FileMode
	Owner  uint32
	Reason string
}

func (e *PermError) Error() string {
	return fmt.Sprintf("%s: %s (mode %04o, owner uid %d); refusing to start: fix it with chmod/chown",
		e.Path, e.Reason, uint32(e.Mode.Perm())|stickyBit(e.Mode), e.Owner)
}

func stickyBit(m fs.FileMode) uint32 {
	if m&fs.ModeSticky != 0 {
		return 0o1000
	}
	return 0
}

// SecureDirs checks storage.root and state_dir at start-up: whatever in
// them this process owns is tightened (chmod) to at most the modes in
// layout.go — folders SegmentDirMode and segments SegmentFileMode under
// storage.root, folders StateDirMode and files PrivateFileMode in the
// state dir. What it does not own must not be writable by group or others,
// nor readable by others, or start is refused with a PermError naming the
// path. The folders above each of them must not be writable by others
// either (unless sticky, as /tmp): whoever can rename them can swap the
// footage. Symbolic links inside are not followed and not changed. When
// storage.root lies inside the state dir, it keeps its own modes.
func SecureDirs(stateDir, storageRoot string) error {
	state, err := filepath.EvalSymlinks(stateDir)
	if err != nil {
		return fmt.Errorf("state_dir %s: %w", stateDir, err)
	}
	root, err := filepath.EvalSymlinks(storageRoot)
	if err != nil {
		return fmt.Errorf("storage.root %s: %w", storageRoot, err)
	}
	if err := secureTree(root, "", SegmentDirMode, SegmentFileMode); err != nil {
		return fmt.Errorf("storage.root: %w", err)
	}
	if err := secureTree(state, root, StateDirMode, PrivateFileMode); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	// After the trees: a parent that is one of them has been tightened.
	for _, d := range []string{state, root} {
		if err := checkAncestors(d); err != nil {
			return err
		}
	}
	return nil
}

func ownerOf(fi fs.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}

// checkAncestors refuses a path whose parent folders others may write.
func checkAncestors(p string) error {
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
			return &PermError{Path: d, Mode: fi.Mode(), Owner: ownerOf(fi),
				Reason: "writable by group or others, who could replace " + p}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// secureTree walks top (skipping the subtree skip) tightening or refusing.
func secureTree(top, skip string, dirMax, fileMax fs.FileMode) error {
	uid := uint32(os.Geteuid())
	return filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && p != top && errors.Is(err, fs.ErrPermission) {
				// A folder Vahti may not read (lost+found on a dedicated
				// disk): its own mode was checked on the way in, and
				// nothing Vahti wrote can be inside.
				return filepath.SkipDir
			}
			return err
		}
		if skip != "" && p == skip && p != top {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // not followed: its target is not Vahti's tree
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone meanwhile
		}
		if err != nil {
			return err
		}
		max := fileMax
		if fi.IsDir() {
			max = dirMax
		}
		perm := fi.Mode().Perm()
		if ownerOf(fi) == uid {
			if perm&^max != 0 || fi.Mode()&fs.ModeSetuid != 0 {
				// A setgid folder (group inheritance) stays setgid.
				if err := os.Chmod(p, fi.Mode()&(fs.ModeSetgid|fs.ModeSticky)|perm&max); err != nil {
					return fmt.Errorf("%s: cannot tighten mode %04o to %04o: %w", p, perm, perm&max, err)
				}
			}
			return nil
		}
		othersRead := fs.FileMode(0o004)
		if fi.IsDir() {
			othersRead = 0o005 // entering a folder is enough to open a file whose name is known
		}
		switch {
		case perm&0o022 != 0:
			return &PermError{Path: p, Mode: fi.Mode(), Owner: ownerOf(fi), Reason: "writable by group or others and not owned by Vahti's user"}
		case perm&othersRead != 0:
			return &PermError{Path: p, Mode: fi.Mode(), Owner: ownerOf(fi), Reason: "readable by others and not owned by Vahti's user"}
		}
		return nil
	})
}
