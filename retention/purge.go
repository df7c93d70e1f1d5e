package retention

import (
	"context"
	"errors"
	"time"

	"vahti/registry"
)

// Report is the result of one retention pass (or, dry run, what it would
// destroy).
type Report struct {
	Time        time.Time         `json:"time"` // when the pass ran
	At          time.Time         `json:"at"`   // the instant judged (differs from Time only for a dry run --at)
	DryRun      bool              `json:"dry_run"`
	Forced      bool              `json:"forced"`
	Refused     []string          `json:"refused"` // interlocks that stopped (or would stop) the pass
	Segments    []Item            `json:"segments"`
	Exports     []ExportItem      `json:"exports"`
	Cameras     []CameraTotal     `json:"cameras"`
	HeldKept    int               `json:"held_kept"` // expired segments a hold keeps
	HeldExports int               `json:"held_exports"`
	Messages    map[string]string `json:"messages,omitempty"`
	// Crypto-erase: the data keys destroyed with the segments, per camera
	// and UTC day (a dry run: those that would be), and the days whose
	// epoch key was destroyed (erase.go; not judged by a dry run).
	KeysDestroyed   []KeyErasure `json:"keys_destroyed"`
	EpochsDestroyed []string     `json:"epochs_destroyed"`
	// HoldKeyFilesRemoved: holds released whose key file went;
	// BackupsExpired: registry backups in backup.path past max_age + 1 day
	// (a dry run: those that would expire).
	HoldKeyFilesRemoved []int64  `json:"hold_key_files_removed"`
	BackupsExpired      []string `json:"backups_expired"`
	// JobsExpired: rows of ended ad-hoc export jobs removed (DeletableJob;
	// a dry run: those that would be).
	JobsExpired int `json:"jobs_expired"`
}

// Item is one segment destroyed (or that would be).
type Item struct {
	Camera string    `json:"camera"`
	Path   string    `json:"path"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Bytes  int64     `json:"bytes"`
}

// ExportItem is one export package destroyed (or that would be).
type ExportItem struct {
	ID         string    `json:"id"`
	Path       string    `json:"path"`
	FootageEnd time.Time `json:"footage_end"`
	Bytes      int64     `json:"bytes"`
}

// CameraTotal sums a report per camera.
type CameraTotal struct {
	Camera string `json:"camera"`
	Count  int    `json:"count"`
	Bytes  int64  `json:"bytes"`
}

func (rep *Report) addSegments(segs []registry.Segment) {
	sortSegments(segs)
	for _, s := range segs {
		rep.Segments = append(rep.Segments, Item{Camera: s.Camera, Path: s.Path, Start: s.Start, End: s.End, Bytes: s.Bytes})
		n := len(rep.Cameras)
		if n == 0 || rep.Cameras[n-1].Camera != s.Camera {
			found := false
			for i := range rep.Cameras {
				if rep.Cameras[i].Camera == s.Camera {
					rep.Cameras[i].Count++
					rep.Cameras[i].Bytes += s.Bytes
					found = true
					break
				}
			}
			if !found {
				rep.Cameras = append(rep.Cameras, CameraTotal{Camera: s.Camera, Count: 1, Bytes: s.Bytes})
			}
			continue
		}
		rep.Cameras[n-1].Count++
		rep.Cameras[n-1].Bytes += s.Bytes
	}
}

func (rep *Report) addExports(es []registry.Export) {
	for _, e := range es {
		rep.Exports = append(rep.Exports, ExportItem{ID: e.ID, Path: e.Path, FootageEnd: e.FootageEnd, Bytes: e.Bytes})
	}
}

// PurgeOptions controls Purge.
type PurgeOptions struct {
	DryRun bool
	At     time.Time // dry run only: judge this instant instead of now
	Force  bool      // override the interlocks (an operator confirmed)
}

// Purge runs one retention pass now, or with dryRun lists what would be
// destroyed now or at `at` (zero: now) without touching anything.
func (r *Retention) Purge(ctx context.Context, dryRun bool, at time.Time) (Report, error) {
	return r.PurgeWith(ctx, PurgeOptions{DryRun: dryRun, At: at})
}

// PurgeWith is Purge with all options.
func (r *Retention) PurgeWith(ctx context.Context, o PurgeOptions) (Report, error) {
	now := r.now().UTC()
	if !o.At.IsZero() && !o.DryRun {
		return Report{}, errors.New("purge: a time to judge (--at) is only allowed with a dry run")
	}
	if !o.DryRun {
		return r.pass(ctx, now, o.Force, "expired")
	}
	at := now
	if !o.At.IsZero() {
		at = o.At.UTC()
	}
	rep := Report{Time: now, At: at, DryRun: true, Forced: o.Force}
	p, err := r.planPass(ctx, at)
	if err != nil {
		return rep, err
	}
	rep.addSegments(p.segs)
	rep.addExports(p.exports)
	rep.HeldKept, rep.HeldExports = p.held, p.heldExp
	// The keys that would go with the segments, and the registry backups
	// that would expire (the epochs are judged only after a real pass).
	keys := keyTally{}
	if err := r.db.View(ctx, func(tx *registry.Tx) error {
		at := keysOf(p.segs)
		has, err := tx.HasSegmentKeysAt(at)
		keys.addHad(at, has)
		return err
	}); err != nil {
		return rep, err
	}
	rep.KeysDestroyed = keys.list()
	if rep.JobsExpired, err = r.expiringJobs(ctx, at, p.exports); err != nil {
		return rep, err
	}
	due, err := r.expiredBackups(at)
	if err != nil {
		return rep, err
	}
	for _, b := range due {
		rep.BackupsExpired = append(rep.BackupsExpired, b.name)
	}
	if at.Equal(now) {
		// Only a judgement of now can say what the interlocks would do.
		v, _, err := r.interlocks(ctx, now, p)
		if err != nil {
			return rep, err
		}
		rep.Refused, rep.Messages = v.refused, v.messages
	}
	return rep, nil
}
