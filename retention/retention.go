package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"vahti/configs"
	"vahti/registry"
)

// Config is what the retention service needs; Cfg, DB and Now are required.
type Config struct {
	Cfg *configs.Config
	DB  *registry.DB
	Now func() time.Time
	Log *slog.Logger
	// Reconcile is the recorder's catalog/disk reconcile, run first by the
	// nightly purge (nil: skipped).
	Reconcile func(ctx context.Context) error
	// Checkpoint signs the audit chain's head outside the database; the
	// nightly purge calls it after writing its report (nil: none).
	Checkpoint func(ctx context.Context) error
	// Statfs reports free and total bytes of the filesystem holding path
	// (nil: statfs(2) on storage.root). Tests inject it.
	Statfs func(path string) (DiskSpace, error)
	// GuardInterval is how often the disk guard looks at free space
	// (default 5s).
	GuardInterval time.Duration
	// Actor and Source name who deletes, in audit entries (default
	// "system" and "service"; the CLI passes its user and "cli").
	Actor, Source string
}

// DiskSpace is a filesystem's free (available to Vahti) and total bytes.
type DiskSpace struct {
	Free  uint64 `json:"free"`
	Total uint64 `json:"total"`
}

// Alarm is a condition an operator must look at. Kinds are stable words.
type Alarm struct {
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
}

// Alarm kinds.
const (
	AlarmClockJump       = "clock-jump"       // now far after the last time seen: purge paused
	AlarmClockBackwards  = "clock-backwards"  // now before the last time seen
	AlarmDeleteFraction  = "delete-fraction"  // a pass would delete far more than expected: paused
	AlarmCatalogMismatch = "catalog-mismatch" // catalog and disk disagree: purge paused
	AlarmDiskLow         = "disk-low"         // below min_free; emergency deletions made
	AlarmDiskFullHeld    = "disk-full-held"   // below min_free and only held footage left: recording stopped
	AlarmHoldReview      = "hold-review"      // holds past their review date
	AlarmError           = "error"            // a pass failed
)

// Status is retention's live state for `vahti status` and the admin UI.
type Status struct {
	WritingAllowed bool       `json:"writing_allowed"`
	Paused         bool       `json:"paused"` // an interlock refuses deletions
	Alarms         []Alarm    `json:"alarms"`
	LastSweep      time.Time  `json:"last_sweep"`
	LastSweepCount int        `json:"last_sweep_deleted"`
	LastNightly    time.Time  `json:"last_nightly"`
	NextNightly    time.Time  `json:"next_nightly"`
	Disk           DiskSpace  `json:"disk"`
	FloorBytes     uint64     `json:"floor_bytes"`
	HoldsForReview []int64    `json:"holds_for_review"`
	LastReport     *PurgeInfo `json:"last_report,omitempty"`
}

// PurgeInfo points at the latest nightly purge report.
type PurgeInfo struct {
	Time time.Time `json:"time"`
	File string    `json:"file"`
}

// Retention is the running retention service.
type Retention struct {
	cfg    *configs.Config
	db     *registry.DB
	now    func() time.Time
	log    *slog.Logger
	recon  func(ctx context.Context) error
	ckpt   func(ctx context.Context) error
	statfs func(string) (DiskSpace, error)
	guardT time.Duration
	actor  string
	source string

	nightlyGrace time.Duration // delay of a missed nightly purge after start

	guardMu sync.Mutex // one disk guard pass at a time
	passMu  sync.Mutex // one deleting pass at a time in this process

	kick chan struct{}

	batch int // segments per deleting transaction: sweepBatch

	// crash, set only by tests, simulates the process dying at a stage of
	// a deletion: when it returns true the deletion stops right there.
	crash func(stage string, n int) bool

	mu     sync.Mutex
	st     Status
	alarms map[string]Alarm
	// checkpointDue: keys were deleted since the WAL was last truncated
	// (erase.go); checkpointNow: an epoch went, truncate at once.
	checkpointDue, checkpointNow bool
	lastCheckpoint               time.Time
}

// New checks the config and returns a Retention; nothing runs until Run.
func New(c Config) (*Retention, error) {
	if c.Cfg == nil || c.DB == nil {
		return nil, errors.New("retention: Cfg and DB are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Statfs == nil {
		c.Statfs = statfs
	}
	if c.GuardInterval <= 0 {
		c.GuardInterval = 5 * time.Second
	}
	if c.Actor == "" {
		c.Actor = "system"
	}
	if c.Source == "" {
		c.Source = "service"
	}
	if _, err := configs.ParseClock(c.Cfg.Retention.NightlyPurgeAt); err != nil {
		return nil, fmt.Errorf("retention: nightly_purge_at: %w", err)
	}
	r := &Retention{cfg: c.Cfg, db: c.DB, now: c.Now, log: c.Log, recon: c.Reconcile, ckpt: c.Checkpoint, statfs: c.Statfs,
		guardT: c.GuardInterval, actor: c.Actor, source: c.Source, alarms: map[string]Alarm{}, kick: make(chan struct{}, 1),
		nightlyGrace: time.Minute, batch: sweepBatch}
	r.st.WritingAllowed = true
	return r, nil
}

// WritingAllowed is false while the disk is below the floor and only held
// footage is left to delete: the recorder stops writing rather than
// destroy evidence or fill the disk.
func (r *Retention) WritingAllowed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.WritingAllowed
}

// Status returns a snapshot.
func (r *Retention) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.Alarms = make([]Alarm, 0, len(r.alarms))
	for _, a := range r.alarms {
		s.Alarms = append(s.Alarms, a)
	}
	sort.Slice(s.Alarms, func(i, j int) bool { return s.Alarms[i].Kind < s.Alarms[j].Kind })
	s.HoldsForReview = append([]int64(nil), r.st.HoldsForReview...)
	for _, a := range s.Alarms {
		if a.Kind == AlarmClockJump || a.Kind == AlarmDeleteFraction || a.Kind == AlarmCatalogMismatch {
			s.Paused = true
		}
	}
	return s
}

// raise sets an alarm; the first time it is raised it is logged and, for
// interlocks, audited (not on every sweep, so the chain does not flood).
func (r *Retention) raise(ctx context.Context, kind, msg string, audit bool) {
	r.mu.Lock()
	_, had := r.alarms[kind]
	if !had {
		r.alarms[kind] = Alarm{Kind: kind, Message: msg, Since: r.now().UTC()}
	} else {
		a := r.alarms[kind]
		a.Message = msg
		r.alarms[kind] = a
	}
	r.mu.Unlock()
	if had {
		return
	}
	r.log.Warn("retention alarm", "kind", kind, "message", msg)
	if audit {
		err := r.db.Update(ctx, func(tx *registry.Tx) error {
			_, err := tx.Audit(r.actor, r.source, "retention.interlock", "retention", map[string]any{"alarm": kind, "message": msg})
			return err
		})
		if err != nil {
			r.log.Error("audit interlock", "err", err)
		}
	}
}

func (r *Retention) clear(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.alarms[kind]; ok {
		delete(r.alarms, kind)
		r.log.Info("retention alarm cleared", "kind", kind)
	}
}

func (r *Retention) update(fn func(s *Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.st)
}
