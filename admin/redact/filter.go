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
// for the whole step (blur mode: the bounding box of its positions; keep
// mode: their intersection, so the kept area never grows beyond what was
// drawn). Step is 0.2 s; when a clip would need more than MaxBoxes boxes
// the step doubles until it fits, so the graph stays under MaxBoxes boxes
// (about 100 bytes each), under the 128 KiB limit of one command-line
// argument. (ffmpeg's drawbox cannot move by itself: its x/y/w/h are
// evaluated once, not per frame.)
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

// boxes turns the camera's tracks into timed boxes for the clip. Each
// track is cut into steps of time; a step's box covers the track's
// rectangle for the whole step (from its positions at the step's ends and
// at any keyframe inside it: the motion is piecewise linear, so those are
// the extremes); consecutive equal boxes merge, so a still rectangle is
// one box. If the camera would need more than MaxBoxes boxes the step is
// doubled until it fits. Before the first keyframe and after the last the
// rectangle is fixed: one box each, open-ended.
func (cam *Camera) boxes(p Picture) []box {
	for step := DefaultStep; ; step *= 2 {
		out := cam.boxesStep(p, step)
		if len(out) <= MaxBoxes || step > p.Duration {
			return out
		}
	}
}

func (cam *Camera) boxesStep(p Picture, step time.Duration) []box {
	clipFrom, clipTo := p.Start, p.Start.Add(p.Duration)
	sec := func(t time.Time) float64 { return p.StartPTS + t.Sub(p.Start).Seconds() }
	const slack = 0.001 // a frame exactly on a boundary is covered by both boxes
	var out []box
	add := func(b box, from, to float64) {
		if b.x1 <= b.x0 || b.y1 <= b.y0 {
			return // keep mode: an empty intersection keeps nothing
		}
		b.from, b.to = from, to
		if n := len(out); n > 0 && !math.IsNaN(b.from) {
			if l := &out[n-1]; l.x0 == b.x0 && l.y0 == b.y0 && l.x1 == b.x1 && l.y1 == b.y1 && !math.IsNaN(l.to) && l.to >= b.from {
				l.to = b.to
				return
			}
		}
		out = append(out, b)
	}
	for _, tr := range cam.Tracks {
		ks := tr.Keyframes
		if len(ks) == 0 {
			continue
		}
		first, last := ks[0], ks[len(ks)-1]
		if first.At.After(clipFrom) {
			add(pixels(first.Rect, first.Rect, cam.Mode, p), math.NaN(), sec(first.At)+slack)
		}
		lo, hi := maxTime(first.At, clipFrom), minTime(last.At, clipTo)
		for t := lo; t.Before(hi); t = t.Add(step) {
			u := minTime(t.Add(step), hi)
			a, b := tr.At(t), tr.At(u)
			bx := pixels(a, b, cam.Mode, p)
			for _, k := range ks {
				if k.At.After(t) && k.At.Before(u) {
					bx = cover(bx, pixels(k.Rect, k.Rect, cam.Mode, p), cam.Mode)
				}
			}
			add(bx, sec(t)-slack, sec(u)+slack)
		}
		if last.At.Before(clipTo) {
			add(pixels(last.Rect, last.Rect, cam.Mode, p), sec(last.At)-slack, math.NaN())
		}
	}
	return out
}

// cover combines two boxes: their bounding box (blur) or intersection (keep).
func cover(a, b box, mode string) box {
	if mode == ModeKeep {
		return box{x0: max(a.x0, b.x0), y0: max(a.y0, b.y0), x1: min(a.x1, b.x1), y1: min(a.y1, b.y1)}
	}
	return box{x0: min(a.x0, b.x0), y0: min(a.y0, b.y0), x1: max(a.x1, b.x1), y1: max(a.y1, b.y1)}
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
