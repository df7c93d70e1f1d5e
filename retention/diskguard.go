package retention

import (
	"context"
	"fmt"
	"sort"
	"syscall"
	"time"

	"vahti/registry"
)

// statfs is the real free-space reading (space available to unprivileged
// writers, which is what the recorder gets).
func statfs(path string) (DiskSpace, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return DiskSpace{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	return DiskSpace{Free: st.Bavail * uint64(st.Bsize), Total: st.Blocks * uint64(st.Bsize)}, nil
}

// guardBatch is how many segments the guard destroys between two free-space
// readings: small, so it stops soon after the target.
const guardBatch = 8

// guardPerCamera is how many of each camera's oldest unheld segments one
// guard round considers.
const guardPerCamera = 64

// guardTarget: once below the floor the guard frees up to the floor plus
// 1% of the filesystem, so it does not run again a second later.
func guardTarget(floor, total uint64) uint64 { return floor + total/100 }

// CheckDisk runs the disk guard once: below the min_free floor it destroys
// the oldest unheld footage, fairly across cameras (each round takes the
// camera whose oldest unheld segment is oldest), in small audited batches,
// until free space is back above the floor plus a margin. Held footage is
// never touched; if only held footage is left, writing is stopped
// (WritingAllowed() = false) and an alarm raised.
func (r *Retention) CheckDisk(ctx context.Context) error {
	r.guardMu.Lock()
	defer r.guardMu.Unlock()
	root := r.cfg.Storage.Root
	ds, err := r.statfs(root)
	if err != nil {
		r.raise(ctx, AlarmError, err.Error(), false)
		return err
	}
	floor := r.cfg.Retention.MinFree.Floor(ds.Total)
	r.update(func(s *Status) { s.Disk, s.FloorBytes = ds, floor })
	if ds.Free >= floor {
		r.clear(AlarmDiskLow)
		r.clear(AlarmDiskFullHeld)
		r.update(func(s *Status) { s.WritingAllowed = true })
		return nil
	}
	r.raise(ctx, AlarmDiskLow, fmt.Sprintf("free space %d bytes is below the floor of %d bytes (min_free %s): deleting the oldest unheld footage",
		ds.Free, floor, r.cfg.Retention.MinFree), false)
	target := guardTarget(floor, ds.Total)
	now := r.now().UTC()
	zero := func(string) time.Duration { return 0 }
	var firstErr error
	// The round-robin order is computed once for up to guardPerCamera
	// segments per camera and consumed in small batches between
	// free-space readings, so the rotation is fair across batches.
	var order []registry.Segment
	for ds.Free < target && ctx.Err() == nil {
		if len(order) == 0 {
			if order, err = r.guardCandidates(ctx, now, guardPerCamera); err != nil {
				firstErr = err
				break
			}
			if len(order) == 0 {
				break // nothing unheld left
			}
		}
		batch := order[:min(guardBatch, len(order))]
		order = order[len(batch):]
		del, _, err := r.removeSegments(ctx, now, zero, batch, "disk-full")
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if len(del) == 0 && len(order) == 0 {
			break // nothing could be removed
		}
		r.log.Warn("disk guard deleted footage", "segments", len(del), "free", ds.Free, "floor", floor)
		if ds, err = r.statfs(root); err != nil {
			firstErr = err
			break
		}
	}
	r.update(func(s *Status) { s.Disk = ds })
	if ds.Free < floor {
		r.update(func(s *Status) { s.WritingAllowed = false })
		r.raise(ctx, AlarmDiskFullHeld, fmt.Sprintf("free space %d bytes is below the floor of %d bytes and only held footage is left: recording stopped; release holds, add storage or lower min_free",
			ds.Free, floor), true)
	} else {
		r.update(func(s *Status) { s.WritingAllowed = true })
		r.clear(AlarmDiskFullHeld)
	}
	if firstErr != nil {
		r.raise(ctx, AlarmError, firstErr.Error(), false)
	}
	return firstErr
}

// guardCandidates lists up to n of each camera's oldest unheld segments in
// round-robin order across cameras (each round: the camera with the oldest
// footage first).
func (r *Retention) guardCandidates(ctx context.Context, now time.Time, n int) ([]registry.Segment, error) {
	type queue struct{ segs []registry.Segment }
	var queues []*queue
	err := r.db.View(ctx, func(tx *registry.Tx) error {
		cams, err := tx.SegmentCameras()
		if err != nil {
			return err
		}
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		ix := newHoldIndex(holds)
		for _, c := range cams {
			// Page past held footage until n unheld are found or the
			// camera has no more.
			q := &queue{}
			var after time.Time
			for len(q.segs) < n {
				page, err := tx.OldestOfCamera(c, after, 256)
				if err != nil {
					return err
				}
				for _, s := range page {
					if ok, _ := Deletable(s, now, 0, ix.For(c)); ok && len(q.segs) < n {
						q.segs = append(q.segs, s)
					}
				}
				if len(page) < 256 {
					break
				}
				after = page[len(page)-1].Start
			}
			if len(q.segs) > 0 {
				queues = append(queues, q)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("disk guard: %w", err)
	}
	// Round robin: each round takes one segment from every camera that
	// has one, the camera with the oldest footage first.
	var out []registry.Segment
	for len(queues) > 0 {
		sort.SliceStable(queues, func(i, j int) bool { return queues[i].segs[0].Start.Before(queues[j].segs[0].Start) })
		next := queues[:0]
		for _, q := range queues {
			out = append(out, q.segs[0])
			q.segs = q.segs[1:]
			if len(q.segs) > 0 {
				next = append(next, q)
			}
		}
		queues = next
	}
	return out, nil
}
