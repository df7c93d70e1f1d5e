// Package recorder ingests RTSP cameras and writes crash-safe fragmented
// MP4 segments under storage.root, cataloguing each finished segment in the
// registry. One supervised session per camera; one writer per connection;
// Recover and Reconcile bring disk and catalog back into agreement at start.
//
// Layers (as in MediaMTX's recorder): session.go (gortsplib client,
// reconnects, depacketising, DTS) → writer.go (keyframe cuts, wall clock,
// pending frame) → segment.go (one file: create, fsync, rename, hash) →
// part.go (one moof+mdat) ← track.go (samples of one track).
//
// Durability: a segment file is created with its first fragment (never an
// init-only file) under its unfinished name, fsynced with that fragment and
// then at most every FsyncInterval, fsynced again, renamed and its
// directory fsynced when finished. After a crash Recover cuts each
// unfinished file back to its last complete fragment, so a power cut loses
// at most FsyncInterval plus one part of footage per camera.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"vahti/configs"
	"vahti/registry"
)

// Config is what a Recorder needs; every dependency is handed in.
type Config struct {
	Root     string // storage.root
	StateDir string
	Cameras  []configs.Camera
	// SegmentDuration is the length after which a segment is cut at the next
	// keyframe; PartDuration is how much footage is buffered in memory before
	// it is appended to the file as one fragment.
	SegmentDuration time.Duration
	PartDuration    time.Duration
	// FsyncInterval is the longest time written fragments may stay unsynced.
	FsyncInterval time.Duration
	DB            *registry.DB
	Now           func() time.Time
	Log           *slog.Logger
	// CanWrite is the disk guard: when it answers false the current segment
	// is finished and nothing new is written until it answers true. nil
	// means always.
	CanWrite func() bool
	// Seal, when set, makes every new segment a sealed file (seal.go): it
	// gives the public key of a UTC day's epoch. nil: plain fMP4
	// (storage.encryption off, or left out before vahti keys init).
	Seal   EpochFunc
	sealer *sealer

	// loseRTP, when set, makes the session ignore video RTP packets it
	// answers true for, as if the network had lost them (tests).
	loseRTP func() bool
	// rtpHook, when set, is called with the camera ID for every video RTP
	// packet inside the callback's panic guard (tests inject panics).
	rtpHook func(camera string)
}

// Camera states reported by Status.
const (
	StateConnecting = "connecting"
	StateRecording  = "recording"
	StateAuthFailed = "auth failed"
	StateOffline    = "offline"
	StatePaused     = "paused (disk full)"
	StateDisabled   = "disabled"
	// StateError: the camera's stream made its session fail (a panic while
	// handling it); the connection is dropped and retried with backoff.
	StateError = "error"
)

// DropCounts counts what a camera sent that was refused, since start.
type DropCounts struct {
	BadRTP     int64 `json:"bad_rtp"`     // packets the depacketiser refused (garbage, endless fragments, too big)
	Oversize   int64 `json:"oversize"`    // frames over the frame bound, or cuts at the segment byte bound without a keyframe
	TimeJumps  int64 `json:"time_jumps"`  // timestamp discontinuities: the segment was cut and time re-anchored
	ParamChurn int64 `json:"param_churn"` // frames dropped for parameter sets changing too often
	Panics     int64 `json:"panics"`      // sessions ended by a recovered panic
}

// Total is the sum of all counters.
func (d DropCounts) Total() int64 {
	return d.BadRTP + d.Oversize + d.TimeJumps + d.ParamChurn + d.Panics
}

// CameraStatus is one camera's live state.
type CameraStatus struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	State      string    `json:"state"`
	Since      time.Time `json:"since"`               // when State was entered
	LastFrame  time.Time `json:"last_frame,omitzero"` // wall clock of the last video frame
	BitrateBps float64   `json:"bitrate_bps"`
	Segments   int64     `json:"segments"`   // finished since start
	Frames     int64     `json:"frames"`     // video frames recorded since start
	Reconnects int64     `json:"reconnects"` // connection attempts after the first
	// RTPGaps counts the times the camera's video packets skipped sequence
	// numbers (lost on the network, or never sent: GStreamer's rtsp-server
	// was seen skipping one to several clients at once); each costs the
	// frames up to the next keyframe. Not refused input, so not in Dropped.
	RTPGaps int64    `json:"rtp_gaps"`
	Error   string   `json:"error,omitempty"` // last error, passwords redacted
	Codecs  []string `json:"codecs,omitempty"`
	// Unsupported lists tracks the camera sends that cannot go into MP4;
	// they are not recorded.
	Unsupported []string `json:"unsupported,omitempty"`
	// Dropped counts refused input: a camera that misbehaves shows here.
	Dropped DropCounts `json:"dropped"`
}

// Recorder records every enabled camera.
type Recorder struct {
	cfg      Config
	sessions []*session
	mu       sync.Mutex // guards running
	running  bool
	started  chan struct{} // closed once recovery, reconcile and the watch are done (tests wait on it)
	live     liveSessions  // the running sessions (reconfigure.go)
}

// New checks the config and prepares one session per camera.
func New(cfg Config) (*Recorder, error) {
	if cfg.Root == "" {
		return nil, errors.New("recorder: storage root is empty")
	}
	if cfg.DB == nil {
		return nil, errors.New("recorder: no registry")
	}
	if cfg.Now == nil {
		return nil, errors.New("recorder: no clock")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.CanWrite == nil {
		cfg.CanWrite = func() bool { return true }
	}
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = time.Minute
	}
	if cfg.PartDuration <= 0 {
		cfg.PartDuration = time.Second
	}
	if cfg.PartDuration > cfg.SegmentDuration {
		return nil, fmt.Errorf("recorder: part duration %s longer than segment duration %s", cfg.PartDuration, cfg.SegmentDuration)
	}
	if cfg.FsyncInterval <= 0 {
		cfg.FsyncInterval = 2 * time.Second
	}
	cfg.sealer = newSealer(cfg.DB, cfg.Seal)
	r := &Recorder{cfg: cfg, started: make(chan struct{})}
	seen := map[string]bool{}
	for _, c := range cfg.Cameras {
		if seen[c.ID] {
			return nil, fmt.Errorf("recorder: camera %q listed twice", c.ID)
		}
		seen[c.ID] = true
		r.sessions = append(r.sessions, newSession(c, &r.cfg))
	}
	return r, nil
}

// Run recovers torn segments, reconciles the catalog with the disk, then
// records every enabled camera and watches storage.root until ctx ends.
// Segments being written are finished before Run returns.
func (r *Recorder) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("recorder: already running")
	}
	r.running = true
	r.mu.Unlock()

	log := r.cfg.Log.With("part", "recorder")
	if err := os.MkdirAll(r.cfg.Root, registry.SegmentDirMode); err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	// A stop during start-up is a clean stop: recovery and reconcile are
	// redone whole by the next start.
	if _, err := Recover(ctx, r.cfg.Root, r.cfg.DB, log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	w, err := newWatcher(r.cfg.Root, r.cfg.DB, log)
	if err != nil {
		return err
	}
	defer w.close()
	if _, err := Reconcile(ctx, r.cfg.Root, r.cfg.DB, r.cfg.Now, log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	close(r.started)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.run(ctx)
	}()
	r.live.start(ctx, r.sessions)
	wg.Wait()
	r.live.wait()
	return nil
}

// Started reports whether recovery, reconcile and the storage watch are
// done and the cameras are being recorded (read-only; for readiness).
func (r *Recorder) Started() bool {
	select {
	case <-r.started:
		return true
	default:
		return false
	}
}

// Status returns every camera's live state, in config order.
func (r *Recorder) Status() []CameraStatus {
	ss := r.live.list(r.sessions)
	out := make([]CameraStatus, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.status())
	}
	return out
}
