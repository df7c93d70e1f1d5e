package recorder

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"vahti/registry"
)

// clipAU is one access unit of a sample clip, timestamps in 90 kHz.
type clipAU struct {
	au       [][]byte
	pts, dts int64
	key      bool
}

// loadClip reads the video access units of one of fakecam's sample clips
// (H.264 320x240 25 fps, a keyframe every second): real bitstream, fed to
// the writer without any network.
func loadClip(t testing.TB, name string) ([]clipAU, int64) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("fakecam", "clips", name))
	if err != nil {
		t.Fatal(err)
	}
	initEnd, _, _, err := layout(data)
	if err != nil {
		t.Fatal(err)
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(data[:initEnd])); err != nil {
		t.Fatal(err)
	}
	var vt *fmp4.InitTrack
	for _, tr := range init.Tracks {
		if tr.Codec.IsVideo() {
			vt = tr
		}
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(data[initEnd:]); err != nil {
		t.Fatal(err)
	}
	// Like the session does: parameter sets in front of every keyframe.
	c := vt.Codec.(*mp4.CodecH264)
	params := videoParams{sps: c.SPS, pps: c.PPS}
	var out []clipAU
	var end int64
	for _, p := range parts {
		for _, pt := range p.Tracks {
			if pt.ID != vt.ID {
				continue
			}
			dts := int64(pt.BaseTime)
			for _, s := range pt.Samples {
				var au h264.AVCC
				if err := au.Unmarshal(s.Payload); err != nil {
					t.Fatal(err)
				}
				if h264.IsRandomAccess(au) {
					au = withParams(au, params, false, nil)
				}
				r := func(v int64) int64 { return v * videoTimeScale / int64(vt.TimeScale) }
				out = append(out, clipAU{au: au, dts: r(dts), pts: r(dts + int64(s.PTSOffset)), key: h264.IsRandomAccess(au)})
				dts += int64(s.Duration)
				end = r(dts)
			}
		}
	}
	if len(out) == 0 || !out[0].key {
		t.Fatal("clip has no video or does not start with a keyframe")
	}
	return out, end
}

// fakeClock is a clock the test moves with the media time.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

type writerHarness struct {
	w     *writer
	root  string
	clock *fakeClock
	rows  []registry.Segment
	allow bool
	base  time.Time
}

func newWriterHarness(t testing.TB) *writerHarness {
	h := &writerHarness{root: t.TempDir(), allow: true,
		base: time.Date(2026, 11, 22, 14, 5, 0, 123456000, time.UTC)}
	h.clock = &fakeClock{t: h.base}
	h.w = newWriter(writerConfig{
		root: h.root, camera: "yard",
		segmentDuration: testSegment, partDuration: testPart, fsyncInterval: time.Second,
		now: h.clock.now, canWrite: func() bool { return h.allow },
		log:       testLogger(nil, nil),
		onSegment: func(s registry.Segment) error { h.rows = append(h.rows, s); return nil },
	}, false, nil)
	return h
}

// feed writes the clip's AUs shifted by off ticks, the clock following the
// media time; skip drops AUs by index.
func (h *writerHarness) feed(t testing.TB, aus []clipAU, off int64, skip func(i int) bool) {
	t.Helper()
	for i, a := range aus {
		if skip != nil && skip(i) {
			continue
		}
		h.clock.t = h.base.Add(ticksToDur(a.dts+off, videoTimeScale))
		if err := h.w.writeVideo(a.au, a.pts+off, a.dts+off); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriterCutsAtKeyframesAndIsContiguous(t *testing.T) {
	requireFFprobe(t)
	aus, length := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	for loop := int64(0); loop < 2; loop++ {
		h.feed(t, aus, loop*length, nil)
	}
	if err := h.w.close(); err != nil {
		t.Fatal(err)
	}
	total := ticksToDur(2*length, videoTimeScale)
	if len(h.rows) < 2 {
		t.Fatalf("%d segments from %s of video", len(h.rows), total)
	}
	if !h.rows[0].Start.Equal(h.base.Truncate(time.Microsecond)) {
		t.Errorf("first segment starts %s, first frame arrived %s", h.rows[0].Start, h.base)
	}
	var sum time.Duration
	for i, s := range h.rows {
		p := abs(s.Path, h.root)
		res := ffprobe(t, p)
		ffmpegDecode(t, p)
		if !strings.HasPrefix(res.Packets[0].Flags, "K") {
			t.Errorf("%s: does not start with a keyframe", s.Path)
		}
		d := s.End.Sub(s.Start)
		sum += d
		if i < len(h.rows)-1 && (d < testSegment || d > testSegment+time.Second) {
			t.Errorf("%s: %s long", s.Path, d)
		}
		if i > 0 && !s.Start.Equal(h.rows[i-1].End.Truncate(time.Microsecond)) && s.Start.Sub(h.rows[i-1].End).Abs() > time.Microsecond {
			t.Errorf("%s starts %s, previous ends %s", s.Path, s.Start, h.rows[i-1].End)
		}
		info, err := ProbeSegment(p)
		if err != nil || info.SHA256 != s.SHA256 || info.Bytes != s.Bytes || info.Params != s.Params {
			t.Errorf("probe %+v (%v) vs row %+v", info, err, s)
		}
		if s.Params != h.rows[0].Params {
			t.Errorf("params change without a new SPS")
		}
	}
	// Every frame is in some segment: total duration is the media's (the
	// last frame gets the duration of the one before it).
	if (sum - total).Abs() > 41*time.Millisecond {
		t.Errorf("segments hold %s of %s", sum, total)
	}
	leftovers, _ := filepath.Glob(filepath.Join(h.root, "yard", "*", "*", "*", "*.tmp"))
	if len(leftovers) > 0 {
		t.Errorf("unfinished files left: %v", leftovers)
	}
}

func TestWriterResumesAtKeyframeAfterLoss(t *testing.T) {
	requireFFprobe(t)
	aus, _ := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	// Lose frames 30..34: the writer must drop everything up to the next
	// keyframe, so the file never holds a frame that cannot be decoded.
	lost := func(i int) bool { return i >= 30 && i < 35 }
	for i, a := range aus {
		if i == 30 {
			h.w.resync()
		}
		if lost(i) {
			continue
		}
		h.clock.t = h.base.Add(ticksToDur(a.dts, videoTimeScale))
		if err := h.w.writeVideo(a.au, a.pts, a.dts); err != nil {
			t.Fatal(err)
		}
	}
	h.w.close()
	nextKey := 35
	for !aus[nextKey].key {
		nextKey++
	}
	want := len(aus) - (nextKey - 30)
	got := 0
	for _, s := range h.rows {
		ffmpegDecode(t, abs(s.Path, h.root))
		res := ffprobe(t, abs(s.Path, h.root))
		got += len(res.Packets)
	}
	if got != want {
		t.Errorf("%d frames written, want %d (all but the lost GOP tail)", got, want)
	}
	// The timeline stays true: the last good frame covers the gap.
	if d := h.rows[len(h.rows)-1].End.Sub(h.rows[0].Start); d < ticksToDur(aus[len(aus)-1].dts, videoTimeScale) {
		t.Errorf("segments span %s, shorter than the media", d)
	}
}

func TestWriterNonIncreasingDTS(t *testing.T) {
	requireFFprobe(t)
	aus, _ := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	for i, a := range aus[:60] {
		dts := a.dts
		if i == 10 {
			dts = aus[9].dts // a repeated timestamp
		}
		h.clock.t = h.base.Add(ticksToDur(a.dts, videoTimeScale))
		if err := h.w.writeVideo(a.au, a.pts-a.dts+dts, dts); err != nil {
			t.Fatal(err)
		}
	}
	h.w.close()
	for _, s := range h.rows {
		ffmpegDecode(t, abs(s.Path, h.root))
	}
}

func TestWriterNoInitOnlyFile(t *testing.T) {
	aus, _ := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	h.feed(t, aus[:1], 0, nil) // one frame, never a complete part...
	// ...but close still finishes it as a one-frame segment.
	if err := h.w.close(); err != nil {
		t.Fatal(err)
	}
	if len(h.rows) != 1 {
		t.Fatalf("%d rows", len(h.rows))
	}
	h2 := newWriterHarness(t)
	if err := h2.w.close(); err != nil { // nothing written at all
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(h2.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 || len(h2.rows) != 0 {
		t.Errorf("files %v rows %v for a stream without frames", files, h2.rows)
	}
}

func TestWriterPausesWhenDiskGuardSaysNo(t *testing.T) {
	requireFFprobe(t)
	aus, length := loadClip(t, "h264.mp4")
	h := newWriterHarness(t)
	half := len(aus) / 2
	h.feed(t, aus[:half], 0, nil)
	h.allow = false
	h.feed(t, aus[half:], 0, nil)
	if !h.w.paused || h.w.seg != nil {
		t.Fatalf("still writing after the disk guard said no")
	}
	n := len(h.rows)
	h.feed(t, aus, length, nil) // still not allowed: nothing
	if len(h.rows) != n || h.w.seg != nil {
		t.Fatalf("wrote while paused")
	}
	pausedAt := h.rows[n-1].End
	h.allow = true
	h.feed(t, aus, 2*length, nil)
	h.w.close()
	if len(h.rows) <= n {
		t.Fatal("did not resume")
	}
	if h.rows[n].Start.Sub(pausedAt) < ticksToDur(length, videoTimeScale) {
		t.Errorf("resumed segment starts %s, pause began %s", h.rows[n].Start, pausedAt)
	}
	// The segment cut by the guard ends within a part of when it said no.
	if d := pausedAt.Sub(h.base.Add(ticksToDur(aus[half].dts, videoTimeScale))); d < 0 || d > testPart+100*time.Millisecond {
		t.Errorf("segment ran on %s after the guard said no", d)
	}
	for _, s := range h.rows {
		ffmpegDecode(t, abs(s.Path, h.root))
	}
}

// BenchmarkWriteAccessUnit measures the steady-state path from one access
// unit to the fragment on disk (fsync every second of media time, the
// default FsyncInterval being 2 s). Run:
//
//	go test -run '^$' -bench WriteAccessUnit -benchmem ./recorder
func BenchmarkWriteAccessUnit(b *testing.B) { benchWrite(b, newWriterHarness(b)) }

// BenchmarkWriteAccessUnitSealed is the same path writing sealed segments
// (the data key made and stored at each segment's open, each fragment
// sealed in place): the ingest cost of sealing against the plain path.
func BenchmarkWriteAccessUnitSealed(b *testing.B) {
	db, err := registry.Open(b.TempDir(), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	h, ring := sealedHarness(b, db)
	defer ring.Wipe()
	benchWrite(b, h)
}

func benchWrite(b *testing.B, h *writerHarness) {
	aus, length := loadClip(b, "h264.mp4")
	h.w.cfg.segmentDuration = time.Minute
	h.w.segTicks = durToTicks(time.Minute, videoTimeScale)
	var off int64
	var bytes int64
	for _, a := range aus {
		for _, n := range a.au {
			bytes += int64(len(n))
		}
	}
	b.SetBytes(bytes / int64(len(aus)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(aus)
		if k == 0 && i > 0 {
			off += length
		}
		a := aus[k]
		h.clock.t = h.base.Add(ticksToDur(a.dts+off, videoTimeScale))
		if err := h.w.writeVideo(a.au, a.pts+off, a.dts+off); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	h.w.close()
}

// A camera clock running fast or slow against the system clock: segment
// names stay close to when their first frame arrived, and segments never
// overlap.
func TestWriterCorrectsClockDrift(t *testing.T) {
	for _, rate := range []int64{90, 110} { // media time per 100 units of wall time
		aus, length := loadClip(t, "h264.mp4")
		h := newWriterHarness(t)
		arrived := map[time.Time]time.Time{} // segment start → arrival of its first frame
		for loop := int64(0); loop < 5; loop++ {
			off := loop * length
			for _, a := range aus {
				media := ticksToDur(a.dts+off, videoTimeScale)
				h.clock.t = h.base.Add(media * 100 / time.Duration(rate))
				if err := h.w.writeVideo(a.au, a.pts+off, a.dts+off); err != nil {
					t.Fatal(err)
				}
				if h.w.seg != nil && h.w.seg.startDTS == a.dts+off {
					arrived[h.w.seg.start] = h.clock.t
				}
			}
		}
		h.w.close()
		for i, s := range h.rows {
			// Drift accumulates for up to one segment beyond the threshold.
			if d := s.Start.Sub(arrived[s.Start]); d.Abs() > maxClockDrift+testSegment/4 {
				t.Errorf("rate %d: segment %d named %s after its first frame arrived", rate, i, d)
			}
			if i > 0 && s.Start.Before(h.rows[i-1].End) {
				t.Errorf("rate %d: segment %d overlaps the previous by %s", rate, i, h.rows[i-1].End.Sub(s.Start))
			}
			if !s.End.After(s.Start) {
				t.Errorf("rate %d: segment %d empty", rate, i)
			}
		}
	}
}
