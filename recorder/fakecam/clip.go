package fakecam

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// The committed sample clips, made by scripts/make-clips.sh.
//
//go:embed clips/*.mp4
var embedded embed.FS

// videoClock is the RTP clock rate of H.264 and H.265.
const videoClock = 90000

// clip is a decoded fMP4 file: one video track and optionally one AAC track,
// with every timestamp relative to the clip start, in RTP clock units.
type clip struct {
	name   string
	codec  string // "h264" or "h265"
	vps    []byte // H.265 only
	sps    []byte
	pps    []byte
	width  int
	height int
	video  []videoSample
	// length is the loop period in 90 kHz units: the sum of the video sample
	// durations. Each loop shifts every timestamp by exactly this much, which
	// keeps them continuous.
	length int64

	aacConf *mpeg4audio.AudioSpecificConfig
	audio   []audioSample // in aacConf.SampleRate units
}

type videoSample struct {
	dts, pts int64
	key      bool
	au       [][]byte // SPS/PPS (and VPS) in front of every IDR
}

type audioSample struct {
	pts int64
	au  []byte
}

// duration is the loop period.
func (c *clip) duration() time.Duration {
	return time.Duration(c.length) * time.Second / videoClock
}

// loadEmbedded reads a committed clip by name ("h264", "h265-alt", …).
func loadEmbedded(name string) (*clip, error) {
	b, err := embedded.ReadFile("clips/" + name + ".mp4")
	if err != nil {
		return nil, fmt.Errorf("embedded clip %s: %w", name, err)
	}
	return parseClip(name, b)
}

// loadFile reads an fMP4 clip from disk (benchmarks bring their own).
func loadFile(path string) (*clip, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	return parseClip(path, b)
}

// parseClip decodes a fragmented MP4 with an H.264 or H.265 track and an
// optional AAC track.
func parseClip(name string, b []byte) (*clip, error) {
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("clip %s: not a fragmented MP4 (make it with scripts/make-clips.sh): %w", name, err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("clip %s: fragments: %w", name, err)
	}
	c := &clip{name: name}
	var vTrack, aTrack *fmp4.InitTrack
	for _, t := range init.Tracks {
		switch codec := t.Codec.(type) {
		case *mp4.CodecH264:
			if vTrack == nil {
				vTrack, c.codec, c.sps, c.pps = t, "h264", codec.SPS, codec.PPS
			}
		case *mp4.CodecH265:
			if vTrack == nil {
				vTrack, c.codec, c.vps, c.sps, c.pps = t, "h265", codec.VPS, codec.SPS, codec.PPS
			}
		case *mp4.CodecMPEG4Audio:
			if aTrack == nil {
				conf := codec.Config
				aTrack, c.aacConf = t, &conf
			}
		}
	}
	if vTrack == nil {
		return nil, fmt.Errorf("clip %s: no H.264 or H.265 track", name)
	}
	if err := c.readSize(); err != nil {
		return nil, fmt.Errorf("clip %s: %w", name, err)
	}

	// Collect samples of each track in decode order with absolute DTS.
	var vEnd uint64
	for _, p := range parts {
		for _, pt := range p.Tracks {
			switch {
			case pt.ID == vTrack.ID:
				dts := pt.BaseTime
				for _, s := range pt.Samples {
					if err := c.addVideo(s, dts, vTrack.TimeScale); err != nil {
						return nil, fmt.Errorf("clip %s: %w", name, err)
					}
					dts += uint64(s.Duration)
				}
				vEnd = dts
			case aTrack != nil && pt.ID == aTrack.ID:
				dts := pt.BaseTime
				for _, s := range pt.Samples {
					c.audio = append(c.audio, audioSample{
						pts: rescale(int64(dts), aTrack.TimeScale, uint32(c.aacConf.SampleRate)),
						au:  s.Payload,
					})
					dts += uint64(s.Duration)
				}
			}
		}
	}
	if len(c.video) == 0 || !c.video[0].key {
		return nil, fmt.Errorf("clip %s: video must start with a keyframe", name)
	}
	first := c.video[0].dts
	c.length = rescale(int64(vEnd), vTrack.TimeScale, videoClock) - first
	// Signed composition offsets (trun version 1) can put a B-frame's PTS
	// before its DTS; delay every PTS by the largest such gap so that
	// PTS >= DTS, as RTP receivers reconstructing DTS expect.
	var delay int64
	for i := range c.video {
		c.video[i].dts -= first
		c.video[i].pts -= first
		delay = max(delay, c.video[i].dts-c.video[i].pts)
	}
	for i := range c.video {
		c.video[i].pts += delay
	}
	if aTrack != nil {
		// Audio must not run past the loop end, or the next loop's first
		// packets would go back in time: drop what sticks out (a gap of
		// under one AAC frame at the loop boundary is what remains).
		limit := rescale(c.length, videoClock, uint32(c.aacConf.SampleRate))
		aFirst := rescale(first, videoClock, uint32(c.aacConf.SampleRate))
		kept := c.audio[:0]
		for _, s := range c.audio {
			s.pts -= aFirst
			if s.pts >= 0 && s.pts+mpeg4audio.SamplesPerAccessUnit <= limit {
				kept = append(kept, s)
			}
		}
		c.audio = kept
	}
	return c, nil
}

func (c *clip) addVideo(s *fmp4.Sample, dts uint64, timeScale uint32) error {
	var au [][]byte
	var err error
	if c.codec == "h264" {
		au, err = s.GetH264()
	} else {
		au, err = s.GetH265()
	}
	if err != nil {
		return fmt.Errorf("sample at %d: %w", dts, err)
	}
	// The sync flag is not trusted: ffmpeg puts it in trun's first-sample
	// flags, which the fmp4 reader does not report. Look at the NAL units.
	var key bool
	if c.codec == "h264" {
		key = h264.IsRandomAccess(au)
	} else {
		key = h265.IsRandomAccess(au)
	}
	au = c.withParams(au, key)
	if len(au) == 0 {
		return nil
	}
	c.video = append(c.video, videoSample{
		dts: rescale(int64(dts), timeScale, videoClock),
		pts: rescale(int64(dts)+int64(s.PTSOffset), timeScale, videoClock),
		key: key,
		au:  au,
	})
	return nil
}

// withParams drops parameter sets and access unit delimiters from an access
// unit and, on a keyframe, puts the clip's parameter sets in front: cameras
// repeat them in-band before every IDR, and recorders that join mid-stream
// rely on that.
func (c *clip) withParams(au [][]byte, key bool) [][]byte {
	out := make([][]byte, 0, len(au)+3)
	if key {
		if c.codec == "h265" {
			out = append(out, c.vps)
		}
		out = append(out, c.sps, c.pps)
	}
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if c.codec == "h264" {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS, h264.NALUTypePPS, h264.NALUTypeAccessUnitDelimiter:
				continue
			}
		} else {
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_VPS_NUT, h265.NALUType_SPS_NUT, h265.NALUType_PPS_NUT, h265.NALUType_AUD_NUT:
				continue
			}
		}
		out = append(out, n)
	}
	return out
}

func (c *clip) readSize() error {
	if c.codec == "h264" {
		var sps h264.SPS
		if err := sps.Unmarshal(c.sps); err != nil {
			return fmt.Errorf("SPS: %w", err)
		}
		c.width, c.height = sps.Width(), sps.Height()
		return nil
	}
	var sps h265.SPS
	if err := sps.Unmarshal(c.sps); err != nil {
		return fmt.Errorf("SPS: %w", err)
	}
	c.width, c.height = sps.Width(), sps.Height()
	return nil
}

// trim keeps only the first d of the clip, cut at a keyframe so the next loop
// starts cleanly (tests use this to see a loop boundary within a second).
func (c *clip) trim(d time.Duration) {
	want := int64(d * videoClock / time.Second)
	if want <= 0 || want >= c.length {
		return
	}
	for i, s := range c.video {
		if i > 0 && s.key && s.dts >= want {
			cut := c.video[i].dts
			c.video = c.video[:i]
			c.length = cut
			break
		}
	}
	if c.aacConf != nil {
		limit := rescale(c.length, videoClock, uint32(c.aacConf.SampleRate))
		kept := c.audio[:0]
		for _, s := range c.audio {
			if s.pts+mpeg4audio.SamplesPerAccessUnit <= limit {
				kept = append(kept, s)
			}
		}
		c.audio = kept
	}
}

func rescale(v int64, from, to uint32) int64 {
	return v * int64(to) / int64(from)
}
