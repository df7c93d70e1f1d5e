package admin

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"vahti/checkpoint"
	"vahti/mp4read"
	"vahti/registry"
)

// apiFail maps an error to a status and a JSON body.
func (s *Server) apiFail(c *gin.Context, err error) {
	var ue *userError
	var amb *AmbiguousError
	switch {
	case errors.As(err, &ue) && ue.key == "error.unavailable":
		jsonError(c, http.StatusServiceUnavailable, ue.Error())
	case errors.As(err, &ue), errors.As(err, &amb), errors.Is(err, ErrNoSuchLocalTime):
		jsonError(c, http.StatusBadRequest, errorText("en", err))
	case errors.Is(err, registry.ErrNotFound):
		jsonError(c, http.StatusNotFound, "not found")
	case errors.Is(err, mp4read.ErrLocked):
		jsonError(c, http.StatusLocked, errorText("en", err))
	default:
		// Validation errors from retention and the exporter are addressed
		// to the user; anything else is logged with its context.
		s.cfg.Log.Warn("admin: request failed", "route", c.FullPath(), "err", err)
		jsonError(c, http.StatusBadRequest, err.Error())
	}
}

func (s *Server) apiLogin(c *gin.Context) {
	var in struct {
		Name     string `json:"name"`
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	// Only a real JSON request: a cross-site <form enctype="text/plain">
	// cannot send this content type, so no one can log a browser in as
	// someone else from another site.
	if c.ContentType() != "application/json" {
		jsonError(c, http.StatusUnsupportedMediaType, "send JSON with Content-Type: application/json")
		return
	}
	if err := c.ShouldBindJSON(&in); err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			jsonError(c, http.StatusRequestEntityTooLarge, loginTooLarge)
			return
		}
		jsonError(c, http.StatusBadRequest, "expected JSON {\"name\": ..., \"password\": ...}")
		return
	}
	id, sess, err := s.login(c.Request.Context(), in.Name, in.Password, in.TOTP, c.ClientIP())
	switch {
	case errors.Is(err, errThrottled), errors.Is(err, errBusy):
		s.retryAfter(c, err)
		jsonError(c, http.StatusTooManyRequests, err.Error())
		return
	case errors.Is(err, errLoginFailed):
		jsonError(c, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		s.cfg.Log.Error("admin: login", "err", err)
		jsonError(c, http.StatusInternalServerError, "login failed")
		return
	}
	s.setSessionCookie(c, id)
	u, _ := s.userByID(c, sess.userID)
	c.JSON(http.StatusOK, gin.H{"name": u.Name, "roles": u.Roles, "lang": u.Lang, "csrf_token": sess.csrf,
		"idle_timeout_s": int(s.sessions.idle.Seconds()), "expires": sess.created.Add(s.sessions.maxAge),
		"password_change_required": u.MustChangePassword, "footage_keys": sess.keys})
}

func (s *Server) userByID(c *gin.Context, id int64) (registry.User, error) {
	var u registry.User
	err := s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
		var err error
		u, err = tx.User(id)
		return err
	})
	return u, err
}

func (s *Server) apiLogout(c *gin.Context) {
	p := authOf(c)
	if p.sess == nil {
		jsonError(c, http.StatusBadRequest, "API tokens have no session; revoke the token instead")
		return
	}
	s.logout(c, p)
	c.Status(http.StatusNoContent)
}

func (s *Server) logout(c *gin.Context, p *principal) {
	if err := s.sessions.delete(c.Request.Context(), p.sess); err != nil {
		s.cfg.Log.Error("admin: logout", "err", err)
	}
	clearSessionCookie(c)
	s.auditLog(c.Request.Context(), p.user.Name, c.ClientIP(), "logout", "user:"+p.user.Name, nil)
	s.sweepKeys(c.Request.Context()) // the last keeper out wipes the key
}

func (s *Server) apiMe(c *gin.Context) {
	p := authOf(c)
	out := gin.H{"name": p.user.Name, "roles": p.user.Roles, "lang": p.user.Lang, "totp": p.user.TOTPSecret != "",
		"password_change_required": p.user.MustChangePassword}
	if p.sess != nil {
		out["csrf_token"] = p.sess.csrf
		out["viewing_reason"] = s.sessions.reasonOf(p.sess)
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) apiSetLang(c *gin.Context) {
	var in struct {
		Lang string `json:"lang"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, `expected JSON {"lang": "fi"|"en"}`)
		return
	}
	if err := s.setLang(c.Request.Context(), authOf(c), c.ClientIP(), in.Lang); err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"lang": in.Lang})
}

func (s *Server) apiSetPassword(c *gin.Context) {
	var in struct {
		Old          string `json:"old_password"`
		New          string `json:"new_password"`
		RevokeTokens bool   `json:"revoke_tokens"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, `expected JSON {"old_password": ..., "new_password": ...[, "revoke_tokens": true]}`)
		return
	}
	if err := s.setPassword(c.Request.Context(), authOf(c), c.ClientIP(), in.Old, in.New, in.RevokeTokens); err != nil {
		s.apiFail(c, err)
		return
	}
	clearSessionCookie(c)
	c.Status(http.StatusNoContent)
}

func (s *Server) apiSetReason(c *gin.Context) {
	p := authOf(c)
	var in struct {
		Reason string `json:"reason"`
	}
	if c.ShouldBindJSON(&in) != nil || strings.TrimSpace(in.Reason) == "" {
		jsonError(c, http.StatusBadRequest, `expected JSON {"reason": "why you are viewing footage"}`)
		return
	}
	if p.sess == nil {
		jsonError(c, http.StatusBadRequest, "API tokens pass ?reason= with each playback request")
		return
	}
	if err := s.sessions.setReason(c.Request.Context(), p.sess, strings.TrimSpace(in.Reason)); err != nil {
		s.apiFail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type apiCamera struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Purpose     string     `json:"purpose"`
	State       string     `json:"state"`
	Since       *time.Time `json:"since,omitempty"`
	LastFrame   *time.Time `json:"last_frame,omitempty"`
	BitrateKbps float64    `json:"bitrate_kbps"`
	Reconnects  int64      `json:"reconnects"`
	LastError   string     `json:"last_error,omitempty"`
	Codecs      []string   `json:"codecs,omitempty"`
	Segments    int64      `json:"segments"`
	Bytes       int64      `json:"bytes"`
	Oldest      *time.Time `json:"oldest,omitempty"`
	Newest      *time.Time `json:"newest,omitempty"`
	MaxAgeHours float64    `json:"max_age_hours"`
	OverLimit   bool       `json:"over_limit"`
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Server) apiCameras(c *gin.Context) {
	views, _, err := s.cameraViews(c.Request.Context())
	if err != nil {
		s.apiFail(c, err)
		return
	}
	out := make([]apiCamera, 0, len(views))
	for _, v := range views {
		out = append(out, apiCamera{ID: v.ID, Name: v.Name, Purpose: v.Purpose, State: v.State, Since: tp(v.Since),
			LastFrame: tp(v.LastFrame), BitrateKbps: v.BitrateKbps, Reconnects: v.Reconnects, LastError: v.LastError, Codecs: v.Codecs,
			Segments: v.Segments, Bytes: v.Bytes, Oldest: tp(v.Oldest), Newest: tp(v.Newest),
			MaxAgeHours: v.MaxAge.Hours(), OverLimit: v.OverLimit})
	}
	c.JSON(http.StatusOK, gin.H{"cameras": out})
}

func (s *Server) apiStatus(c *gin.Context) {
	_, d, err := s.cameraViews(c.Request.Context())
	if err != nil {
		s.apiFail(c, err)
		return
	}
	sv, err := s.sealingView(c.Request.Context())
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"version": s.cfg.Version, "tls_sha256": s.fingerprint, "disk_total": d.Total, "sealing": sv.api(),
		"disk_free": d.Free, "footage_bytes": d.FootageBytes, "next_purge": tp(d.NextPurge), "last_purge": tp(d.LastPurge),
		"writing_allowed": d.WritingAllowed, "purge_paused": d.Paused, "alarms": d.Alarms, "active_holds": d.ActiveHolds,
		"holds_for_review": d.HoldsForReview,
		"max_age_hours":    s.cfg.Cfg.Retention.MaxAge.D().Hours(), "timezone": s.loc.String()})
}

type apiSpan struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Bytes    int64     `json:"bytes,omitempty"`
	Segments int       `json:"segments,omitempty"`
}

func spans(in []span) []apiSpan {
	out := make([]apiSpan, 0, len(in))
	for _, sp := range in {
		out = append(out, apiSpan{From: sp.From.UTC(), To: sp.To.UTC(), Bytes: sp.Bytes, Segments: sp.Segments})
	}
	return out
}

func (s *Server) apiDay(c *gin.Context) {
	cam := c.Param("id")
	if !s.knownCamera(cam) {
		jsonError(c, http.StatusNotFound, "no such camera")
		return
	}
	day := s.now().In(s.loc)
	if q := c.Query("date"); q != "" {
		var err error
		if day, err = parseDay(q, s.loc); err != nil {
			jsonError(c, http.StatusBadRequest, err.Error())
			return
		}
	}
	d, err := s.dayView(c.Request.Context(), cam, day)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	holds := make([]apiHold, 0, len(d.Holds))
	for _, h := range d.Holds {
		holds = append(holds, holdJSON(h))
	}
	c.JSON(http.StatusOK, gin.H{"camera": cam, "date": d.Day.Format("2006-01-02"), "timezone": s.loc.String(),
		"from": d.From, "to": d.To, "recorded": spans(d.Spans), "gaps": spans(d.Gaps), "holds": holds,
		"recorded_seconds": int64(d.Recorded.Seconds())})
}

// maxPlaybackSpan bounds one playback request (a browser session pages
// through longer stretches).
const maxPlaybackSpan = 6 * time.Hour

func (s *Server) apiPlayback(c *gin.Context) {
	p := authOf(c)
	cam := c.Param("id")
	if !s.knownCamera(cam) {
		jsonError(c, http.StatusNotFound, "no such camera")
		return
	}
	from, err1 := time.Parse(time.RFC3339Nano, c.Query("from"))
	to, err2 := time.Parse(time.RFC3339Nano, c.Query("to"))
	if err1 != nil || err2 != nil || !to.After(from) || to.Sub(from) > maxPlaybackSpan {
		jsonError(c, http.StatusBadRequest, "from and to must be RFC 3339 times, from < to, at most 6h apart")
		return
	}
	from, to = from.UTC(), to.UTC()
	reason := strings.TrimSpace(c.Query("reason"))
	if reason == "" && p.sess != nil {
		reason = s.sessions.reasonOf(p.sess)
	}
	if reason == "" {
		jsonError(c, http.StatusPreconditionRequired, "a reason for viewing is required: PUT /api/v1/me/viewing-reason or ?reason=")
		return
	}
	if s.cfg.Playback == nil {
		jsonError(c, http.StatusServiceUnavailable, "playback is not available")
		return
	}
	key := cam + "|" + from.Format(time.RFC3339Nano) + "|" + to.Format(time.RFC3339Nano) + "|" + reason
	if p.sess == nil || s.sessions.firstPlay(c.Request.Context(), p.sess, key) {
		err := s.audit(c.Request.Context(), p, c.ClientIP(), "footage.play", "camera:"+cam,
			map[string]any{"camera": cam, "from": from, "to": to, "reason": reason})
		if err != nil {
			// No audit entry, no footage.
			s.cfg.Log.Error("admin: playback audit failed", "err", err)
			if p.sess != nil {
				s.sessions.forgetPlay(c.Request.Context(), p.sess, key)
			}
			jsonError(c, http.StatusInternalServerError, "could not record the viewing in the audit log")
			return
		}
	}
	c.Header("Cache-Control", "no-store")
	s.cfg.Playback(c.Writer, c.Request, cam, from, to)
}

type apiHold struct {
	ID            int64      `json:"id"`
	Cameras       []string   `json:"cameras"`
	From          time.Time  `json:"from"`
	To            time.Time  `json:"to"`
	Reason        string     `json:"reason"`
	CaseRef       string     `json:"case_ref,omitempty"`
	CreatedBy     string     `json:"created_by"`
	Created       time.Time  `json:"created"`
	Active        bool       `json:"active"`
	Released      *time.Time `json:"released,omitempty"`
	ReleasedBy    string     `json:"released_by,omitempty"`
	ReleaseReason string     `json:"release_reason,omitempty"`
	RequestID     int64      `json:"request_id,omitempty"`
}

func holdJSON(h registry.Hold) apiHold {
	return apiHold{ID: h.ID, Cameras: h.Cameras, From: h.From.UTC(), To: h.To.UTC(), Reason: h.Reason, CaseRef: h.CaseRef,
		CreatedBy: h.CreatedBy, Created: h.Created.UTC(), Active: h.Active(), Released: tp(h.Released),
		ReleasedBy: h.ReleasedBy, ReleaseReason: h.ReleaseReason, RequestID: h.RequestID}
}

func (s *Server) apiHolds(c *gin.Context) {
	hs, err := s.holds(c.Request.Context(), c.Query("all") == "1" || c.Query("all") == "true")
	if err != nil {
		s.apiFail(c, err)
		return
	}
	out := make([]apiHold, 0, len(hs))
	for _, h := range hs {
		out = append(out, holdJSON(h))
	}
	c.JSON(http.StatusOK, gin.H{"holds": out})
}

type apiRangeIn struct {
	Cameras  []string `json:"cameras"`
	From     string   `json:"from"`
	To       string   `json:"to"`
	FromPick string   `json:"from_dst"`
	ToPick   string   `json:"to_dst"`
	Reason   string   `json:"reason"`
	CaseRef  string   `json:"case_ref"`
}

func (in apiRangeIn) input() rangeInput {
	return rangeInput{Cameras: in.Cameras, From: in.From, To: in.To, FromPick: in.FromPick, ToPick: in.ToPick,
		Reason: in.Reason, CaseRef: in.CaseRef}
}

func (s *Server) apiAddHold(c *gin.Context) {
	var in apiRangeIn
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, "expected JSON {cameras, from, to, reason[, case_ref]}")
		return
	}
	h, err := s.placeHold(c.Request.Context(), authOf(c), c.ClientIP(), in.input())
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusCreated, holdJSON(h))
}

func (s *Server) apiReleaseHold(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		jsonError(c, http.StatusNotFound, "no such hold")
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, `expected JSON {"reason": ...}`)
		return
	}
	h, err := s.releaseHold(c.Request.Context(), authOf(c), c.ClientIP(), id, in.Reason)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, holdJSON(h))
}

// ExportJSON is a package as the API and the CLI print it.
type ExportJSON struct {
	ID         string    `json:"id"`
	Cameras    []string  `json:"cameras"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	FootageEnd time.Time `json:"footage_end"`
	SHA256     string    `json:"sha256"`
	Bytes      int64     `json:"bytes"`
	Reason     string    `json:"reason"`
	CaseRef    string    `json:"case_ref"`
	CreatedBy  string    `json:"created_by"`
	Created    time.Time `json:"created"`
	Download   string    `json:"download"`
	// Deleted is when the package's file was removed (retention), if it was.
	Deleted *time.Time `json:"deleted,omitempty"`
}

// NewExportJSON is e as the API and the CLI print it.
func NewExportJSON(e registry.Export) ExportJSON {
	return ExportJSON{ID: e.ID, Cameras: e.Cameras, From: e.From.UTC(), To: e.To.UTC(), FootageEnd: e.FootageEnd.UTC(),
		SHA256: e.SHA256, Bytes: e.Bytes, Reason: e.Reason, CaseRef: e.CaseRef, CreatedBy: e.CreatedBy,
		Created: e.Created.UTC(), Download: "/api/v1/exports/" + e.ID + "/download", Deleted: optUTC(e.Deleted)}
}

func (s *Server) apiExports(c *gin.Context) {
	es, err := s.exports(c.Request.Context())
	if err != nil {
		s.apiFail(c, err)
		return
	}
	out := make([]ExportJSON, 0, len(es))
	for _, e := range es {
		out = append(out, NewExportJSON(e))
	}
	c.JSON(http.StatusOK, gin.H{"exports": out})
}

func (s *Server) apiCreateExport(c *gin.Context) {
	var in apiRangeIn
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, "expected JSON {cameras, from, to, reason, case_ref}")
		return
	}
	// Over JobThreshold of footage: 202 {"job"}, made in the background
	// (jobs_api.go); otherwise made now, 201.
	e, j, err := s.startExport(c.Request.Context(), authOf(c), c.ClientIP(), in.input())
	if err != nil {
		s.apiFail(c, err)
		return
	}
	if j != nil {
		c.JSON(http.StatusAccepted, gin.H{"job": jobJSON(langOfCtx(c), *j)})
		return
	}
	c.JSON(http.StatusCreated, NewExportJSON(*e))
}

func (s *Server) apiDownloadExport(c *gin.Context) {
	if err := s.serveExport(c); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			jsonError(c, http.StatusNotFound, "no such export")
			return
		}
		s.apiFail(c, err)
	}
}

// serveExport audits and streams a package; the audit entry commits before
// the first byte leaves.
func (s *Server) serveExport(c *gin.Context) error {
	p := authOf(c)
	e, path, err := s.exportFile(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("export %s: %w", e.ID, registry.ErrNotFound)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := s.audit(c.Request.Context(), p, c.ClientIP(), "export.download", "export:"+e.ID,
		map[string]any{"sha256": e.SHA256, "bytes": fi.Size(), "case_ref": e.CaseRef}); err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Type", "application/zip")
	c.Header("Content-Disposition", `attachment; filename="vahti-export-`+e.ID+`.zip"`)
	http.ServeContent(c.Writer, c.Request, "", fi.ModTime(), f)
	return nil
}

type apiEntry struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Source string    `json:"source"`
	Kind   string    `json:"kind"`
	Object string    `json:"object"`
	Detail any       `json:"detail"`
	Hash   string    `json:"hash"`
}

// auditFilter reads the audit filters shared by the API and the page:
// from/to (RFC 3339 or local), actor, kind (prefix), object, after, limit.
func (s *Server) auditFilter(c *gin.Context) (registry.AuditFilter, error) {
	f := registry.AuditFilter{Actor: strings.TrimSpace(c.Query("actor")), Kind: strings.TrimSpace(c.Query("kind")),
		Object: strings.TrimSpace(c.Query("object")), Limit: 200}
	var err error
	if v := c.Query("from"); v != "" {
		if f.From, err = parseWhen(v, s.loc, "earlier"); err != nil {
			return f, err
		}
	}
	if v := c.Query("to"); v != "" {
		if f.To, err = parseWhen(v, s.loc, "later"); err != nil {
			return f, err
		}
	}
	if v := c.Query("after"); v != "" {
		if f.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil {
			return f, uerr("error.badnumber", "after")
		}
	}
	if v := c.Query("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 5000 {
			return f, uerr("error.badnumber", "limit")
		}
	}
	return f, nil
}

func (s *Server) auditEntries(c *gin.Context, f registry.AuditFilter) ([]registry.Entry, error) {
	var out []registry.Entry
	err := s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
		var err error
		out, err = tx.AuditEntries(f)
		return err
	})
	return out, err
}

func (s *Server) apiAudit(c *gin.Context) {
	f, err := s.auditFilter(c)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	es, err := s.auditEntries(c, f)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	out := make([]apiEntry, 0, len(es))
	for _, e := range es {
		out = append(out, apiEntry{Seq: e.Seq, Time: e.Time.UTC(), Actor: e.Actor, Source: e.Source, Kind: e.Kind,
			Object: e.Object, Detail: e.Detail, Hash: e.Hash})
	}
	c.JSON(http.StatusOK, gin.H{"entries": out})
}

// apiConfirmPurge lets the DPO release the retention interlocks after
// checking the alarm: POST /api/v1/retention/confirm.
func (s *Server) apiConfirmPurge(c *gin.Context) {
	if s.cfg.ConfirmPurge == nil {
		jsonError(c, http.StatusServiceUnavailable, "retention is not running in this process")
		return
	}
	n, err := s.cfg.ConfirmPurge(c.Request.Context(), authOf(c).user.Name, c.ClientIP())
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": n})
}

func (s *Server) apiVerifyAudit(c *gin.Context) {
	n, err := s.verifyAudit(c.Request.Context(), authOf(c), c.ClientIP())
	var ce *registry.ChainError
	var ae *registry.AnchorError
	var cp checkpoint.Problem
	switch {
	case errors.As(err, &ce):
		c.JSON(http.StatusOK, gin.H{"ok": false, "entries": n, "error": ce.Error(), "seq": ce.Seq})
	case errors.As(err, &ae):
		c.JSON(http.StatusOK, gin.H{"ok": false, "entries": n, "error": ae.Error(), "seq": ae.Anchor.Seq, "checkpoint": ae.Anchor.Name})
	case errors.As(err, &cp):
		c.JSON(http.StatusOK, gin.H{"ok": false, "entries": n, "error": err.Error(), "checkpoint": cp.File})
	case err != nil:
		s.apiFail(c, err)
	default:
		c.JSON(http.StatusOK, gin.H{"ok": true, "entries": n})
	}
}

type apiUser struct {
	Name        string     `json:"name"`
	Roles       []string   `json:"roles"`
	Lang        string     `json:"lang"`
	TOTP        bool       `json:"totp"`
	Disabled    bool       `json:"disabled"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	Created     time.Time  `json:"created"`
	// OneTimePassword: the password was set by an admin and must be
	// changed at the next login before anything else.
	OneTimePassword bool `json:"one_time_password"`
	// FootageAccess (sealed footage, an enabled keeper account): "granted"
	// when the account holds a wrap of the site key (at creation: the
	// creator, a logged-in keeper, wrapped it); "not granted" otherwise (a
	// keeper's grant is still needed).
	FootageAccess string `json:"footage_access,omitempty"`
}

func (s *Server) users(c *gin.Context) ([]registry.User, error) {
	var out []registry.User
	err := s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
		var err error
		out, err = tx.Users()
		return err
	})
	return out, err
}

func (s *Server) apiUsers(c *gin.Context) {
	us, err := s.users(c)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	access, err := s.footageAccess(c.Request.Context(), authOf(c))
	if err != nil {
		s.apiFail(c, err)
		return
	}
	out := make([]apiUser, 0, len(us))
	now := s.now()
	for _, u := range us {
		au := apiUser{Name: u.Name, Roles: u.Roles, Lang: u.Lang, TOTP: u.TOTPSecret != "", Disabled: u.Disabled, Created: u.Created,
			OneTimePassword: u.MustChangePassword, FootageAccess: access.Of(u)}
		if u.LockedUntil.After(now) {
			au.LockedUntil = tp(u.LockedUntil)
		}
		out = append(out, au)
	}
	c.JSON(http.StatusOK, gin.H{"users": out})
}

func (s *Server) apiAddUser(c *gin.Context) {
	var in struct {
		Name     string   `json:"name"`
		Roles    []string `json:"roles"`
		Password string   `json:"password"`
		Lang     string   `json:"lang"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, "expected JSON {name, roles, password[, lang]}")
		return
	}
	u, grant, err := s.addUser(c.Request.Context(), authOf(c), c.ClientIP(), in.Name, in.Roles, in.Password, in.Lang)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusCreated, apiUser{Name: u.Name, Roles: u.Roles, Lang: u.Lang, Created: u.Created, OneTimePassword: u.MustChangePassword,
		FootageAccess: grant})
}

func (s *Server) apiSetRoles(c *gin.Context) {
	var in struct {
		Roles []string `json:"roles"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, `expected JSON {"roles": [...]}`)
		return
	}
	if err := s.setRoles(c.Request.Context(), authOf(c), c.ClientIP(), c.Param("name"), in.Roles); err != nil {
		s.apiFail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) apiDisableUser(c *gin.Context) { s.apiEnable(c, true) }
func (s *Server) apiEnableUser(c *gin.Context)  { s.apiEnable(c, false) }

func (s *Server) apiEnable(c *gin.Context, disabled bool) {
	if err := s.setDisabled(c.Request.Context(), authOf(c), c.ClientIP(), c.Param("name"), disabled); err != nil {
		s.apiFail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type apiToken struct {
	ID       int64      `json:"id"`
	Name     string     `json:"name"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	Token    string     `json:"token,omitempty"`
}

func (s *Server) apiTokens(c *gin.Context) {
	ts, err := s.tokens(c.Request.Context(), authOf(c))
	if err != nil {
		s.apiFail(c, err)
		return
	}
	out := make([]apiToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, apiToken{ID: t.ID, Name: t.Name, Created: t.Created, LastUsed: tp(t.LastUsed), Revoked: tp(t.Revoked)})
	}
	c.JSON(http.StatusOK, gin.H{"tokens": out})
}

func (s *Server) apiCreateToken(c *gin.Context) {
	var in struct {
		Name string `json:"name"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, `expected JSON {"name": ...}`)
		return
	}
	t, secret, err := s.createToken(c.Request.Context(), authOf(c), c.ClientIP(), in.Name)
	if errors.Is(err, errTokenMintsToken) {
		jsonError(c, http.StatusForbidden, err.Error())
		return
	}
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusCreated, apiToken{ID: t.ID, Name: t.Name, Created: t.Created, Token: secret})
}

func (s *Server) apiRevokeToken(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		jsonError(c, http.StatusNotFound, "no such token")
		return
	}
	if err := s.revokeToken(c.Request.Context(), authOf(c), c.ClientIP(), id); err != nil {
		s.apiFail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
