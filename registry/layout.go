package registry

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// The on-disk layout under storage.root. A finished segment's camera and
// UTC start are readable from its path alone:
//
//	yard/2026/11/22/14-05-00.123456.mp4
//
// A segment being written carries UnfinishedSuffix after ".mp4" and is
// renamed atomically when finished.
const (
	SegmentExt       = ".mp4"
	UnfinishedSuffix = ".tmp"
	segmentLayout    = "2006/01/02/15-04-05.000000"
)

// File modes. Footage may be read by the service's group (a backup or
// monitoring account), never by others, and written only by Vahti; the
// state dir holds password hashes, TOTP secrets and keys and is Vahti's
// alone. Creators pass these modes and, where the process umask could
// matter, set them explicitly; `serve` tightens existing files to them.
const (
	SegmentFileMode = 0o640 // a segment file under storage.root
	SegmentDirMode  = 0o750 // storage.root and every folder under it
	StateDirMode    = 0o700 // state_dir and every folder under it
	PrivateFileMode = 0o600 // registry.db and its -wal/-shm, backups, keys, exports, reports
)

// SegmentPath returns the slash-separated path of a finished segment,
// relative to storage.root.
func SegmentPath(camera string, start time.Time) string {
	return camera + "/" + start.UTC().Format(segmentLayout) + SegmentExt
}

// UnfinishedPath returns the path a segment has while it is written.
func UnfinishedPath(camera string, start time.Time) string {
	return SegmentPath(camera, start) + UnfinishedSuffix
}

// ParseSegmentPath reads camera, start and finished-ness from a relative
// path; it fails for anything that is not a segment name.
func ParseSegmentPath(rel string) (camera string, start time.Time, finished bool, err error) {
	rel = path.Clean(strings.ReplaceAll(rel, "\\", "/"))
	finished = true
	if s, ok := strings.CutSuffix(rel, UnfinishedSuffix); ok {
		rel, finished = s, false
	}
	parts := strings.SplitN(rel, "/", 2)
	if len(parts) != 2 || !strings.HasSuffix(parts[1], SegmentExt) {
		return "", time.Time{}, false, fmt.Errorf("%s: not a segment path (camera/YYYY/MM/DD/HH-MM-SS.ffffff.mp4)", rel)
	}
	t, perr := time.ParseInLocation(segmentLayout, strings.TrimSuffix(parts[1], SegmentExt), time.UTC)
	if perr != nil || parts[0] == "" || parts[0] == "." || parts[0] == ".." {
		return "", time.Time{}, false, fmt.Errorf("%s: not a segment path (camera/YYYY/MM/DD/HH-MM-SS.ffffff.mp4)", rel)
	}
	// Round-trip so that odd spellings (extra digits, ../) are refused.
	if SegmentPath(parts[0], t) != rel {
		return "", time.Time{}, false, fmt.Errorf("%s: not a canonical segment path", rel)
	}
	return parts[0], t, finished, nil
}
