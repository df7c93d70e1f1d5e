package admin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

// routeRoles classifies every non-public route: "" = any logged-in user,
// else the role it needs. A new route that is missing here fails
// TestEveryRouteClassified, so nobody adds one without deciding who may use it.
var routeRoles = map[string]string{
	"DELETE /api/v1/session":           "",
	"GET /api/v1/session":              "",
	"GET /api/v1/me":                   "",
	"PUT /api/v1/me/lang":              "",
	"PUT /api/v1/me/password":          "",
	"GET /api/v1/cameras":              "",
	"GET /api/v1/status":               "",
	"GET /api/v1/tokens":               "",
	"POST /api/v1/tokens":              "",
	"DELETE /api/v1/tokens/:id":        "",
	"PUT /api/v1/me/viewing-reason":    registry.RoleKeeper,
	"GET /api/v1/cameras/:id/day":      registry.RoleKeeper,
	"GET /api/v1/cameras/:id/playback": registry.RoleKeeper,
	"GET /api/v1/holds":                registry.RoleKeeper,
	"POST /api/v1/holds":               registry.RoleKeeper,
	"POST /api/v1/holds/:id/release":   registry.RoleKeeper,
	"GET /api/v1/exports":              registry.RoleKeeper,
	"POST /api/v1/exports":             registry.RoleKeeper,
	"GET /api/v1/exports/:id/download": registry.RoleKeeper,
	"GET /api/v1/audit":                registry.RoleDPO,
	"POST /api/v1/audit/verify":        registry.RoleDPO,
	"POST /api/v1/retention/confirm":   registry.RoleDPO,
	"GET /api/v1/users":                registry.RoleAdmin,
	"POST /api/v1/users":               registry.RoleAdmin,
	"PUT /api/v1/users/:name/roles":    registry.RoleAdmin,
	"POST /api/v1/users/:name/disable": registry.RoleAdmin,
	"POST /api/v1/users/:name/enable":  registry.RoleAdmin,
	"PUT /api/v1/users/:name/password": registry.RoleAdmin,
	"POST /logout":                     "",
	"GET /":                            "",
	"GET /account":                     "",
	"GET /sign":                        "",
	"POST /account/lang":               "",
	"POST /account/password":           "",
	"POST /account/totp":               "",
	"POST /account/tokens":             "",
	"POST /account/tokens/:id/revoke":  "",
	"GET /cameras/:id":                 registry.RoleKeeper,
	"GET /cameras/:id/play":            registry.RoleKeeper,
	"POST /viewing-reason":             registry.RoleKeeper,
	"GET /holds":                       registry.RoleKeeper,
	"POST /holds":                      registry.RoleKeeper,
	"POST /holds/:id/release":          registry.RoleKeeper,
	"GET /exports":                     registry.RoleKeeper,
	"POST /exports":                    registry.RoleKeeper,
	"GET /exports/:id/download":        registry.RoleKeeper,
	"GET /audit":                       registry.RoleDPO,
	"POST /audit/verify":               registry.RoleDPO,
	"POST /retention/confirm":          registry.RoleDPO,
	"GET /users":                       registry.RoleAdmin,
	"POST /users":                      registry.RoleAdmin,
	"POST /users/:name/roles":          registry.RoleAdmin,
	"POST /users/:name/disable":        registry.RoleAdmin,
	"POST /users/:name/enable":         registry.RoleAdmin,
	"POST /users/:name/password":       registry.RoleAdmin,
	// The request register: keepers handle requests, the DPO reads them.
	"GET /requests/:id/receipt/:did":           keeperOrDPO,
	"GET /requests/:id/letter":                 keeperOrDPO,
	"GET /requests/:id/redact":                 registry.RoleKeeper,
	"POST /api/v1/requests/:id/extend":         registry.RoleKeeper,
	"POST /api/v1/requests/:id/deliveries":     registry.RoleKeeper,
	"POST /api/v1/requests/:id/close":          registry.RoleKeeper,
	"POST /api/v1/requests/:id/jobs":           registry.RoleKeeper,
	"POST /api/v1/requests/:id/redact/preview": registry.RoleKeeper,
	"POST /api/v1/requests/:id/viewing":        registry.RoleKeeper,
	"POST /requests/:id/extend":                registry.RoleKeeper,
	"POST /requests/:id/deliver":               registry.RoleKeeper,
	"POST /requests/:id/close":                 registry.RoleKeeper,
	"POST /requests/:id/notes":                 registry.RoleKeeper,
	"POST /requests/:id/view":                  registry.RoleKeeper,
	"GET /api/v1/requests":                     keeperOrDPO,
	"GET /api/v1/requests/:id":                 keeperOrDPO,
	"GET /api/v1/disclosures":                  keeperOrDPO,
	"POST /api/v1/requests":                    registry.RoleKeeper,
	"POST /api/v1/requests/:id/export":         registry.RoleKeeper,
	"GET /api/v1/redaction":                    registry.RoleKeeper,
	"GET /api/v1/jobs":                         registry.RoleKeeper,
	"GET /api/v1/jobs/:id":                     registry.RoleKeeper,
	"DELETE /api/v1/jobs/:id":                  registry.RoleKeeper,
	"GET /requests":                            keeperOrDPO,
	"GET /requests/:id":                        keeperOrDPO,
	"GET /disclosures":                         keeperOrDPO,
	"GET /disclosures/log.csv":                 keeperOrDPO,
	"GET /disclosures/register.csv":            keeperOrDPO,
	"POST /requests":                           registry.RoleKeeper,
	"POST /requests/:id/export":                registry.RoleKeeper,
	"PUT /api/v1/requests/:id":                 registry.RoleKeeper,
	"POST /jobs/:id/cancel":                    registry.RoleKeeper, // jobs_api.go pageCancelJob
}

// keeperOrDPO: a route either role may use (roles in routeRoles are a
// comma-separated list of alternatives).
const keeperOrDPO = registry.RoleKeeper + "," + registry.RoleDPO

// concrete fills a route pattern's parameters with plausible values.
func concrete(path string) string {
	r := strings.NewReplacer(":id/day", "yard/day", ":id/playback", "yard/playback", ":id/play", "yard/play",
		"cameras/:id", "cameras/yard", ":name", "keeper", ":id", "1", "*filepath", "app.css")
	return r.Replace(path) + "?from=2026-11-22T10:00:00Z&to=2026-11-22T10:05:00Z"
}

func TestEveryRouteClassified(t *testing.T) {
	h := newHarness(t)
	seen := map[string]bool{}
	for _, r := range h.srv.engine.Routes() {
		k := r.Method + " " + r.Path
		seen[k] = true
		_, classified := routeRoles[k]
		if !classified && !publicRoutes[k] {
			t.Errorf("route %s is neither public nor in routeRoles: decide who may use it", k)
		}
	}
	for k := range routeRoles {
		if !seen[k] {
			t.Errorf("routeRoles names %s, which is not served", k)
		}
	}
	for k := range publicRoutes {
		if !seen[k] {
			t.Errorf("publicRoutes names %s, which is not served", k)
		}
	}
}

// TestAnonymousRefusedEverywhere walks gin's route table: every route that
// is not explicitly public refuses a request without a session.
func TestAnonymousRefusedEverywhere(t *testing.T) {
	h := newHarness(t)
	h.addSegments("yard", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), 10, 30*time.Second)
	c := h.anon()
	n := 0
	for _, r := range h.srv.engine.Routes() {
		k := r.Method + " " + r.Path
		if publicRoutes[k] {
			continue
		}
		n++
		res, body := c.do(r.Method, concrete(r.Path), nil)
		if strings.HasPrefix(r.Path, "/api/") {
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: anonymous got %d, want 401", k, res.StatusCode)
			}
			var e struct{ Error string }
			if json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Errorf("%s: 401 body is not {\"error\": ...}: %s", k, body)
			}
		} else if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("%s: anonymous got %d (Location %q), want a redirect to /login", k, res.StatusCode, res.Header.Get("Location"))
		}
		if strings.Contains(string(body), "fake mp4") {
			t.Errorf("%s: footage served to an anonymous client", k)
		}
	}
	if len(h.playedCameras()) != 0 {
		t.Errorf("playback called %d times for anonymous requests", len(h.playedCameras()))
	}
	if n < 40 {
		t.Errorf("only %d protected routes walked; the route table looks wrong", n)
	}
	// A forged bearer token and a forged cookie are no better.
	res, _ := c.do("GET", "/api/v1/cameras", nil)
	if res.StatusCode != 401 {
		t.Errorf("contract: GET /api/v1/cameras without a session = %d, want 401", res.StatusCode)
	}
	req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/cameras", nil)
	req.Header.Set("Authorization", "Bearer vahti_forged")
	req.AddCookie(&http.Cookie{Name: cookieName, Value: "forged"})
	if res, err := h.ts.Client().Do(req); err != nil || res.StatusCode != 401 {
		t.Errorf("forged credentials: %v %v", res.StatusCode, err)
	}
}

// TestWrongRoleForbidden: each role-bound route answers 403 to every
// account lacking its role, and never reaches footage.
func TestWrongRoleForbidden(t *testing.T) {
	h := newHarness(t)
	clients := map[string]*client{}
	for name := range testUsers {
		clients[name] = h.login(name)
	}
	for _, r := range h.srv.engine.Routes() {
		k := r.Method + " " + r.Path
		need := routeRoles[k]
		if need == "" {
			continue
		}
		for name, roles := range testUsers {
			has := false
			for _, x := range roles {
				has = has || strings.Contains(","+need+",", ","+x+",")
			}
			if has {
				continue
			}
			res, body := clients[name].do(r.Method, concrete(r.Path), map[string]string{})
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s as %s: %d, want 403", k, name, res.StatusCode)
			}
			if strings.HasPrefix(r.Path, "/api/") && !strings.Contains(string(body), `"error"`) {
				t.Errorf("%s as %s: body not JSON error: %s", k, name, body)
			}
		}
	}
	if len(h.playedCameras()) != 0 {
		t.Errorf("playback reached by a non-keeper")
	}
	// dpo and admin see no footage even through the camera list: only metadata.
	res, body := clients["dpo"].do("GET", "/api/v1/cameras", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"yard"`) {
		t.Errorf("dpo camera list: %d %s", res.StatusCode, body)
	}
}

// TestCSRFRequired: every state-changing route refuses a session request
// without the token or with a wrong one; a bearer token needs none.
func TestCSRFRequired(t *testing.T) {
	h := newHarness(t)
	boss := h.login("boss")
	good := boss.csrf
	for _, r := range h.srv.engine.Routes() {
		k := r.Method + " " + r.Path
		if r.Method == "GET" || r.Method == "HEAD" || publicRoutes[k] {
			continue
		}
		for _, tok := range []string{"", "wrong", good[:len(good)-1]} {
			boss.csrf = tok
			res, body := boss.do(r.Method, concrete(r.Path), formBody("csrf="+url.QueryEscape(tok)+"&reason=x&name=x"))
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s with CSRF %q: %d, want 403 (%s)", k, tok, res.StatusCode, body)
			}
		}
	}
	boss.csrf = good
	// The session survived all that and the real token works.
	res, body := boss.do("POST", "/api/v1/holds", map[string]any{"cameras": []string{"yard"},
		"from": "2026-11-22T10:00:00Z", "to": "2026-11-22T11:00:00Z", "reason": "vandalism"})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("hold with CSRF: %d %s", res.StatusCode, body)
	}
	// A form page with the hidden field (no header) works too.
	boss.csrf = ""
	res, _ = boss.do("POST", "/viewing-reason", formBody("csrf="+url.QueryEscape(good)+"&reason=check&next=/"))
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("form with hidden CSRF field: %d", res.StatusCode)
	}
	// Bearer tokens carry no ambient authority, so no CSRF token is needed.
	boss.csrf = good
	res, body = boss.do("POST", "/api/v1/tokens", map[string]string{"name": "script"})
	var tok struct{ Token string }
	json.Unmarshal(body, &tok)
	if res.StatusCode != 201 || tok.Token == "" {
		t.Fatalf("token: %d %s", res.StatusCode, body)
	}
	req, _ := http.NewRequest("POST", h.ts.URL+"/api/v1/holds", strings.NewReader(
		`{"cameras":["lobby"],"from":"2026-11-22T10:00:00Z","to":"2026-11-22T11:00:00Z","reason":"script"}`))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	if res, err := h.ts.Client().Do(req); err != nil || res.StatusCode != 201 {
		t.Errorf("bearer hold: %v %v", res.StatusCode, err)
	}
	// The JSON login refuses a cross-site text/plain form post.
	req, _ = http.NewRequest("POST", h.ts.URL+"/api/v1/session", strings.NewReader(`{"name":"keeper","password":"`+testPassword+`"}`))
	req.Header.Set("Content-Type", "text/plain")
	if res, err := h.ts.Client().Do(req); err != nil || res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain login: %v %v", res.StatusCode, err)
	}
	// The login form needs its own double-submit token.
	c := h.anon()
	res, _ = c.do("POST", "/login", formBody("name=keeper&password="+testPassword))
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("login form without token: %d, want 403", res.StatusCode)
	}
}

func TestSessionIdleAndAbsoluteExpiry(t *testing.T) {
	h := newHarness(t)
	c := h.login("keeper")
	get := func() int { res, _ := c.do("GET", "/api/v1/me", nil); return res.StatusCode }
	// Activity keeps the session alive past the idle limit in total...
	for i := 0; i < 3; i++ {
		h.clock.Add(14 * time.Minute)
		if s := get(); s != 200 {
			t.Fatalf("after %d×14 min of activity: %d", i+1, s)
		}
	}
	// ...but 15 idle minutes end it.
	h.clock.Add(15 * time.Minute)
	if s := get(); s != 401 {
		t.Fatalf("after 15 idle minutes: %d, want 401", s)
	}
	// Absolute limit: active every 10 minutes, still out at 8 h.
	c = h.login("keeper")
	for el := time.Duration(0); el < 8*time.Hour-10*time.Minute; el += 10 * time.Minute {
		h.clock.Add(10 * time.Minute)
		if s := get(); s != 200 {
			t.Fatalf("active session died early at %s: %d", el, s)
		}
	}
	h.clock.Add(10 * time.Minute)
	if s := get(); s != 401 {
		t.Fatalf("session past 8 h: %d, want 401", s)
	}
	// Logout ends it at once and is audited.
	c = h.login("keeper")
	if res, _ := c.do("DELETE", "/api/v1/session", nil); res.StatusCode != 204 {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if s := get(); s != 401 {
		t.Fatalf("after logout: %d", s)
	}
	if len(h.auditEntries("logout")) != 1 {
		t.Errorf("logout not audited once: %v", h.auditKinds())
	}
}

func TestLoginLockoutAndRelease(t *testing.T) {
	h := newHarness(t)
	c := h.anon()
	try := func(name, pw string) (int, string) {
		res, body := c.do("POST", "/api/v1/session", map[string]string{"name": name, "password": pw})
		return res.StatusCode, string(body)
	}
	_, unknown := try("nobody", "whatever-whatever")
	_, wrong := try("keeper", "wrong-password-here")
	if unknown != wrong {
		t.Errorf("unknown user and wrong password answer differently: %s vs %s", unknown, wrong)
	}
	try("keeper", "wrong-password-2")
	try("keeper", "wrong-password-3") // limit 3: now locked for 10 min
	if s, body := try("keeper", testPassword); s != 401 || body != wrong {
		t.Fatalf("locked account accepted the right password or said something else: %d %s", s, body)
	}
	h.clock.Add(9 * time.Minute)
	if s, _ := try("keeper", testPassword); s != 401 {
		t.Fatalf("still locked at 9 min: %d", s)
	}
	// The users page shows the lock to an administrator.
	_, page := h.login("admin").do("GET", "/users", nil)
	if !strings.Contains(string(page), "lukittu asti") {
		t.Errorf("users page does not show the lockout")
	}
	h.clock.Add(2 * time.Minute)
	if s, body := try("keeper", testPassword); s != 200 {
		t.Fatalf("after the lockout: %d %s", s, body)
	}
	// An administrator can also lift a lock at once.
	try("dpo", "wrong-1-wrong")
	try("dpo", "wrong-2-wrong")
	try("dpo", "wrong-3-wrong")
	if s, _ := try("dpo", testPassword); s != 401 {
		t.Fatalf("dpo not locked: %d", s)
	}
	if res, _ := h.login("admin").do("POST", "/api/v1/users/dpo/enable", nil); res.StatusCode != 204 {
		t.Fatalf("unlock: %d", res.StatusCode)
	}
	if s, _ := try("dpo", testPassword); s != 200 {
		t.Fatalf("dpo after unlock: %d", s)
	}
	fails := h.auditEntries("login.fail")
	// nobody (named by a hash), 3 wrong passwords (the third locks), the
	// first of 2 attempts while locked (one refusal per address and
	// window), dpo's 4.
	if len(fails) != 9 || !strings.HasPrefix(fails[0].Actor, "unknown:") || fails[0].Source != "127.0.0.1" {
		t.Fatalf("login.fail entries: %d", len(fails))
	}
	if !strings.Contains(string(fails[3].Detail), "locked_until") || !strings.Contains(string(fails[4].Detail), "account locked") {
		t.Errorf("lockout not recorded: %s / %s", fails[3].Detail, fails[4].Detail)
	}
	oks := 0
	for _, e := range h.auditEntries("login.ok") {
		if e.Actor == "keeper" {
			oks++
		}
	}
	if oks != 1 {
		t.Errorf("keeper's login.ok audited %d times, want 1", oks)
	}
	// Per-address throttle: many failures across accounts from one address.
	for i := 0; i < 12; i++ {
		try("user"+string(rune('a'+i)), "nope-nope-nope")
	}
	if s, _ := try("dpo", testPassword); s != http.StatusTooManyRequests {
		t.Errorf("throttled address: %d, want 429", s)
	}
	h.clock.Add(11 * time.Minute)
	if s, _ := try("dpo", testPassword); s != 200 {
		t.Errorf("throttle did not end: %d", s)
	}
}

// TestOddIdentifiers: path traversal and odd names in every id parameter.
func TestOddIdentifiers(t *testing.T) {
	h := newHarness(t)
	k := h.login("keeper")
	k.do("PUT", "/api/v1/me/viewing-reason", map[string]string{"reason": "test"})
	// A package whose registry row points outside the exports folder.
	h.db.Update(t.Context(), func(tx *registry.Tx) error {
		return tx.AddExport(&registry.Export{ID: "evil", Path: "../../etc/passwd", Cameras: []string{"yard"}, Reason: "x", CreatedBy: "x"})
	})
	h.db.Update(t.Context(), func(tx *registry.Tx) error {
		return tx.AddExport(&registry.Export{ID: "db", Path: "registry.db", Cameras: []string{"yard"}, Reason: "x", CreatedBy: "x"})
	})
	odd := []string{"..", "..%2F..%2Fregistry.db", "%2e%2e", "evil", "db", "YARD", "yard%00", "yard%2F..%2Flobby",
		"%C3%A4", strings.Repeat("a", 300), "-rf", "yard.", "%20yard", "1%3B%20DROP%20TABLE%20users"}
	for _, id := range odd {
		for _, p := range []string{"/api/v1/exports/" + id + "/download", "/exports/" + id + "/download",
			"/api/v1/cameras/" + id + "/playback?from=2026-11-22T10:00:00Z&to=2026-11-22T10:05:00Z",
			"/api/v1/cameras/" + id + "/day", "/cameras/" + id, "/cameras/" + id + "/play"} {
			res, body := k.do("GET", p, nil)
			if res.StatusCode != 404 {
				t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
			}
			if strings.Contains(string(body), "root:") || strings.Contains(string(body), "SQLite") {
				t.Errorf("GET %s leaked a file", p)
			}
		}
		for _, p := range []string{"/api/v1/holds/" + id + "/release", "/api/v1/tokens/" + id} {
			method := "POST"
			if strings.HasPrefix(p, "/api/v1/tokens") {
				method = "DELETE"
			}
			if res, _ := k.do(method, p, map[string]string{"reason": "x"}); res.StatusCode != 404 {
				t.Errorf("%s %s: %d, want 404", method, p, res.StatusCode)
			}
		}
	}
	if len(h.playedCameras()) != 0 {
		t.Errorf("playback called for an odd camera id: %v", h.playedCameras())
	}
	// A real package still downloads, and the download is audited.
	res, body := k.do("POST", "/api/v1/exports", map[string]any{"cameras": []string{"yard"},
		"from": "2026-11-22T10:00:00Z", "to": "2026-11-22T10:05:00Z", "reason": "police request", "case_ref": "5500/R/123/26"})
	if res.StatusCode != 201 {
		t.Fatalf("export: %d %s", res.StatusCode, body)
	}
	var e struct{ ID, Download string }
	json.Unmarshal(body, &e)
	res, body = k.do("GET", e.Download, nil)
	if res.StatusCode != 200 || string(body[:2]) != "PK" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("download: %d %q %q", res.StatusCode, body[:2], res.Header.Get("Cache-Control"))
	}
	if d := h.auditEntries("export.download"); len(d) != 1 || d[0].Object != "export:"+e.ID {
		t.Errorf("download audit: %+v", d)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t)
	k := h.login("keeper")
	for _, p := range []string{"/", "/login", "/api/v1/cameras", "/static/app.js"} {
		res, _ := k.do("GET", p, nil)
		hd := res.Header
		if hd.Get("Content-Security-Policy") != csp || hd.Get("X-Frame-Options") != "DENY" ||
			hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Referrer-Policy") != "no-referrer" ||
			!strings.HasPrefix(hd.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("%s: headers %v", p, hd)
		}
		if p != "/static/app.js" && hd.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", p, hd.Get("Cache-Control"))
		}
	}
	// The login cookie is HttpOnly, Secure, SameSite=Strict.
	res, _ := h.anon().do("POST", "/api/v1/session", map[string]string{"name": "keeper", "password": testPassword})
	ck := res.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(ck, want) {
			t.Errorf("session cookie %q lacks %s", ck, want)
		}
	}
	// No inline script or style attribute in any page (the CSP would block them).
	for _, p := range []string{"/", "/cameras/yard", "/cameras/yard/play", "/holds", "/exports", "/account"} {
		_, body := k.do("GET", p, nil)
		if strings.Contains(string(body), "<script>") || strings.Contains(string(body), " style=") || strings.Contains(string(body), "onclick") {
			t.Errorf("%s has inline script or style", p)
		}
	}
}

// TestNoSecretsInLogs: passwords, tokens, session ids and CSRF tokens never
// reach a log line, whatever happens.
func TestNoSecretsInLogs(t *testing.T) {
	h := newHarness(t)
	c := h.anon()
	c.do("POST", "/api/v1/session", map[string]string{"name": "keeper", "password": "my-wrong-secret-pw"})
	c.do("POST", "/login", formBody("name=keeper&password=another-wrong-pw&csrf=x"))
	k := h.login("keeper")
	res, body := k.do("POST", "/api/v1/tokens", map[string]string{"name": "cron"})
	var tok struct{ Token string }
	json.Unmarshal(body, &tok)
	var sessionID string
	u, _ := url.Parse(h.ts.URL)
	for _, ck := range k.c.Jar.Cookies(u) {
		if ck.Name == cookieName {
			sessionID = ck.Value
		}
	}
	req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/me?token="+tok.Token, nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	h.ts.Client().Do(req)
	k.do("PUT", "/api/v1/me/password", map[string]string{"old_password": testPassword, "new_password": "uusi-salasana-joka-on-pitka"})
	_ = res
	logs := h.logs.String()
	if !strings.Contains(logs, "login failed") {
		t.Fatalf("log capture is not working: %q", logs)
	}
	for what, secret := range map[string]string{"password": testPassword, "wrong password": "my-wrong-secret-pw",
		"form password": "another-wrong-pw", "new password": "uusi-salasana-joka-on-pitka", "api token": tok.Token,
		"session id": sessionID, "csrf token": k.csrf, "camera password": "camsecret"} {
		if secret == "" {
			t.Fatalf("%s: not captured by the test", what)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the logs", what)
		}
	}
	// Nor in the audit chain.
	for _, e := range h.auditEntries("") {
		for _, secret := range []string{testPassword, "my-wrong-secret-pw", tok.Token, sessionID} {
			if strings.Contains(string(e.Detail), secret) || strings.Contains(e.Object, secret) {
				t.Errorf("audit entry %d (%s) contains a secret", e.Seq, e.Kind)
			}
		}
	}
}
