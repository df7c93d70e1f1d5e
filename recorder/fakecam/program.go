package fakecam

import (
	"bytes"
	"fmt"
	"math"
	"sort"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"github.com/pion/rtp"
)

// G.711 tone: 8 kHz mono, 20 ms per packet, a 440 Hz sine.
const (
	g711Rate      = 8000
	g711PerPacket = g711Rate / 50
	g711ToneHz    = 440
)

// program is what every camera sends, worked out once: for each clip, the RTP
// packets of one loop in send order. Cameras only stamp sequence numbers,
// timestamps and wall-clock times on copies of them.
type program struct {
	clips []*loop
	// the first clip's formats describe the stream; alternate clips only
	// change parameter sets in-band.
	video format.Format
	audio format.Format // nil: no audio

	hostile hostileProgram
}

// loop is one pass over a clip.
type loop struct {
	clip   *clip
	length int64 // 90 kHz
	events []event
}

// event is one access unit (or audio packet) to send.
type event struct {
	at    int64 // send time within the loop, 90 kHz (video DTS, audio PTS)
	pts90 int64 // presentation time within the loop, 90 kHz (for RTCP wall clock)
	ts    int64 // RTP timestamp within the loop, in the media's clock
	audio bool
	key   bool          // a video keyframe
	pkts  []*rtp.Packet // templates: payload and marker only
}

func newProgram(clips []*clip, audio string) (*program, error) {
	p := &program{}
	first := clips[0]
	switch first.codec {
	case "h264":
		p.video = &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: first.sps, PPS: first.pps}
	case "h265":
		p.video = &format.H265{PayloadTyp: 96, VPS: first.vps, SPS: first.sps, PPS: first.pps}
	}
	switch audio {
	case "aac":
		p.audio = &format.MPEG4Audio{
			PayloadTyp:       97,
			Config:           first.aacConf,
			SizeLength:       13,
			IndexLength:      3,
			IndexDeltaLength: 3,
		}
	case "g711":
		p.audio = &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: g711Rate, ChannelCount: 1}
	}
	for _, c := range clips {
		if c.codec != first.codec {
			return nil, fmt.Errorf("fakecam: clips %s and %s have different codecs", first.name, c.name)
		}
		if audio == "aac" && !sameAAC(c, first) {
			return nil, fmt.Errorf("fakecam: clips %s and %s have different AAC configurations", first.name, c.name)
		}
		l, err := p.newLoop(c)
		if err != nil {
			return nil, fmt.Errorf("fakecam: clip %s: %w", c.name, err)
		}
		p.clips = append(p.clips, l)
	}
	return p, nil
}

func sameAAC(a, b *clip) bool {
	ab, err1 := a.aacConf.Marshal()
	bb, err2 := b.aacConf.Marshal()
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}

// description builds a fresh session description (gortsplib keeps per-stream
// state in it, so streams must not share one).
func (p *program) description() *description.Session {
	d := &description.Session{
		Title: "Vahti fakecam",
		Medias: []*description.Media{{
			Type:    description.MediaTypeVideo,
			Formats: []format.Format{p.video},
		}},
	}
	if p.audio != nil {
		d.Medias = append(d.Medias, &description.Media{
			Type:    description.MediaTypeAudio,
			Formats: []format.Format{p.audio},
		})
	}
	return d
}

func (p *program) newLoop(c *clip) (*loop, error) {
	l := &loop{clip: c, length: c.length}
	switch v := p.video.(type) {
	case *format.H264:
		enc, err := v.CreateEncoder()
		if err != nil {
			return nil, err
		}
		for _, s := range c.video {
			pkts, err := enc.Encode(s.au)
			if err != nil {
				return nil, fmt.Errorf("packetise H.264: %w", err)
			}
			l.events = append(l.events, event{at: s.dts, pts90: s.pts, ts: s.pts, key: s.key, pkts: pkts})
		}
	case *format.H265:
		enc, err := v.CreateEncoder()
		if err != nil {
			return nil, err
		}
		for _, s := range c.video {
			pkts, err := enc.Encode(s.au)
			if err != nil {
				return nil, fmt.Errorf("packetise H.265: %w", err)
			}
			l.events = append(l.events, event{at: s.dts, pts90: s.pts, ts: s.pts, key: s.key, pkts: pkts})
		}
	}

	switch a := p.audio.(type) {
	case *format.MPEG4Audio:
		enc, err := a.CreateEncoder()
		if err != nil {
			return nil, err
		}
		rate := uint32(c.aacConf.SampleRate)
		for _, s := range c.audio {
			pkts, err := enc.Encode([][]byte{s.au})
			if err != nil {
				return nil, fmt.Errorf("packetise AAC: %w", err)
			}
			t90 := rescale(s.pts, rate, videoClock)
			l.events = append(l.events, event{at: t90, pts90: t90, ts: s.pts, audio: true, pkts: pkts})
		}
	case *format.G711:
		enc, err := a.CreateEncoder()
		if err != nil {
			return nil, err
		}
		samples := rescale(c.length, videoClock, g711Rate)
		for n := int64(0); n+g711PerPacket <= samples; n += g711PerPacket {
			pkts, err := enc.Encode(toneMulaw(n, g711PerPacket))
			if err != nil {
				return nil, fmt.Errorf("packetise G.711: %w", err)
			}
			t90 := rescale(n, g711Rate, videoClock)
			l.events = append(l.events, event{at: t90, pts90: t90, ts: n, audio: true, pkts: pkts})
		}
	}
	// Send in time order; video before audio at equal times.
	sort.SliceStable(l.events, func(i, j int) bool { return l.events[i].at < l.events[j].at })
	return l, nil
}

// toneMulaw encodes n samples of the test tone starting at sample index from.
func toneMulaw(from, n int64) []byte {
	lpcm := make(g711.Mulaw, 2*n)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*g711ToneHz*float64(from+i)/g711Rate))
		lpcm[2*i] = byte(uint16(v) >> 8)
		lpcm[2*i+1] = byte(uint16(v))
	}
	enc, _ := lpcm.Marshal() // cannot fail: even length
	return enc
}
