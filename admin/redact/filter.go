package redact

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// How the picture is hidden. Pixelation to blocks of 1/16 of the picture's
// width (area average, then nearest-neighbour back up: 40 px blocks at
// 640 px, 120 px at 1920 px): a face at CCTV distance becomes one or two
// flat blocks, which no one recognises and no "deblurring" undoes (a
// Gaussian blur can be partly inverted; an average over a 40–120 px block
// cannot). The block grid is fixed to the frame.
const BlocksAcross = 16

// Filter graph bounds. A moving rectangle is drawn as a sequence of fixed
// boxes, each enabled for a short step of time and covering the rectangle
// for the whole step (blur mode: the union of its positions; keep mode:
// the intersection, so the kept area never grows beyond what was drawn).
// Step is 0.2 s; when a clip would need more than MaxBoxes boxes the step
// grows so that the graph stays under MaxBoxes boxes (about 100 bytes
// each), well under the 128 KiB limit of one command-line argument.
const (
	DefaultStep = 200 * time.Millisecond
	MaxBoxes    = 800
)

// Picture is what Filter needs to know about one clip.
type Picture struct {
	Width, Height int
	Start         time.Time     // wall-clock time of the clip's first frame
	StartPTS      float64       // the first frame's timestamp in the file, seconds (ffmpeg's t)
	Duration      time.Duration // of the clip
}

// box is a rectangle in pixels enabled in [from, to] seconds of the
// file's timeline (NaN: unbounded).
type box struct {
	x0, y0, x1, y1 int
	from, to       float64
}

// Filter is the ffmpeg filtergraph (for -filter_complex, input [0:v],
// output [v]) that redacts one clip of the camera. A nil camera is not
// redacted here (the caller leaves it out).
func Filter(cam *Camera, p Picture) (string, error) {
	if p.Width <= 0 || p.Height <= 0 {
		return "", fmt.Errorf("redact: picture size %dx%d", p.Width, p.Height)
	}
	boxes := cam.boxes(p)
	return graph(cam.Mode, boxes, p), nil
}

// FilterAt is the filtergraph for one still frame at wall-clock time at:
// the rectangles where they are at that moment, without timing (the
// preview).
func FilterAt(cam *Camera, at time.Time, p Picture) (string, error) {
	if p.Width <= 0 || p.Height <= 0 {
		return "", fmt.Errorf("redact: picture size %dx%d", p.Width, p.Height)
	}
	var bs []box
	for _, tr := range cam.Tracks {
		r := tr.At(at)
		b := pixels(r, r, cam.Mode, p)
		b.from, b.to = math.NaN(), math.NaN()
		if b.x1 > b.x0 && b.y1 > b.y0 {
			bs = append(bs, b)
		}
	}
	return graph(cam.Mode, bs, p), nil
}

// pixels is the box covering a and b (blur: their union's bounding box,
// rounded outward) or covered by both (keep: their intersection, rounded
// inward).
func pixels(a, b Rect, mode string, p Picture) box {
	W, H := float64(p.Width), float64(p.Height)
	if mode == ModeKeep {
		x0, y0 := math.Max(a.X, b.X), math.Max(a.Y, b.Y)
		x1, y1 := math.Min(a.X+a.W, b.X+b.W), math.Min(a.Y+a.H, b.Y+b.H)
		return box{x0: clamp(int(math.Ceil(x0*W-eps)), p.Width), y0: clamp(int(math.Ceil(y0*H-eps)), p.Height),
			x1: clamp(int(math.Floor(x1*W+eps)), p.Width), y1: clamp(int(math.Floor(y1*H+eps)), p.Height)}
	}
	x0, y0 := math.Min(a.X, b.X), math.Min(a.Y, b.Y)
	x1, y1 := math.Max(a.X+a.W, b.X+b.W), math.Max(a.Y+a.H, b.Y+b.H)
	return box{x0: clamp(int(math.Floor(x0*W+eps)), p.Width), y0: clamp(int(math.Floor(y0*H+eps)), p.Height),
		x1: clamp(int(math.Ceil(x1*W-eps)), p.Width), y1: clamp(int(math.Ceil(y1*H-eps)), p.Height)}
}

func clamp(v, max int) int {
	if v < 0 {
		return 0
	}
	if v > max {
		return max
	}
	return v
}

// boxes turns the camera's tracks into timed boxes for the clip: one box
// for each still stretch (before the first keyframe, after the last,
// between equal keyframes), and for each moving stretch one box per step.
func (cam *Camera) boxes(p Picture) []box {
	clipFrom := p.Start
	clipTo := p.Start.Add(p.Duration)
	sec := func(t time.Time) float64 { return p.StartPTS + t.Sub(p.Start).Seconds() }
	type span struct {
		a, b   Keyframe
		moving bool
	}
	var still, moving []span
	var movingDur time.Duration
	for _, tr := range cam.Tracks {
		ks := tr.Keyframes
		if len(ks) == 0 {
			continue
		}
		// Before the first and after the last keyframe: fixed, unbounded.
		still = append(still, span{a: Keyframe{At: time.Time{}, Rect: ks[0].Rect}, b: ks[0]})
		for i := 1; i < len(ks); i++ {
			a, b := ks[i-1], ks[i]
			if !b.At.After(clipFrom) || !a.At.Before(clipTo) {
				continue // not in this clip
			}
			if a.Rect == b.Rect {
				still = append(still, span{a: a, b: b})
				continue
			}
			moving = append(moving, span{a: a, b: b, moving: true})
			lo, hi := maxTime(a.At, clipFrom), minTime(b.At, clipTo)
			movingDur += hi.Sub(lo)
		}
		last := ks[len(ks)-1]
		still = append(still, span{a: last, b: Keyframe{At: time.Time{}, Rect: last.Rect}})
	}
	step := DefaultStep
	if budget := MaxBoxes - len(still); movingDur > 0 {
		if budget < 1 {
			budget = 1
		}
		if n := int64(movingDur/step) + int64(len(moving)); n > int64(budget) {
			step = movingDur/time.Duration(budget) + time.Millisecond
		}
	}
	const slack = 0.001 // a frame exactly on a boundary is covered by both boxes
	var out []box
	add := func(b box, from, to float64) {
		if b.x1 <= b.x0 || b.y1 <= b.y0 {
			return // keep mode: an empty intersection keeps nothing
		}
		b.from, b.to = from, to
		out = append(out, b)
	}
	for _, s := range still {
		from, to := math.NaN(), math.NaN()
		if !s.a.At.IsZero() {
			if !s.a.At.Before(clipTo) {
				continue
			}
			from = sec(s.a.At) - slack
		}
		if !s.b.At.IsZero() {
			if !s.b.At.After(clipFrom) {
				continue
			}
			to = sec(s.b.At) + slack
		}
		add(pixels(s.a.Rect, s.a.Rect, cam.Mode, p), from, to)
	}
	for _, s := range moving {
		tr := Track{Keyframes: []Keyframe{s.a, s.b}}
		lo, hi := maxTime(s.a.At, clipFrom), minTime(s.b.At, clipTo)
		for t := lo; t.Before(hi); t = t.Add(step) {
			u := minTime(t.Add(step), hi)
			add(pixels(tr.At(t), tr.At(u), cam.Mode, p), sec(t)-slack, sec(u)+slack)
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// graph writes the filtergraph: the picture pixelated whole, and a mask
// (white: pixelated) made of the boxes; the pixelated picture is laid over
// the original through the mask. Blur mode starts from a black mask and
// draws the boxes white; keep mode the reverse. The mask is thresholded to
// exactly 0 or 255 so no pixel is half hidden.
func graph(mode string, boxes []box, p Picture) string {
	W, H := p.Width, p.Height
	block := (W + BlocksAcross - 1) / BlocksAcross
	if block < 1 {
		block = 1
	}
	nx, ny := (W+block-1)/block, (H+block-1)/block
	pix := fmt.Sprintf("scale=%d:%d:flags=area,scale=%d:%d:flags=neighbor", nx, ny, W, H)
	if mode == ModeKeep && len(boxes) == 0 {
		return "[0:v]format=yuv420p," + pix + ",format=yuv420p[v]"
	}
	if mode == ModeBlur && len(boxes) == 0 {
		return "[0:v]format=yuv420p[v]"
	}
	base, draw := 0, "white"
	if mode == ModeKeep {
		base, draw = 255, "black"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[0:v]format=yuv420p,split=3[o][p][m];[p]%s[px];[m]format=gray,lut=c0=%d", pix, base)
	for _, x := range boxes {
		fmt.Fprintf(&b, ",drawbox=x=%d:y=%d:w=%d:h=%d:color=%s:t=fill", x.x0, x.y0, x.x1-x.x0, x.y1-x.y0, draw)
		switch {
		case math.IsNaN(x.from) && math.IsNaN(x.to):
		case math.IsNaN(x.from):
			fmt.Fprintf(&b, ":enable='lte(t,%.3f)'", x.to)
		case math.IsNaN(x.to):
			fmt.Fprintf(&b, ":enable='gte(t,%.3f)'", x.from)
		default:
			fmt.Fprintf(&b, ":enable='between(t,%.3f,%.3f)'", x.from, x.to)
		}
	}
	b.WriteString(",lut=c0='if(gt(val,127),255,0)'[mk];[px][mk]alphamerge[pa];[o][pa]overlay=format=yuv420,format=yuv420p[v]")
	return b.String()
}
