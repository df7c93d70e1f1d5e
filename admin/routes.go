package admin

import (
	"embed"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"vahti/registry"
)

//go:embed static
var staticFS embed.FS

// publicRoutes are the only routes served without a login; the route-table
// test fails if any other route answers an anonymous request.
var publicRoutes = map[string]bool{
	"POST /api/v1/session":   true,
	"GET /login":             true,
	"POST /login":            true,
	"GET /static/*filepath":  true,
	"HEAD /static/*filepath": true,
	"GET /healthz":           true,
}

// ginRelease switches gin to release mode (no debug output) once: the mode
// is a package variable in gin, and servers may be built concurrently.
var ginRelease sync.Once

func (s *Server) routes() *gin.Engine {
	ginRelease.Do(func() { gin.SetMode(gin.ReleaseMode) })
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = false
	_ = r.SetTrustedProxies(nil) // the client address is the peer; X-Forwarded-For is not believed
	if s.httpMetrics != nil {
		r.Use(s.httpMetrics) // outermost: it sees the final status
	}
	r.Use(s.recoverer, s.logRequests, securityHeaders, limitBody)

	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	serveStatic := func(c *gin.Context) {
		if p := c.Param("filepath"); p == "" || p[len(p)-1] == '/' {
			c.String(http.StatusNotFound, "404 not found\n") // no directory listings
			return
		}
		c.Header("Cache-Control", "no-cache")
		fileServer.ServeHTTP(c.Writer, c.Request)
	}
	r.GET("/static/*filepath", serveStatic)
	r.HEAD("/static/*filepath", serveStatic)
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })

	// JSON API.
	api := r.Group("/api/v1", noStore)
	api.POST("/session", s.limitLoginBody(true), s.apiLogin)
	a := api.Group("", s.requireAuth(true), s.requireCSRF(true))
	a.DELETE("/session", s.apiLogout)
	a.GET("/session", s.apiMe)
	a.GET("/me", s.apiMe)
	a.PUT("/me/lang", s.apiSetLang)
	a.PUT("/me/password", s.apiSetPassword)
	a.GET("/cameras", s.apiCameras)
	a.GET("/status", s.apiStatus)
	a.GET("/tokens", s.apiTokens)
	a.POST("/tokens", s.apiCreateToken)
	a.DELETE("/tokens/:id", s.apiRevokeToken)

	k := a.Group("", s.requireRole(true, registry.RoleKeeper))
	k.PUT("/me/viewing-reason", s.apiSetReason)
	k.GET("/cameras/:id/day", s.apiDay)
	k.GET("/cameras/:id/playback", s.apiPlayback)
	k.GET("/holds", s.apiHolds)
	k.POST("/holds", s.apiAddHold)
	k.POST("/holds/:id/release", s.apiReleaseHold)
	k.GET("/exports", s.apiExports)
	k.POST("/exports", s.apiCreateExport)
	k.GET("/exports/:id/download", s.apiDownloadExport)

	// The request register: keepers handle requests; the DPO reads them.
	kd := a.Group("", s.requireRole(true, registry.RoleKeeper, registry.RoleDPO))
	kd.GET("/requests", s.apiRequests)
	kd.GET("/requests/:id", s.apiRequest)
	kd.GET("/disclosures", s.apiDisclosures)
	k.POST("/requests", s.apiAddRequest)
	k.POST("/requests/:id/export", s.apiExportRequest)
	k.POST("/requests/:id/deliveries", s.apiDeliverRequest)
	k.POST("/requests/:id/close", s.apiCloseRequest)
	k.PUT("/requests/:id", s.apiUpdateRequest)
	k.GET("/redaction", s.apiRedaction)                        // jobs_api.go
	k.POST("/requests/:id/jobs", s.apiSubmitJob)               // jobs_api.go
	k.POST("/requests/:id/redact/preview", s.apiRedactPreview) // jobs_api.go
	k.GET("/jobs", s.apiJobs)                                  // jobs_api.go
	k.GET("/jobs/:id", s.apiJob)                               // jobs_api.go
	k.DELETE("/jobs/:id", s.apiCancelJob)                      // jobs_api.go
	k.POST("/requests/:id/extend", s.apiExtendRequest)
	k.POST("/requests/:id/viewing", s.apiViewRequest)

	d := a.Group("", s.requireRole(true, registry.RoleDPO))
	d.GET("/audit", s.apiAudit)
	d.POST("/audit/verify", s.apiVerifyAudit)
	d.POST("/retention/confirm", s.apiConfirmPurge)

	ad := a.Group("", s.requireRole(true, registry.RoleAdmin))
	ad.GET("/users", s.apiUsers)
	ad.POST("/users", s.apiAddUser)
	ad.PUT("/users/:name/roles", s.apiSetRoles)
	ad.POST("/users/:name/disable", s.apiDisableUser)
	ad.POST("/users/:name/enable", s.apiEnableUser)
	ad.PUT("/users/:name/password", s.apiSetOneTime)

	// Pages.
	r.GET("/login", s.pageLogin)
	r.POST("/login", s.limitLoginBody(false), s.pageLoginPost)
	p := r.Group("", noStore, s.requireAuth(false), s.requireCSRF(false))
	p.POST("/logout", s.pageLogout)
	p.GET("/", s.pageDashboard)
	p.GET("/account", s.pageAccount)
	p.GET("/sign", s.pageSign) // the camera-surveillance sign, any role (sign.go)
	p.POST("/account/lang", s.pageSetLang)
	p.POST("/account/password", s.pageSetPassword)
	p.POST("/account/totp", s.pageTOTP)
	p.POST("/account/tokens", s.pageCreateToken)
	p.POST("/account/tokens/:id/revoke", s.pageRevokeToken)

	pk := p.Group("", s.requireRole(false, registry.RoleKeeper))
	pk.GET("/cameras/:id", s.pageDay)
	pk.GET("/cameras/:id/play", s.pagePlay)
	pk.POST("/viewing-reason", s.pageSetReason)
	pk.GET("/holds", s.pageHolds)
	pk.POST("/holds", s.pageAddHold)
	pk.POST("/holds/:id/release", s.pageReleaseHold)
	pk.GET("/exports", s.pageExports)
	pk.POST("/exports", s.pageCreateExport)
	pk.GET("/exports/:id/download", s.pageDownloadExport)

	pkd := p.Group("", s.requireRole(false, registry.RoleKeeper, registry.RoleDPO))
	pkd.GET("/requests", s.pageRequests)
	pkd.GET("/requests/:id", s.pageRequest)
	pkd.GET("/requests/:id/receipt/:did", s.pageReceipt)
	pkd.GET("/requests/:id/letter", s.pageLetter)
	pkd.GET("/disclosures", s.pageDisclosures)
	pkd.GET("/disclosures/log.csv", s.pageDisclosuresCSV)
	pkd.GET("/disclosures/register.csv", s.pageRegisterCSV)
	pk.POST("/requests", s.pageAddRequest)
	pk.POST("/requests/:id/export", s.pageExportRequest)
	pk.POST("/jobs/:id/cancel", s.pageCancelJob) // jobs_api.go
	pk.GET("/requests/:id/redact", s.pageRedact) // redact_pages.go
	pk.POST("/requests/:id/deliver", s.pageDeliverRequest)
	pk.POST("/requests/:id/close", s.pageCloseRequest)
	pk.POST("/requests/:id/notes", s.pageUpdateRequest)
	pk.POST("/requests/:id/extend", s.pageExtendRequest)
	pk.POST("/requests/:id/view", s.pageViewRequest)

	pd := p.Group("", s.requireRole(false, registry.RoleDPO))
	pd.GET("/audit", s.pageAudit)
	pd.POST("/audit/verify", s.pageVerifyAudit)
	pd.POST("/retention/confirm", s.pageConfirmPurge)

	pa := p.Group("", s.requireRole(false, registry.RoleAdmin))
	pa.GET("/users", s.pageUsers)
	pa.POST("/users", s.pageAddUser)
	pa.POST("/users/:name/roles", s.pageSetRoles)
	pa.POST("/users/:name/disable", s.pageDisableUser)
	pa.POST("/users/:name/enable", s.pageEnableUser)
	pa.POST("/users/:name/password", s.pageSetOneTime)

	r.NoRoute(func(c *gin.Context) {
		if len(c.Request.URL.Path) >= 5 && c.Request.URL.Path[:5] == "/api/" {
			jsonError(c, http.StatusNotFound, "no such endpoint")
			return
		}
		c.Header("Cache-Control", "no-store")
		c.String(http.StatusNotFound, "404 not found\n")
	})
	return r
}

// csp allows no inline script or style: everything comes from /static.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Next()
}

// limitBody bounds request bodies: forms and JSON here are small.
func limitBody(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
	c.Next()
}

// noStore keeps footage, API answers and pages full of personal data out
// of browser and proxy caches.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.Next()
}

// logRequests logs the route, never the query string or headers (which
// may carry tokens) or form bodies (which may carry passwords).
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	user := ""
	if p := authOf(c); p != nil {
		user = p.user.Name
	}
	s.cfg.Log.Debug("http", "method", c.Request.Method, "route", c.FullPath(), "status", c.Writer.Status(),
		"user", user, "ms", time.Since(start).Milliseconds())
}

func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.cfg.Log.Error("admin: handler panic", "route", c.FullPath(), "panic", v)
			c.AbortWithStatus(http.StatusInternalServerError)
		}
	}()
	c.Next()
}
