package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"vahti/admin/redact"
	"vahti/registry"
)

// JobService runs request packages (ordinary or redacted) and long ad-hoc
// exports in the background and previews redactions; admin/jobs.Runner implements it.
// Errors it returns: redact.ErrNoFFmpeg, *redact.FieldError (a bad regions
// file), registry.ErrJobEnded, *registry.TransitionError, ErrNotFound.
type JobService interface {
	Available(ctx context.Context) (ffmpegVersion string, err error)
	Submit(ctx context.Context, requestID int64, regions json.RawMessage, keepAudio bool, actor, source string) (registry.Job, error)
	// SubmitExport queues an ad-hoc export (no request), checked by the
	// caller as one made at once.
	SubmitExport(ctx context.Context, e registry.AdHocExport, actor, source string) (registry.Job, error)
	Cancel(ctx context.Context, id int64, actor, source string) (registry.Job, error)
	Job(ctx context.Context, id int64) (registry.Job, error)
	Preview(ctx context.Context, requestID int64, regions json.RawMessage, camera string, at []time.Time, actor, source string) ([]redact.Frame, error)
}

// apiJob is a job as the API shows it.
type apiJob struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	Request   int64      `json:"request"`
	State     string     `json:"state"`
	Progress  float64    `json:"progress"`
	Package   string     `json:"package"`
	Error     string     `json:"error"`
	CreatedBy string     `json:"created_by"`
	Created   time.Time  `json:"created"`
	Started   *time.Time `json:"started"`
	Finished  *time.Time `json:"finished"`
}

// jobJSON is a job as the API shows it, its error in the caller's
// language where the catalog knows the message (the runner stores the
// engine's English text).
func jobJSON(lang string, j registry.Job) apiJob {
	if msg, ok := translateMessage(lang, j.Error); ok && j.Error != "" {
		j.Error = msg
	}
	return apiJob{ID: j.ID, Kind: j.Kind, Request: j.RequestID, State: j.State, Progress: j.Progress, Package: j.Package,
		Error: j.Error, CreatedBy: j.CreatedBy, Created: j.Created.UTC(), Started: optUTC(j.Started), Finished: optUTC(j.Finished)}
}

func (s *Server) jobsOr503(c *gin.Context) bool {
	if s.cfg.Jobs == nil {
		jsonError(c, http.StatusServiceUnavailable, tr(langOfCtx(c), "error.unavailable"))
		return false
	}
	return true
}

func langOfCtx(c *gin.Context) string {
	if p := authOf(c); p != nil {
		return p.user.Lang
	}
	return "fi"
}

// jobFail answers a JobService error.
func (s *Server) jobFail(c *gin.Context, err error) {
	var fe *redact.FieldError
	var te *registry.TransitionError
	switch {
	case errors.Is(err, redact.ErrNoFFmpeg):
		c.AbortWithStatusJSON(http.StatusConflict, gin.H{"error": tr(langOfCtx(c), "redact.unavailable")})
	case errors.As(err, &fe):
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": fe.Error(), "field": fe.Field})
	case errors.Is(err, registry.ErrJobEnded), errors.As(err, &te):
		jsonError(c, http.StatusConflict, err.Error())
	default:
		s.apiFail(c, err)
	}
}

// GET /api/v1/redaction: whether redaction can run here.
func (s *Server) apiRedaction(c *gin.Context) {
	if s.cfg.Jobs == nil {
		c.JSON(http.StatusOK, gin.H{"available": false, "reason": tr(langOfCtx(c), "error.unavailable")})
		return
	}
	v, err := s.cfg.Jobs.Available(c.Request.Context())
	if err != nil {
		c.JSON(http.StatusOK, gin.H{"available": false, "reason": tr(langOfCtx(c), "redact.unavailable")})
		return
	}
	c.JSON(http.StatusOK, gin.H{"available": true, "ffmpeg": v})
}

// POST /api/v1/requests/:id/jobs {"redact": regions|null, "keep_audio": bool}
func (s *Server) apiSubmitJob(c *gin.Context) {
	id, ok := s.apiRequestID(c)
	if !ok || !s.jobsOr503(c) {
		return
	}
	var in struct {
		Redact    json.RawMessage `json:"redact"`
		KeepAudio bool            `json:"keep_audio"`
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		jsonError(c, http.StatusBadRequest, "expected JSON {\"redact\": regions or null, \"keep_audio\": false}: "+err.Error())
		return
	}
	p := authOf(c)
	j, err := s.cfg.Jobs.Submit(c.Request.Context(), id, in.Redact, in.KeepAudio, p.user.Name, c.ClientIP())
	if err != nil {
		s.jobFail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"job": jobJSON(langOfCtx(c), j)})
}

func jobID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		jsonError(c, http.StatusNotFound, "no such job")
		return 0, false
	}
	return id, true
}

// GET /api/v1/jobs/:id
func (s *Server) apiJob(c *gin.Context) {
	id, ok := jobID(c)
	if !ok || !s.jobsOr503(c) {
		return
	}
	j, err := s.cfg.Jobs.Job(c.Request.Context(), id)
	if err != nil {
		s.jobFail(c, err)
		return
	}
	c.JSON(http.StatusOK, jobJSON(langOfCtx(c), j))
}

// GET /api/v1/jobs?request=ID (or request=none: the ad-hoc exports')
func (s *Server) apiJobs(c *gin.Context) {
	var rid int64
	adhoc := c.Query("request") == "none"
	if v := c.Query("request"); v != "" && !adhoc {
		var err error
		if rid, err = strconv.ParseInt(v, 10, 64); err != nil || rid <= 0 {
			jsonError(c, http.StatusBadRequest, "request: not a request id")
			return
		}
	}
	var js []registry.Job
	err := s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
		var err error
		if adhoc {
			js, err = tx.AdHocJobs()
		} else {
			js, err = tx.Jobs(rid)
		}
		return err
	})
	if err != nil {
		s.apiFail(c, err)
		return
	}
	out := make([]apiJob, 0, len(js))
	for _, j := range js {
		out = append(out, jobJSON(langOfCtx(c), j))
	}
	c.JSON(http.StatusOK, gin.H{"jobs": out})
}

// DELETE /api/v1/jobs/:id: cancel.
func (s *Server) apiCancelJob(c *gin.Context) {
	id, ok := jobID(c)
	if !ok || !s.jobsOr503(c) {
		return
	}
	p := authOf(c)
	j, err := s.cfg.Jobs.Cancel(c.Request.Context(), id, p.user.Name, c.ClientIP())
	if err != nil {
		s.jobFail(c, err)
		return
	}
	c.JSON(http.StatusOK, jobJSON(langOfCtx(c), j))
}

// POST /api/v1/requests/:id/redact/preview {"redact", "camera", "at": [...]}
func (s *Server) apiRedactPreview(c *gin.Context) {
	id, ok := s.apiRequestID(c)
	if !ok || !s.jobsOr503(c) {
		return
	}
	var in struct {
		Redact json.RawMessage `json:"redact"`
		Camera string          `json:"camera"`
		At     []string        `json:"at"`
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		jsonError(c, http.StatusBadRequest, "expected JSON {\"redact\": regions, \"camera\": ID, \"at\": [RFC 3339, …]}: "+err.Error())
		return
	}
	if len(in.At) == 0 || len(in.At) > redact.MaxPreviewFrames {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "at: give 1–4 moments", "field": "at"})
		return
	}
	var at []time.Time
	for i, v := range in.At {
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
		if err != nil {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "at[" + strconv.Itoa(i) + "]: not an RFC 3339 time", "field": "at[" + strconv.Itoa(i) + "]"})
			return
		}
		at = append(at, t)
	}
	select {
	case s.previews <- struct{}{}:
		defer func() { <-s.previews }()
	default:
		jsonError(c, http.StatusTooManyRequests, tr(langOfCtx(c), "redact.previewbusy"))
		return
	}
	p := authOf(c)
	frames, err := s.cfg.Jobs.Preview(c.Request.Context(), id, in.Redact, strings.TrimSpace(in.Camera), at, p.user.Name, c.ClientIP())
	if err != nil {
		s.jobFail(c, err)
		return
	}
	type frame struct {
		At       time.Time `json:"at"`
		Shown    time.Time `json:"shown"`
		Original string    `json:"original"`
		Redacted string    `json:"redacted"`
	}
	out := make([]frame, 0, len(frames))
	for _, f := range frames {
		out = append(out, frame{At: f.At.UTC(), Shown: f.Shown.UTC(),
			Original: "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(f.Original),
			Redacted: "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(f.Redacted)})
	}
	c.JSON(http.StatusOK, gin.H{"frames": out})
}

// JobThreshold: an ordinary export (a request's, or ad hoc from the
// Exports page and POST /api/v1/exports) with more catalogued footage than
// this (all cameras together) runs as a background job; the page form and
// the API alike. Ten minutes of one 4 Mbit/s camera is about 300 MB:
// stitched and hashed in well under a minute on a recorder box, the
// longest a browser should wait on one HTTP request; anything longer gets
// a progress bar.
const JobThreshold = 10 * time.Minute

// footage is the catalogued footage of cams within from–to, all cameras
// together.
func footage(tx *registry.Tx, cams []string, from, to time.Time) (time.Duration, error) {
	var d time.Duration
	for _, cam := range cams {
		segs, err := tx.SegmentsIn(cam, from, to)
		if err != nil {
			return 0, err
		}
		for _, sg := range segs {
			a, b := sg.Start, sg.End
			if a.Before(from) {
				a = from
			}
			if b.After(to) {
				b = to
			}
			if b.After(a) {
				d += b.Sub(a)
			}
		}
	}
	return d, nil
}

// requestExportJob queues request id's ordinary export as a job when its
// footage is over JobThreshold; false (and no error): the caller makes it
// at once. A missing request is left to the ordinary path to answer.
func (s *Server) requestExportJob(ctx context.Context, p *principal, ip string, id int64) (registry.Job, bool, error) {
	if s.cfg.Jobs == nil {
		return registry.Job{}, false, nil
	}
	var d time.Duration
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		q, err := tx.Request(id)
		if err != nil {
			return err
		}
		cams := q.Cameras
		if len(cams) == 1 && cams[0] == registry.AllCameras {
			cams = s.cameraIDs()
		}
		d, err = footage(tx, cams, q.From, q.To)
		return err
	})
	if err != nil || d <= JobThreshold {
		return registry.Job{}, false, nil
	}
	j, err := s.cfg.Jobs.Submit(ctx, id, nil, false, p.user.Name, ip)
	return j, true, err
}

// exportAsJob queues the request's ordinary export as a job and answers
// 202 {"job"} when its footage is over JobThreshold; false: the caller
// makes it at once.
func (s *Server) exportAsJob(c *gin.Context, id int64) bool {
	j, queued, err := s.requestExportJob(c.Request.Context(), authOf(c), c.ClientIP(), id)
	if !queued {
		return false
	}
	if err != nil {
		s.jobFail(c, err)
		return true
	}
	c.JSON(http.StatusAccepted, gin.H{"job": jobJSON(langOfCtx(c), j)})
	return true
}

// startExport makes an ad-hoc export at once, or queues it as a job when
// its footage is over JobThreshold (and a job runner is wired): exactly
// one of the export and the job is returned. The input is checked the
// same way for both.
func (s *Server) startExport(ctx context.Context, p *principal, ip string, in rangeInput) (*registry.Export, *registry.Job, error) {
	r, err := s.checkExport(p, ip, in)
	if err != nil {
		return nil, nil, err
	}
	if s.cfg.Jobs != nil {
		var d time.Duration
		if err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
			var err error
			d, err = footage(tx, r.Cameras, r.From, r.To)
			return err
		}); err != nil {
			return nil, nil, err
		}
		if d > JobThreshold {
			j, err := s.cfg.Jobs.SubmitExport(ctx, registry.AdHocExport{Cameras: r.Cameras, From: r.From, To: r.To,
				Reason: r.Reason, CaseRef: r.CaseRef}, r.Actor, r.Source)
			if err != nil {
				return nil, nil, err
			}
			return nil, &j, nil
		}
	}
	if s.cfg.Export == nil {
		return nil, nil, uerr("error.unavailable")
	}
	e, err := s.cfg.Export(ctx, r, "")
	if err != nil {
		return nil, nil, err
	}
	return &e, nil, nil
}

// pageCancelJob cancels a job from the request or Exports page's form
// (which works without JavaScript) and goes back to the page it is
// listed on: the request's, or /exports for an ad-hoc export.
func (s *Server) pageCancelJob(c *gin.Context) {
	p := authOf(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 || s.cfg.Jobs == nil {
		s.renderError(c, http.StatusNotFound, "jobs.none")
		return
	}
	j, err := s.cfg.Jobs.Cancel(c.Request.Context(), id, p.user.Name, c.ClientIP())
	back := "/exports"
	if j.RequestID != 0 {
		back = "/requests/" + strconv.FormatInt(j.RequestID, 10)
	}
	switch {
	case errors.Is(err, registry.ErrNotFound):
		s.renderError(c, http.StatusNotFound, "jobs.none")
	case errors.Is(err, registry.ErrJobEnded):
		s.flashRedirect(c, back, trf(p.lang(), "jobs.ended", id))
	case err != nil:
		s.cfg.Log.Error("admin: cancel job", "job", id, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
	default:
		s.flashRedirect(c, back, trf(p.lang(), "jobs.cancelled", id))
	}
}

// jobRow is a job as the request and Exports pages list it.
type jobRow struct {
	registry.Job
	Percent int    // 0–100
	Message string // the error, in the reader's language where the catalog knows it
}

// jobRows are the jobs a page lists: every queued or running one, and
// those that ended within the last day (a failure's reason stays in
// view; older outcomes are in the audit log), at most 20.
func jobRows(lang string, js []registry.Job, now time.Time) []jobRow {
	var out []jobRow
	for _, j := range js {
		if j.Ended() && now.Sub(j.Finished) > 24*time.Hour {
			continue
		}
		if len(out) == 20 {
			break
		}
		r := jobRow{Job: j, Percent: int(j.Progress*100 + 0.5), Message: j.Error}
		if j.State == registry.JobDone {
			r.Percent = 100
		}
		if msg, ok := translateMessage(lang, j.Error); ok && j.Error != "" {
			r.Message = msg
		}
		out = append(out, r)
	}
	return out
}
