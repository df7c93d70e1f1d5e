package retention

import (
	"context"
	"fmt"
	"sort"
	"time"

	"vahti/registry"
	"vahti/seal"
)

// Crypto-erase's second layer (seal/DESIGN.md, "Keys" and "Wiring:
// Retention"). remove.go deletes each segment's data key with its row;
// here, after those commits, the per-day epoch keys left without any data
// key are destroyed, so a stale copy of a deleted sealed data key (an old
// WAL frame, a page flash kept) opens nothing either. Then the WAL is
// checkpointed and truncated, so its old page images of deleted keys go.

// KeyErasure is one line of "keys destroyed": how many sealed segments'
// data keys of a camera and UTC day were destroyed.
type KeyErasure struct {
	Camera      string `json:"camera"`
	Day         string `json:"day"` // UTC, 2006-01-02: the day of the segments' start (their epoch)
	SegmentKeys int    `json:"segment_keys"`
}

type keyDay struct{ camera, day string }

// keyTally counts destroyed data keys per camera and UTC day.
type keyTally map[keyDay]int

func (t keyTally) add(camera string, start time.Time, n int) {
	if n > 0 {
		t[keyDay{camera, seal.EpochFor(start).String()}] += n
	}
}

// addDays adds an audit entry's per-day counts.
func (t keyTally) addDays(camera string, days map[string]int64) {
	for d, n := range days {
		t[keyDay{camera, d}] += int(n)
	}
}

func (t keyTally) merge(o keyTally) {
	for k, n := range o {
		t[k] += n
	}
}

func (t keyTally) cameras() []string {
	seen := map[string]bool{}
	var cs []string
	for k := range t {
		if !seen[k.camera] {
			seen[k.camera] = true
			cs = append(cs, k.camera)
		}
	}
	sort.Strings(cs)
	return cs
}

// days is one camera's counts by day (nil: none).
func (t keyTally) days(camera string) map[string]int64 {
	var m map[string]int64
	for k, n := range t {
		if k.camera == camera {
			if m == nil {
				m = map[string]int64{}
			}
			m[k.day] += int64(n)
		}
	}
	return m
}

func sumDays(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// list is the tally as report lines, by camera then day.
func (t keyTally) list() []KeyErasure {
	out := make([]KeyErasure, 0, len(t))
	for k, n := range t {
		out = append(out, KeyErasure{Camera: k.camera, Day: k.day, SegmentKeys: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Camera != out[j].Camera {
			return out[i].Camera < out[j].Camera
		}
		return out[i].Day < out[j].Day
	})
	return out
}

// keysErased notes that keys were deleted: the WAL needs a truncating
// checkpoint.
func (r *Retention) keysErased(t keyTally) {
	if len(t) > 0 {
		r.mu.Lock()
		r.checkpointDue = true
		r.mu.Unlock()
	}
}

// EpochDestroyDetail is the detail of a "keys.epoch.destroy" audit entry.
type EpochDestroyDetail struct {
	Day  string `json:"day"`  // UTC, 2006-01-02
	Kind string `json:"kind"` // "day": the day's epoch; "held": the day's held epoch (heldkeys.go)
	// Retired is how many held segments' original keys went with the
	// day's epoch (their held copies keep them readable).
	Retired int `json:"retired_originals,omitempty"`
}

// destroyEpochs destroys, in one transaction, the epochs of days before
// yesterday (UTC) that no data key is sealed to any more. A day whose only
// keys left are held segments' that were re-sealed to its held epoch gets
// those originals dropped first. Each destruction is audited
// "keys.epoch.destroy". It returns the days whose (day) epoch went.
func (r *Retention) destroyEpochs(ctx context.Context, now time.Time) ([]string, error) {
	// Yesterday's epoch may still get keys (a segment started before
	// midnight); IdleEpochs only offers days before the cut.
	cut := int64(seal.EpochFor(now)) - 1
	var days []string
	n := 0
	err := r.db.Update(ctx, func(tx *registry.Tx) error {
		days, n = nil, 0
		live, err := tx.LiveEpochDays(cut)
		if err != nil || len(live) == 0 {
			return err
		}
		retired := map[int64]int{}
		for _, d := range live {
			k, err := tx.RetireResealedKeys(d)
			if err != nil {
				return err
			}
			retired[d] = k
		}
		idle, err := tx.IdleEpochs(cut)
		if err != nil {
			return err
		}
		for _, d := range idle {
			if err := tx.DestroyEpoch(d, r.actor); err != nil {
				return err
			}
			day := seal.EpochID(d).String()
			if _, err := tx.Audit(r.actor, r.source, "keys.epoch.destroy", "epoch:"+day,
				EpochDestroyDetail{Day: day, Kind: "day", Retired: retired[d]}); err != nil {
				return err
			}
			days = append(days, day)
			n++
		}
		heldIdle, err := tx.IdleHeldEpochs(cut)
		if err != nil {
			return err
		}
		for _, d := range heldIdle {
			if err := tx.DestroyHeldEpoch(d, r.actor); err != nil {
				return err
			}
			day := seal.EpochID(d).String()
			if _, err := tx.Audit(r.actor, r.source, "keys.epoch.destroy", "epoch:"+day,
				EpochDestroyDetail{Day: day, Kind: "held"}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("destroy epochs: %w", err)
	}
	if n > 0 {
		r.mu.Lock()
		r.checkpointDue, r.checkpointNow = true, true
		r.mu.Unlock()
	}
	return days, nil
}

// checkpointEvery bounds how often a pass that only deleted segment keys
// truncates the WAL: a TRUNCATE checkpoint holds new writers (the
// recorder) while it waits for readers, so it is not run every sweep.
// Destroyed epochs and the nightly purge checkpoint at once.
const checkpointEvery = time.Hour

// checkpoint truncates the WAL if keys were deleted since the last
// successful one and it is time (force: the nightly purge). A busy
// database is not an error: it is logged and retried at the next pass.
func (r *Retention) checkpoint(ctx context.Context, now time.Time, force bool) {
	r.mu.Lock()
	due := r.checkpointDue && (force || r.checkpointNow || now.Sub(r.lastCheckpoint) >= checkpointEvery || now.Before(r.lastCheckpoint))
	r.mu.Unlock()
	if !due {
		return
	}
	if err := r.db.CheckpointTruncate(ctx); err != nil {
		r.log.Warn("registry checkpoint after destroying keys not done; retried at the next pass", "err", err)
		return
	}
	r.mu.Lock()
	r.checkpointDue, r.checkpointNow, r.lastCheckpoint = false, false, now
	r.mu.Unlock()
}
