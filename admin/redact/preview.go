package redact

import (
	"context"
	"fmt"
	"os"
	"time"

	"vahti/admin/export"
)

// MaxPreviewFrames bounds one preview.
const MaxPreviewFrames = 4

// Frame is one previewed moment: the frame nearest it, as recorded and as
// redacted (JPEG).
type Frame struct {
	At       time.Time // the moment asked for
	Shown    time.Time // wall-clock time of the frame shown (the nearest decodable one)
	Original []byte
	Redacted []byte
}

// Preview renders the frame nearest each moment of one camera, original
// and redacted by cam (nil: the camera is left out; an error). base names
// the camera, reason and actor; its range is replaced per moment by a
// short stretch the exporter stages (every source hash checked, nothing
// registered). Work files are removed before it returns.
func Preview(ctx context.Context, ex *export.Exporter, tool *Tool, base export.Request, cam *Camera, at []time.Time) ([]Frame, error) {
	if cam == nil {
		return nil, fmt.Errorf("%w: camera %s is not in the regions file and would be left out of the package (blur mode)", export.ErrBadRequest, base.Cameras[0])
	}
	if len(at) == 0 || len(at) > MaxPreviewFrames {
		return nil, fmt.Errorf("%w: preview 1–%d moments, not %d", export.ErrBadRequest, MaxPreviewFrames, len(at))
	}
	work, err := WorkDir(ex.StateDir)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work) // deletion-gate: the preview's own work dir (staged copies of a few seconds of footage), never footage or a stored package
	var out []Frame
	for i, t := range at {
		t = t.UTC()
		dir := fmt.Sprintf("%s/%d", work, i)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, fmt.Errorf("redact: %w", err)
		}
		req := base
		req.From, req.To = t, t.Add(200*time.Millisecond)
		st, err := ex.Stage(ctx, req, dir)
		if err != nil {
			return nil, err
		}
		clip, ci := st.Clips[0], st.Manifest.Clips[0]
		pic, err := tool.Probe(ctx, clip)
		if err != nil {
			return nil, err
		}
		pic.Start = ci.FromUTC
		off := t.Sub(ci.FromUTC).Seconds()
		if off < 0 {
			off = 0 // footage starts after the moment: its first frame
		}
		f := Frame{At: t, Shown: ci.FromUTC.Add(time.Duration(off * float64(time.Second)))}
		if f.Original, err = tool.Frame(ctx, clip, off, ""); err != nil {
			return nil, err
		}
		filter, err := FilterAt(cam, f.Shown, pic)
		if err != nil {
			return nil, err
		}
		if f.Redacted, err = tool.Frame(ctx, clip, off, filter); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
