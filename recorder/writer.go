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

	"vahti/registry"
)

const (
	videoTimeScale = 90000
	// maxClockDrift is how far the PTS-derived wall clock may drift from
	// the injected clock before a new segment is re-anchored.
	maxClockDrift = time.Second
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
}

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
// exceeds maxClockDrift the mapping is shifted at the next segment cut.
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
	tracks []*track

	anchored   bool
	anchorWall time.Time
	anchorDTS  int64
	minOff     time.Duration // smallest arrival − wallAt(dts) since the segment started
	lastEnd    time.Time     // end of the previous segment of this connection

	params     videoParams // newest seen in the stream
	initParams videoParams // those in initBytes
	initBytes  []byte
	initHash   string
	initBuf    seekablebuffer.Buffer

	seg     *segment
	parts   partBuilder
	waitKey bool
	paused  bool

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
func (w *writer) resync() {
	w.waitKey = true
}

// writeVideo takes one access unit (Annex-B NAL units; keyframes carry
// their parameter sets) with its pts and dts in 90 kHz ticks.
func (w *writer) writeVideo(au [][]byte, pts, dts int64) error {
	key := isKeyframe(au, w.isH265)
	if w.waitKey && !key {
		return nil
	}
	if w.pend.valid && dts <= w.pend.dts {
		// Non-increasing DTS: a broken camera clock or a reordering the
		// extractor missed. Frames after this one may need it: resync.
		w.cfg.log.Debug("non-increasing dts, waiting for keyframe", "dts", dts, "prev", w.pend.dts)
		w.waitKey = true
		return nil
	}
	if key {
		w.params.setFrom(au, w.isH265)
	}
	if w.anchored {
		if off := w.cfg.now().Sub(w.wallAt(dts)); off < w.minOff {
			w.minOff = off
		}
	}
	var err error
	if w.seg != nil {
		dur := dts - w.pend.dts
		cut := key && (dts-w.seg.startDTS >= w.segTicks || !w.params.equal(w.initParams))
		// The disk guard is asked at keyframes and once per part.
		pause := false
		if !cut && (key || (len(w.video.samples) > 0 && w.pend.dts-w.seg.startDTS-w.video.baseTime >= w.partTicks)) && !w.cfg.canWrite() {
			cut, pause = true, true
		}
		err = w.appendPending(dur)
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
	return err
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
	if len(w.video.samples) > 0 && rel-w.video.baseTime >= w.partTicks {
		err = w.flushPart()
	}
	start := len(w.video.arena)
	w.video.arena = append(w.video.arena, w.pend.buf...)
	w.video.add(rel, uint32(dur), w.pend.ptsOffset, !w.pend.key, start)
	return err
}

// writeAudio takes one audio sample (AAC access unit or 16-bit LPCM) with
// its dts and duration in the audio track's time scale, on the same time
// base as the video. Audio outside a segment (before the first keyframe,
// while paused) is dropped.
func (w *writer) writeAudio(payload []byte, dts int64, dur uint32) error {
	if w.audio == nil || w.seg == nil || dur == 0 {
		return nil
	}
	at := w.audio
	rel := dts - w.seg.startDTS*int64(at.timeScale)/videoTimeScale
	if rel < 0 {
		return nil // belongs to the previous segment, which is closed
	}
	var err error
	if at.nextDTS >= 0 {
		diff := rel - at.nextDTS
		switch {
		case diff < -int64(dur)/2:
			return nil // overlaps what is written: a duplicate or reordering
		case diff > int64(dur)/2 && len(at.samples) > 0:
			// a gap (lost packets): the samples of a fragment run back to
			// back, so start a new fragment at the right time.
			err = w.flushPart()
		}
	}
	start := len(at.arena)
	at.arena = append(at.arena, payload...)
	at.add(rel, dur, 0, false, start)
	return err
}

func (w *writer) flushPart() error {
	vEnd, hasVideo := w.video.nextDTS, len(w.video.samples) > 0
	frag, err := w.parts.build(w.tracks)
	if err != nil || frag == nil {
		return err
	}
	if err := w.seg.writePart(frag, w.cfg.now(), w.cfg.fsyncInterval); err != nil {
		return err
	}
	if hasVideo {
		w.seg.videoEnd = vEnd
	}
	return nil
}

// correctDrift shifts the wall-clock mapping by the measured drift when it
// is larger than maxClockDrift.
func (w *writer) correctDrift() {
	if w.minOff != noOffset && (w.minOff > maxClockDrift || w.minOff < -maxClockDrift) {
		w.cfg.log.Info("camera clock drifted from the system clock; correcting segment times", "drift", w.minOff.String())
		w.anchorWall = w.anchorWall.Add(w.minOff)
	}
	w.minOff = noOffset
}

func (w *writer) startSegment(dts int64) error {
	if !w.anchored {
		w.anchored, w.anchorWall, w.anchorDTS = true, w.cfg.now(), dts
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
	if w.cfg.onSegment != nil {
		return w.cfg.onSegment(row)
	}
	return nil
}

// close finishes the segment being written, the last frame lasting as
// long as the one before it.
func (w *writer) close() error {
	if w.seg == nil {
		return nil
	}
	end := w.pend.dts + w.lastDur
	err := w.appendPending(w.lastDur)
	return errors.Join(err, w.finishSegment(end))
}

func (w *writer) setPaused(p bool) {
	if w.paused != p {
		w.paused = p
		if w.cfg.onPaused != nil {
			w.cfg.onPaused(p)
		}
	}
}
