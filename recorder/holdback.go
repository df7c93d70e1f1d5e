package recorder

import (
	"errors"
	"time"
)

// maxAudioLag is the longest a video frame is held back for the audio of
// its time. Audio that travels slower than video (a camera whose audio
// encoder buffers, or sender reports that place the audio a second
// earlier than it arrives) reaches a cut after the keyframe that makes
// it: without the hold the closing segment would be finished before its
// last second of sound came, and that sound, belonging to a closed
// segment, would be lost. The bound is above what the session accepts as
// a latency difference (maxClockDrift) and below the audio queue's own
// bound (maxTimeJump), so nothing the queue keeps is dropped for it.
const maxAudioLag = 1500 * time.Millisecond

// videoQueue holds video access units back until the audio of their time
// has arrived (writer.holdVideo). Frames are copied into a reused arena;
// the head advances and the arena is compacted only once more than half
// of it is consumed, so the steady state neither allocates nor copies a
// whole second of video per frame.
type videoQueue struct {
	ents  []queuedVideo
	head  int      // first live entry
	nals  [][2]int // every queued NAL unit: offset and length in arena
	arena []byte   // NAL payloads
	au    [][]byte // reused to present one entry
	bytes int      // live payload bytes
}

type queuedVideo struct {
	pts, dts   int64
	arrived    time.Time
	nal0, nalN int // the entry's NAL units are nals[nal0:nal0+nalN]
	size       int
}

func (q *videoQueue) len() int { return len(q.ents) - q.head }

func (q *videoQueue) front() *queuedVideo { return &q.ents[q.head] }

func (q *videoQueue) push(au [][]byte, pts, dts int64, arrived time.Time) {
	e := queuedVideo{pts: pts, dts: dts, arrived: arrived, nal0: len(q.nals), nalN: len(au)}
	for _, n := range au {
		q.nals = append(q.nals, [2]int{len(q.arena), len(n)})
		q.arena = append(q.arena, n...)
		e.size += len(n)
	}
	q.bytes += e.size
	q.ents = append(q.ents, e)
}

// unit is the front entry's access unit, valid until the next pop.
func (q *videoQueue) unit() [][]byte {
	e := q.front()
	q.au = q.au[:0]
	for _, r := range q.nals[e.nal0 : e.nal0+e.nalN] {
		q.au = append(q.au, q.arena[r[0]:r[0]+r[1]])
	}
	return q.au
}

// pop drops the front entry.
func (q *videoQueue) pop() {
	q.bytes -= q.front().size
	q.head++
	if q.head == len(q.ents) {
		q.ents, q.nals, q.arena, q.head = q.ents[:0], q.nals[:0], q.arena[:0], 0
		return
	}
	if q.head > len(q.ents)/2 {
		q.compact()
	}
}

// compact moves the live entries and their payload to the front.
func (q *videoQueue) compact() {
	first := q.ents[q.head]
	nalBase, arenaBase := first.nal0, q.nals[first.nal0][0]
	k := copy(q.ents, q.ents[q.head:])
	q.ents, q.head = q.ents[:k], 0
	for i := range q.ents {
		q.ents[i].nal0 -= nalBase
	}
	m := copy(q.nals, q.nals[nalBase:])
	q.nals = q.nals[:m]
	for i := range q.nals {
		q.nals[i][0] -= arenaBase
	}
	n := copy(q.arena, q.arena[arenaBase:])
	q.arena = q.arena[:n]
}

// holdVideo reports whether video must wait for audio: the connection
// has audio, its time base is settled (releaseAudio), and audio is
// flowing (a camera that announces audio and sends none is not waited
// for).
func (w *writer) holdVideo(now time.Time) bool {
	return w.audio != nil && !w.audioHold && w.audioSeen && now.Sub(w.audioArrived) < maxAudioLag
}

// audioReached reports whether the audio that has arrived reaches the
// video dts.
func (w *writer) audioReached(dts int64) bool {
	return w.audioEnd >= w.audioTicks(dts)
}

// releaseVideo writes the held frames that may go: all of them, or those
// the audio has reached or that waited maxAudioLag. Each is written with
// the time it arrived, so drift and jump detection see the camera's
// timing, not the hold.
func (w *writer) releaseVideo(now time.Time, all bool) error {
	var err error
	for w.vq.len() > 0 {
		e := w.vq.front()
		if !all && !w.audioReached(e.dts) && now.Sub(e.arrived) < maxAudioLag {
			break
		}
		err = errors.Join(err, w.writeVideoAt(w.vq.unit(), e.pts, e.dts, e.arrived))
		w.vq.pop()
	}
	return err
}
