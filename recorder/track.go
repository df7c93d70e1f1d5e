package recorder

import (
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// track is one media track of a connection: its codec and the samples
// collected for the part being built. The sample structs and the payload
// arena are reused from part to part so that the steady-state path from an
// access unit to a fragment does not allocate.
type track struct {
	id        int // mp4 track id, from 1
	name      string
	timeScale uint32
	codec     mp4.Codec
	isVideo   bool

	// the part being built
	samples  []fmp4.Sample
	ptrs     []*fmp4.Sample
	offsets  []int // payload start of each sample in arena
	arena    []byte
	baseTime int64 // dts of samples[0], relative to the segment start, in timeScale
	nextDTS  int64 // expected relative dts of the next sample
}

// add appends one sample whose payload is already in the arena from
// offset start.
func (t *track) add(relDTS int64, dur uint32, ptsOffset int32, nonSync bool, start int) {
	if len(t.samples) == 0 {
		t.baseTime = relDTS
	}
	t.samples = append(t.samples, fmp4.Sample{
		Duration:        dur,
		PTSOffset:       ptsOffset,
		IsNonSyncSample: nonSync,
	})
	t.offsets = append(t.offsets, start)
	t.nextDTS = relDTS + int64(dur)
}

// sampleLen is the payload size of sample i.
func (t *track) sampleLen(i int) int {
	end := len(t.arena)
	if i+1 < len(t.offsets) {
		end = t.offsets[i+1]
	}
	return end - t.offsets[i]
}

// partTrack returns the collected samples as an fmp4.PartTrack; valid until
// reset.
func (t *track) partTrack(pt *fmp4.PartTrack) {
	t.ptrs = t.ptrs[:0]
	for i := range t.samples {
		end := len(t.arena)
		if i+1 < len(t.offsets) {
			end = t.offsets[i+1]
		}
		t.samples[i].Payload = t.arena[t.offsets[i]:end]
		t.ptrs = append(t.ptrs, &t.samples[i])
	}
	pt.ID = t.id
	pt.BaseTime = uint64(t.baseTime)
	pt.Samples = t.ptrs
}

// duration of the collected samples, in timeScale.
func (t *track) duration() int64 {
	return t.nextDTS - t.baseTime
}

func (t *track) reset() {
	t.samples = t.samples[:0]
	t.offsets = t.offsets[:0]
	t.arena = t.arena[:0]
}

// audioQueue holds audio samples that arrived before the video reached
// their time: a sample belongs to the segment whose video span holds its
// start, and which segment that is is known only when the video gets
// there (the cut is made at a keyframe that may arrive after the audio).
// The arena and entries are reused, so queueing does not allocate in the
// steady state.
type audioQueue struct {
	ents  []queuedAudio
	arena []byte
}

type queuedAudio struct {
	dts      int64 // in the audio time scale, on the video's time base
	dur      uint32
	off, len int // payload in arena
}

func (q *audioQueue) push(payload []byte, dts int64, dur uint32) {
	q.ents = append(q.ents, queuedAudio{dts: dts, dur: dur, off: len(q.arena), len: len(payload)})
	q.arena = append(q.arena, payload...)
}

func (q *audioQueue) payload(e *queuedAudio) []byte {
	return q.arena[e.off : e.off+e.len]
}

// drop removes the first n entries, moving the rest to the front.
func (q *audioQueue) drop(n int) {
	if n <= 0 {
		return
	}
	if n >= len(q.ents) {
		q.ents, q.arena = q.ents[:0], q.arena[:0]
		return
	}
	base := q.ents[n].off
	k := copy(q.ents, q.ents[n:])
	q.ents = q.ents[:k]
	for i := range q.ents {
		q.ents[i].off -= base
	}
	m := copy(q.arena, q.arena[base:])
	q.arena = q.arena[:m]
}

func (q *audioQueue) bytes() int { return len(q.arena) }

// arenaBefore is the payload size of the first n entries.
func (q *audioQueue) arenaBefore(n int) int {
	if n >= len(q.ents) {
		return len(q.arena)
	}
	return q.ents[n].off
}
