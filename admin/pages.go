package admin

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"vahti/registry"
)

const loginCookie = "vahti_login"

type loginData struct {
	Next  string
	Token string
	Name  string
}

// pageLogin shows the form with a login CSRF token (double submit: cookie
// and hidden field), so a foreign site cannot log a browser in as someone else.
func (s *Server) pageLogin(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if s.identify(c, false); authOf(c) != nil { // already logged in
		c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
		return
	}
	tok := randomToken()
	http.SetCookie(c.Writer, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	s.render(c, http.StatusOK, "login", "login.title", nil, loginData{Next: safeNext(c.Query("next")), Token: tok}, "")
}

func (s *Server) pageLoginPost(c *gin.Context) {
	next := safeNext(c.PostForm("next"))
	ck, _ := c.Cookie(loginCookie)
	form := c.PostForm("csrf")
	if ck == "" || subtle.ConstantTimeCompare([]byte(ck), []byte(form)) != 1 {
		tok := randomToken()
		http.SetCookie(c.Writer, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, Secure: true,
			SameSite: http.SameSiteStrictMode, MaxAge: 3600})
		s.render(c, http.StatusForbidden, "login", "login.title", nil, loginData{Next: next, Token: tok}, tr(c.PostForm("lang"), "error.csrf"))
		return
	}
	id, _, err := s.login(c.Request.Context(), c.PostForm("name"), c.PostForm("password"), c.PostForm("totp"), c.ClientIP())
	if err != nil {
		key, code := "login.failed", http.StatusUnauthorized
		switch {
		case errors.Is(err, errThrottled):
			key, code = "login.throttled", http.StatusTooManyRequests
			s.retryAfter(c, err)
		case errors.Is(err, errBusy):
			key, code = "login.busy", http.StatusTooManyRequests
			s.retryAfter(c, err)
		case !errors.Is(err, errLoginFailed):
			s.cfg.Log.Error("admin: login", "err", err)
			key, code = "error.internal", http.StatusInternalServerError
		}
		s.render(c, code, "login", "login.title", nil, loginData{Next: next, Token: ck, Name: c.PostForm("name")}, tr(c.PostForm("lang"), key))
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, Secure: true, HttpOnly: true})
	s.setSessionCookie(c, id)
	c.Redirect(http.StatusSeeOther, next)
}

func (s *Server) pageLogout(c *gin.Context) {
	p := authOf(c)
	if p.sess != nil {
		s.logout(c, p)
	}
	c.Redirect(http.StatusSeeOther, "/login?lang="+p.lang())
}

type dashData struct {
	Cameras []cameraView
	Disk    diskView
	MaxAge  time.Duration
	Now     time.Time
	Today   string
	// Deadlines: open requests overdue or due within three days (keepers, DPO).
	Deadlines []deadlineItem
	// Sealing is the footage sealing panel (sealing.go); nil when it could
	// not be read.
	Sealing *sealingView
}

func (s *Server) pageDashboard(c *gin.Context) {
	p := authOf(c)
	cams, disk, err := s.cameraViews(c.Request.Context())
	if err != nil {
		s.cfg.Log.Error("admin: dashboard", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	var due []deadlineItem
	if p.has(registry.RoleKeeper, registry.RoleDPO) {
		if due, err = s.deadlines(c.Request.Context()); err != nil {
			s.cfg.Log.Error("admin: dashboard deadlines", "err", err)
		}
	}
	d := dashData{Cameras: cams, Disk: disk,
		MaxAge: s.cfg.Cfg.Retention.MaxAge.D(), Now: s.now(), Today: s.now().In(s.loc).Format("2006-01-02"), Deadlines: due}
	if sv, err := s.sealingView(c.Request.Context()); err != nil {
		s.cfg.Log.Error("admin: dashboard sealing", "err", err)
	} else {
		d.Sealing = &sv
	}
	s.render(c, http.StatusOK, "dashboard", "dash.title", p, d, "")
}

// timeline is the day view's SVG, positions precomputed in viewBox units
// (0–1000), because the CSP forbids inline styles.
type timeline struct {
	Rects []tlRect
	Holds []tlRect
	Ticks []tlTick
	Now   float64 // -1: not today
}

type tlRect struct {
	X, W     float64
	From, To time.Time
	Href     string
}

type tlTick struct {
	X     float64
	Label string
	First bool // at the left edge: anchored at its start so it is not clipped
}

type dayPage struct {
	dayData
	Date     string
	Timeline timeline
	Today    bool
}

func (s *Server) buildTimeline(d dayData) timeline {
	total := d.To.Sub(d.From).Seconds()
	x := func(t time.Time) float64 { return 1000 * t.Sub(d.From).Seconds() / total }
	var tl timeline
	for _, sp := range d.Spans {
		w := x(sp.To) - x(sp.From)
		tl.Rects = append(tl.Rects, tlRect{X: x(sp.From), W: max(w, 0.8), From: sp.From, To: sp.To,
			Href: fmt.Sprintf("/cameras/%s/play?from=%s", d.Camera, url.QueryEscape(sp.From.UTC().Format(time.RFC3339)))})
	}
	for _, h := range d.Holds {
		f, t := maxTime(h.From, d.From), minTime(h.To, d.To)
		tl.Holds = append(tl.Holds, tlRect{X: x(f), W: max(x(t)-x(f), 0.8), From: h.From, To: h.To})
	}
	// One tick per real hour: a DST day has 23 or 25 of them, and the
	// labels show the repeated or skipped hour as it happened.
	for t := d.From; t.Before(d.To); t = t.Add(time.Hour) {
		if l := t.In(s.loc); l.Hour()%3 == 0 || t.Equal(d.From) {
			tl.Ticks = append(tl.Ticks, tlTick{X: x(t), Label: l.Format("15"), First: t.Equal(d.From)})
		}
	}
	tl.Now = -1
	if now := s.now(); now.After(d.From) && now.Before(d.To) {
		tl.Now = x(now)
	}
	return tl
}

func (s *Server) pageDay(c *gin.Context) {
	p := authOf(c)
	cam := c.Param("id")
	if !s.knownCamera(cam) {
		s.renderError(c, http.StatusNotFound, "error.nocamera404")
		return
	}
	day := s.now().In(s.loc)
	errMsg := ""
	if q := c.Query("date"); q != "" {
		d, err := parseDay(q, s.loc)
		if err != nil {
			errMsg = tr(p.lang(), "error.baddate")
		} else {
			day = d
		}
	}
	d, err := s.dayView(c.Request.Context(), cam, day)
	if err != nil {
		s.cfg.Log.Error("admin: day view", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	today := s.now().In(s.loc).Format("2006-01-02")
	s.render(c, http.StatusOK, "day", "day.title", p, dayPage{dayData: d, Date: d.Day.Format("2006-01-02"),
		Timeline: s.buildTimeline(d), Today: d.Day.Format("2006-01-02") == today}, errMsg)
}

type playPage struct {
	Camera, Name  string
	Purpose       string
	From, To      time.Time
	Minutes       int
	Src           string
	Reason        string
	NeedReason    bool
	Prev, Next    string
	Back          string
	StartMS       int64
	Available     bool
	Ambiguous     bool
	FromText      string
	ExportHref    string
	HoldHref      string
	MinuteChoices []int
}

func (s *Server) pagePlay(c *gin.Context) {
	p := authOf(c)
	cam := c.Param("id")
	if !s.knownCamera(cam) {
		s.renderError(c, http.StatusNotFound, "error.nocamera404")
		return
	}
	camCfg, _ := s.camera(cam)
	pp := playPage{Camera: cam, Name: camCfg.Name, Purpose: camCfg.Purpose, Minutes: 5, Available: s.cfg.Playback != nil,
		MinuteChoices: []int{1, 5, 15, 30, 60}}
	if m, err := strconv.Atoi(c.Query("min")); err == nil && m >= 1 && m <= 360 {
		pp.Minutes = m
	}
	errMsg := ""
	pp.FromText = c.Query("from")
	from, err := parseWhen(c.Query("from"), s.loc, c.Query("dst"))
	if c.Query("from") == "" {
		from, err = s.now().Add(-time.Duration(pp.Minutes)*time.Minute), nil
	}
	if err != nil {
		var amb *AmbiguousError
		pp.Ambiguous = errors.As(err, &amb)
		errMsg = errorText(p.lang(), err)
		from = s.now().Add(-time.Duration(pp.Minutes) * time.Minute)
	}
	from = from.Truncate(time.Second)
	pp.From, pp.To = from, from.Add(time.Duration(pp.Minutes)*time.Minute)
	pp.StartMS = from.UnixMilli()
	pp.Reason = s.sessions.reasonOf(p.sess)
	pp.NeedReason = pp.Reason == ""
	// A window reaching past the newest footage would grow as recording
	// goes on, and the browser's later range requests would then read a
	// different file from the one whose header it has. Pin the player's
	// window to the footage that exists now.
	srcTo := pp.To
	if end, ok := s.footageEnd(c.Request.Context(), cam, from, pp.To); ok && end.Before(srcTo) {
		srcTo = end
	}
	q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {srcTo.Format(time.RFC3339Nano)}}
	pp.Src = "/api/v1/cameras/" + cam + "/playback?" + q.Encode()
	step := time.Duration(pp.Minutes) * time.Minute
	pp.Prev = fmt.Sprintf("/cameras/%s/play?from=%s&min=%d", cam, url.QueryEscape(from.Add(-step).Format(time.RFC3339)), pp.Minutes)
	pp.Next = fmt.Sprintf("/cameras/%s/play?from=%s&min=%d", cam, url.QueryEscape(from.Add(step).Format(time.RFC3339)), pp.Minutes)
	pp.Back = fmt.Sprintf("/cameras/%s?date=%s", cam, from.In(s.loc).Format("2006-01-02"))
	pp.ExportHref = "/exports?" + url.Values{"camera": {cam}, "from": {from.In(s.loc).Format("2006-01-02T15:04")},
		"to": {pp.To.In(s.loc).Format("2006-01-02T15:04")}}.Encode()
	pp.HoldHref = "/holds?" + url.Values{"camera": {cam}, "from": {from.In(s.loc).Format("2006-01-02T15:04")},
		"to": {pp.To.In(s.loc).Format("2006-01-02T15:04")}}.Encode()
	if errMsg == "" && !s.keys.Unlocked() && s.footageSealed(c.Request.Context()) {
		// Segments recorded sealed will not open; plain ones still play.
		errMsg = tr(p.lang(), "sealed.locked")
	}
	s.render(c, http.StatusOK, "play", "play.title", p, pp, errMsg)
}

// footageSealed reports whether the site keys exist, so footage recorded
// since is sealed.
func (s *Server) footageSealed(ctx context.Context) bool {
	on := false
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) (err error) { on, err = sealed(tx); return })
	return err == nil && on
}

func (s *Server) pageSetReason(c *gin.Context) {
	p := authOf(c)
	next := safeNext(c.PostForm("next"))
	r := strings.TrimSpace(c.PostForm("reason"))
	if r == "" || len(r) > 500 {
		s.flashRedirect(c, next, tr(p.lang(), "error.noreason"))
		return
	}
	if err := s.sessions.setReason(c.Request.Context(), p.sess, r); err != nil {
		s.cfg.Log.Error("admin: viewing reason", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	c.Redirect(http.StatusSeeOther, next)
}

type rangeForm struct {
	Cameras      []string
	From, To     string
	Reason       string
	CaseRef      string
	FromAmb      bool
	ToAmb        bool
	AllCams      []cameraOpt
	Exports      []registry.Export
	Holds        []registry.Hold
	OpenReqs     map[int64]bool // requests still open: their holds go only by closing them
	ShowAll      bool
	NewExport    string
	JobThreshold time.Duration // exports with more footage run as jobs
	Rows         []jobRow      // the Exports page: ad-hoc export jobs (jobs_api.go jobRows)
}

type cameraOpt struct{ ID, Name, Purpose string }

func (s *Server) cameraOpts() []cameraOpt {
	var out []cameraOpt
	for _, c := range s.cameras() {
		out = append(out, cameraOpt{c.ID, c.Name, c.Purpose})
	}
	return out
}

func formRange(c *gin.Context) rangeInput {
	return rangeInput{Cameras: c.PostFormArray("camera"), From: c.PostForm("from"), To: c.PostForm("to"),
		FromPick: c.PostForm("from_dst"), ToPick: c.PostForm("to_dst"), Reason: c.PostForm("reason"), CaseRef: c.PostForm("case_ref")}
}

// ambiguity tells which of from/to needs an earlier/later choice.
func (s *Server) ambiguity(in rangeInput) (bool, bool) {
	_, e1 := parseWhen(in.From, s.loc, in.FromPick)
	_, e2 := parseWhen(in.To, s.loc, in.ToPick)
	var a *AmbiguousError
	return errors.As(e1, &a), errors.As(e2, &a)
}

func (s *Server) pageExports(c *gin.Context) {
	s.showExports(c, http.StatusOK, rangeForm{Cameras: c.QueryArray("camera"), From: c.Query("from"), To: c.Query("to")}, "")
}

func (s *Server) showExports(c *gin.Context, status int, f rangeForm, errMsg string) {
	p := authOf(c)
	var err error
	if f.Exports, err = s.exports(c.Request.Context()); err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	f.AllCams, f.JobThreshold = s.cameraOpts(), JobThreshold
	if s.cfg.Jobs != nil { // the ad-hoc export jobs, with progress and cancel
		var js []registry.Job
		if err := s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
			var err error
			js, err = tx.AdHocJobs()
			return err
		}); err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		f.Rows = jobRows(p.lang(), js, s.now())
	}
	s.render(c, status, "exports", "exports.title", p, f, errMsg)
}

func (s *Server) pageCreateExport(c *gin.Context) {
	p := authOf(c)
	in := formRange(c)
	e, j, err := s.startExport(c.Request.Context(), p, c.ClientIP(), in)
	if err != nil {
		f := rangeForm{Cameras: in.Cameras, From: in.From, To: in.To, Reason: in.Reason, CaseRef: in.CaseRef}
		f.FromAmb, f.ToAmb = s.ambiguity(in)
		s.showExports(c, http.StatusBadRequest, f, errorText(p.lang(), err))
		return
	}
	if j != nil { // over JobThreshold: the page lists it with its progress
		s.flashRedirect(c, "/exports", trf(p.lang(), "jobs.queued", j.ID))
		return
	}
	s.flashRedirect(c, "/exports", trf(p.lang(), "exports.done", e.ID))
}

func (s *Server) pageDownloadExport(c *gin.Context) {
	if err := s.serveExport(c); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			s.renderError(c, http.StatusNotFound, "error.noexport")
			return
		}
		s.cfg.Log.Error("admin: download", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
	}
}

func (s *Server) pageHolds(c *gin.Context) {
	s.showHolds(c, http.StatusOK, rangeForm{Cameras: c.QueryArray("camera"), From: c.Query("from"), To: c.Query("to"),
		ShowAll: c.Query("all") == "1"}, "")
}

func (s *Server) showHolds(c *gin.Context, status int, f rangeForm, errMsg string) {
	p := authOf(c)
	var err error
	if f.Holds, err = s.holds(c.Request.Context(), f.ShowAll); err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	f.AllCams = s.cameraOpts()
	if f.OpenReqs, err = s.openRequestIDs(c.Request.Context()); err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, status, "holds", "holds.title", p, f, errMsg)
}

func (s *Server) pageAddHold(c *gin.Context) {
	p := authOf(c)
	in := formRange(c)
	h, err := s.placeHold(c.Request.Context(), p, c.ClientIP(), in)
	if err != nil {
		f := rangeForm{Cameras: in.Cameras, From: in.From, To: in.To, Reason: in.Reason, CaseRef: in.CaseRef}
		f.FromAmb, f.ToAmb = s.ambiguity(in)
		s.showHolds(c, http.StatusBadRequest, f, errorText(p.lang(), err))
		return
	}
	s.flashRedirect(c, "/holds", trf(p.lang(), "holds.done", h.ID))
}

func (s *Server) pageReleaseHold(c *gin.Context) {
	p := authOf(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		s.renderError(c, http.StatusNotFound, "error.nohold")
		return
	}
	if _, err := s.releaseHold(c.Request.Context(), p, c.ClientIP(), id, c.PostForm("reason")); err != nil {
		s.showHolds(c, http.StatusBadRequest, rangeForm{}, errorText(p.lang(), err))
		return
	}
	s.flashRedirect(c, "/holds", trf(p.lang(), "holds.released", id))
}

type auditPage struct {
	Entries     []registry.Entry
	From, To    string
	Actor, Kind string
	Verified    bool
	VerifyOK    bool
	VerifyN     int
	VerifyMsg   string
	Limit       int
	NextAfter   int64
	Kinds       []kindGroup
	OtherKind   bool // the filter's kind is not in Kinds (typed into the URL): kept as an extra option
	Anchor      auditAnchor
	Keepers     *keeperSummary // who can see footage, and recent keeper grants
}

func (s *Server) pageAudit(c *gin.Context) { s.showAudit(c, auditPage{}) }

func (s *Server) showAudit(c *gin.Context, ap auditPage) {
	p := authOf(c)
	f, err := s.auditFilter(c)
	errMsg := ""
	if err != nil {
		errMsg = errorText(p.lang(), err)
		f = registry.AuditFilter{Limit: 200}
	}
	ap.From, ap.To, ap.Actor, ap.Kind, ap.Limit = c.Query("from"), c.Query("to"), f.Actor, f.Kind, f.Limit
	ap.Kinds = auditKindGroups
	ap.OtherKind = f.Kind != "" && !knownKind(f.Kind)
	if ap.Entries, err = s.auditEntries(c, f); err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	if n := len(ap.Entries); n == f.Limit && n > 0 {
		ap.NextAfter = ap.Entries[n-1].Seq
	}
	if ap.Anchor, err = s.auditAnchor(c.Request.Context()); err != nil {
		s.cfg.Log.Error("admin: audit anchor", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	if ks, err := s.keeperSummary(c.Request.Context()); err != nil {
		s.cfg.Log.Error("admin: keeper summary", "err", err)
	} else {
		ap.Keepers = &ks
	}
	s.render(c, http.StatusOK, "audit", "audit.title", p, ap, errMsg)
}

func (s *Server) pageConfirmPurge(c *gin.Context) {
	p := authOf(c)
	if s.cfg.ConfirmPurge == nil {
		s.renderError(c, http.StatusServiceUnavailable, "error.internal")
		return
	}
	n, err := s.cfg.ConfirmPurge(c.Request.Context(), p.user.Name, c.ClientIP())
	if err != nil {
		s.cfg.Log.Error("admin: confirm purge", "err", err)
		s.flashRedirect(c, "/", err.Error())
		return
	}
	s.flashRedirect(c, "/", trf(p.lang(), "dash.confirmed", n))
}

func (s *Server) pageVerifyAudit(c *gin.Context) {
	p := authOf(c)
	n, err := s.verifyAudit(c.Request.Context(), p, c.ClientIP())
	ap := auditPage{Verified: true, VerifyOK: err == nil, VerifyN: n}
	if err != nil {
		ap.VerifyMsg = err.Error()
	}
	s.showAudit(c, ap)
}

type usersPage struct {
	Users  []registry.User
	Now    time.Time
	Name   string
	Roles  []string
	Access footageAccess // sealed footage: who holds a grant (users_access.go)
}

func (s *Server) pageUsers(c *gin.Context) { s.showUsers(c, http.StatusOK, usersPage{}, "") }

func (s *Server) showUsers(c *gin.Context, status int, up usersPage, errMsg string) {
	var err error
	if up.Users, err = s.users(c); err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	up.Now = s.now()
	if up.Access, err = s.footageAccess(c.Request.Context(), authOf(c)); err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, status, "users", "users.title", authOf(c), up, errMsg)
}

func (s *Server) pageAddUser(c *gin.Context) {
	p := authOf(c)
	name, roles := c.PostForm("name"), c.PostFormArray("role")
	if c.PostForm("password") != c.PostForm("password2") {
		s.showUsers(c, http.StatusBadRequest, usersPage{Name: name, Roles: roles}, tr(p.lang(), "error.passwordmatch"))
		return
	}
	_, grant, err := s.addUser(c.Request.Context(), p, c.ClientIP(), name, roles, c.PostForm("password"), c.PostForm("lang"))
	if err != nil {
		s.showUsers(c, http.StatusBadRequest, usersPage{Name: name, Roles: roles}, errorText(p.lang(), err))
		return
	}
	msg := trf(p.lang(), "users.added", name)
	switch grant {
	case grantMade:
		msg = trf(p.lang(), "users.granted", name)
	case grantNone:
		msg = trf(p.lang(), "users.nogrant", name)
	}
	s.flashRedirect(c, "/users", msg)
}

func (s *Server) pageSetRoles(c *gin.Context) {
	p := authOf(c)
	if err := s.setRoles(c.Request.Context(), p, c.ClientIP(), c.Param("name"), c.PostFormArray("role")); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			s.renderError(c, http.StatusNotFound, "error.nouser")
			return
		}
		s.showUsers(c, http.StatusBadRequest, usersPage{}, errorText(p.lang(), err))
		return
	}
	s.flashRedirect(c, "/users", tr(p.lang(), "users.saved"))
}

func (s *Server) pageDisableUser(c *gin.Context) { s.pageEnable(c, true) }
func (s *Server) pageEnableUser(c *gin.Context)  { s.pageEnable(c, false) }

func (s *Server) pageEnable(c *gin.Context, disabled bool) {
	p := authOf(c)
	if err := s.setDisabled(c.Request.Context(), p, c.ClientIP(), c.Param("name"), disabled); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			s.renderError(c, http.StatusNotFound, "error.nouser")
			return
		}
		s.showUsers(c, http.StatusBadRequest, usersPage{}, errorText(p.lang(), err))
		return
	}
	s.flashRedirect(c, "/users", tr(p.lang(), "users.saved"))
}

type accountPage struct {
	Tokens     []registry.Token
	NewToken   string
	Roles      []string
	TOTP       bool
	TOTPSecret string // being enrolled
	TOTPURI    string
	// MustChange: the password is a one-time one set by an admin; the page
	// shows the change form alone, as nothing else is allowed.
	MustChange bool
}

func (s *Server) pageAccount(c *gin.Context) { s.showAccount(c, http.StatusOK, "", "") }

func (s *Server) showAccount(c *gin.Context, status int, newToken, errMsg string) {
	p := authOf(c)
	ts, err := s.tokens(c.Request.Context(), p)
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	ap := accountPage{Tokens: ts, NewToken: newToken, Roles: p.user.Roles, TOTP: p.user.TOTPSecret != "",
		MustChange: p.user.MustChangePassword}
	if p.sess != nil && !ap.TOTP {
		if ap.TOTPSecret = s.sessions.pendingTOTP(p.sess); ap.TOTPSecret != "" {
			ap.TOTPURI = TOTPURI("Vahti", p.user.Name, ap.TOTPSecret)
		}
	}
	s.render(c, status, "account", "account.title", p, ap, errMsg)
}

func (s *Server) pageSetLang(c *gin.Context) {
	p := authOf(c)
	if err := s.setLang(c.Request.Context(), p, c.ClientIP(), c.PostForm("lang")); err != nil {
		s.showAccount(c, http.StatusBadRequest, "", errorText(p.lang(), err))
		return
	}
	c.Redirect(http.StatusSeeOther, safeNext(c.PostForm("next")))
}

func (s *Server) pageSetPassword(c *gin.Context) {
	p := authOf(c)
	if c.PostForm("password") != c.PostForm("password2") {
		s.showAccount(c, http.StatusBadRequest, "", tr(p.lang(), "error.passwordmatch"))
		return
	}
	revoke := c.PostForm("revoke_tokens") == "1"
	if err := s.setPassword(c.Request.Context(), p, c.ClientIP(), c.PostForm("old"), c.PostForm("password"), revoke); err != nil {
		s.showAccount(c, http.StatusBadRequest, "", errorText(p.lang(), err))
		return
	}
	clearSessionCookie(c)
	c.Redirect(http.StatusSeeOther, "/login?lang="+p.lang())
}

// pageTOTP enrols or removes the second factor: "begin" makes a secret
// kept in the session, "confirm" stores it once the app shows a right
// code, "off" removes it (a current code is needed for that too).
func (s *Server) pageTOTP(c *gin.Context) {
	p := authOf(c)
	code := c.PostForm("code")
	switch c.PostForm("action") {
	case "begin":
		secret, err := NewTOTPSecret()
		if err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		if err := s.sessions.setPendingTOTP(c.Request.Context(), p.sess, secret); err != nil {
			s.cfg.Log.Error("admin: totp enrolment", "err", err)
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		s.showAccount(c, http.StatusOK, "", "")
	case "confirm":
		secret := s.sessions.pendingTOTP(p.sess)
		step, ok := MatchTOTP(secret, code, s.now())
		if secret == "" || !ok {
			s.showAccount(c, http.StatusBadRequest, "", tr(p.lang(), "error.totp"))
			return
		}
		_, err := s.updateUser(c.Request.Context(), p, c.ClientIP(), p.user.Name, "user.totp", map[string]any{"enabled": true},
			func(u *registry.User) error {
				u.TOTPSecret, u.TOTPLastStep = secret, max(step, u.TOTPLastStep)
				return nil
			})
		if err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		s.sessions.setPendingTOTP(c.Request.Context(), p.sess, "")
		s.flashRedirect(c, "/account", tr(p.lang(), "account.totpdone"))
	case "off":
		step, ok := freshTOTP(p.user, code, s.now())
		if p.user.TOTPSecret == "" || !ok {
			s.showAccount(c, http.StatusBadRequest, "", tr(p.lang(), "error.totp"))
			return
		}
		_, err := s.updateUser(c.Request.Context(), p, c.ClientIP(), p.user.Name, "user.totp", map[string]any{"enabled": false},
			func(u *registry.User) error {
				if step <= u.TOTPLastStep { // spent by a request racing this one
					return uerr("error.totp")
				}
				u.TOTPSecret, u.TOTPLastStep = "", step
				return nil
			})
		if ue := (*userError)(nil); errors.As(err, &ue) {
			s.showAccount(c, http.StatusBadRequest, "", tr(p.lang(), "error.totp"))
			return
		}
		if err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		s.flashRedirect(c, "/account", tr(p.lang(), "account.totpremoved"))
	default:
		s.showAccount(c, http.StatusBadRequest, "", tr(p.lang(), "error.totp"))
	}
}

func (s *Server) pageCreateToken(c *gin.Context) {
	p := authOf(c)
	_, secret, err := s.createToken(c.Request.Context(), p, c.ClientIP(), c.PostForm("name"))
	if err != nil {
		s.showAccount(c, http.StatusBadRequest, "", errorText(p.lang(), err))
		return
	}
	s.showAccount(c, http.StatusOK, secret, "")
}

func (s *Server) pageRevokeToken(c *gin.Context) {
	p := authOf(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err == nil && id > 0 {
		err = s.revokeToken(c.Request.Context(), p, c.ClientIP(), id)
	}
	if err != nil {
		s.renderError(c, http.StatusNotFound, "error.notoken")
		return
	}
	s.flashRedirect(c, "/account", tr(p.lang(), "account.revoked"))
}

// footageEnd is the end of the newest catalogued footage of a camera
// inside [from, to).
func (s *Server) footageEnd(ctx context.Context, cam string, from, to time.Time) (time.Time, bool) {
	var end time.Time
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		segs, err := tx.SegmentsIn(cam, from, to)
		for _, sg := range segs {
			if sg.End.After(end) {
				end = sg.End
			}
		}
		return err
	})
	return end, err == nil && end.After(from)
}
