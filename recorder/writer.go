package recorder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

const (
	videoTimeScale = 90000
	// maxClockDrift is how far the PTS-derived wall clock may drift from
	// the injected clock before it is corrected at the next cut, and the
	// most one correction moves it: drift is slow, so correcting it is
	// small and gradual.
	maxClockDrift = time.Second
	// maxTimeJump is the largest disagreement between the camera's
	// timestamps and the injected clock that is still taken for drift or
	// network delay. Beyond it the camera's clock jumped (a reboot, an NTP
	// step, a hostile stream): a discontinuity. The segment is cut and the
	// mapping re-anchored on the injected clock at the next keyframe.
	maxTimeJump = 2 * time.Second
	// Default memory and file bounds (writerConfig overrides them).
	defaultMaxFrameBytes   = 4 << 20   // one access unit; 4K I-frames are far smaller
	defaultMaxPartBytes    = 8 << 20   // one fragment buffered in memory
	defaultMaxSegmentBytes = 512 << 20 // one file
	// A parameter-set change cuts a segment; more than maxParamChanges in
	// paramWindow is churn, and the refused keyframes are dropped.
	maxParamChanges = 4
	paramWindow     = time.Minute
	// defaultFrameTicks is the duration given to the last frame of a
	// stream when no earlier frame tells (25 fps).
	defaultFrameTicks = videoTimeScale / 25
	// noOffset marks minOff as not measured yet.
	noOffset = time.Duration(1<<63 - 1)
)

// audioSpec describes the audio track that goes into the files.
type audioSpec struct {
	name      string // "aac", "lpcm"
	timeScale uint32
	codec     mp4.Codec
}

type writerConfig struct {
	root, camera    string
	segmentDuration time.Duration
	partDuration    time.Duration
	fsyncInterval   time.Duration
	now             func() time.Time
	canWrite        func() bool
	log             *slog.Logger
	// onSegment is called with every finished segment (to catalog it).
	onSegment func(registry.Segment) error
	// onPaused is called when writing stops or resumes for CanWrite.
	onPaused func(paused bool)
	// onDrop is called for every frame dropped as hostile or broken, and
	// for every timestamp discontinuity (status counters).
	onDrop func(dropReason)

	// wrapFile, in tests, wraps each segment file (to fail writes).
	wrapFile func(segFile) segFile
	// seal, when set, seals every segment (seal.go).
	seal *sealer

	// Bounds; zero means the default.
	maxFrameBytes, maxPartBytes int
	maxSegmentBytes             int64
}

// dropReason says why the writer refused input.
type dropReason int

const (
	dropOversize   dropReason = iota // a frame over maxFrameBytes
	dropTimeJump                     // a timestamp discontinuity
	dropParamChurn                   // parameter sets changing too often
)

// writer turns the access units of one connection into segments. It is
// not safe for concurrent use; the session serialises calls.
//
// Wall clock: the PTS→wall-clock mapping is anchored once per connection,
// at the first keyframe written (anchorWall = the injected clock when it
// arrived). Every later time is anchorWall + (dts - anchorDTS), so a
// segment's end and the next segment's start are the same instant and
// consecutive segments are contiguous. RTCP sender reports are not used:
// many cameras' own clocks are wrong, and a file's name must say when
// Vahti received the footage.
//
// Drift: minOff, the smallest (arrival − mapped time) seen since the last
// correction, is the camera clock's drift with network delay filtered out
// (delay only ever adds), so a one-off stall moves nothing. When it
// exceeds maxClockDrift the mapping is shifted at the next segment cut, by
// at most maxClockDrift.
//
// Jumps: a camera whose timestamps step (forward: a frame maps to more
// than maxTimeJump after it arrived, which delay can never cause; back: a
// dts more than maxTimeJump before the previous one; or a drift beyond
// maxTimeJump at a cut) is not drifting. The segment is finished where its
// footage ends and the mapping is anchored afresh on the injected clock at
// the next keyframe, so a file's name is always close to when its first
// frame arrived, whatever the camera's clock does.
// A camera clock running slow leaves a gap of about a second between two
// segments; one running fast ends the earlier segment's catalogued End at
// the next one's Start, so segments never overlap (that End is then up to
// a second short of its media duration, once every few hours at typical
// crystal drift).
type writer struct {
	cfg    writerConfig
	isH265 bool
	video  *track
	audio  *track // nil without audio
	aq     audioQueue
	vq     videoQueue // video held back for lagging audio (holdback.go)
	// spareSeal is the last segment's seal writer, reused (buffers and
	// all) by the next sealed segment of this connection.
	spareSeal *seal.Writer
	// The audio that has arrived: whether any since audioHold ended,
	// when the last came, and where it ends (audio ticks, video's base).
	audioSeen    bool
	audioArrived time.Time
	audioEnd     int64
	// audioHold keeps queued audio out of the segments until the session
	// knows how audio time maps onto video time (releaseAudio).
	audioHold bool
	tracks    []*track

	anchored   bool
	anchorWall time.Time
	anchorDTS  int64
	minOff     time.Duration // smallest arrival − wallAt(dts) since the segment started
	lastEnd    time.Time     // end of the previous segment of this connection
	lastDTS    int64         // dts of the last frame seen (written or not)
	haveDTS    bool
	now        time.Time                  // injected clock at the current frame
	partWall   time.Time                  // injected clock when the part being built got its first frame
	segWall    time.Time                  // injected clock when the segment got its first frame
	paramTimes [maxParamChanges]time.Time // the last accepted parameter changes, a ring
	paramNext  int

	params     videoParams // newest seen in the stream
	initParams videoParams // those in initBytes
	initBytes  []byte
	initHash   string
	initMoov   []byte // the moov box in initBytes, as the index names it
	initBuf    seekablebuffer.Buffer

	// The fragment index of the segment being written, built from the
	// sample tables as the parts are written (index.go).
	ix     mp4read.IndexEncoder
	ixPart []partSample

	seg     *segment
	parts   partBuilder
	waitKey bool
	paused  bool
	frames  int64 // video frames taken into a segment (the status counts them)

	// pend is the newest video frame: its duration is known only when the
	// next frame arrives.
	pend struct {
		valid     bool
		key       bool
		dts       int64
		ptsOffset int32
		buf       []byte // AVCC
	}
	lastDur int64

	partTicks, segTicks int64
}

func newWriter(cfg writerConfig, isH265 bool, audio *audioSpec) *writer {
	w := &writer{cfg: cfg, isH265: isH265, waitKey: true}
	vname := "h264"
	if isH265 {
		vname = "h265"
	}
	w.video = &track{id: 1, name: vname, timeScale: videoTimeScale, isVideo: true}
	w.tracks = []*track{w.video}
	if audio != nil {
		w.audio = &track{id: 2, name: audio.name, timeScale: audio.timeScale, codec: audio.codec}
		w.tracks = append(w.tracks, w.audio)
	}
	if w.cfg.maxFrameBytes <= 0 {
		w.cfg.maxFrameBytes = defaultMaxFrameBytes
	}
	if w.cfg.maxPartBytes <= 0 {
		w.cfg.maxPartBytes = defaultMaxPartBytes
	}
	if w.cfg.maxSegmentBytes <= 0 {
		w.cfg.maxSegmentBytes = defaultMaxSegmentBytes
	}
	w.partTicks = durToTicks(cfg.partDuration, videoTimeScale)
	w.segTicks = durToTicks(cfg.segmentDuration, videoTimeScale)
	w.lastDur = defaultFrameTicks
	return w
}

func durToTicks(d time.Duration, rate uint32) int64 {
	return int64(d) * int64(rate) / int64(time.Second)
}

func ticksToDur(t int64, rate uint32) time.Duration {
	return time.Duration(t * int64(time.Second) / int64(rate))
}

// wallAt maps a video dts to the wall clock.
func (w *writer) wallAt(dts int64) time.Time {
	return w.anchorWall.Add(ticksToDur(dts-w.anchorDTS, videoTimeScale))
}

// resync makes the writer drop frames until the next keyframe (after
// packet loss or a timestamp error); footage continues in the same
// segment, the last good frame covering the gap.
func (w *writer) resync() error {
	// The held frames came before the loss and are whole.
	err := w.releaseVideo(w.cfg.now(), true)
	w.waitKey = true
	return err
}

// writeVideo takes one access unit (Annex-B NAL units; keyframes carry
// their parameter sets) with its pts and dts in 90 kHz ticks. While the
// audio lags the video, the frame waits in the hold-back queue
// (holdback.go) until the audio of its time has come.
func (w *writer) writeVideo(au [][]byte, pts, dts int64) error {
	now := w.cfg.now()
	if !w.holdVideo(now) {
		return errors.Join(w.releaseVideo(now, true), w.writeVideoAt(au, pts, dts, now))
	}
	if w.vq.len() == 0 && w.audioReached(dts) {
		return w.writeVideoAt(au, pts, dts, now) // audio is ahead: the usual case, no copy
	}
	var err error
	if w.vq.bytes+avccSize(au) > w.cfg.maxPartBytes {
		err = w.releaseVideo(now, true)
	}
	w.vq.push(au, pts, dts, now)
	return errors.Join(err, w.releaseVideo(now, false))
}

// writeVideoAt writes one access unit that arrived at now.
func (w *writer) writeVideoAt(au [][]byte, pts, dts int64, now time.Time) error {
	w.now = now
	key := isKeyframe(au, w.isH265)
	var err error
	if w.timeJump(now, dts) {
		w.cfg.log.Warn("camera timestamps jumped; cutting the segment and re-anchoring on the system clock",
			"jump", (ticksToDur(dts-w.lastDTS, videoTimeScale) - now.Sub(w.wallAt(w.lastDTS))).Round(time.Millisecond).String())
		w.dropped(dropTimeJump)
		err = w.discontinuity()
	}
	w.lastDTS, w.haveDTS = dts, true
	if w.waitKey && !key {
		return err
	}
	size := avccSize(au)
	if size > w.cfg.maxFrameBytes {
		// Frames after it reference it: drop up to the next keyframe.
		w.cfg.log.Debug("frame over the size bound dropped", "bytes", size, "max", w.cfg.maxFrameBytes)
		w.dropped(dropOversize)
		w.waitKey = true
		return err
	}
	if w.pend.valid && dts <= w.pend.dts {
		// Non-increasing DTS: a broken camera clock or a reordering the
		// extractor missed. Frames after this one may need it: resync.
		w.cfg.log.Debug("non-increasing dts, waiting for keyframe", "dts", dts, "prev", w.pend.dts)
		w.waitKey = true
		return err
	}
	if key {
		w.params.setFrom(au, w.isH265)
		if w.initBytes != nil && !w.params.equal(w.initParams) && !w.allowParamsChange(now) {
			// Parameter sets changing faster than any camera reconfigures:
			// refuse them rather than cut a file per keyframe.
			w.dropped(dropParamChurn)
			w.waitKey = true
			return errors.Join(err, w.close())
		}
	} else if w.seg != nil && carriesOtherParams(au, w.initParams, w.isH265) {
		// Parameter sets change only at a keyframe; a frame bringing new
		// ones cannot be decoded against the file's.
		w.dropped(dropParamChurn)
		w.waitKey = true
		return err
	}
	if w.anchored {
		if off := now.Sub(w.wallAt(dts)); off < w.minOff {
			w.minOff = off
		}
	}
	if w.seg != nil {
		dur := dts - w.pend.dts
		written := w.seg.size + int64(w.bufferedBytes()+len(w.pend.buf)+size)
		if !key && written > w.cfg.maxSegmentBytes+w.cfg.maxSegmentBytes/4 {
			// No keyframe to cut at and the file far over its bound: end it
			// here and wait for a keyframe.
			w.cfg.log.Warn("segment over its byte bound without a keyframe; cutting", "bytes", written)
			w.dropped(dropOversize)
			w.waitKey = true
			return errors.Join(err, w.close())
		}
		cut := key && (dts-w.seg.startDTS >= w.segTicks ||
			now.Sub(w.segWall) >= ticksToDur(w.segTicks, videoTimeScale)+maxClockDrift ||
			written > w.cfg.maxSegmentBytes ||
			!w.params.equal(w.initParams))
		// The disk guard is asked at keyframes and once per part.
		pause := false
		if !cut && (key || (len(w.video.samples) > 0 && w.pend.dts-w.seg.startDTS-w.video.baseTime >= w.partTicks)) && !w.cfg.canWrite() {
			cut, pause = true, true
		}
		err = errors.Join(err, w.appendPending(dur), w.drainAudio(dts))
		if cut || err != nil {
			w.correctDrift()
			err = errors.Join(err, w.finishSegment(dts))
		}
		if pause {
			w.setPaused(true) // after the segment is catalogued
		}
	}
	if key && w.seg == nil {
		if !w.cfg.canWrite() {
			w.setPaused(true)
			return err
		}
		w.setPaused(false)
		if serr := w.startSegment(dts); serr != nil {
			return errors.Join(err, serr)
		}
	}
	if w.seg == nil {
		return err
	}
	w.waitKey = false
	w.pend.valid = true
	w.pend.key = key
	w.pend.dts = dts
	w.pend.ptsOffset = int32(pts - dts)
	w.pend.buf = appendAVCC(w.pend.buf[:0], au)
	w.frames++
	// Audio queued before this segment's start is dropped here.
	return errors.Join(err, w.drainAudio(dts))
}

// timeJump reports whether dts, arriving at now, is a discontinuity of
// the camera's clock rather than drift or network delay.
func (w *writer) timeJump(now time.Time, dts int64) bool {
	if !w.anchored || !w.haveDTS {
		return false
	}
	if dts < w.lastDTS-durToTicks(maxTimeJump, videoTimeScale) {
		return true // back
	}
	// Forward: delay makes frames late, never early.
	return now.Sub(w.wallAt(dts)) < -maxTimeJump
}

// discontinuity finishes the segment where its footage ends and makes the
// next keyframe anchor the mapping afresh.
func (w *writer) discontinuity() error {
	err := w.close()
	w.anchored = false
	w.minOff = noOffset
	w.waitKey = true
	return err
}

// allowParamsChange answers whether a parameter-set change at now is
// within maxParamChanges per paramWindow, and if so counts it.
func (w *writer) allowParamsChange(now time.Time) bool {
	oldest := w.paramTimes[w.paramNext]
	if !oldest.IsZero() && now.Sub(oldest) < paramWindow {
		return false
	}
	w.paramTimes[w.paramNext] = now
	w.paramNext = (w.paramNext + 1) % maxParamChanges
	return true
}

func (w *writer) dropped(r dropReason) {
	if w.cfg.onDrop != nil {
		w.cfg.onDrop(r)
	}
}

// bufferedBytes is the payload of the part being built.
func (w *writer) bufferedBytes() int {
	n := 0
	for _, t := range w.tracks {
		n += len(t.arena)
	}
	return n
}

func avccSize(au [][]byte) int {
	n := 0
	for _, u := range au {
		n += 4 + len(u)
	}
	return n
}

func appendAVCC(dst []byte, au [][]byte) []byte {
	for _, n := range au {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(n)))
		dst = append(dst, n...)
	}
	return dst
}

// appendPending moves the pending frame, now of known duration, into the
// part, writing the part out first when it is long enough.
func (w *writer) appendPending(dur int64) error {
	if !w.pend.valid {
		return nil
	}
	w.pend.valid = false
	if dur <= 0 || dur > 1<<31 {
		dur = w.lastDur
	}
	w.lastDur = dur
	rel := w.pend.dts - w.seg.startDTS
	var err error
	// A part is written at partDuration of media time or of wall clock,
	// or at maxPartBytes, whichever comes first: a camera whose
	// timestamps crawl cannot make the writer buffer without bound.
	if len(w.video.samples) > 0 && (rel-w.video.baseTime >= w.partTicks ||
		w.now.Sub(w.partWall) >= w.cfg.partDuration ||
		w.bufferedBytes()+len(w.pend.buf) > w.cfg.maxPartBytes) {
		err = w.flushPart()
	}
	if len(w.video.samples) == 0 {
		w.partWall = w.now
	}
	start := len(w.video.arena)
	w.video.arena = append(w.video.arena, w.pend.buf...)
	w.video.add(rel, uint32(dur), w.pend.ptsOffset, !w.pend.key, start)
	return err
}

// writeAudio takes one audio sample (AAC access unit or 16-bit LPCM) with
// its dts and duration in the audio track's time scale, on the same time
// base as the video (the RTP clock of the audio, as the library maps it
// onto the session's time base: no drift against the audio's own clock).
//
// A sample belongs to the segment whose video span holds its start. The
// cut is made at a keyframe, which may arrive after audio of a later time
// (audio and video travel with different latency), so samples wait in a
// queue until the video has reached them; drainAudio moves them into the
// segment. Audio before the first keyframe or while paused is dropped
// when the next segment's start shows it lies before it.
func (w *writer) writeAudio(payload []byte, dts int64, dur uint32) error {
	if w.audio == nil || dur == 0 {
		return nil
	}
	jump := w.audioTicks(durToTicks(maxTimeJump, videoTimeScale))
	if w.haveDTS && dts > w.audioTicks(w.lastDTS)+jump {
		return nil // far ahead of the video: a jump, or video stopped
	}
	// Bound the queue by time and by bytes: what the video does not reach
	// within maxTimeJump is never written.
	n := 0
	for n < len(w.aq.ents) && (w.aq.ents[n].dts < dts-jump || w.aq.bytes()-w.aq.arenaBefore(n)+len(payload) > w.cfg.maxPartBytes) {
		n++
	}
	w.aq.drop(n)
	w.aq.push(payload, dts, dur)
	var err error
	if !w.audioHold {
		now := w.cfg.now()
		w.audioSeen, w.audioArrived = true, now
		w.audioEnd = max(w.audioEnd, dts+int64(dur))
		err = w.releaseVideo(now, false)
	}
	if w.seg != nil && w.pend.valid {
		err = errors.Join(err, w.drainAudio(w.pend.dts))
	}
	return err
}

// releaseAudio ends audioHold, moving the queued audio by shift (audio
// ticks) onto the time base the session has settled on.
func (w *writer) releaseAudio(shift int64) {
	for i := range w.aq.ents {
		w.aq.ents[i].dts += shift
		w.audioEnd = max(w.audioEnd, w.aq.ents[i].dts+int64(w.aq.ents[i].dur))
	}
	w.audioHold = false
	if len(w.aq.ents) > 0 {
		w.audioSeen, w.audioArrived = true, w.cfg.now()
	}
}

// audioTicks converts video ticks to the audio time scale.
func (w *writer) audioTicks(v int64) int64 {
	return v * int64(w.audio.timeScale) / videoTimeScale
}

// drainAudio moves the queued audio that starts before the video dts
// limit into the segment; audio before the segment's start is dropped.
func (w *writer) drainAudio(limit int64) error {
	if w.audio == nil || w.seg == nil || w.audioHold || len(w.aq.ents) == 0 {
		return nil
	}
	at := w.audio
	segStart := w.audioTicks(w.seg.startDTS)
	end := w.audioTicks(limit)
	var err error
	n := 0
	for ; n < len(w.aq.ents); n++ {
		e := &w.aq.ents[n]
		if e.dts >= end {
			break
		}
		rel := e.dts - segStart
		if rel < 0 {
			continue // before this segment: its own segment is closed
		}
		payload := w.aq.payload(e)
		if len(at.arena)+len(payload) > w.cfg.maxPartBytes && len(at.samples) > 0 {
			err = errors.Join(err, w.flushPart())
		}
		if at.nextDTS >= 0 {
			diff := rel - at.nextDTS
			switch {
			case diff < -int64(e.dur)/2:
				continue // overlaps what is written: a duplicate or reordering
			case diff > int64(e.dur)/2 && len(at.samples) > 0:
				// a gap (lost packets): the samples of a fragment run back
				// to back, so start a new fragment at the right time.
				err = errors.Join(err, w.flushPart())
			}
		}
		start := len(at.arena)
		at.arena = append(at.arena, payload...)
		at.add(rel, e.dur, 0, false, start)
	}
	w.aq.drop(n)
	return err
}

// flushIfDue writes the part being built when it has waited partDuration
// of wall clock: a camera that goes quiet mid-part still has its footage
// on disk (the session calls it every second).
func (w *writer) flushIfDue() error {
	if err := w.releaseVideo(w.cfg.now(), false); err != nil {
		return err
	}
	w.now = w.cfg.now()
	if w.seg == nil || len(w.video.samples) == 0 || w.now.Sub(w.partWall) < w.cfg.partDuration {
		return nil
	}
	return w.flushPart()
}

func (w *writer) flushPart() error {
	vEnd, hasVideo := w.video.nextDTS, len(w.video.samples) > 0
	meta := fragMeta{End: w.seg.videoEnd}
	if hasVideo {
		meta = fragMeta{Dur: vEnd - w.video.baseTime, End: vEnd, Key: !w.video.samples[0].IsNonSyncSample}
	}
	w.tableOfPart()
	frag, err := w.parts.build(w.tracks)
	if err != nil || frag == nil {
		return err
	}
	if w.seg.swErr != nil {
		// A sealed segment whose write failed takes nothing more: it ends
		// at its last whole record (the failure was returned, the segment
		// is being finished), its end where its video ends.
		return nil
	}
	n := w.seg.parts
	at, err := w.seg.writePart(frag, meta, w.cfg.now(), w.cfg.fsyncInterval)
	if w.seg.parts > n {
		// In the file (even if its fsync failed): in the index too.
		w.indexPart(at)
	}
	if err != nil {
		return err
	}
	if hasVideo {
		w.seg.videoEnd = vEnd
	}
	return nil
}

// correctDrift applies the drift measured since the last correction: up
// to maxClockDrift it is noise, up to maxTimeJump the mapping moves by at
// most maxClockDrift, beyond that it is a jump and the next segment is
// anchored afresh.
func (w *writer) correctDrift() {
	off := w.minOff
	w.minOff = noOffset
	switch {
	case off == noOffset:
	case off > maxTimeJump || off < -maxTimeJump:
		w.cfg.log.Warn("camera timestamps far from the system clock; re-anchoring the next segment", "off", off.Round(time.Millisecond).String())
		w.dropped(dropTimeJump)
		w.anchored = false
	case off > maxClockDrift || off < -maxClockDrift:
		corr := max(min(off, maxClockDrift), -maxClockDrift)
		w.cfg.log.Info("camera clock drifted from the system clock; correcting segment times",
			"drift", off.Round(time.Millisecond).String(), "correction", corr.String())
		w.anchorWall = w.anchorWall.Add(corr)
	}
}

func (w *writer) startSegment(dts int64) error {
	if !w.anchored {
		w.anchored, w.anchorWall, w.anchorDTS = true, w.now, dts
		w.minOff = noOffset
	} else {
		w.correctDrift()
	}
	// Never start before the previous segment of this connection ended.
	if start := w.wallAt(dts); !w.lastEnd.IsZero() && start.Before(w.lastEnd) {
		w.anchorWall = w.anchorWall.Add(w.lastEnd.Sub(start))
	}
	if !w.params.complete(w.isH265) {
		w.waitKey = true
		return fmt.Errorf("keyframe without parameter sets")
	}
	if w.initBytes == nil || !w.params.equal(w.initParams) {
		if err := w.buildInit(); err != nil {
			return err
		}
	}
	codecs := w.video.name
	if w.audio != nil {
		codecs += "," + w.audio.name
	}
	w.seg = newSegment(w.cfg.root, w.cfg.camera, w.wallAt(dts), dts, w.initBytes, w.initHash, codecs)
	w.seg.spare = w.spareSeal
	w.seg.wrap = w.cfg.wrapFile
	w.seg.sealer = w.cfg.seal
	w.resetIndex()
	w.segWall = w.now
	w.parts.seqNo = 0
	for _, t := range w.tracks {
		t.reset()
		t.nextDTS = -1
	}
	return nil
}

func (w *writer) buildInit() error {
	p := w.params
	var vc mp4.Codec
	if w.isH265 {
		vc = &mp4.CodecH265{VPS: p.vps, SPS: p.sps, PPS: p.pps}
	} else {
		vc = &mp4.CodecH264{SPS: p.sps, PPS: p.pps}
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: videoTimeScale, Codec: vc}}}
	if w.audio != nil {
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: 2, TimeScale: w.audio.timeScale, Codec: w.audio.codec})
	}
	w.initBuf.Reset()
	if err := init.Marshal(&w.initBuf); err != nil {
		return fmt.Errorf("init section: %w", err)
	}
	w.initBytes = append([]byte(nil), w.initBuf.Bytes()...)
	w.initHash = hashHex(w.initBytes)
	w.initMoov = moovOf(w.initBytes)
	w.initParams = videoParams{
		vps: append([]byte(nil), p.vps...),
		sps: append([]byte(nil), p.sps...),
		pps: append([]byte(nil), p.pps...),
	}
	return nil
}

// finishSegment writes what is buffered and finishes the file; endDTS is
// the video dts where the segment ends (the next segment's start).
func (w *writer) finishSegment(endDTS int64) error {
	seg := w.seg
	defer seg.wipeKey() // after writeIndex has sealed the index with it
	defer func() { w.spareSeal = seg.spare }()
	err := w.flushPart()
	w.seg = nil
	w.pend.valid = false
	for _, t := range w.tracks {
		t.reset()
	}
	// The end is what reached the file: after a failed write that is less
	// than endDTS.
	// Times are kept to the microsecond, as in the file names.
	end := seg.start.Add(ticksToDur(seg.videoEnd, videoTimeScale)).Truncate(time.Microsecond)
	if next := w.wallAt(endDTS).Truncate(time.Microsecond); next.Before(end) && next.After(seg.start) {
		end = next // a drift correction moved the next start earlier
	}
	w.lastEnd = end
	row, ok, ferr := seg.finish(end)
	if err = errors.Join(err, ferr); err != nil || !ok {
		if seg.f != nil {
			seg.f.Close()
		}
		return err
	}
	w.writeIndex(row, seg)
	if w.cfg.onSegment != nil {
		return w.cfg.onSegment(row)
	}
	return nil
}

// close finishes the segment being written, the last frame lasting as
// long as the one before it.
func (w *writer) close() error {
	held := w.releaseVideo(w.cfg.now(), true)
	if w.seg == nil {
		return held
	}
	end := w.pend.dts + w.lastDur
	err := w.appendPending(w.lastDur)
	return errors.Join(held, err, w.drainAudio(end), w.finishSegment(end))
}

func (w *writer) setPaused(p bool) {
	if w.paused != p {
		w.paused = p
		if w.cfg.onPaused != nil {
			w.cfg.onPaused(p)
		}
	}
}
