// Package redact holds redaction regions (which parts of which camera's
// picture to hide, and when) and the ffmpeg filter that hides them in a
// re-encoded copy of an export's clips. It is the one place Vahti decodes
// video; the recorded segments are only read.
package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Modes of a camera's regions.
const (
	ModeBlur = "blur" // blur inside the tracks' rectangles
	ModeKeep = "keep" // blur everything outside them
)

// Caps on one regions file: they bound the filter graph (see Filter) and
// the work a hostile file can ask for.
const (
	MaxBytes     = 512 << 10 // the JSON document (the API takes 1 MiB bodies)
	MaxCameras   = 64
	MaxTracks    = 16  // per camera
	MaxKeyframes = 240 // per track
)

// Regions is a regions file (see ../../README.md, "Redaction"): per
// camera a mode and tracks of keyframed rectangles.
type Regions struct {
	Cameras map[string]*Camera `json:"cameras"`
}

// Camera is one camera's redaction.
type Camera struct {
	Mode   string  `json:"mode"`
	Tracks []Track `json:"tracks"`
}

// Track is one rectangle moving through its keyframes.
type Track struct {
	Keyframes []Keyframe `json:"keyframes"`
}

// Keyframe is where a track's rectangle is at one moment; coordinates are
// fractions of the picture (0–1, origin top left).
type Keyframe struct {
	At time.Time `json:"at"`
	Rect
}

// Rect is a rectangle in fractions of the picture.
type Rect struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// FieldError is a bad regions file: Field names the offending value as a
// path ("cameras.yard.tracks[0].keyframes[1].x").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// NewFieldError is a FieldError for a value beside the regions (the
// preview's camera and moments).
func NewFieldError(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Scope is what a regions file is checked against: the request's cameras
// and its time range.
type Scope struct {
	Cameras  []string
	From, To time.Time
}

// Parse reads a regions file strictly (unknown fields, missing values,
// trailing data are errors) and validates it against scope.
func Parse(data []byte, scope Scope) (*Regions, error) {
	if len(data) > MaxBytes {
		return nil, fieldErr("", "the file is larger than %d bytes", MaxBytes)
	}
	var raw rawRegions
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, jsonErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fieldErr("", "unexpected data after the JSON object")
	}
	return raw.check(scope)
}

// FromJSON validates an already decoded regions object (the API's
// "redact" member) the same way as Parse.
func FromJSON(msg json.RawMessage, scope Scope) (*Regions, error) {
	return Parse(msg, scope)
}

func jsonErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fieldErr(te.Field, "expected %s, got JSON %s", te.Type, te.Value)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return fieldErr(strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`), "unknown field")
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return fieldErr("at", "not an RFC 3339 time: %q", pe.Value)
	}
	return fieldErr("", "not valid JSON: %v", err)
}

// The raw forms have pointers so that a missing value is told apart from 0.
type rawRegions struct {
	Cameras map[string]*rawCamera `json:"cameras"`
}

type rawCamera struct {
	Mode   *string    `json:"mode"`
	Tracks []rawTrack `json:"tracks"`
}

type rawTrack struct {
	Keyframes []rawKeyframe `json:"keyframes"`
}

type rawKeyframe struct {
	At         *string  `json:"at"`
	X, Y, W, H *float64 `json:"-"`
}

// UnmarshalJSON keeps x/y/w/h optional-by-pointer while rejecting unknown
// fields (a field-level DisallowUnknownFields does not reach custom types).
func (k *rawKeyframe) UnmarshalJSON(b []byte) error {
	var v struct {
		At *string  `json:"at"`
		X  *float64 `json:"x"`
		Y  *float64 `json:"y"`
		W  *float64 `json:"w"`
		H  *float64 `json:"h"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	k.At, k.X, k.Y, k.W, k.H = v.At, v.X, v.Y, v.W, v.H
	return nil
}

const eps = 1e-9

func (r *rawRegions) check(scope Scope) (*Regions, error) {
	if r.Cameras == nil {
		return nil, fieldErr("cameras", "missing: name at least one camera")
	}
	if len(r.Cameras) == 0 {
		return nil, fieldErr("cameras", "empty: name at least one camera")
	}
	if len(r.Cameras) > MaxCameras {
		return nil, fieldErr("cameras", "%d cameras, at most %d", len(r.Cameras), MaxCameras)
	}
	out := &Regions{Cameras: map[string]*Camera{}}
	names := make([]string, 0, len(r.Cameras))
	for n := range r.Cameras {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		rc := r.Cameras[name]
		f := "cameras." + name
		if !contains(scope.Cameras, name) {
			return nil, fieldErr(f, "camera %q is not one of the request's cameras (%s)", name, strings.Join(scope.Cameras, ", "))
		}
		if rc == nil {
			return nil, fieldErr(f, "expected an object with mode and tracks")
		}
		if rc.Mode == nil {
			return nil, fieldErr(f+".mode", "missing: blur or keep")
		}
		if *rc.Mode != ModeBlur && *rc.Mode != ModeKeep {
			return nil, fieldErr(f+".mode", "%q is neither blur nor keep", *rc.Mode)
		}
		if len(rc.Tracks) > MaxTracks {
			return nil, fieldErr(f+".tracks", "%d tracks, at most %d", len(rc.Tracks), MaxTracks)
		}
		if *rc.Mode == ModeBlur && len(rc.Tracks) == 0 {
			// Listed with nothing to blur would deliver the camera as
			// recorded: say so rather than guess.
			return nil, fieldErr(f+".tracks", "blur mode needs at least one track (leave the camera out to leave it out of the package)")
		}
		cam := &Camera{Mode: *rc.Mode, Tracks: []Track{}}
		for ti, rt := range rc.Tracks {
			tf := fmt.Sprintf("%s.tracks[%d].keyframes", f, ti)
			if len(rt.Keyframes) == 0 {
				return nil, fieldErr(tf, "a track needs at least one keyframe")
			}
			if len(rt.Keyframes) > MaxKeyframes {
				return nil, fieldErr(tf, "%d keyframes, at most %d", len(rt.Keyframes), MaxKeyframes)
			}
			var tr Track
			for ki, rk := range rt.Keyframes {
				kf := fmt.Sprintf("%s[%d]", tf, ki)
				k, err := rk.check(kf, scope)
				if err != nil {
					return nil, err
				}
				if ki > 0 && !k.At.After(tr.Keyframes[ki-1].At) {
					return nil, fieldErr(kf+".at", "%s is not after the previous keyframe (%s): keyframes must be in ascending time",
						k.At.Format(time.RFC3339Nano), tr.Keyframes[ki-1].At.Format(time.RFC3339Nano))
				}
				tr.Keyframes = append(tr.Keyframes, k)
			}
			cam.Tracks = append(cam.Tracks, tr)
		}
		out.Cameras[name] = cam
	}
	return out, nil
}

func (k *rawKeyframe) check(f string, scope Scope) (Keyframe, error) {
	var out Keyframe
	if k.At == nil {
		return out, fieldErr(f+".at", "missing")
	}
	t, err := time.Parse(time.RFC3339Nano, *k.At)
	if err != nil {
		return out, fieldErr(f+".at", "not an RFC 3339 time: %q", *k.At)
	}
	out.At = t.UTC()
	if out.At.Before(scope.From) || out.At.After(scope.To) {
		return out, fieldErr(f+".at", "%s is outside the request's range %s – %s", out.At.Format(time.RFC3339Nano),
			scope.From.UTC().Format(time.RFC3339), scope.To.UTC().Format(time.RFC3339))
	}
	vals := []struct {
		name string
		v    *float64
		dst  *float64
	}{{"x", k.X, &out.X}, {"y", k.Y, &out.Y}, {"w", k.W, &out.W}, {"h", k.H, &out.H}}
	for _, v := range vals {
		if v.v == nil {
			return out, fieldErr(f+"."+v.name, "missing")
		}
		x := *v.v
		if math.IsNaN(x) || x < 0 || x > 1 {
			return out, fieldErr(f+"."+v.name, "%v is outside 0–1 (a fraction of the picture)", x)
		}
		*v.dst = x
	}
	if out.W <= 0 {
		return out, fieldErr(f+".w", "must be more than 0")
	}
	if out.H <= 0 {
		return out, fieldErr(f+".h", "must be more than 0")
	}
	if out.X+out.W > 1+eps {
		return out, fieldErr(f+".w", "x+w = %v reaches past the right edge (1)", out.X+out.W)
	}
	if out.Y+out.H > 1+eps {
		return out, fieldErr(f+".h", "y+h = %v reaches past the bottom edge (1)", out.Y+out.H)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Mode is the package's mode: keep if any camera keeps only its
// rectangles, blur otherwise. It decides what happens to a camera of the
// request that the file does not list (see Include).
func (r *Regions) Mode() string {
	for _, c := range r.Cameras {
		if c.Mode == ModeKeep {
			return ModeKeep
		}
	}
	return ModeBlur
}

// For is the redaction of one camera of the request: its own entry, or for
// an unlisted camera in keep mode, the whole picture blurred (keep mode,
// no tracks). nil: the camera is left out of the package (blur mode).
func (r *Regions) For(camera string) *Camera {
	if c := r.Cameras[camera]; c != nil {
		return c
	}
	if r.Mode() == ModeKeep {
		return &Camera{Mode: ModeKeep, Tracks: []Track{}}
	}
	return nil
}

// At is the track's rectangle at t: linear between keyframes, fixed before
// the first and after the last.
func (tr Track) At(t time.Time) Rect {
	ks := tr.Keyframes
	if len(ks) == 0 {
		return Rect{}
	}
	if !t.After(ks[0].At) {
		return ks[0].Rect
	}
	for i := 1; i < len(ks); i++ {
		if !t.After(ks[i].At) {
			a, b := ks[i-1], ks[i]
			f := float64(t.Sub(a.At)) / float64(b.At.Sub(a.At))
			return lerp(a.Rect, b.Rect, f)
		}
	}
	return ks[len(ks)-1].Rect
}

func lerp(a, b Rect, f float64) Rect {
	m := func(p, q float64) float64 { return p + (q-p)*f }
	return Rect{X: m(a.X, b.X), Y: m(a.Y, b.Y), W: m(a.W, b.W), H: m(a.H, b.H)}
}
