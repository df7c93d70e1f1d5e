package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"vahti/admin/export"
	"vahti/admin/jobs"
	"vahti/admin/redact"
	"vahti/registry"
)

// redactedForRequest is `vahti request export ID --redact FILE`: the
// request's clips re-encoded through the regions file's filter, as a
// signed package linked to the request. Progress goes to stderr.
func redactedForRequest(ctx context.Context, e *env, ce *cmdEnv, ex *export.Exporter, id int64, regionsPath string, keepAudio bool, out string) (*export.Result, error) {
	data, err := os.ReadFile(regionsPath)
	if err != nil {
		return nil, usageErr("--redact: %v", err)
	}
	tool, err := redact.Find(ctx)
	if err != nil {
		return nil, err // "redaction needs ffmpeg: apt install ffmpeg"
	}
	var q registry.Request
	if err := ce.db.View(ctx, func(tx *registry.Tx) error {
		var err error
		q, err = tx.Request(id)
		return err
	}); err != nil {
		return nil, err
	}
	cams := q.Cameras
	if len(cams) == 1 && cams[0] == registry.AllCameras {
		cams = ce.cfg.CameraIDs()
	}
	regs, err := redact.Parse(data, redact.Scope{Cameras: cams, From: q.From.UTC(), To: q.To.UTC()})
	var fe *redact.FieldError
	if errors.As(err, &fe) {
		return nil, usageErr("--redact %s: %v", regionsPath, err)
	}
	if err != nil {
		return nil, err
	}
	last := -1
	began := time.Now()
	progress := func(f float64) {
		pct := int(f * 100)
		if pct == last {
			return
		}
		last = pct
		fmt.Fprintf(e.stderr, "\rredacting: %3d%% (%s)", pct, time.Since(began).Round(time.Second))
		if pct == 100 {
			fmt.Fprintln(e.stderr)
		}
	}
	res, err := jobs.RequestPackage(ctx, ex, ce.cfg.CameraIDs(), id, jobs.Package{Actor: ce.actor, Source: cliSource, Out: out,
		Regions: regs, KeepAudio: keepAudio, Tool: tool, Progress: progress})
	if err != nil && last >= 0 && last < 100 {
		fmt.Fprintln(e.stderr)
	}
	return res, err
}
