package fakecam

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// Hostile modes: streams that misbehave the way a broken or malicious
// camera on the LAN can, for testing that a recorder contains them. Each
// mode affects the video track only (audio plays on, except that "jump"
// shifts audio timestamps too).
const (
	// HostileGarbage replaces every third video frame's RTP payloads with
	// random bytes (valid RTP headers, sequence numbers and timestamps).
	HostileGarbage = "garbage"
	// HostileGiant sends, every two seconds, a 6 MiB NAL unit in place of
	// a frame: over any sane frame bound, under the depacketiser's 8 MiB.
	HostileGiant = "giant"
	// HostileJump steps the RTP timestamps by an hour every 6 s: forward,
	// back to normal, back an hour, back to normal, and so on.
	HostileJump = "jump"
	// HostileSPSChurn puts a different SPS (level_idc cycling) in front of
	// every frame.
	HostileSPSChurn = "sps-churn"
	// HostileStopMidFrame sends 4 s normally, then half of a frame's
	// packets, then nothing for 12 s (the connection stays open), then
	// resumes; and again.
	HostileStopMidFrame = "stop-midframe"
	// HostileEndlessFUA sends 4 s normally, then for 8 s an FU-A fragment
	// stream that never ends (a start fragment every 10 MB, no end
	// fragment, about 3 MB/s); and again.
	HostileEndlessFUA = "endless-fua"
)

// HostileModes lists every hostile mode.
var HostileModes = []string{HostileGarbage, HostileGiant, HostileJump, HostileSPSChurn, HostileStopMidFrame, HostileEndlessFUA}

const (
	giantNALBytes = 6 << 20
	jumpPeriod    = 6 * time.Second
	hostileNormal = 4 * time.Second // normal streaming before stop-midframe / endless-fua act
	stopSilence   = 12 * time.Second
	fuaBurst      = 8 * time.Second
	fuaPayload    = 1400
	fuaPerStart   = 10 << 20 / fuaPayload
	fuaPerTick    = 30 // packets every 10 ms
)

func validHostile(mode string) error {
	if mode == "" || slices.Contains(HostileModes, mode) {
		return nil
	}
	return fmt.Errorf("fakecam: hostile mode %q: want one of %s", mode, strings.Join(HostileModes, ", "))
}

// hostileProgram holds what the hostile modes send instead of the clip.
type hostileProgram struct {
	giant []*rtp.Packet // one giant NAL unit, packetised
	churn [][]event     // per clip: the loop's events with a new SPS in front of every frame
}

func (p *program) addHostile(mode string, clips []*clip) error {
	h264f, ok := p.video.(*format.H264)
	if !ok {
		return fmt.Errorf("fakecam: hostile modes need H.264")
	}
	enc, err := h264f.CreateEncoder()
	if err != nil {
		return err
	}
	switch mode {
	case HostileGiant:
		nal := make([]byte, giantNALBytes)
		_, _ = rand.Read(nal)
		nal[0] = 0x41 // a non-IDR slice
		if p.hostile.giant, err = enc.Encode([][]byte{nal}); err != nil {
			return err
		}
	case HostileSPSChurn:
		for ci, c := range clips {
			l := p.clips[ci]
			evs := slices.Clone(l.events)
			vi := 0
			for i := range evs {
				if evs[i].audio {
					continue
				}
				s := c.video[vi]
				vi++
				sps := slices.Clone(c.sps)
				sps[3] = byte(30 + vi%20) // level_idc: a new SPS every frame
				au := [][]byte{sps, c.pps}
				for _, n := range s.au {
					if t := n[0] & 0x1f; t != 7 && t != 8 {
						au = append(au, n)
					}
				}
				if evs[i].pkts, err = enc.Encode(au); err != nil {
					return err
				}
			}
			p.hostile.churn = append(p.hostile.churn, evs)
		}
	}
	return nil
}

// hostileState is one camera's progress through its hostile mode.
type hostileState struct {
	mode        string
	start       time.Time
	frames      int
	silentUntil time.Time
}

// videoPackets returns what to send for one video event at now, and
// whether the camera then goes silent (stop-midframe).
func (h *hostileState) videoPackets(p *program, clipIndex int, evIndex int, ev *event, now time.Time) []*rtp.Packet {
	h.frames++
	switch h.mode {
	case HostileGarbage:
		if h.frames%3 != 0 {
			return ev.pkts
		}
		out := make([]*rtp.Packet, len(ev.pkts))
		for i, t := range ev.pkts {
			q := *t
			q.Payload = make([]byte, len(t.Payload))
			_, _ = rand.Read(q.Payload)
			out[i] = &q
		}
		return out
	case HostileGiant:
		if h.frames%50 == 25 && !ev.isKey() {
			return p.hostile.giant
		}
	case HostileSPSChurn:
		return p.hostile.churn[clipIndex][evIndex].pkts
	case HostileStopMidFrame:
		if now.Sub(h.start) >= hostileNormal && len(ev.pkts) >= 2 {
			h.start = now.Add(stopSilence)
			h.silentUntil = h.start
			return ev.pkts[:len(ev.pkts)/2]
		}
	}
	return ev.pkts
}

// tsOffset is the hostile shift of RTP timestamps at now, in 90 kHz ticks.
func (h *hostileState) tsOffset(now time.Time) int64 {
	if h.mode != HostileJump {
		return 0
	}
	switch int(now.Sub(h.start)/jumpPeriod) % 4 {
	case 1:
		return int64(time.Hour / time.Second * videoClock)
	case 3:
		return -int64(time.Hour / time.Second * videoClock)
	}
	return 0
}

// silent reports whether nothing is sent at now (stop-midframe).
func (h *hostileState) silent(now time.Time) bool {
	return now.Before(h.silentUntil)
}

// endlessFUA reports whether it is time for an endless FU-A burst; if so
// it sends one (blocking for its duration or until done) and returns true.
func (c *camera) endlessFUA(h *hostileState, seq *uint16, ts uint32, done <-chan struct{}) bool {
	now := time.Now()
	if h.mode != HostileEndlessFUA || now.Sub(h.start) < hostileNormal {
		return false
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := now.Add(fuaBurst)
	payload := make([]byte, fuaPayload)
	_, _ = rand.Read(payload)
	tmpl := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96}, Payload: payload}
	for n := 0; time.Now().Before(end); {
		select {
		case <-done:
			return true
		case <-tick.C:
		}
		pkts := make([]*rtp.Packet, fuaPerTick)
		for i := range pkts {
			q := *tmpl
			q.Payload = slices.Clone(payload)
			q.Payload[0] = 28 | 0x60 // FU-A, nri 3
			q.Payload[1] = 5         // IDR, no start, never an end
			if n%fuaPerStart == 0 {
				q.Payload[1] |= 0x80 // start
			}
			n++
			pkts[i] = &q
		}
		c.write(0, pkts, seq, ts, time.Now(), false)
	}
	h.start = time.Now()
	return true
}

func (e *event) isKey() bool {
	for _, p := range e.pkts {
		if len(p.Payload) == 0 {
			continue
		}
		switch t := p.Payload[0] & 0x1f; t {
		case 5, 7:
			return true
		case 24, 28: // STAP-A, FU-A
			if len(p.Payload) > 1 {
				if u := p.Payload[1] & 0x1f; u == 5 || u == 7 || t == 24 {
					return true
				}
			}
		}
	}
	return false
}
