package recorder

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vahti/configs"
	"vahti/recorder/fakecam"
)

// A panic while handling one camera's packets ends only that camera's
// connection: it is logged, the camera shows "error" and reconnects and
// records again, and the camera beside it records on without a gap.
func TestPanicInCallbackIsContained(t *testing.T) {
	t.Parallel()
	requireFFprobe(t)
	srv := startCam(t, fakecam.Config{Cameras: []string{"good", "bad"}})
	var packets, panics atomic.Int64
	var sawError atomic.Bool
	var r *running
	var once sync.Once
	ready := make(chan struct{})
	r = startRecorder(t, []configs.Camera{
		{ID: "good", URL: srv.URL("good"), Transport: "tcp"},
		{ID: "bad", URL: srv.URL("bad"), Transport: "tcp"},
	}, func(c *Config) {
		c.SegmentDuration = testSegment
		c.rtpHook = func(cam string) {
			once.Do(func() { close(ready) })
			if cam != "bad" {
				return
			}
			// Two panics, about two seconds into the first two connections.
			if packets.Add(1)%120 == 0 && panics.Load() < 2 {
				panics.Add(1)
				panic("injected fault")
			}
		}
	})
	<-ready
	waitFor(t, 30*time.Second, "the bad camera to fail twice and record again", func() bool {
		st := camStatus(r, "bad")
		if st.State == StateError {
			sawError.Store(true)
		}
		return st.Dropped.Panics >= 2 && st.State == StateRecording && len(segments(t, r.db, "bad")) >= 1
	})
	waitFor(t, 20*time.Second, "the good camera's segments", func() bool { return len(segments(t, r.db, "good")) >= 4 })
	r.stop(t)
	bad := camStatus(r, "bad")
	if !sawError.Load() {
		t.Error("the bad camera never showed state error")
	}
	if bad.Reconnects < 2 {
		t.Errorf("bad camera reconnected %d times, want 2", bad.Reconnects)
	}
	if !strings.Contains(r.log.String(), "recovered panic") {
		t.Error("the panic was not logged")
	}
	good := camStatus(r, "good")
	if good.Reconnects != 0 || good.Dropped.Panics != 0 {
		t.Errorf("good camera disturbed: %+v", good)
	}
	checkSegments(t, r, "good", segments(t, r.db, "good"), "h264")
	for _, s := range segments(t, r.db, "bad") {
		ffmpegDecode(t, abs(s.Path, r.root))
	}
}

// feedWall writes loops of the clip with the clock running on steadily
// while the camera's timestamps are shifted by jump(loop) ticks, and
// returns when each segment's first frame arrived.
func (h *writerHarness) feedWall(t *testing.T, aus []clipAU, length int64, loops int, jump func(loop int) int64) map[time.Time]time.Time {
	t.Helper()
	arrived := map[time.Time]time.Time{}
	for loop := range loops {
		off := int64(loop) * length
		for _, a := range aus {
			h.clock.t = h.base.Add(ticksToDur(a.dts+off, videoTimeScale))
			d := a.dts + off + jump(loop)
			if err := h.w.writeVideo(a.au, a.pts-a.dts+d, d); err != nil {
				t.Fatal(err)
			}
			if h.w.seg != nil && h.w.seg.startDTS == d {
				arrived[h.w.seg.start] = h.clock.t
			}
		}
	}
	if err := h.w.close(); err != nil {
		t.Fatal(err)
	}
	return arrived
}

func (h *writerHarness) countDrops() *[3]int {
	var n [3]int
	h.w.cfg.onDrop = func(r dropReason) { n[r]++ }
	return &n
}

// A camera whose timestamps jump back an hour, then forward two: every
// file is named within a second of when its first frame arrived, files
// never overlap, and segmentation continues at the configured duration.
func TestWriterTimestampJumpIsDiscontinuity(t *testing.T) {
	requireFFprobe(t)
	aus, length := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	drops := h.countDrops()
	hour := durToTicks(time.Hour, videoTimeScale)
	shifts := []int64{0, -hour, hour, hour, 0}
	arrived := h.feedWall(t, aus, length, len(shifts), func(loop int) int64 { return shifts[loop] })
	if drops[dropTimeJump] < 3 {
		t.Errorf("%d discontinuities counted, want 3", drops[dropTimeJump])
	}
	total := ticksToDur(int64(len(shifts))*length, videoTimeScale)
	if want := int(total / (testSegment + time.Second)); len(h.rows) < want {
		t.Errorf("%d segments in %s of footage at %s segments", len(h.rows), total, testSegment)
	}
	for i, s := range h.rows {
		a, ok := arrived[s.Start]
		if !ok {
			t.Fatalf("segment %s: no arrival recorded", s.Path)
		}
		if d := s.Start.Sub(a); d.Abs() > time.Second {
			t.Errorf("segment %d (%s) named %s away from its first frame's arrival", i, s.Path, d)
		}
		if d := s.End.Sub(s.Start); d <= 0 || d > testSegment+1100*time.Millisecond {
			t.Errorf("segment %d lasts %s", i, d)
		}
		if i > 0 && s.Start.Before(h.rows[i-1].End) {
			t.Errorf("segment %d overlaps the previous by %s", i, h.rows[i-1].End.Sub(s.Start))
		}
		ffmpegDecode(t, abs(s.Path, h.root))
	}
}

// Drift correction is gradual: a camera clock that suddenly lags by 1.5 s
// (within the jump bound) moves the mapping by at most a second per cut.
func TestWriterDriftCorrectionIsBounded(t *testing.T) {
	aus, length := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	h.feedWall(t, aus, length, 2, func(loop int) int64 {
		return int64(loop) * -durToTicks(1500*time.Millisecond, videoTimeScale)
	})
	for i, s := range h.rows[1:] {
		if d := s.Start.Sub(h.rows[i].End); d > maxClockDrift+time.Millisecond {
			t.Errorf("segment %d: a %s correction at one cut", i+1, d)
		}
	}
}

// A giant frame is dropped and counted, never buffered or written.
func TestWriterDropsOversizeFrame(t *testing.T) {
	requireFFprobe(t)
	aus, _ := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	drops := h.countDrops()
	giant := make([]byte, defaultMaxFrameBytes+1)
	giant[0] = 0x41 // non-IDR slice
	for i, a := range aus {
		h.clock.t = h.base.Add(ticksToDur(a.dts, videoTimeScale))
		au := a.au
		if i == 10 {
			au = [][]byte{giant}
		}
		if err := h.w.writeVideo(au, a.pts, a.dts); err != nil {
			t.Fatal(err)
		}
		if h.w.bufferedBytes() > defaultMaxPartBytes {
			t.Fatalf("%d bytes buffered", h.w.bufferedBytes())
		}
	}
	h.w.close()
	if drops[dropOversize] != 1 {
		t.Errorf("%d oversize drops, want 1", drops[dropOversize])
	}
	for _, s := range h.rows {
		if s.Bytes > defaultMaxFrameBytes {
			t.Errorf("%s: %d bytes: the giant frame was written", s.Path, s.Bytes)
		}
		ffmpegDecode(t, abs(s.Path, h.root))
	}
}

// A camera whose timestamps crawl (one tick a frame) still has its parts
// written every part duration of wall clock and its segments cut.
func TestWriterFlushesOnWallClockAndBytes(t *testing.T) {
	aus, _ := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	h.w.cfg.maxPartBytes = 30000
	maxFrames, maxBytes := 0, 0
	for i, a := range aus {
		h.clock.t = h.base.Add(time.Duration(i) * 40 * time.Millisecond)
		if err := h.w.writeVideo(a.au, int64(i), int64(i)); err != nil {
			t.Fatal(err)
		}
		maxFrames = max(maxFrames, len(h.w.video.samples))
		maxBytes = max(maxBytes, h.w.bufferedBytes())
	}
	h.w.close()
	if limit := int(testPart/(40*time.Millisecond)) + 1; maxFrames > limit {
		t.Errorf("%d frames buffered in one part; the wall-clock bound allows %d", maxFrames, limit)
	}
	if maxBytes > 30000+defaultMaxFrameBytes/64 {
		t.Errorf("%d bytes buffered; the bound is 30000", maxBytes)
	}
	wall := time.Duration(len(aus)) * 40 * time.Millisecond
	if want := int(wall / (testSegment + 2*time.Second)); len(h.rows) < want {
		t.Errorf("%d segments in %s of wall clock", len(h.rows), wall)
	}
}

// SPS changing at every keyframe: a few changes are followed (each cuts a
// segment), the rest are dropped and counted; no file per keyframe.
func TestWriterRefusesParameterChurn(t *testing.T) {
	requireFFprobe(t)
	aus, length := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	drops := h.countDrops()
	keys := 0
	for loop := int64(0); loop < 3; loop++ {
		for _, a := range aus {
			au := a.au
			if a.key {
				keys++
				au = append([][]byte(nil), a.au...)
				for k, n := range au {
					if n[0]&0x1f == 7 {
						sps := append([]byte(nil), n...)
						sps[3] = byte(30 + keys%20) // level_idc
						au[k] = sps
					}
				}
			}
			h.clock.t = h.base.Add(ticksToDur(a.dts+loop*length, videoTimeScale))
			if err := h.w.writeVideo(au, a.pts+loop*length, a.dts+loop*length); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.w.close()
	params := map[string]bool{}
	for _, s := range h.rows {
		params[s.Params] = true
		ffmpegDecode(t, abs(s.Path, h.root))
	}
	if len(params) > maxParamChanges+1 || len(h.rows) > maxParamChanges+1+int(ticksToDur(3*length, videoTimeScale)/testSegment) {
		t.Errorf("%d segments with %d parameter sets from %d keyframes: churn followed", len(h.rows), len(params), keys)
	}
	if drops[dropParamChurn] == 0 {
		t.Error("churn not counted")
	}
}

// hostileWant says what a user sees in status for each hostile mode.
var hostileWant = map[string]func(CameraStatus) bool{
	fakecam.HostileGarbage:      func(s CameraStatus) bool { return s.Dropped.BadRTP > 0 },
	fakecam.HostileGiant:        func(s CameraStatus) bool { return s.Dropped.Oversize > 0 },
	fakecam.HostileJump:         func(s CameraStatus) bool { return s.Dropped.TimeJumps >= 2 },
	fakecam.HostileSPSChurn:     func(s CameraStatus) bool { return s.Dropped.ParamChurn > 0 },
	fakecam.HostileStopMidFrame: func(s CameraStatus) bool { return s.Reconnects > 0 },
	fakecam.HostileEndlessFUA:   func(s CameraStatus) bool { return s.Dropped.BadRTP > 0 },
}

// Every hostile mode beside a good camera, one recorder: the hostile
// camera's trouble is counted in its status, and the good camera's
// segments stay contiguous and playable.
func TestHostileCamerasAreContained(t *testing.T) {
	t.Parallel()
	requireFFprobe(t)
	good := startCam(t, fakecam.Config{Cameras: []string{"good"}})
	cams := []configs.Camera{{ID: "good", URL: good.URL("good"), Transport: "tcp"}}
	for _, mode := range fakecam.HostileModes {
		srv := startCam(t, fakecam.Config{Cameras: []string{mode}, Hostile: mode})
		cams = append(cams, configs.Camera{ID: mode, URL: srv.URL(mode), Transport: "tcp"})
	}
	r := startRecorder(t, cams, nil)
	pending := func() []string {
		var out []string
		for _, mode := range fakecam.HostileModes {
			if !hostileWant[mode](camStatus(r, mode)) {
				out = append(out, mode)
			}
		}
		return out
	}
	deadline := time.Now().Add(40 * time.Second)
	for len(pending()) > 0 {
		if time.Now().After(deadline) {
			for _, mode := range pending() {
				t.Errorf("%s: status %+v does not show it", mode, camStatus(r, mode))
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.stop(t)
	segs := segments(t, r.db, "good")
	if len(segs) < 5 {
		t.Fatalf("good camera: %d segments", len(segs))
	}
	checkSegments(t, r, "good", segs, "h264")
	if st := camStatus(r, "good"); st.Dropped.Total() != 0 || st.Reconnects != 0 {
		t.Errorf("good camera disturbed: %+v", st)
	}
	for _, mode := range fakecam.HostileModes {
		t.Logf("%s: %+v, %d segments", mode, camStatus(r, mode).Dropped, len(segments(t, r.db, mode)))
	}
}

// A camera that goes quiet mid-part: what it sent reaches the file at
// part duration of wall clock, without waiting for the next frame.
func TestWriterFlushesQuietPart(t *testing.T) {
	aus, _ := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	h.feed(t, aus[:3], 0, nil)
	if h.w.seg.parts != 0 {
		t.Fatalf("%d parts before the part duration", h.w.seg.parts)
	}
	h.clock.t = h.clock.t.Add(testPart / 2)
	h.w.flushIfDue()
	if h.w.seg.parts != 0 {
		t.Fatal("flushed before the part duration")
	}
	h.clock.t = h.clock.t.Add(testPart)
	if err := h.w.flushIfDue(); err != nil {
		t.Fatal(err)
	}
	if h.w.seg.parts != 1 || h.w.seg.size == 0 {
		t.Fatalf("quiet part not written: %d parts", h.w.seg.parts)
	}
	h.w.close()
	if len(h.rows) != 1 {
		t.Fatalf("%d segments", len(h.rows))
	}
}
