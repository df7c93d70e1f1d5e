package fakecam

import (
	"sync/atomic"
	"time"
)

// pacerTick is how often the shared pacing loop wakes. Packets are due at
// exact times; they leave up to one tick late, well inside any receiver's
// jitter tolerance.
const pacerTick = 5 * time.Millisecond

// cursor is where one camera is in its program, for the shared pacer.
type cursor struct {
	c            *camera
	start        time.Time // wall clock of the camera's timestamp 0
	n            int       // loop count
	i            int       // next event in the current loop
	offset90     int64     // start of the current loop, 90 kHz since start
	video, audio trackState
}

// pace sends every camera's program from one goroutine and one ticker:
// with 128 cameras, one goroutine and timer per camera cost more than the
// packets they send. Cameras are spread over one frame interval, as real
// ones are not in step. Used unless a hostile mode or a video delay needs
// the per-camera loop (camera.run).
func (s *Server) pace(start time.Time, cams []*camera) {
	curs := make([]cursor, len(cams))
	const spread = 40 * time.Millisecond
	for k, c := range cams {
		curs[k] = cursor{c: c, start: start.Add(spread * time.Duration(k) / time.Duration(len(cams))),
			video: newTrackState(), audio: newTrackState()}
	}
	t := time.NewTicker(pacerTick)
	defer t.Stop()
	for {
		now := time.Now()
		for k := range curs {
			curs[k].sendDue(now)
		}
		select {
		case <-s.done:
			return
		case <-t.C:
		}
	}
}

// sendDue sends the events of cur's camera that are due at now.
func (cur *cursor) sendDue(now time.Time) {
	c := cur.c
	for {
		l := c.prog.clips[cur.n%len(c.prog.clips)]
		if cur.i >= len(l.events) {
			cur.offset90 += l.length
			cur.n++
			cur.i = 0
			continue
		}
		ev := &l.events[cur.i]
		if cur.start.Add(dur90(cur.offset90 + ev.at)).After(now) {
			return
		}
		cur.i++
		ntp := cur.start.Add(dur90(cur.offset90 + ev.pts90))
		if ev.audio {
			ts := uint32(int64(cur.audio.base) + c.audioOffset(cur.offset90) + ev.ts)
			c.write(1, ev.pkts, &cur.audio.seq, ts, ntp, false)
		} else {
			ts := uint32(int64(cur.video.base) + cur.offset90 + ev.ts)
			c.write(0, ev.pkts, &cur.video.seq, ts, ntp, ev.key)
		}
	}
}

// frameCount counts a camera's video frames that reached a reader: from
// the first keyframe whose first packet was delivered (a recorder can
// start at no earlier frame), every frame after it. The benchmark
// compares it with the frames found in the recorded files.
type frameCount struct {
	started atomic.Bool
	frames  atomic.Int64
}

func (f *frameCount) note(key, delivered bool) {
	if !f.started.Load() {
		if !key || !delivered {
			return
		}
		f.started.Store(true)
	}
	f.frames.Add(1)
}

// CameraStats is what one camera sent to its readers.
type CameraStats struct {
	Name string `json:"name"`
	// Frames is the number of video frames sent to a reader, from the
	// first keyframe a reader got (0: no reader ever got a keyframe).
	Frames int64 `json:"frames"`
	// Bytes is the RTP bytes written to readers (all media, all readers).
	Bytes uint64 `json:"bytes"`
	// Dropped is the packets not sent because a reader's queue was full
	// (a reader too slow, or this process held off the CPU): frames lost
	// at the source, not in the recorder.
	Dropped int64 `json:"dropped_packets"`
}

// Stats reports what each camera sent, in configuration order. Call Halt
// first for final figures.
func (s *Server) Stats() []CameraStats {
	out := make([]CameraStats, 0, len(s.order))
	for _, name := range s.order {
		c := s.cams[name]
		c.mu.Lock()
		b := c.bytesBefore
		if c.stream != nil {
			b += c.stream.BytesSent()
		}
		c.mu.Unlock()
		out = append(out, CameraStats{Name: name, Frames: c.count.frames.Load(), Bytes: b, Dropped: c.dropped.Load()})
	}
	return out
}
