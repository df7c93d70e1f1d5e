package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"vahti/registry"
)

// The redaction page of a request: the keeper draws the areas to blur (or
// to keep) over the request's footage, previews a few frames and has the
// redacted package made as a background job. The drawing, the preview and
// the job all run in redact.js against the JSON API (/api/v1/redaction,
// /api/v1/requests/:id/redact/preview, /api/v1/requests/:id/jobs,
// /api/v1/jobs/:id); this handler only lays out the page.

// redactCamera is one of the request's cameras on the page, with the
// player window the page shows of it.
type redactCamera struct {
	ID, Name string
	Src      string // the playback URL of the window
	HasVideo bool   // footage exists in the window
}

type redactPage struct {
	Request    registry.Request
	Cameras    []redactCamera
	From, To   time.Time // the player window (at most maxPlaybackSpan of the request's range)
	StartMS    int64
	EndMS      int64
	Prev, Next string // the neighbouring windows of a range longer than one window
	Windowed   bool   // the request's range is longer than the window
	CanMake    bool   // a package can still be made for the request
	Available  bool   // playback is configured
}

func (s *Server) pageRedact(c *gin.Context) {
	p := authOf(c)
	id, ok := s.requestID(c)
	if !ok {
		return
	}
	d, err := s.requestDetail(c.Request.Context(), id)
	if errors.Is(err, registry.ErrNotFound) {
		s.renderError(c, http.StatusNotFound, "req.err.none")
		return
	}
	if err != nil {
		s.cfg.Log.Error("admin: redaction page", "request", id, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	q := d.Request
	rp := redactPage{Request: q, CanMake: canPackage(q), Available: s.cfg.Playback != nil}

	// The player shows at most one playback window of the request's
	// range; a longer range is paged with ?from=.
	from := q.From
	if v := c.Query("from"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil && !t.Before(q.From) && t.Before(q.To) {
			from = t.UTC()
		}
	}
	to := from.Add(maxPlaybackSpan)
	if to.After(q.To) {
		to = q.To
	}
	rp.From, rp.To, rp.StartMS, rp.EndMS = from, to, from.UnixMilli(), to.UnixMilli()
	rp.Windowed = q.To.Sub(q.From) > maxPlaybackSpan
	if from.After(q.From) {
		prev := from.Add(-maxPlaybackSpan)
		if prev.Before(q.From) {
			prev = q.From
		}
		rp.Prev = fmt.Sprintf("/requests/%d/redact?from=%s", id, url.QueryEscape(prev.Format(time.RFC3339)))
	}
	if to.Before(q.To) {
		rp.Next = fmt.Sprintf("/requests/%d/redact?from=%s", id, url.QueryEscape(to.Format(time.RFC3339)))
	}

	// Viewing footage to redact it is viewing footage: the playback is
	// audited like any other, with the request as its reason.
	reason := trf(p.lang(), "redact.viewreason", q.ID, q.Reference)
	for _, cam := range s.requestCameras(q) {
		rc := redactCamera{ID: cam, Name: cam}
		if cc, ok := s.camera(cam); ok && cc.Name != "" {
			rc.Name = cc.Name
		}
		// Pin the window to the footage that exists now (see pagePlay).
		srcTo := to
		end, ok := s.footageEnd(c.Request.Context(), cam, from, to)
		rc.HasVideo = ok
		if ok && end.Before(srcTo) {
			srcTo = end
		}
		v := url.Values{"from": {from.Format(time.RFC3339Nano)}, "to": {srcTo.Format(time.RFC3339Nano)}, "reason": {reason}}
		rc.Src = "/api/v1/cameras/" + url.PathEscape(cam) + "/playback?" + v.Encode()
		rp.Cameras = append(rp.Cameras, rc)
	}
	s.render(c, http.StatusOK, "redact", "redact.title", p, rp, "")
}

// canPackage: a package can still be made for the request (the same
// steps as the request page's export button: open, held or exported).
func canPackage(q registry.Request) bool {
	return q.Open() && (q.State == registry.StateHeld || q.State == registry.StateExported)
}

// requestCameras is the request's cameras that are configured now, with
// "all" spelled out.
func (s *Server) requestCameras(q registry.Request) []string {
	var out []string
	for _, cam := range q.Cameras {
		if cam == registry.AllCameras {
			return s.cameraIDs()
		}
		if s.knownCamera(cam) {
			out = append(out, cam)
		}
	}
	return out
}
