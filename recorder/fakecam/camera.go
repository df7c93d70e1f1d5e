package fakecam

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/pion/rtp"
)

// camera is one simulated camera: a ServerStream while online and a goroutine
// that writes the looping program into it in real time.
type camera struct {
	name string
	srv  *Server
	prog *program

	mu     sync.Mutex
	stream *gortsplib.ServerStream // nil while offline
	desc   *description.Session
}

func (c *camera) online() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stream != nil
}

func (c *camera) currentStream() *gortsplib.ServerStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stream
}

func (c *camera) setOnline(on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if on == (c.stream != nil) {
		return nil
	}
	if !on {
		// Closing the stream closes every session reading it.
		c.stream.Close()
		c.stream, c.desc = nil, nil
		c.srv.log.Info("fakecam: camera offline", "camera", c.name)
		return nil
	}
	desc := c.prog.description()
	st := &gortsplib.ServerStream{Server: c.srv.rtsp, Desc: desc}
	if err := st.Initialize(); err != nil {
		return fmt.Errorf("fakecam: camera %s: %w", c.name, err)
	}
	c.stream, c.desc = st, desc
	c.srv.log.Info("fakecam: camera online", "camera", c.name)
	return nil
}

// trackState is the running RTP state of one media.
type trackState struct {
	seq  uint16
	base uint32 // random initial timestamp, as RFC 3550 asks
}

func newTrackState() trackState {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return trackState{seq: binary.BigEndian.Uint16(b[:2]), base: binary.BigEndian.Uint32(b[2:])}
}

// run sends the program until done is closed. start is the wall-clock time of
// timestamp 0; every loop begins exactly where the previous one ended.
func (c *camera) run(start time.Time, done <-chan struct{}) {
	video, audio := newTrackState(), newTrackState()
	hostile := &hostileState{mode: c.srv.cfg.Hostile, start: time.Now()}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var offset90 int64 // start of the current loop, 90 kHz since start
	for n := 0; ; n++ {
		ci := n % len(c.prog.clips)
		l := c.prog.clips[ci]
		for i := range l.events {
			ev := &l.events[i]
			due := start.Add(dur90(offset90 + ev.at))
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-done:
					return
				case <-timer.C:
				}
			} else {
				select {
				case <-done:
					return
				default:
				}
				if hostile.mode != "" && wait < -500*time.Millisecond {
					continue // after a hostile pause: skip, do not burst
				}
			}
			now := time.Now()
			if hostile.silent(now) {
				continue
			}
			shift := hostile.tsOffset(now)
			ntp := start.Add(dur90(offset90 + ev.pts90))
			if ev.audio {
				ts := uint32(int64(audio.base) + c.audioOffset(offset90+shift) + ev.ts)
				c.write(1, ev.pkts, &audio.seq, ts, ntp)
			} else {
				ts := uint32(int64(video.base) + offset90 + shift + ev.ts)
				if c.endlessFUA(hostile, &video.seq, ts, done) {
					continue
				}
				pkts := ev.pkts
				if hostile.mode != "" {
					pkts = hostile.videoPackets(c.prog, ci, i, ev, now)
				}
				c.write(0, pkts, &video.seq, ts, ntp)
			}
		}
		offset90 += l.length
	}
}

// audioOffset converts a loop start to the audio clock.
func (c *camera) audioOffset(offset90 int64) int64 {
	return rescale(offset90, videoClock, uint32(c.prog.audio.ClockRate()))
}

// write sends copies of the packet templates with this camera's sequence
// numbers and timestamp. Packets are counted even while offline, as the
// camera's encoder would keep running.
func (c *camera) write(media int, tmpl []*rtp.Packet, seq *uint16, ts uint32, ntp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range tmpl {
		p := *t
		p.SequenceNumber = *seq
		p.Timestamp = ts
		*seq++
		if c.stream == nil {
			continue
		}
		if err := c.stream.WritePacketRTPWithNTP(c.desc.Medias[media], &p, ntp); err != nil {
			c.srv.log.Debug("fakecam: write", "camera", c.name, "err", err)
		}
	}
}

func dur90(v int64) time.Duration {
	return time.Duration(v) * time.Second / videoClock
}
