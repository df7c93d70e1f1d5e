package fakecam

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/pion/rtcp"
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
	ssrc   [2]uint32    // of each media's format in stream
	lastSR [2]time.Time // when a sender report was last sent, per media

	count       frameCount
	dropped     atomic.Int64 // packets a reader's queue had no room for
	bytesBefore uint64       // bytes sent by streams closed before this one
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
		c.bytesBefore += c.stream.BytesSent()
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
	stats := st.Stats()
	for i, m := range desc.Medias {
		if i < len(c.ssrc) {
			c.ssrc[i] = stats.Medias[m].Formats[m.Formats[0]].LocalSSRC
		}
	}
	c.lastSR = [2]time.Time{}
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
	var delayed chan delayedVideo
	if d := c.srv.cfg.VideoDelay; d > 0 {
		// A second of video at 25 fps, with room to spare.
		delayed = make(chan delayedVideo, 256)
		stop := make(chan struct{})
		defer close(stop)
		go c.sendDelayed(delayed, d, done, stop)
	}
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
				c.write(1, ev.pkts, &audio.seq, ts, ntp, false)
			} else {
				ts := uint32(int64(video.base) + offset90 + shift + ev.ts)
				if c.endlessFUA(hostile, &video.seq, ts, done) {
					continue
				}
				pkts := ev.pkts
				if hostile.mode != "" {
					pkts = hostile.videoPackets(c.prog, ci, i, ev, now)
				}
				if delayed != nil {
					c.delayVideo(delayed, pkts, &video.seq, ts, ntp, now, done, ev.key && hostile.mode == "")
					continue
				}
				c.write(0, pkts, &video.seq, ts, ntp, ev.key && hostile.mode == "")
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
// numbers and timestamp. Packets are numbered even while offline, as the
// camera's encoder would keep running. Video frames (media 0) that reach a
// reader are counted (frameCount); key says the frame is a keyframe.
func (c *camera) write(media int, tmpl []*rtp.Packet, seq *uint16, ts uint32, ntp time.Time, key bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delivered := false
	for k, t := range tmpl {
		p := *t
		p.SequenceNumber = *seq
		p.Timestamp = ts
		*seq++
		if c.stream == nil {
			continue
		}
		var before uint64
		if k == 0 && media == 0 {
			before = c.stream.BytesSent()
		}
		if err := c.stream.WritePacketRTPWithNTP(c.desc.Medias[media], &p, ntp); err != nil {
			c.srv.log.Debug("fakecam: write", "camera", c.name, "err", err)
		}
		if k == 0 && media == 0 {
			delivered = c.stream.BytesSent() > before
		}
	}
	if media == 0 && len(tmpl) > 0 {
		c.count.note(key, delivered)
	}
	c.senderReport(media, ts, ntp)
}

// senderReport sends an RTCP sender report for media about once a second
// (gortsplib's own come every 10 s), so a receiver can map both tracks'
// RTP clocks onto the capture time early: with VideoDelay, arrival times
// do not tell which audio goes with which picture. Called with mu held.
func (c *camera) senderReport(media int, ts uint32, ntp time.Time) {
	if c.stream == nil || media >= len(c.lastSR) || time.Since(c.lastSR[media]) < time.Second {
		return
	}
	c.lastSR[media] = time.Now()
	sr := &rtcp.SenderReport{SSRC: c.ssrc[media], NTPTime: ntpTime(ntp), RTPTime: ts}
	if err := c.stream.WritePacketRTCP(c.desc.Medias[media], sr); err != nil {
		c.srv.log.Debug("fakecam: sender report", "camera", c.name, "err", err)
	}
}

// ntpTime is t in the 64-bit NTP format (seconds since 1900, 32.32).
func ntpTime(t time.Time) uint64 {
	const unixToNTP = 2208988800
	ns := t.UnixNano()
	sec := uint64(ns/1e9) + unixToNTP
	frac := uint64(ns%1e9) << 32 / 1e9
	return sec<<32 | frac
}

func dur90(v int64) time.Duration {
	return time.Duration(v) * time.Second / videoClock
}

// delayedVideo is one video access unit waiting out Config.VideoDelay,
// numbered and stamped when it was due.
type delayedVideo struct {
	key  bool
	pkts []*rtp.Packet
	ntp  time.Time
	at   time.Time // when it was due
}

// delayVideo numbers and stamps the packets now and hands copies to
// sendDelayed, so the sequence and timestamps are those of an undelayed
// camera and only the arrival is late.
func (c *camera) delayVideo(ch chan<- delayedVideo, tmpl []*rtp.Packet, seq *uint16, ts uint32, ntp, now time.Time, done <-chan struct{}, key bool) {
	pkts := make([]*rtp.Packet, len(tmpl))
	for i, t := range tmpl {
		p := *t
		p.SequenceNumber = *seq
		p.Timestamp = ts
		*seq++
		pkts[i] = &p
	}
	select {
	case ch <- delayedVideo{key: key, pkts: pkts, ntp: ntp, at: now}:
	case <-done:
	}
}

// sendDelayed writes the queued video access units delay after they were
// due, in order.
func (c *camera) sendDelayed(ch <-chan delayedVideo, delay time.Duration, done, stop <-chan struct{}) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		var v delayedVideo
		select {
		case v = <-ch:
		case <-done:
			return
		case <-stop:
			return
		}
		if wait := time.Until(v.at.Add(delay)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-done:
				return
			case <-stop:
				return
			}
		}
		c.writeNumbered(0, v.pkts, v.ntp, v.key)
	}
}

// writeNumbered sends packets that already carry their sequence numbers
// and timestamps; a video frame that reaches a reader is counted.
func (c *camera) writeNumbered(media int, pkts []*rtp.Packet, ntp time.Time, key bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return
	}
	delivered := false
	for k, p := range pkts {
		before := c.stream.BytesSent()
		if err := c.stream.WritePacketRTPWithNTP(c.desc.Medias[media], p, ntp); err != nil {
			c.srv.log.Debug("fakecam: write", "camera", c.name, "err", err)
		}
		if k == 0 {
			delivered = c.stream.BytesSent() > before
		}
	}
	if media == 0 && len(pkts) > 0 {
		c.count.note(key, delivered)
	}
	if len(pkts) > 0 {
		c.senderReport(media, pkts[0].Timestamp, ntp)
	}
}
