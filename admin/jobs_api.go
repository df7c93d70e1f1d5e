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

// JobService runs request packages (ordinary or redacted) in the
// background and previews redactions; admin/jobs.Runner implements it.
// Errors it returns: redact.ErrNoFFmpeg, *redact.FieldError (a bad regions
// file), registry.ErrJobEnded, *registry.TransitionError, ErrNotFound.
type JobService interface {
	Available(ctx context.Context) (ffmpegVersion string, err error)
	Submit(ctx context.Context, requestID int64, regions json.RawMessage, keepAudio bool, actor, source string) (registry.Job, error)
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

// GET /api/v1/jobs?request=ID
func (s *Server) apiJobs(c *gin.Context) {
	var rid int64
	if v := c.Query("request"); v != "" {
		var err error
		if rid, err = strconv.ParseInt(v, 10, 64); err != nil || rid <= 0 {
			jsonError(c, http.StatusBadRequest, "request: not a request id")
			return
		}
	}
	var js []registry.Job
	err := s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
		var err error
		js, err = tx.Jobs(rid)
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

// JobThreshold: an ordinary request export through the API with more
// catalogued footage than this (all cameras together) runs as a background
// job. Ten minutes of one 4 Mbit/s camera is about 300 MB: stitched and
// hashed in well under a minute on a recorder box, the longest a browser
// should wait on one HTTP request; anything longer gets a progress bar.
const JobThreshold = 10 * time.Minute

// exportAsJob queues the request's ordinary export as a job and answers
// 202 {"job"} when its footage is over JobThreshold; false: the caller
// makes it at once.
func (s *Server) exportAsJob(c *gin.Context, id int64) bool {
	if s.cfg.Jobs == nil {
		return false
	}
	var footage time.Duration
	err := s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
		q, err := tx.Request(id)
		if err != nil {
			return err
		}
		cams := q.Cameras
		if len(cams) == 1 && cams[0] == registry.AllCameras {
			cams = s.cameraIDs()
		}
		for _, cam := range cams {
			segs, err := tx.SegmentsIn(cam, q.From, q.To)
			if err != nil {
				return err
			}
			for _, sg := range segs {
				a, b := sg.Start, sg.End
				if a.Before(q.From) {
					a = q.From
				}
				if b.After(q.To) {
					b = q.To
				}
				footage += b.Sub(a)
			}
		}
		return nil
	})
	if err != nil || footage <= JobThreshold {
		return false // a missing request is answered by the ordinary path
	}
	p := authOf(c)
	j, err := s.cfg.Jobs.Submit(c.Request.Context(), id, nil, false, p.user.Name, c.ClientIP())
	if err != nil {
		s.jobFail(c, err)
		return true
	}
	c.JSON(http.StatusAccepted, gin.H{"job": jobJSON(langOfCtx(c), j)})
	return true
}
