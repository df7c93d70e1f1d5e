package fakecam

import (
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// The committed clips are what every demo and recorder test streams: check
// they are what make-clips.sh promises.
func TestEmbeddedClips(t *testing.T) {
	for _, tc := range []struct {
		name          string
		codec         string
		width, height int
	}{
		{"h264", "h264", 320, 240},
		{"h264-bframes", "h264", 320, 240},
		{"h264-alt", "h264", 352, 288},
		{"h265", "h265", 320, 240},
		{"h265-alt", "h265", 352, 288},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadEmbedded(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if c.codec != tc.codec || c.width != tc.width || c.height != tc.height {
				t.Fatalf("got %s %dx%d, want %s %dx%d", c.codec, c.width, c.height, tc.codec, tc.width, tc.height)
			}
			if c.duration() != 4*time.Second || len(c.video) != 100 {
				t.Fatalf("got %v and %d frames, want 4s and 100 frames at 25 fps", c.duration(), len(c.video))
			}
			reordered := false
			for i, s := range c.video {
				if s.dts != int64(i)*3600 {
					t.Fatalf("frame %d: DTS %d, want %d (constant 25 fps)", i, s.dts, i*3600)
				}
				if s.pts < s.dts {
					t.Fatalf("frame %d: PTS %d before DTS %d", i, s.pts, s.dts)
				}
				if i > 0 && s.pts < c.video[i-1].pts {
					reordered = true
				}
				// Keyframe every second, each with its parameter sets in front.
				if s.key != (i%25 == 0) {
					t.Fatalf("frame %d: keyframe=%v, want a keyframe exactly every 25 frames", i, s.key)
				}
				if s.key && !startsWithParams(c.codec, s.au) {
					t.Fatalf("frame %d: IDR without in-band parameter sets", i)
				}
				if !s.key && startsWithParams(c.codec, s.au) {
					t.Fatalf("frame %d: parameter sets on a non-IDR frame", i)
				}
			}
			if reordered != (tc.name == "h264-bframes") {
				t.Fatalf("B-frame reordering=%v, want it only in h264-bframes", reordered)
			}
			if c.aacConf == nil || c.aacConf.SampleRate != 16000 || c.aacConf.ChannelCount != 1 {
				t.Fatalf("AAC track: %+v, want mono 16 kHz", c.aacConf)
			}
			// 4 s of 1024-sample frames at 16 kHz, minus the one cut at the loop end.
			if n := len(c.audio); n < 60 || n > 63 {
				t.Fatalf("%d AAC frames, want about 62", n)
			}
			last := c.audio[len(c.audio)-1]
			if last.pts+1024 > 64000 {
				t.Fatalf("last AAC frame ends at %d, after the loop end 64000", last.pts+1024)
			}
		})
	}
}

func startsWithParams(codec string, au [][]byte) bool {
	if codec == "h264" {
		return len(au) >= 3 && h264.NALUType(au[0][0]&0x1f) == h264.NALUTypeSPS &&
			h264.NALUType(au[1][0]&0x1f) == h264.NALUTypePPS
	}
	return len(au) >= 4 && h265.NALUType((au[0][0]>>1)&0x3f) == h265.NALUType_VPS_NUT &&
		h265.NALUType((au[1][0]>>1)&0x3f) == h265.NALUType_SPS_NUT &&
		h265.NALUType((au[2][0]>>1)&0x3f) == h265.NALUType_PPS_NUT
}

func TestTrimCutsAtKeyframe(t *testing.T) {
	c, err := loadEmbedded("h264")
	if err != nil {
		t.Fatal(err)
	}
	c.trim(1500 * time.Millisecond)
	if c.duration() != 2*time.Second || len(c.video) != 50 {
		t.Fatalf("trim 1.5s: got %v, %d frames; want 2s (next keyframe), 50 frames", c.duration(), len(c.video))
	}
	for _, a := range c.audio {
		if a.pts+1024 > 32000 {
			t.Fatalf("AAC frame at %d runs past the 2 s loop", a.pts)
		}
	}
	c.trim(10 * time.Second) // longer than the clip: unchanged
	if c.duration() != 2*time.Second {
		t.Fatalf("trim beyond the end changed the clip to %v", c.duration())
	}
}

func TestParseClipRejectsGarbage(t *testing.T) {
	if _, err := parseClip("x", []byte("not an mp4 at all")); err == nil {
		t.Fatal("garbage parsed as a clip")
	}
	if _, err := loadFile("/nonexistent/clip.mp4"); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"bad codec", Config{Listen: "127.0.0.1:0", Codec: "vp8"}},
		{"bad audio", Config{Listen: "127.0.0.1:0", Audio: "opus"}},
		{"duplicate camera", Config{Listen: "127.0.0.1:0", Cameras: []string{"a", "a"}}},
		{"bad camera name", Config{Listen: "127.0.0.1:0", Cameras: []string{"a/b"}}},
		{"password without user", Config{Listen: "127.0.0.1:0", Pass: "x"}},
		{"bframes with h265", Config{Listen: "127.0.0.1:0", Codec: "h265", BFrames: true}},
		{"clip and alternate", Config{Listen: "127.0.0.1:0", Clip: "x.mp4", Alternate: true}},
		{"bad listen", Config{Listen: "nonsense"}},
		{"missing clip file", Config{Listen: "127.0.0.1:0", Clip: "/nonexistent.mp4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Start accepted an invalid config")
			}
		})
	}
}
