// Package jobs runs a request's packages (ordinary or redacted), and long
// ad-hoc exports not tied to a request, in the background: a queue in the registry's jobs table, one job at a time
// (ffmpeg uses both cores of a recorder box), progress, cancel, and resume
// after a restart. A job that was running when the service stopped is
// queued again and starts from the beginning: a package is made whole or
// not at all, and the half-made one's work files are removed at start.
// With sealed footage a keeper's job keeps the site key open while it
// runs, and a job that finds no key open waits for a keeper's login
// (keys.go).
package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"vahti/admin/export"
	"vahti/admin/redact"
	"vahti/registry"
)

// Runner is the job queue's worker and its front door.
type Runner struct {
	DB       *registry.DB
	Exporter *export.Exporter
	// Cameras are the configured camera ids, for a request of "all"
	// cameras; nil: the exporter's.
	Cameras func() []string
	Log     *slog.Logger
	// Find locates ffmpeg; nil: redact.Find (on PATH).
	Find func(context.Context) (*redact.Tool, error)
	// Keys is the service's keyring (admin.Keyring); nil: no sealed
	// footage to open, nothing waits for a key.
	Keys Keys
	// Observe, if set, is called with every progress value a running job
	// reports (0–1, in order), before the registry is updated (which is
	// throttled): for metrics and tests.
	Observe func(job int64, p float64)

	mu      sync.Mutex
	wake    chan struct{}
	running map[int64]*run
}

type run struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Params are a job's parameters (jobs.params).
type Params struct {
	Redact    json.RawMessage `json:"redact,omitempty"`
	KeepAudio bool            `json:"keep_audio,omitempty"`
	// AdHoc is an ad-hoc export's selection (a job without a request).
	AdHoc *registry.AdHocExport `json:"adhoc,omitempty"`
}

// SubmitExport queues an ad-hoc export (no request): the exporter's
// ordinary package of cameras from–to, audited export.create when it is
// made, like one made at once. An empty camera list, a range that is not
// forward or an empty reason or case reference is refused here too.
func (r *Runner) SubmitExport(ctx context.Context, a registry.AdHocExport, actor, source string) (registry.Job, error) {
	a.Reason, a.CaseRef = strings.TrimSpace(a.Reason), strings.TrimSpace(a.CaseRef)
	a.From, a.To = a.From.UTC(), a.To.UTC()
	if len(a.Cameras) == 0 || !a.To.After(a.From) || a.Reason == "" || a.CaseRef == "" {
		return registry.Job{}, fmt.Errorf("ad-hoc export: cameras, a forward range, a reason and a case reference are required")
	}
	b, err := json.Marshal(Params{AdHoc: &a})
	if err != nil {
		return registry.Job{}, err
	}
	j := registry.Job{Kind: registry.JobExport, Params: string(b), CreatedBy: actor, Source: source}
	err = r.DB.Update(ctx, func(tx *registry.Tx) error {
		// The same selection already queued or being made: that job (a
		// form posted twice makes one package).
		js, err := tx.AdHocJobs()
		if err != nil {
			return err
		}
		if k, ok := activeLike(js, j); ok {
			j = k
			return nil
		}
		if err := tx.AddJob(&j); err != nil {
			return err
		}
		_, err = tx.Audit(actor, source, "job.queue", fmt.Sprintf("job:%d", j.ID), map[string]any{"kind": j.Kind,
			"cameras": a.Cameras, "from": a.From, "to": a.To, "reason": a.Reason, "case_ref": a.CaseRef})
		return err
	})
	if err != nil {
		return j, err
	}
	r.poke()
	return j, nil
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

func (r *Runner) find(ctx context.Context) (*redact.Tool, error) {
	if r.Find != nil {
		return r.Find(ctx)
	}
	return redact.Find(ctx)
}

func (r *Runner) init() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
		r.running = map[int64]*run{}
	}
}

func (r *Runner) poke() {
	r.init()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Available reports whether redaction can run: ffmpeg's version line, or
// redact.ErrNoFFmpeg.
func (r *Runner) Available(ctx context.Context) (string, error) {
	t, err := r.find(ctx)
	if err != nil {
		return "", err
	}
	return t.Version, nil
}

func (r *Runner) cameras() []string {
	if r.Cameras != nil {
		return r.Cameras()
	}
	return r.Exporter.Cameras
}

// scope is the request and what a regions file is checked against.
func (r *Runner) scope(ctx context.Context, id int64, transition bool) (registry.Request, redact.Scope, error) {
	var q registry.Request
	err := r.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		if q, err = tx.Request(id); err != nil {
			return err
		}
		if transition {
			return registry.CheckTransition(q, registry.StateExported)
		}
		return nil
	})
	if err != nil {
		return q, redact.Scope{}, err
	}
	cams := q.Cameras
	if len(cams) == 1 && cams[0] == registry.AllCameras {
		cams = r.cameras()
	}
	return q, redact.Scope{Cameras: cams, From: q.From.UTC(), To: q.To.UTC()}, nil
}

// Submit queues a package of request id: redacted by regions if regions
// is not empty (JSON null counts as empty). The regions are checked now
// (a *redact.FieldError), and ffmpeg's presence (redact.ErrNoFFmpeg), so
// that a job that cannot run is never queued.
func (r *Runner) Submit(ctx context.Context, id int64, regions json.RawMessage, keepAudio bool, actor, source string) (registry.Job, error) {
	_, scope, err := r.scope(ctx, id, true)
	if err != nil {
		return registry.Job{}, err
	}
	j := registry.Job{Kind: registry.JobExport, RequestID: id, CreatedBy: actor, Source: source}
	p := Params{}
	if s := strings.TrimSpace(string(regions)); s != "" && s != "null" {
		if _, err := r.find(ctx); err != nil {
			return j, err
		}
		regs, err := redact.FromJSON(regions, scope)
		if err != nil {
			return j, err
		}
		// Stored as validated (normalised UTC times), so a restart runs
		// exactly what was checked.
		if p.Redact, err = json.Marshal(regs); err != nil {
			return j, err
		}
		p.KeepAudio = keepAudio
		j.Kind = registry.JobRedact
	}
	b, err := json.Marshal(p)
	if err != nil {
		return j, err
	}
	j.Params = string(b)
	err = r.DB.Update(ctx, func(tx *registry.Tx) error {
		if j.Kind == registry.JobExport {
			// A second press of the button (or a reload that posts the
			// form again) while the request's ordinary package is queued
			// or being made gets that job, not a second identical one.
			js, err := tx.Jobs(id)
			if err != nil {
				return err
			}
			if k, ok := activeLike(js, j); ok {
				j = k
				return nil
			}
		}
		if err := tx.AddJob(&j); err != nil {
			return err
		}
		_, err := tx.Audit(actor, source, "job.queue", fmt.Sprintf("job:%d", j.ID),
			map[string]any{"kind": j.Kind, "request": id, "keep_audio": p.KeepAudio})
		return err
	})
	if err != nil {
		return j, err
	}
	r.poke()
	return j, nil
}

// Cancel ends a queued or running job as cancelled; a running job's
// ffmpeg is killed and its work files removed before Cancel returns (or
// within 30 s).
func (r *Runner) Cancel(ctx context.Context, id int64, actor, source string) (registry.Job, error) {
	r.init()
	var j registry.Job
	err := r.DB.Update(ctx, func(tx *registry.Tx) error {
		var err error
		if j, err = tx.Job(id); err != nil {
			return err
		}
		ok, err := tx.EndJob(id, registry.JobCancelled, "", "cancelled by "+actor)
		if err != nil {
			return err
		}
		if !ok {
			return registry.ErrJobEnded
		}
		_, err = tx.Audit(actor, source, "job.cancel", fmt.Sprintf("job:%d", id),
			map[string]any{"kind": j.Kind, "request": j.RequestID, "was": j.State, "progress": j.Progress})
		return err
	})
	if err != nil {
		return j, err
	}
	r.mu.Lock()
	ru := r.running[id]
	r.mu.Unlock()
	if ru != nil {
		ru.cancel()
		select {
		case <-ru.done:
		case <-time.After(30 * time.Second):
		case <-ctx.Done():
		}
	}
	return r.Job(ctx, id)
}

// Job reads one job.
func (r *Runner) Job(ctx context.Context, id int64) (registry.Job, error) {
	var j registry.Job
	err := r.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		j, err = tx.Job(id)
		return err
	})
	return j, err
}

// Run works the queue until ctx ends. At start, jobs left running by a
// stopped service are queued again and interrupted work files removed.
func (r *Runner) Run(ctx context.Context) error {
	r.init()
	var ids []int64
	err := r.DB.Update(ctx, func(tx *registry.Tx) error {
		var err error
		if ids, err = tx.RequeueRunningJobs(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.Audit("system", "service", "job.resume", fmt.Sprintf("job:%d", id), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it began: nothing was requeued
		}
		return fmt.Errorf("jobs: %w", err)
	}
	if err := redact.CleanWork(r.Exporter.StateDir); err != nil {
		r.log().Warn("jobs: removing interrupted work files", "err", err)
	}
	if len(ids) > 0 {
		r.log().Info("jobs: resuming interrupted jobs from the start", "jobs", ids)
	}
	if r.Keys != nil {
		r.Keys.OnOpen(r.poke) // a keeper's login starts the jobs waiting for the key
	}
	tick := time.NewTicker(5 * time.Second) // jobs queued by another process (none today) are found too
	defer tick.Stop()
	for {
		for r.next(ctx) {
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-tick.C:
		}
	}
}

// next runs the oldest queued job that can start now (one waiting for
// the footage keys is passed over, not failed) and reports whether it ran
// one.
func (r *Runner) next(ctx context.Context) bool {
	var js []registry.Job
	err := r.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		js, err = tx.QueuedJobs()
		return err
	})
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		r.log().Error("jobs: reading the queue", "err", err)
		return false
	}
	for _, j := range js {
		start, kept := r.takeKeys(ctx, j)
		if ctx.Err() != nil {
			return false
		}
		if start {
			r.runOne(ctx, j, kept)
			return true
		}
	}
	return false
}

// runOne runs job j; kept: j keeps the footage keys (takeKeys), released
// when it ends, fails, is cancelled or is interrupted.
func (r *Runner) runOne(ctx context.Context, j registry.Job, kept bool) {
	object := fmt.Sprintf("job:%d", j.ID)
	// Registered before the job is marked running, so a Cancel that
	// finds it running always finds its cancel func too.
	jctx, cancel := context.WithCancel(ctx)
	ru := &run{cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.running[j.ID] = ru
	r.mu.Unlock()
	defer func() {
		cancel()
		r.mu.Lock()
		delete(r.running, j.ID)
		r.mu.Unlock()
		close(ru.done)
	}()
	err := r.DB.Update(ctx, func(tx *registry.Tx) error {
		if err := tx.StartJob(j.ID); err != nil {
			return err
		}
		_, err := tx.Audit(j.CreatedBy, j.Source, "job.start", object, map[string]any{"kind": j.Kind, "request": j.RequestID, "attempt": j.Attempts + 1})
		return err
	})
	if err != nil {
		r.log().Warn("jobs: not started", "job", j.ID, "err", err)
		if kept {
			r.releaseKeys(context.WithoutCancel(ctx), j, "not started")
		}
		return
	}

	var last time.Time
	var lastP, maxP float64
	progress := func(p float64) {
		if p < maxP {
			return // an export that starts again (a source excluded) does not move the bar back
		}
		maxP = p
		if r.Observe != nil {
			r.Observe(j.ID, p)
		}
		if now := time.Now(); now.Sub(last) >= time.Second || p-lastP >= 0.05 {
			last, lastP = now, p
			_ = r.DB.Update(jctx, func(tx *registry.Tx) error { return tx.SetJobProgress(j.ID, p) })
		}
	}
	res, err := r.do(jctx, j, progress)
	// The outcome is written even when ctx has ended (a cancel), but
	// not for a service stop: that job is resumed at the next start.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer wcancel()
	if kept {
		// Before the outcome is written: whoever sees the job ended sees
		// its keep released too.
		why := "done"
		switch {
		case err == nil:
		case ctx.Err() != nil:
			why = "stopped"
		case jctx.Err() != nil:
			why = "cancelled"
		default:
			why = "failed"
		}
		r.releaseKeys(wctx, j, why)
	}
	switch {
	case err == nil:
		_ = r.DB.Update(wctx, func(tx *registry.Tx) error {
			ok, err := tx.EndJob(j.ID, registry.JobDone, res.Export.ID, "")
			if err != nil || !ok {
				return err // !ok: cancelled as it finished; Cancel audited that
			}
			_, err = tx.Audit(j.CreatedBy, j.Source, "job.done", object, map[string]any{"kind": j.Kind, "request": j.RequestID,
				"package": res.Export.ID, "sha256": res.Export.SHA256, "bytes": res.Export.Bytes})
			return err
		})
	case ctx.Err() != nil:
		r.log().Info("jobs: interrupted by shutdown; resumes at the next start", "job", j.ID)
	case jctx.Err() != nil:
		// Cancelled: Cancel wrote the state and the audit entry.
	default:
		msg := err.Error()
		r.log().Warn("jobs: failed", "job", j.ID, "err", msg)
		_ = r.DB.Update(wctx, func(tx *registry.Tx) error {
			ok, err := tx.EndJob(j.ID, registry.JobFailed, "", msg)
			if err != nil || !ok {
				return err
			}
			_, err = tx.Audit(j.CreatedBy, j.Source, "job.fail", object, map[string]any{"kind": j.Kind, "request": j.RequestID, "error": msg})
			return err
		})
	}
}

// do makes the job's package and links it to the request (an ad-hoc
// export: the exporter's ordinary Build, as when made at once).
func (r *Runner) do(ctx context.Context, j registry.Job, progress func(float64)) (*export.Result, error) {
	var p Params
	if err := json.Unmarshal([]byte(j.Params), &p); err != nil {
		return nil, fmt.Errorf("job %d: params: %w", j.ID, err)
	}
	if j.RequestID == 0 {
		if j.Kind != registry.JobExport || p.AdHoc == nil {
			return nil, fmt.Errorf("job %d: a %s job without a request or an export selection", j.ID, j.Kind)
		}
		a := p.AdHoc
		return r.Exporter.BuildWithProgress(ctx, export.Request{Cameras: a.Cameras, From: a.From, To: a.To, Reason: a.Reason,
			CaseRef: a.CaseRef, Actor: j.CreatedBy, Source: j.Source}, "", bytesProgress(progress))
	}
	var regs *redact.Regions
	if j.Kind == registry.JobRedact {
		_, scope, err := r.scope(ctx, j.RequestID, true)
		if err != nil {
			return nil, err
		}
		if regs, err = redact.FromJSON(p.Redact, scope); err != nil {
			return nil, err
		}
	}
	tool := (*redact.Tool)(nil)
	if regs != nil {
		var err error
		if tool, err = r.find(ctx); err != nil {
			return nil, err
		}
	}
	return RequestPackage(ctx, r.Exporter, r.cameras(), j.RequestID, Package{Actor: j.CreatedBy, Source: j.Source,
		Regions: regs, KeepAudio: p.KeepAudio, Tool: tool, Progress: progress})
}

// bytesProgress turns the exporter's bytes copied of the total into the
// job's fraction (nil: none).
func bytesProgress(fn func(float64)) export.Progress {
	if fn == nil {
		return nil
	}
	return func(done, total int64) {
		if total > 0 {
			fn(min(float64(done)/float64(total), 1))
		}
	}
}

// Package is how RequestPackage makes a request's package.
type Package struct {
	Actor, Source string
	Out           string          // a copy for the CLI's --out; "" none
	Regions       *redact.Regions // nil: an ordinary package
	KeepAudio     bool
	Tool          *redact.Tool  // nil: redact.Find
	Progress      func(float64) // 0–1: bytes copied (ordinary), ffmpeg's time (redacted)
}

// RequestPackage builds the package of an open request (its cameras and
// range, the manifest naming it), ordinary or redacted, and links it to
// the request, which moves to exported. The transition is checked before
// the (long) build and again after it. The CLI and the job runner both
// make request packages here.
func RequestPackage(ctx context.Context, ex *export.Exporter, all []string, id int64, o Package) (*export.Result, error) {
	var q registry.Request
	if err := ex.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		if q, err = tx.Request(id); err != nil {
			return err
		}
		return registry.CheckTransition(q, registry.StateExported)
	}); err != nil {
		return nil, err
	}
	cams := q.Cameras
	if len(cams) == 1 && cams[0] == registry.AllCameras {
		cams = all
	}
	req := export.Request{Cameras: cams, From: q.From, To: q.To,
		Reason: fmt.Sprintf("%s request %d: %s", q.Kind, q.ID, q.Reference), CaseRef: q.Reference,
		Actor: o.Actor, Source: o.Source, Request: q.Ref()}
	var res *export.Result
	var err error
	if o.Regions != nil {
		res, err = redact.Build(ctx, ex, req, o.Regions, redact.Options{KeepAudio: o.KeepAudio, Tool: o.Tool, Progress: o.Progress}, o.Out)
	} else {
		res, err = ex.BuildWithProgress(ctx, req, o.Out, bytesProgress(o.Progress))
	}
	if err != nil {
		return res, err
	}
	// A package that was made is linked even if ctx ended meanwhile (a
	// cancel that came too late): a registered package of the request
	// must not be left unlinked.
	if err := ex.DB.Update(context.WithoutCancel(ctx), func(tx *registry.Tx) error {
		return tx.RequestExported(id, res.Export, o.Actor, o.Source)
	}); err != nil {
		return res, fmt.Errorf("package %s was written but not linked to request %d: %w", res.Export.ID, id, err)
	}
	return res, nil
}

// Preview renders 1–4 moments of one camera of request id, original and
// redacted by regions, and audits the view (redact.preview: it shows
// footage, like a playback).
func (r *Runner) Preview(ctx context.Context, id int64, regions json.RawMessage, camera string, at []time.Time, actor, source string) ([]redact.Frame, error) {
	q, scope, err := r.scope(ctx, id, false)
	if err != nil {
		return nil, err
	}
	regs, err := redact.FromJSON(regions, scope)
	if err != nil {
		return nil, err
	}
	if !contains(scope.Cameras, camera) {
		return nil, redact.NewFieldError("camera", "%q is not one of the request's cameras (%s)", camera, strings.Join(scope.Cameras, ", "))
	}
	if regs.For(camera) == nil {
		return nil, redact.NewFieldError("camera", "%s is not in the regions and would be left out of the package (blur mode)", camera)
	}
	if len(at) == 0 || len(at) > redact.MaxPreviewFrames {
		return nil, redact.NewFieldError("at", "give 1–%d moments, not %d", redact.MaxPreviewFrames, len(at))
	}
	for i, t := range at {
		if t.Before(scope.From) || t.After(scope.To) {
			return nil, redact.NewFieldError(fmt.Sprintf("at[%d]", i), "%s is outside the request's range %s – %s", t.UTC().Format(time.RFC3339),
				scope.From.Format(time.RFC3339), scope.To.Format(time.RFC3339))
		}
	}
	tool, err := r.find(ctx)
	if err != nil {
		return nil, err
	}
	base := export.Request{Cameras: []string{camera}, Reason: fmt.Sprintf("redaction preview, %s request %d", q.Kind, q.ID),
		Actor: actor, Source: source}
	frames, err := redact.Preview(ctx, r.Exporter, tool, base, regs.For(camera), at)
	if err != nil {
		return nil, err
	}
	err = r.DB.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit(actor, source, "redact.preview", fmt.Sprintf("request:%d", id),
			map[string]any{"camera": camera, "at": at, "mode": regs.Mode()})
		return err
	})
	if err != nil {
		return nil, err // not shown unless audited
	}
	return frames, nil
}

// activeLike finds a queued or running job among js of j's kind, request
// and parameters.
func activeLike(js []registry.Job, j registry.Job) (registry.Job, bool) {
	for _, k := range js {
		if !k.Ended() && k.Kind == j.Kind && k.RequestID == j.RequestID && k.Params == j.Params {
			return k, true
		}
	}
	return registry.Job{}, false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
