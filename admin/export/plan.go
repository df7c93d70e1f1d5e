package export

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

// Source statuses in the manifest.
const (
	SourceOK       = "ok"       // used in a clip, SHA-256 matched the catalog
	SourceDamaged  = "damaged"  // empty, truncated or unreadable: excluded, its time is a gap
	SourceTampered = "tampered" // SHA-256 differs from the catalog: excluded, its time is a gap
	SourceUnused   = "unused"   // overlaps the range but held no sample inside it
)

// Gap causes in the manifest.
const (
	GapNoRecording = "no-recording"
	GapDamaged     = "damaged-segment"
	GapTampered    = "tampered-segment"
	// GapInProgress: the camera is recording this stretch, but its segment
	// is not finished yet; export again once it is.
	GapInProgress = "recording-in-progress"
)

// Limits of one progressive MP4 written by mediacommon's pmp4: 32-bit
// durations (90 kHz overflows after 13.25 h) and 32-bit chunk offsets and
// mdat size (4 GiB). A longer or bigger run continues in the next clip file
// (yard-2.mp4), split at a segment boundary, which starts with a keyframe.
const (
	DefaultMaxClipDuration = 12 * time.Hour
	DefaultMaxClipBytes    = 3 << 30
)

// source is one catalogued segment overlapping the requested range.
type source struct {
	seg    registry.Segment
	abs    string
	parsed *parsedSeg
	// indexSum is the SHA-256 of the sidecar index the plan used (nil: the
	// file's own boxes). Only the sum is kept: the decoded index holds the
	// segment's whole sample table, and an export keeps every source until
	// it is written (8 cameras x 1 h held 74 MB of tables that way).
	indexSum *[32]byte
	status   string
	detail   string
	clip     string
	frame    time.Duration // duration of the last video frame
	from     time.Time     // wall-clock span as parsed (catalog span if unparsed)
	to       time.Time
}

type clipSample struct {
	src     int32 // index into plan.sources
	off     int64
	size    uint32
	dur     uint32
	ptsOff  int32
	nonSync bool
}

type clipTrack struct {
	timeScale uint32
	codec     mp4.Codec
	offset    int32 // pmp4 TimeOffset: a positive start delay for audio
	lastTick  int64 // clip tick of the last sample's start
	samples   []clipSample
}

// piece is a run of output bytes: the header (src -1) or bytes of a source.
type piece struct {
	src    int32
	srcOff int64
	n      int64
	dst    int64
}

// clipPlan is one output MP4: its header, and where every later byte comes from.
type clipPlan struct {
	camera   string
	name     string
	start    time.Time // wall clock of the first video sample (a keyframe)
	end      time.Time // wall clock end of the last video sample
	params   string
	codecs   []mp4.Codec
	tracks   []*clipTrack
	sources  []int32 // used sources, in order
	bytes    int64   // payload bytes so far
	header   []byte
	pieces   []piece
	size     int64
	codecTag string
	force64  bool // write co64 and a 64-bit mdat header even when small (tests)
}

// plan is the stitching decision for one camera and range.
type plan struct {
	camera  string
	from    time.Time
	to      time.Time
	sources []*source
	clips   []*clipPlan
	gaps    []Gap
	unwrap  seal.Unwrapper // opens sealed sources (nil: plain only)
}

type planOpts struct {
	splitOnGap  bool                // export: a new clip per continuous run; playback: the timeline jumps (last frame held)
	exclude     map[int64]exclusion // segment id -> why it is left out
	noIndex     map[int64]bool      // segment ids whose sidecar index did not match their bytes: read the file
	maxDuration time.Duration
	maxBytes    int64
	force64     bool // tests: exercise the >4 GiB layout on small clips
	unwrap      seal.Unwrapper
}

type exclusion struct{ status, detail string }

// gapTolerance: segments closer than one frame plus this are contiguous.
const gapTolerance = 20 * time.Millisecond

var errNoFootage = errors.New("no footage")

// makePlan stitches the catalogued segments of one camera over [from, to).
func makePlan(root, camera string, from, to time.Time, segs []registry.Segment, o planOpts) (*plan, error) {
	if o.maxDuration <= 0 {
		o.maxDuration = DefaultMaxClipDuration
	}
	if o.maxBytes <= 0 {
		o.maxBytes = DefaultMaxClipBytes
	}
	p := &plan{camera: camera, from: from, to: to, unwrap: o.unwrap}
	// Segments are loaded on all cores, at most parseAhead ahead of the
	// stitching, and each table is dropped once its samples are in the
	// clip, so memory follows one clip's sample table, not the whole range;
	// loading overlaps stitching (planning an hour is playback's first
	// byte).
	ic := &mp4read.InitCache{}
	ld := startLoading(root, segs, o.exclude, o.noIndex, ic, o.unwrap)
	defer ld.stop()
	var hint []int
	var cur *clipPlan
	flush := func() error {
		if cur == nil {
			return nil
		}
		c := cur
		cur = nil
		if len(c.tracks) == 0 || len(c.tracks[0].samples) == 0 {
			return nil
		}
		if len(p.clips) == 0 {
			c.name = camera + ".mp4"
		} else {
			c.name = fmt.Sprintf("%s-%d.mp4", camera, len(p.clips)+1)
		}
		for _, si := range c.sources {
			p.sources[si].clip = c.name
		}
		c.endAudioWithVideo()
		if err := c.layout(); err != nil {
			return fmt.Errorf("clip %s: %w", c.name, err)
		}
		p.clips = append(p.clips, c)
		return nil
	}
	for k, seg := range segs {
		s := &source{seg: seg, abs: filepath.Join(root, filepath.FromSlash(seg.Path)), from: seg.Start, to: seg.End}
		p.sources = append(p.sources, s)
		si := int32(len(p.sources) - 1)
		if x, bad := o.exclude[seg.ID]; bad {
			s.status, s.detail = x.status, x.detail
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		ps, err := ld.get(k)
		if errors.Is(err, mp4read.ErrLocked) {
			// Not damage: nobody holds the keys now. The whole export or
			// playback stops with the reason, no source is written off.
			return nil, err
		}
		if hint == nil && err == nil {
			hint = sampleHint(ps, to.Sub(from), o.maxDuration)
		}
		if err != nil {
			s.status, s.detail = SourceDamaged, err.Error()
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		if seg.Bytes > 0 && ps.diskSize != seg.Bytes {
			s.status, s.detail = SourceDamaged, fmt.Sprintf("file has %d bytes, catalog says %d", ps.diskSize, seg.Bytes)
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		s.parsed = ps
		if ps.index != nil {
			sum := ps.index.Sum
			s.indexSum = &sum
		}
		v := ps.video()
		v0 := v.Samples[0].DTS
		last := v.Samples[len(v.Samples)-1]
		s.to = seg.Start.Add(ticksToDur(last.DTS+int64(last.Dur)-v0, v.TimeScale))
		s.frame = ticksToDur(int64(last.Dur), v.TimeScale)
		codecs := make([]mp4.Codec, len(ps.tracks))
		for i, t := range ps.tracks {
			codecs[i] = t.Codec
		}
		if cur != nil {
			gap := seg.Start.Sub(cur.end)
			frame := ticksToDur(int64(last.Dur), v.TimeScale)
			switch {
			case seg.Params != cur.params || !reflect.DeepEqual(codecs, cur.codecs):
				err = flush()
			case o.splitOnGap && gap > frame+gapTolerance:
				err = flush()
			case s.to.Sub(cur.start) > o.maxDuration || cur.bytes+ps.size > o.maxBytes:
				err = flush()
			}
			if err != nil {
				return nil, err
			}
		}
		if cur == nil {
			cur = &clipPlan{camera: camera, params: seg.Params, codecs: codecs, force64: o.force64}
		}
		used, err := cur.add(s, si, from, to, hint)
		s.parsed = nil
		if err != nil {
			return nil, err
		}
		if used {
			s.status = SourceOK
			cur.sources = append(cur.sources, si)
		} else {
			s.status = SourceUnused
			if len(cur.tracks) == 0 {
				cur = nil
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	p.findGaps()
	markInProgress(root, p)
	return p, nil
}

// sampleHint estimates each track's samples in one clip from the first
// loaded segment (growing the tables was a third of planning an hour).
func sampleHint(p *parsedSeg, span, maxClip time.Duration) []int {
	v := p.video()
	last := v.Samples[len(v.Samples)-1]
	covered := ticksToDur(last.DTS+int64(last.Dur)-v.Samples[0].DTS, v.TimeScale)
	if covered <= 0 {
		return []int{}
	}
	want := min(span, maxClip) + time.Minute
	hint := make([]int, len(p.tracks))
	for i, t := range p.tracks {
		hint[i] = int(float64(len(t.Samples)) * want.Seconds() / covered.Seconds())
	}
	return hint
}

type parseResult struct {
	p   *parsedSeg
	err error
}

// parseAhead bounds how many loaded tables wait for the stitching.
const parseAhead = 64

// loading loads segment tables on all cores, in order, from their indexes
// where valid, at most parseAhead ahead of get.
type loading struct {
	out   []parseResult
	ready []chan struct{}
	sem   chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
}

func startLoading(root string, segs []registry.Segment, exclude map[int64]exclusion, noIndex map[int64]bool, ic *mp4read.InitCache, unwrap seal.Unwrapper) *loading {
	ld := &loading{out: make([]parseResult, len(segs)), ready: make([]chan struct{}, len(segs)),
		sem: make(chan struct{}, parseAhead), done: make(chan struct{})}
	for k := range ld.ready {
		ld.ready[k] = make(chan struct{})
	}
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			for k := range next {
				s := segs[k]
				ld.out[k].p, ld.out[k].err = loadSegment(filepath.Join(root, filepath.FromSlash(s.Path)), s.SHA256, s.Bytes, ic, !noIndex[s.ID], unwrap)
				close(ld.ready[k])
			}
		}()
	}
	ld.wg.Add(1)
	go func() {
		defer ld.wg.Done()
		defer close(next)
		for k, s := range segs {
			if _, skip := exclude[s.ID]; skip {
				continue
			}
			select {
			case ld.sem <- struct{}{}:
			case <-ld.done:
				return
			}
			select {
			case next <- k:
			case <-ld.done:
				return
			}
		}
	}()
	return ld
}

// get waits for segment k's table and hands it over (it is not kept).
func (ld *loading) get(k int) (*parsedSeg, error) {
	<-ld.ready[k]
	r := ld.out[k]
	ld.out[k] = parseResult{}
	<-ld.sem
	return r.p, r.err
}

// stop ends the loading early (a failed plan) and waits for the workers.
func (ld *loading) stop() {
	close(ld.done)
	ld.wg.Wait()
}

// add appends the samples of a parsed source that fall in [from, to).
// The first source of a clip starts at the keyframe at or before from:
// those frames before from are shown, not hidden (see doc.go).
func (c *clipPlan) add(s *source, si int32, from, to time.Time, hint []int) (bool, error) {
	ps := s.parsed
	v := ps.video()
	v0 := v.Samples[0].DTS
	wall := func(t *segTrack, dts int64) time.Time {
		// A track's time relative to the segment's first video sample.
		rel := ticksToDur(dts, t.TimeScale) - ticksToDur(v0, v.TimeScale)
		return s.seg.Start.Add(rel)
	}
	first := 0
	if len(c.tracks) == 0 {
		// Start at the last keyframe at or before from, else the first keyframe.
		first = -1
		for i, sm := range v.Samples {
			if sm.NonSync {
				continue
			}
			if !wall(v, sm.DTS).After(from) || first < 0 {
				first = i
			}
			if wall(v, sm.DTS).After(from) {
				break
			}
		}
		if first < 0 {
			return false, nil
		}
		if !wall(v, v.Samples[first].DTS).Before(to) {
			return false, nil
		}
		c.start = wall(v, v.Samples[first].DTS)
		for i, t := range ps.tracks {
			n := 0
			if i < len(hint) {
				n = hint[i]
			}
			c.tracks = append(c.tracks, &clipTrack{timeScale: t.TimeScale, codec: t.Codec, samples: getSamples(n)})
		}
	}
	used := false
	for ti, t := range ps.tracks {
		ct := c.tracks[ti]
		start := 0
		if ti == 0 {
			start = first
		}
		if start >= len(t.Samples) {
			continue
		}
		// Per-sample work in integer ticks: the track's first sample gives
		// the wall-clock anchor, limit is the first tick at or after to.
		dts0 := t.Samples[start].DTS
		w0 := wall(t, dts0)
		if !w0.Before(to) {
			continue
		}
		base := durToTicks(w0.Sub(c.start), t.TimeScale)
		room := to.Sub(w0)
		limit := durToTicks(room, t.TimeScale)
		for limit > 0 && ticksToDur(limit-1, t.TimeScale) >= room {
			limit--
		}
		for ticksToDur(limit, t.TimeScale) < room {
			limit++
		}
		for i := start; i < len(t.Samples); i++ {
			sm := t.Samples[i]
			if sm.DTS-dts0 >= limit {
				break
			}
			tick := base + (sm.DTS - dts0)
			if tick < 0 {
				continue // audio before the clip's first video frame
			}
			cs := clipSample{src: si, off: sm.Off, size: sm.Size, dur: sm.Dur, ptsOff: sm.PTSOff, nonSync: sm.NonSync}
			if ti == 0 && cs.dur == 0 {
				cs.dur = 1
			}
			if len(ct.samples) == 0 {
				if ti != 0 {
					ct.offset = int32(tick)
				}
			} else {
				prev := &ct.samples[len(ct.samples)-1]
				d := tick - ct.lastTick
				switch {
				case d > 0 && d <= 0xffffffff:
					prev.dur = uint32(d)
				case ti == 0:
					// Overlapping or absurd timestamps: keep video in decode
					// order on its own durations rather than drop frames.
					tick = ct.lastTick + int64(prev.dur)
				default:
					continue // overlapping audio: drop
				}
			}
			ct.lastTick = tick
			ct.samples = append(ct.samples, cs)
			c.bytes += int64(sm.Size)
			used = true
		}
		if ti == 0 && len(ct.samples) > 0 {
			last := ct.samples[len(ct.samples)-1]
			c.end = c.start.Add(ticksToDur(ct.lastTick+int64(last.dur), t.TimeScale))
		}
	}
	return used, nil
}

// endAudioWithVideo makes the clip's audio end where its video ends, to
// within half an audio packet: trailing audio packets that play mostly
// after the last video frame are left out, and the last packet kept lasts
// as long as it sounds. (The recorder shortens a segment's last audio
// packet to the segment's end in its table, but a decoder plays all of
// an AAC frame: without this an export's sound ran up to a frame, 64 ms at
// 16 kHz, past its picture.)
func (c *clipPlan) endAudioWithVideo() {
	if len(c.tracks) == 0 || len(c.tracks[0].samples) == 0 {
		return
	}
	v := c.tracks[0]
	vEnd := v.lastTick + int64(v.samples[len(v.samples)-1].dur) // video ticks
	for _, t := range c.tracks[1:] {
		if t.codec.IsVideo() || len(t.samples) == 0 {
			continue
		}
		end := durToTicks(ticksToDur(vEnd, v.timeScale), t.timeScale)
		for len(t.samples) > 1 {
			last := &t.samples[len(t.samples)-1]
			if t.lastTick+int64(soundingDur(t, last))/2 <= end {
				break
			}
			c.bytes -= int64(last.size)
			t.samples = t.samples[:len(t.samples)-1]
			t.lastTick -= int64(t.samples[len(t.samples)-1].dur)
		}
		last := &t.samples[len(t.samples)-1]
		last.dur = soundingDur(t, last)
	}
}

// soundingDur is how long an audio sample plays, in its track's ticks:
// a whole AAC frame, or the PCM samples it holds; otherwise (or when the
// codec's sample rate is unknown) the duration in its table.
func soundingDur(t *clipTrack, s *clipSample) uint32 {
	var frames, rate int64
	switch c := t.codec.(type) {
	case *mp4.CodecMPEG4Audio:
		frames, rate = 1024, int64(c.Config.SampleRate)
	case *mp4.CodecLPCM:
		if b := int64(c.ChannelCount) * int64(c.BitDepth) / 8; b > 0 {
			frames, rate = int64(s.size)/b, int64(c.SampleRate)
		}
	}
	if frames <= 0 || rate <= 0 {
		return s.dur
	}
	d := (frames*int64(t.timeScale) + rate/2) / rate
	if d <= 0 || d > 0xffffffff {
		return s.dur
	}
	return uint32(d)
}

// findGaps states every stretch of the requested range without footage in
// the clips, naming excluded segments that fall inside it.
func (p *plan) findGaps() {
	cursor := p.from
	addGap := func(a, b time.Time) {
		if b.Sub(a) <= gapTolerance {
			return
		}
		g := Gap{Camera: p.camera, Range: mkRange(a, b), Cause: GapNoRecording}
		for _, s := range p.sources {
			if s.status != SourceDamaged && s.status != SourceTampered {
				continue
			}
			if s.seg.Start.Before(b) && s.seg.End.After(a) {
				g.Segments = append(g.Segments, s.seg.Path)
				if s.status == SourceTampered {
					g.Cause = GapTampered
				} else if g.Cause != GapTampered {
					g.Cause = GapDamaged
				}
			}
		}
		p.gaps = append(p.gaps, g)
	}
	for _, c := range p.clips {
		// Inside a clip, joins between sources may hide short jumps; the
		// playback timeline holds the last frame across a gap, so look at
		// the sources too.
		var prevEnd time.Time
		for _, si := range c.sources {
			s := p.sources[si]
			if !prevEnd.IsZero() {
				frame := s.frame
				if s.from.Sub(prevEnd) > frame+gapTolerance {
					addGap(prevEnd, s.from)
				}
			} else if c.start.After(cursor) {
				addGap(cursor, c.start)
			}
			prevEnd = s.to
		}
		if c.end.After(cursor) {
			cursor = c.end
		}
	}
	if cursor.Before(p.to) {
		addGap(cursor, p.to)
	}
}

func ticksToDur(t int64, ts uint32) time.Duration {
	s := int64(ts)
	return time.Duration(t/s)*time.Second + time.Duration(t%s)*time.Second/time.Duration(s)
}

func durToTicks(d time.Duration, ts uint32) int64 {
	s := int64(ts)
	sec := int64(d / time.Second)
	rem := int64(d % time.Second)
	return sec*s + (rem*s+int64(time.Second)/2)/int64(time.Second)
}

var errStopMarshal = errors.New("header captured")

type captureWriter struct{ bytes.Buffer }

// layout computes the header (ftyp, moov, mdat header) and maps every
// later byte of the file to a source file range, without reading any
// payload (see moov.go).
func (c *clipPlan) layout() error {
	var names []string
	for _, t := range c.tracks {
		if len(t.samples) > 0 {
			names = append(names, codecName(t.codec))
		}
	}
	c.codecTag = strings.Join(names, ",")
	if err := c.writeHeader(); err != nil {
		return err
	}
	// The sample tables are in the header now; keep only the byte map.
	for _, t := range c.tracks {
		putSamples(t.samples)
	}
	c.tracks = nil
	return nil
}

// samplePool recycles clip sample tables (an hour is about 8 MB): a
// fresh table per plan cost more in page faults and zeroing than all
// the per-sample work of planning (playback's first byte).
var samplePool sync.Pool

func getSamples(n int) []clipSample {
	if p, ok := samplePool.Get().(*[]clipSample); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]clipSample, 0, n)
}

func putSamples(s []clipSample) {
	if cap(s) > 0 {
		s = s[:0]
		samplePool.Put(&s)
	}
}

func stopPayload() ([]byte, error) { return nil, errStopMarshal }

func codecName(c mp4.Codec) string {
	switch c.(type) {
	case *mp4.CodecH264:
		return "h264"
	case *mp4.CodecH265:
		return "h265"
	case *mp4.CodecMPEG4Audio:
		return "aac"
	case *mp4.CodecLPCM:
		return "lpcm"
	case *mp4.CodecOpus:
		return "opus"
	case *mp4.CodecAV1:
		return "av1"
	case *mp4.CodecVP9:
		return "vp9"
	default:
		return strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", c), "*mp4.Codec"))
	}
}
