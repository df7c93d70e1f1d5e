package redact

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

var testScope = Scope{Cameras: []string{"yard", "lobby"}, From: testBase, To: testBase.Add(time.Minute)}

func kf(at string, x, y, w, h float64) string {
	return fmt.Sprintf(`{"at": %q, "x": %v, "y": %v, "w": %v, "h": %v}`, at, x, y, w, h)
}

func doc(mode string, kfs ...string) string {
	return `{"cameras": {"yard": {"mode": "` + mode + `", "tracks": [{"keyframes": [` + strings.Join(kfs, ",") + `]}]}}}`
}

// TestParseRejects: every bad file is refused with an error naming the
// offending field.
func TestParseRejects(t *testing.T) {
	ok := kf("2026-11-22T12:00:05Z", 0, 0, 0.5, 0.5)
	many := func(n int) string {
		var ks []string
		for i := 0; i < n; i++ {
			ks = append(ks, kf(testBase.Add(time.Duration(i)*100*time.Millisecond).Format(time.RFC3339Nano), 0, 0, 0.1, 0.1))
		}
		return doc("blur", ks...)
	}
	tracks := func(n int) string {
		var ts []string
		for i := 0; i < n; i++ {
			ts = append(ts, `{"keyframes": [`+ok+`]}`)
		}
		return `{"cameras": {"yard": {"mode": "keep", "tracks": [` + strings.Join(ts, ",") + `]}}}`
	}
	cases := []struct {
		name, doc, field, msg string
	}{
		{"not json", `{"cameras":`, "", "not valid JSON"},
		{"trailing", doc("blur", ok) + `{}`, "", "unexpected data"},
		{"unknown top field", `{"cameras": {}, "extra": 1}`, "extra", "unknown field"},
		{"unknown camera field", `{"cameras": {"yard": {"mode": "blur", "tracks": [], "colour": "red"}}}`, "colour", "unknown field"},
		{"unknown keyframe field", doc("blur", `{"at": "2026-11-22T12:00:05Z", "x": 0, "y": 0, "w": 0.5, "h": 0.5, "z": 1}`), "z", "unknown field"},
		{"no cameras", `{}`, "cameras", "missing"},
		{"empty cameras", `{"cameras": {}}`, "cameras", "empty"},
		{"unknown camera", `{"cameras": {"garage": {"mode": "keep", "tracks": []}}}`, "cameras.garage", "not one of the request's cameras"},
		{"no mode", `{"cameras": {"yard": {"tracks": []}}}`, "cameras.yard.mode", "missing"},
		{"bad mode", `{"cameras": {"yard": {"mode": "smudge", "tracks": []}}}`, "cameras.yard.mode", "neither blur nor keep"},
		{"blur without tracks", `{"cameras": {"yard": {"mode": "blur", "tracks": []}}}`, "cameras.yard.tracks", "at least one track"},
		{"track without keyframes", `{"cameras": {"yard": {"mode": "blur", "tracks": [{"keyframes": []}]}}}`, "cameras.yard.tracks[0].keyframes", "at least one keyframe"},
		{"x below 0", doc("blur", kf("2026-11-22T12:00:05Z", -0.1, 0, 0.5, 0.5)), "cameras.yard.tracks[0].keyframes[0].x", "outside 0–1"},
		{"y above 1", doc("blur", kf("2026-11-22T12:00:05Z", 0, 1.5, 0.5, 0.5)), "cameras.yard.tracks[0].keyframes[0].y", "outside 0–1"},
		{"w zero", doc("blur", kf("2026-11-22T12:00:05Z", 0, 0, 0, 0.5)), "cameras.yard.tracks[0].keyframes[0].w", "more than 0"},
		{"h negative", doc("blur", kf("2026-11-22T12:00:05Z", 0, 0, 0.5, -0.2)), "cameras.yard.tracks[0].keyframes[0].h", "outside 0–1"},
		{"past right edge", doc("blur", kf("2026-11-22T12:00:05Z", 0.6, 0, 0.5, 0.5)), "cameras.yard.tracks[0].keyframes[0].w", "right edge"},
		{"past bottom edge", doc("blur", kf("2026-11-22T12:00:05Z", 0, 0.7, 0.5, 0.5)), "cameras.yard.tracks[0].keyframes[0].h", "bottom edge"},
		{"missing x", doc("blur", `{"at": "2026-11-22T12:00:05Z", "y": 0, "w": 0.5, "h": 0.5}`), "cameras.yard.tracks[0].keyframes[0].x", "missing"},
		{"missing at", doc("blur", `{"x": 0, "y": 0, "w": 0.5, "h": 0.5}`), "cameras.yard.tracks[0].keyframes[0].at", "missing"},
		{"bad at", doc("blur", kf("22.11.2026 12:00", 0, 0, 0.5, 0.5)), "cameras.yard.tracks[0].keyframes[0].at", "RFC 3339"},
		{"x a string", doc("blur", `{"at": "2026-11-22T12:00:05Z", "x": "0", "y": 0, "w": 0.5, "h": 0.5}`), "cameras.tracks.keyframes.x", "expected"},
		{"before range", doc("blur", kf("2026-11-22T11:59:59Z", 0, 0, 0.5, 0.5)), "cameras.yard.tracks[0].keyframes[0].at", "outside the request's range"},
		{"after range", doc("blur", kf("2026-11-22T12:01:01Z", 0, 0, 0.5, 0.5)), "cameras.yard.tracks[0].keyframes[0].at", "outside the request's range"},
		{"not ascending", doc("blur", kf("2026-11-22T12:00:10Z", 0, 0, 0.5, 0.5), kf("2026-11-22T12:00:05Z", 0, 0, 0.5, 0.5)), "cameras.yard.tracks[0].keyframes[1].at", "ascending"},
		{"same time twice", doc("blur", ok, ok), "cameras.yard.tracks[0].keyframes[1].at", "ascending"},
		{"too many keyframes", many(MaxKeyframes + 1), "cameras.yard.tracks[0].keyframes", "at most"},
		{"too many tracks", tracks(MaxTracks + 1), "cameras.yard.tracks", "at most"},
		{"too large", `{"cameras": {"yard": {"mode": "keep", "tracks": []}}}` + strings.Repeat(" ", MaxBytes), "", "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), testScope)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FieldError", err)
			}
			if fe.Field != c.field || !strings.Contains(fe.Msg, c.msg) {
				t.Fatalf("err = field %q msg %q, want field %q msg containing %q", fe.Field, fe.Msg, c.field, c.msg)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	r, err := Parse([]byte(`{"cameras": {"yard": {"mode": "blur",
	  "tracks": [{"keyframes": [{"at": "2026-11-22T14:00:05+02:00", "x": 0.0, "y": 0.0, "w": 0.5, "h": 0.5},
	                            {"at": "2026-11-22T12:00:20Z", "x": 0.5, "y": 0.5, "w": 0.5, "h": 0.5}]}]}}}`), testScope)
	if err != nil {
		t.Fatal(err)
	}
	y := r.Cameras["yard"]
	if y.Mode != ModeBlur || len(y.Tracks) != 1 || !y.Tracks[0].Keyframes[0].At.Equal(testBase.Add(5*time.Second)) ||
		y.Tracks[0].Keyframes[0].At.Location() != time.UTC {
		t.Fatalf("parsed %+v", y)
	}
	if r.Mode() != ModeBlur || r.For("lobby") != nil {
		t.Fatalf("blur mode: an unlisted camera is left out; got mode %s, lobby %+v", r.Mode(), r.For("lobby"))
	}
	k, err := Parse([]byte(`{"cameras": {"yard": {"mode": "keep", "tracks": []}}}`), testScope)
	if err != nil {
		t.Fatal(err)
	}
	if c := k.For("lobby"); k.Mode() != ModeKeep || c == nil || c.Mode != ModeKeep || len(c.Tracks) != 0 {
		t.Fatalf("keep mode: an unlisted camera is blurred whole; got %+v", c)
	}
}

func TestInterpolation(t *testing.T) {
	tr := Track{Keyframes: []Keyframe{
		{At: testBase.Add(10 * time.Second), Rect: Rect{X: 0, Y: 0, W: 0.2, H: 0.2}},
		{At: testBase.Add(20 * time.Second), Rect: Rect{X: 0.8, Y: 0.4, W: 0.2, H: 0.6}},
		{At: testBase.Add(30 * time.Second), Rect: Rect{X: 0.8, Y: 0.4, W: 0.2, H: 0.6}},
	}}
	cases := []struct {
		at   time.Duration
		want Rect
	}{
		{0, Rect{0, 0, 0.2, 0.2}},                    // fixed before the first
		{10 * time.Second, Rect{0, 0, 0.2, 0.2}},     // at the first
		{15 * time.Second, Rect{0.4, 0.2, 0.2, 0.4}}, // halfway
		{17500 * time.Millisecond, Rect{0.6, 0.3, 0.2, 0.5}},
		{25 * time.Second, Rect{0.8, 0.4, 0.2, 0.6}}, // still between equal keyframes
		{time.Hour, Rect{0.8, 0.4, 0.2, 0.6}},        // fixed after the last
	}
	for _, c := range cases {
		got := tr.At(testBase.Add(c.at))
		if math.Abs(got.X-c.want.X)+math.Abs(got.Y-c.want.Y)+math.Abs(got.W-c.want.W)+math.Abs(got.H-c.want.H) > 1e-9 {
			t.Errorf("at +%s: %+v, want %+v", c.at, got, c.want)
		}
	}
}

// TestMovingBoxesCover checks the boxes of a moving rectangle against its
// exact position at every frame of the clip: in blur mode the boxes
// enabled at a frame cover the whole rectangle (nothing it should hide
// shows), in keep mode every enabled box lies inside it (nothing outside
// it is kept), and the kept area is most of the rectangle.
func TestMovingBoxesCover(t *testing.T) {
	tr := Track{Keyframes: []Keyframe{
		{At: testBase.Add(1 * time.Second), Rect: Rect{X: 0, Y: 0, W: 0.25, H: 0.25}},
		{At: testBase.Add(5 * time.Second), Rect: Rect{X: 0.7, Y: 0.6, W: 0.3, H: 0.4}},
	}}
	p := Picture{Width: 640, Height: 480, Start: testBase, StartPTS: 0.04, Duration: 6 * time.Second}
	for _, mode := range []string{ModeBlur, ModeKeep} {
		cam := &Camera{Mode: mode, Tracks: []Track{tr}}
		boxes := cam.boxes(p)
		if len(boxes) < 20 || len(boxes) > MaxBoxes {
			t.Fatalf("%s: %d boxes", mode, len(boxes))
		}
		for f := 0; f < 150; f++ {
			ft := p.StartPTS + float64(f)/25
			r := tr.At(testBase.Add(time.Duration(float64(f) / 25 * float64(time.Second))))
			x0, y0 := r.X*640, r.Y*480
			x1, y1 := (r.X+r.W)*640, (r.Y+r.H)*480
			var on []box
			for _, b := range boxes {
				if (math.IsNaN(b.from) || ft >= b.from) && (math.IsNaN(b.to) || ft <= b.to) {
					on = append(on, b)
				}
			}
			if len(on) == 0 {
				t.Fatalf("%s: frame %d: no box enabled", mode, f)
			}
			if mode == ModeBlur {
				// The union's bounding box may be larger; each corner of the
				// rectangle must lie in some enabled box.
				covered := func(x, y float64) bool {
					for _, b := range on {
						if float64(b.x0) <= x && x <= float64(b.x1) && float64(b.y0) <= y && y <= float64(b.y1) {
							return true
						}
					}
					return false
				}
				for _, c := range [][2]float64{{x0, y0}, {x1, y0}, {x0, y1}, {x1, y1}, {(x0 + x1) / 2, (y0 + y1) / 2}} {
					if !covered(c[0], c[1]) {
						t.Fatalf("blur: frame %d: point %v of the rectangle %v–%v is not hidden", f, c, [2]float64{x0, y0}, [2]float64{x1, y1})
					}
				}
				continue
			}
			kept := 0
			for _, b := range on {
				if float64(b.x0) < x0-1e-6 || float64(b.y0) < y0-1e-6 || float64(b.x1) > x1+1e-6 || float64(b.y1) > y1+1e-6 {
					t.Fatalf("keep: frame %d: kept box %+v reaches outside the rectangle %v–%v", f, b, [2]float64{x0, y0}, [2]float64{x1, y1})
				}
				kept = max(kept, (b.x1-b.x0)*(b.y1-b.y0))
			}
			if area := (x1 - x0) * (y1 - y0); float64(kept) < 0.6*area {
				t.Errorf("keep: frame %d: kept %d px of a %.0f px rectangle", f, kept, area)
			}
		}
	}
}

// TestGraphBounded: a camera with the most tracks and keyframes a file may
// have, all moving, still gives a graph within MaxBoxes boxes and one
// command-line argument.
func TestGraphBounded(t *testing.T) {
	cam := &Camera{Mode: ModeBlur}
	for i := 0; i < MaxTracks; i++ {
		var tr Track
		for k := 0; k < MaxKeyframes; k++ {
			x := float64(k%2) * 0.5
			tr.Keyframes = append(tr.Keyframes, Keyframe{At: testBase.Add(time.Duration(k) * 250 * time.Millisecond), Rect: Rect{X: x, Y: 0.1, W: 0.3, H: 0.3}})
		}
		cam.Tracks = append(cam.Tracks, tr)
	}
	p := Picture{Width: 1920, Height: 1080, Start: testBase, Duration: time.Minute}
	g, err := Filter(cam, p)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(g, "drawbox"); n > MaxBoxes || n < MaxTracks {
		t.Errorf("%d boxes", n)
	}
	if len(g) > 110<<10 {
		t.Errorf("graph is %d bytes", len(g))
	}
}

// TestStrength: the pixelation's blocks are at least 1/16 of the width.
func TestStrength(t *testing.T) {
	for _, w := range []int{320, 640, 1280, 1920, 2560} {
		g, _ := Filter(&Camera{Mode: ModeKeep}, Picture{Width: w, Height: w * 9 / 16, Start: testBase, Duration: time.Second})
		var nx, ny, W, H int
		if _, err := fmt.Sscanf(g, "[0:v]format=yuv420p,scale=%d:%d:flags=area,scale=%d:%d:flags=neighbor", &nx, &ny, &W, &H); err != nil {
			t.Fatalf("%d: %v in %s", w, err, g)
		}
		if nx > BlocksAcross || W != w || float64(W)/float64(nx) < float64(w)/16 {
			t.Errorf("width %d: %d blocks across", w, nx)
		}
	}
}
