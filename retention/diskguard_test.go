package retention

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"vahti/configs"
	"vahti/registry"
)

// usedBytes sums the sizes of files under root.
func usedBytes(root string) uint64 {
	var n uint64
	filepath.Walk(root, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += uint64(fi.Size())
		}
		return nil
	})
	return n
}

func TestDiskGuardFreesOldestUnheldRoundRobin(t *testing.T) {
	f := newFixture(t, "a", "b", "c")
	ctx := context.Background()
	const total = 10000
	f.cfg.Retention.MinFree = configs.FreeSpace{Bytes: 2000} // target: 2000 + 1% = 2100 free
	f.r = f.newRetention()
	f.r.statfs = func(string) (DiskSpace, error) {
		return DiskSpace{Free: total - usedBytes(f.cfg.Storage.Root), Total: total}, nil
	}
	// 10 one-minute segments of 100 bytes per camera, young (guard ignores age).
	segs := map[string][]registry.Segment{}
	for i, c := range []string{"a", "b", "c"} {
		for k := 0; k < 30; k++ {
			segs[c] = append(segs[c], f.addSeg(c, t0.Add(-2*time.Hour).Add(time.Duration(k)*time.Minute+time.Duration(i)*time.Second), time.Minute, 100))
		}
	}
	// Camera a's oldest five are held.
	f.hold([]string{"a"}, segs["a"][0].Start, segs["a"][4].End.Add(-time.Second))
	// used 9000, free 1000 < 2000: must free >= 1100 -> 11+ segments.
	if err := f.r.CheckDisk(ctx); err != nil {
		t.Fatal(err)
	}
	free := total - usedBytes(f.cfg.Storage.Root)
	if free < 2100 || free > 2100+guardBatch*100 {
		t.Fatalf("free after guard %d, want just above 2100", free)
	}
	for _, s := range segs["a"][:5] {
		if !f.exists(s.Path) {
			t.Fatalf("held segment %s deleted", s.Path)
		}
	}
	// Fair: each camera lost its oldest unheld, in order, about equally.
	lost := map[string]int{}
	for c, ss := range segs {
		first := 0
		if c == "a" {
			first = 5
		}
		for i, s := range ss[first:] {
			if !f.exists(s.Path) {
				lost[c]++
				if i > 0 && f.exists(ss[first+i-1].Path) {
					t.Errorf("camera %s: %s deleted before an older one", c, s.Path)
				}
			}
		}
	}
	if d := lost["a"] - lost["c"]; d < -1 || d > 1 || lost["b"]-lost["c"] > 1 || lost["c"]-lost["b"] > 1 {
		t.Errorf("unfair: %v", lost)
	}
	if !f.r.WritingAllowed() || len(f.audit("segments.delete")) == 0 {
		t.Fatal("writing stopped or deletions not audited")
	}
}

func TestDiskGuardStopsWritingWhenOnlyHeldFootageIsLeft(t *testing.T) {
	f := newFixture(t, "a")
	ctx := context.Background()
	f.cfg.Retention.MinFree = configs.FreeSpace{Bytes: 5000}
	f.r = f.newRetention()
	var free uint64 = 100
	f.r.statfs = func(string) (DiskSpace, error) { return DiskSpace{Free: free, Total: 10000}, nil }
	s := f.addSeg("a", t0.Add(-time.Hour), time.Minute, 100)
	f.hold([]string{"all"}, t0.Add(-day), t0.Add(day))
	f.r.CheckDisk(ctx)
	if f.r.WritingAllowed() || !f.exists(s.Path) || !f.hasAlarm(AlarmDiskFullHeld) {
		t.Fatalf("writing=%v kept=%v alarms=%+v", f.r.WritingAllowed(), f.exists(s.Path), f.r.Status().Alarms)
	}
	free = 9000 // an operator added storage
	f.r.CheckDisk(ctx)
	if !f.r.WritingAllowed() || f.hasAlarm(AlarmDiskFullHeld) || f.hasAlarm(AlarmDiskLow) {
		t.Fatal("did not recover")
	}
}

// TestDiskGuardOnRealFullFilesystem fills a size-limited tmpfs with
// catalogued segment files until the kernel says ENOSPC, then checks that
// the guard frees the oldest unheld first and never a held one, and that
// with everything held it stops writing instead.
func TestDiskGuardOnRealFullFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to mount a tmpfs")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	f := newFixture(t, "a", "b")
	ctx := context.Background()
	mnt := filepath.Join(f.dir, "mnt")
	os.MkdirAll(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	f.cfg.Storage.Root = mnt
	f.cfg.Retention.MinFree = configs.FreeSpace{Percent: 25}
	f.r = f.newRetention() // real statfs
	write := func(cam string, start time.Time) (registry.Segment, error) {
		s := registry.Segment{Camera: cam, Start: start, End: start.Add(time.Minute), Path: registry.SegmentPath(cam, start), Bytes: 100 << 10}
		p := filepath.Join(mnt, filepath.FromSlash(s.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return s, err
		}
		if err := os.WriteFile(p, make([]byte, s.Bytes), 0o644); err != nil {
			return s, err
		}
		return s, f.db.Update(ctx, func(tx *registry.Tx) error { return tx.AddSegment(&s) })
	}
	var segs []registry.Segment
	start := t0.Add(-3 * time.Hour)
	fill := func() {
		for i := 0; ; i++ {
			cam := []string{"a", "b"}[i%2]
			s, err := write(cam, start)
			start = start.Add(30 * time.Second)
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			segs = append(segs, s)
			if i > 1000 {
				t.Fatal("tmpfs never filled")
			}
		}
	}
	fill()
	// Hold camera a's three oldest segments.
	var held []registry.Segment
	for _, s := range segs {
		if s.Camera == "a" && len(held) < 3 {
			held = append(held, s)
		}
	}
	f.hold([]string{"a"}, held[0].Start, held[2].End.Add(-time.Second))
	if err := f.r.CheckDisk(ctx); err != nil {
		t.Fatal(err)
	}
	ds, _ := statfs(mnt)
	floor := f.cfg.Retention.MinFree.Floor(ds.Total)
	if ds.Free < floor || !f.r.WritingAllowed() {
		t.Fatalf("free %d < floor %d after guard (writing %v)", ds.Free, floor, f.r.WritingAllowed())
	}
	for _, h := range held {
		if !f.exists(h.Path) {
			t.Fatalf("held %s deleted", h.Path)
		}
	}
	// Deleted ones are each camera's oldest unheld.
	for _, c := range []string{"a", "b"} {
		seenKept := false
		for _, s := range segs {
			if s.Camera != c || (c == "a" && s.Start.Before(held[2].End)) {
				continue
			}
			kept := f.exists(s.Path)
			if !kept && seenKept {
				t.Errorf("%s deleted while an older unheld one was kept", s.Path)
			}
			seenKept = seenKept || kept
		}
	}
	// Hold everything, fill again: the guard deletes nothing and stops writing.
	f.hold([]string{"all"}, t0.Add(-day), t0.Add(day))
	fill()
	before := usedBytes(mnt)
	f.r.CheckDisk(ctx)
	if f.r.WritingAllowed() || usedBytes(mnt) != before {
		t.Fatalf("writing allowed %v; used %d -> %d", f.r.WritingAllowed(), before, usedBytes(mnt))
	}
}
