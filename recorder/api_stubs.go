package recorder

// Temporary: the signatures other packages compile against; the bodies
// arrive in the following commits.

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"vahti/configs"
	"vahti/registry"
)

// ReconcileReport says what Reconcile found.
type ReconcileReport struct {
	Checked int       `json:"checked"`           // segment files looked at
	Adopted []string  `json:"adopted,omitempty"` // valid files added to the catalog
	Missing []string  `json:"missing,omitempty"` // catalogued files no longer on disk
	Garbage []Garbage `json:"garbage,omitempty"` // .mp4 files that are not valid segments (left alone)
}

// Garbage is a file under storage.root that is not a valid segment.
type Garbage struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// RecoverReport says what Recover did with unfinished segments.
type RecoverReport struct {
	Recovered []string  `json:"recovered,omitempty"` // finished and catalogued
	Removed   []string  `json:"removed,omitempty"`   // held no complete fragment
	Failed    []Garbage `json:"failed,omitempty"`
}

// SegmentInfo is what ProbeSegment reads from a segment file.
type SegmentInfo struct {
	Camera        string
	Start, End    time.Time
	Duration      time.Duration
	Codecs        string // "h264,aac"
	Params        string // hex SHA-256 of the init section
	SHA256        string // hex SHA-256 of the whole file
	Bytes         int64
	Fragments     int
	KeyframeStart bool
}

func Reconcile(ctx context.Context, root string, db *registry.DB, now func() time.Time, log *slog.Logger) (ReconcileReport, error) {
	return ReconcileReport{}, nil
}

func Recover(ctx context.Context, root string, db *registry.DB, log *slog.Logger) (RecoverReport, error) {
	return RecoverReport{}, nil
}

func ProbeSegment(path string) (SegmentInfo, error) {
	return SegmentInfo{}, errors.New("not yet")
}

type session struct {
	cam configs.Camera
	cfg *Config
	st  statusBox
}

func newSession(c configs.Camera, cfg *Config) *session { return &session{cam: c, cfg: cfg} }
func (s *session) run(ctx context.Context)              { <-ctx.Done() }
func (s *session) status() CameraStatus                 { return s.st.get() }

type watcher struct{}

func newWatcher(root string, db *registry.DB, log *slog.Logger) (*watcher, error) {
	return &watcher{}, nil
}
func (w *watcher) run(ctx context.Context) { <-ctx.Done() }
func (w *watcher) close()                  {}
