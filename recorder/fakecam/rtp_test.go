package fakecam

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"
)

// received is what a plain RTSP client saw of one camera.
type received struct {
	mu     sync.Mutex
	video  []*rtp.Packet
	audio  []*rtp.Packet
	vForm  format.Format
	aForm  format.Format
	vMedia *description.Media
}

// watch plays url over TCP for d with gortsplib's client, keeping every packet.
func watch(t *testing.T, url string, d time.Duration) *received {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.TransportTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := c.Start2(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	r := &received{}
	for _, m := range desc.Medias {
		if m.Type == description.MediaTypeVideo {
			r.vForm, r.vMedia = m.Formats[0], m
		} else {
			r.aForm = m.Formats[0]
		}
	}
	c.OnPacketRTPAny(func(m *description.Media, _ format.Format, p *rtp.Packet) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if m.Type == description.MediaTypeVideo {
			r.video = append(r.video, p)
		} else {
			r.audio = append(r.audio, p)
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	c.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r
}

// accessUnits groups video packets into access units by the marker bit and
// checks that sequence numbers have no holes and that every packet of an
// access unit has its timestamp.
func accessUnits(t *testing.T, pkts []*rtp.Packet) (aus [][]*rtp.Packet) {
	t.Helper()
	var cur []*rtp.Packet
	for i, p := range pkts {
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		if len(cur) > 0 && p.Timestamp != cur[0].Timestamp {
			t.Fatalf("packet %d: timestamp changed inside an access unit (marker bit missing)", i)
		}
		cur = append(cur, p)
		if p.Marker {
			aus = append(aus, cur)
			cur = nil
		}
	}
	return aus
}

// TestRTPAcrossLoops plays a camera whose clip loops every second and checks,
// without ffmpeg, what a recorder depends on: timestamps that keep going
// across loops at the right rate, marker bits, and SPS/PPS before every IDR.
func TestRTPAcrossLoops(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		audio string
	}{
		{"h264+aac", Config{Codec: "h264", Audio: "aac"}, "aac"},
		{"h265+g711", Config{Codec: "h265", Audio: "g711"}, "g711"},
		{"h264 b-frames", Config{Codec: "h264", BFrames: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.Listen, cfg.Cameras, cfg.Loop = "127.0.0.1:0", []string{"cam"}, time.Second
			srv, err := Start(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			r := watch(t, srv.URL("cam"), 2600*time.Millisecond)

			aus := accessUnits(t, r.video)
			if len(aus) < 50 {
				t.Fatalf("%d access units in 2.6 s, want about 65 (25 fps)", len(aus))
			}
			var pts []int64
			var keys []int
			for i, au := range aus {
				// Unwrap relative to the first: the start is random.
				pts = append(pts, int64(int32(au[0].Timestamp-aus[0][0].Timestamp)))
				nalus := decodeAU(t, r.vForm, au)
				if isKey(r.vForm, nalus) {
					keys = append(keys, i)
					if !startsWithParams(codecOf(r.vForm), nalus) {
						t.Fatalf("access unit %d: IDR without in-band parameter sets", i)
					}
				}
			}
			if len(keys) < 2 {
				t.Fatalf("keyframes at %v, want one per second", keys)
			}
			for i := 1; i < len(keys); i++ {
				if keys[i]-keys[i-1] != 25 {
					t.Fatalf("keyframes at access units %v, want every 25 (each loop starts with one)", keys)
				}
			}
			// 2.6 s with 1 s loops crosses at least one boundary; the
			// presentation times must be exactly 25 fps throughout. With
			// B-frames, look at whole closed GOPs (each ends where the next
			// IDR, the first picture shown of its GOP, begins) in display order.
			window := pts
			if tc.cfg.BFrames {
				window = slices.Clone(pts[keys[0] : keys[len(keys)-1]+1])
				slices.Sort(window)
			}
			for i := 1; i < len(window); i++ {
				if d := window[i] - window[i-1]; d != 3600 {
					t.Fatalf("presentation times %d and %d differ by %d, want 3600 (continuous across loops)", window[i-1], window[i], d)
				}
			}

			switch tc.audio {
			case "aac":
				checkAudio(t, r.audio, 16000, 1024, 1024+1024)
			case "g711":
				checkAudio(t, r.audio, 8000, 160, 160)
			}
			if tc.audio != "" {
				// Audio and video advance together (no drift across loops).
				va := float64(pts[len(pts)-1]-pts[0]) / 90000
				rate := 16000.0
				if tc.audio == "g711" {
					rate = 8000
				}
				aa := float64(int32(r.audio[len(r.audio)-1].Timestamp-r.audio[0].Timestamp)) / rate
				if d := va - aa; d > 0.3 || d < -0.3 {
					t.Fatalf("video covered %.2fs but audio %.2fs", va, aa)
				}
			}
		})
	}
}

// checkAudio wants consecutive audio packets step samples apart, or at most
// maxStep at a loop boundary (AAC frames do not divide the loop exactly).
func checkAudio(t *testing.T, pkts []*rtp.Packet, rate, step, maxStep int64) {
	t.Helper()
	if int64(len(pkts)) < 2*rate/step {
		t.Fatalf("%d audio packets, want at least %d", len(pkts), 2*rate/step)
	}
	for i := 1; i < len(pkts); i++ {
		d := int64(int32(pkts[i].Timestamp - pkts[i-1].Timestamp))
		if d < step || d > maxStep {
			t.Fatalf("audio packet %d: timestamp step %d, want %d..%d", i, d, step, maxStep)
		}
		if pkts[i].SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("audio packet %d: sequence gap", i)
		}
	}
}

func codecOf(f format.Format) string {
	if _, ok := f.(*format.H265); ok {
		return "h265"
	}
	return "h264"
}

func decodeAU(t *testing.T, f format.Format, au []*rtp.Packet) [][]byte {
	t.Helper()
	var nalus [][]byte
	var err error
	switch f := f.(type) {
	case *format.H264:
		d, _ := f.CreateDecoder()
		for _, p := range au {
			nalus, err = d.Decode(p)
		}
		if err == rtph264.ErrMorePacketsNeeded {
			t.Fatal("access unit incomplete at the marker bit")
		}
	case *format.H265:
		d, _ := f.CreateDecoder()
		for _, p := range au {
			nalus, err = d.Decode(p)
		}
		if err == rtph265.ErrMorePacketsNeeded {
			t.Fatal("access unit incomplete at the marker bit")
		}
	}
	if err != nil {
		t.Fatalf("depacketise: %v", err)
	}
	return nalus
}

func isKey(f format.Format, au [][]byte) bool {
	if codecOf(f) == "h265" {
		return h265.IsRandomAccess(au)
	}
	return h264.IsRandomAccess(au)
}
