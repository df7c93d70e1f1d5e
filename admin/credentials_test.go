package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"vahti/registry"
)

// Tests for issue 8, items 6 and 7: sessions in the registry, credential
// changes that take effect everywhere, tokens, TOTP replay, the keeper
// self-grant and one-time passwords.

// restart builds a second server on the same registry and state dir, as a
// service restart does; clients keep their cookie jars (cookies are per
// host, not port) and trust the same certificate (it lives in state_dir).
func (h *harness) restart() {
	h.t.Helper()
	srv, err := New(h.srv.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.TLS = srv.TLSConfig()
	ts.StartTLS()
	h.t.Cleanup(ts.Close)
	h.ts.Close()
	h.srv, h.ts = srv, ts
}

func (c *client) sessionID() string {
	u, _ := url.Parse(c.h.ts.URL)
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	return ""
}

func (h *harness) user(name string) registry.User {
	h.t.Helper()
	var u registry.User
	if err := h.db.View(context.Background(), func(tx *registry.Tx) (err error) { u, err = tx.UserByName(name); return }); err != nil {
		h.t.Fatal(err)
	}
	return u
}

func (h *harness) sessionsOf(name string) int {
	h.t.Helper()
	var n int
	u := h.user(name)
	h.db.View(context.Background(), func(tx *registry.Tx) (err error) { n, err = tx.UserSessions(u.ID); return })
	return n
}

func (h *harness) token(c *client, name string) (int64, string) {
	h.t.Helper()
	res, body := c.do("POST", "/api/v1/tokens", map[string]string{"name": name})
	var tok struct {
		ID    int64
		Token string
	}
	if json.Unmarshal(body, &tok) != nil || res.StatusCode != 201 || tok.Token == "" {
		h.t.Fatalf("token: %d %s", res.StatusCode, body)
	}
	return tok.ID, tok.Token
}

// bearer sends one request with only a bearer token (no cookie).
func (h *harness) bearer(method, path, tok string, body any) (*http.Response, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := h.anon().c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res, out
}

// TestSessionsSurviveRestart: a session, its viewing reason and its page
// message live in the registry (by the hash of the cookie only), so a new
// server process on the same registry still knows them.
func TestSessionsSurviveRestart(t *testing.T) {
	h := newHarness(t)
	k := h.login("keeper")
	if res, _ := k.do("PUT", "/api/v1/me/viewing-reason", map[string]string{"reason": "tapaus 12/2026"}); res.StatusCode != 204 {
		t.Fatalf("reason: %d", res.StatusCode)
	}
	id := k.sessionID()
	if id == "" {
		t.Fatal("no session cookie")
	}
	err := h.db.View(context.Background(), func(tx *registry.Tx) error {
		if _, err := tx.Session(id); err == nil {
			t.Error("the registry holds the cookie value itself")
		}
		_, err := tx.Session(hashToken(id))
		return err
	})
	if err != nil {
		t.Fatalf("session row by hash: %v", err)
	}
	h.restart()
	res, body := k.do("GET", "/api/v1/me", nil)
	var me struct {
		Name   string
		Reason string `json:"viewing_reason"`
		CSRF   string `json:"csrf_token"`
	}
	json.Unmarshal(body, &me)
	if res.StatusCode != 200 || me.Name != "keeper" || me.Reason != "tapaus 12/2026" || me.CSRF != k.csrf {
		t.Fatalf("after restart: %d %s", res.StatusCode, body)
	}
	// The CSRF token still guards writes after the restart.
	if res, _ := k.do("PUT", "/api/v1/me/lang", map[string]string{"lang": "en"}); res.StatusCode != 200 {
		t.Errorf("write after restart: %d", res.StatusCode)
	}
	// The idle limit still applies, and the expired row is deleted.
	h.clock.Add(16 * time.Minute)
	if res, _ := k.do("GET", "/api/v1/me", nil); res.StatusCode != 401 {
		t.Errorf("idle session after restart: %d, want 401", res.StatusCode)
	}
	if n := h.sessionsOf("keeper"); n != 0 {
		t.Errorf("%d expired session rows left", n)
	}
	// Expired sessions of others are removed at the next login.
	a := h.login("admin")
	h.clock.Add(9 * time.Hour)
	h.login("dpo")
	if n := h.sessionsOf("admin"); n != 0 {
		t.Errorf("admin's expired session not deleted: %d", n)
	}
	_ = a
}

// TestPlayedRangesAuditedOncePerSession: the one-entry-per-range rule
// (stored in the registry now) still holds, and a new reason audits again.
func TestPlayedRangesAuditedOncePerSession(t *testing.T) {
	h := newHarness(t)
	k := h.login("keeper")
	k.do("PUT", "/api/v1/me/viewing-reason", map[string]string{"reason": "eka"})
	p := "/api/v1/cameras/yard/playback?from=2026-11-22T10:00:00Z&to=2026-11-22T10:05:00Z"
	for i := 0; i < 3; i++ {
		if res, _ := k.do("GET", p, nil); res.StatusCode != 200 {
			t.Fatalf("play: %d", res.StatusCode)
		}
	}
	h.restart()
	k.do("GET", p, nil)
	if n := len(h.auditEntries("footage.play")); n != 1 {
		t.Errorf("footage.play audited %d times for one range and reason, want 1", n)
	}
	k.do("PUT", "/api/v1/me/viewing-reason", map[string]string{"reason": "toka"})
	k.do("GET", p, nil)
	if n := len(h.auditEntries("footage.play")); n != 2 {
		t.Errorf("new reason: footage.play audited %d times, want 2", n)
	}
}

// TestCredentialChangesEndSessions: a role change, disabling and a
// password change end the account's sessions at once; enrolling a second
// factor keeps the session that did it.
func TestCredentialChangesEndSessions(t *testing.T) {
	h := newHarness(t)
	a := h.login("admin")
	d1, d2 := h.login("dpo"), h.login("dpo")
	if res, _ := a.do("PUT", "/api/v1/users/dpo/roles", map[string]any{"roles": []string{"dpo", "admin"}}); res.StatusCode != 204 {
		t.Fatalf("roles: %d", res.StatusCode)
	}
	for i, c := range []*client{d1, d2} {
		if res, _ := c.do("GET", "/api/v1/me", nil); res.StatusCode != 401 {
			t.Errorf("dpo session %d after role change: %d, want 401", i, res.StatusCode)
		}
	}
	// A change to one's own language is no credential change.
	k := h.login("keeper")
	k.do("PUT", "/api/v1/me/lang", map[string]string{"lang": "en"})
	if res, _ := k.do("GET", "/api/v1/me", nil); res.StatusCode != 200 {
		t.Errorf("session ended by a language change: %d", res.StatusCode)
	}
	// A password change ends every session of the account, this one too.
	other := h.login("keeper")
	res, body := k.do("PUT", "/api/v1/me/password", map[string]string{"old_password": testPassword, "new_password": "uusi salasana kolmella sanalla"})
	if res.StatusCode != 204 {
		t.Fatalf("password: %d %s", res.StatusCode, body)
	}
	for _, c := range []*client{k, other} {
		if res, _ := c.do("GET", "/api/v1/me", nil); res.StatusCode != 401 {
			t.Errorf("session after password change: %d", res.StatusCode)
		}
	}
	if n := h.sessionsOf("keeper"); n != 0 {
		t.Errorf("%d keeper session rows left after the password change", n)
	}
}

// TestPagesAcceptSessionsOnly: every page route refuses a bearer token
// (a redirect to the login page, never a page and never a 500).
func TestPagesAcceptSessionsOnly(t *testing.T) {
	h := newHarness(t)
	h.addSegments("yard", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), 10, 30*time.Second)
	boss := h.login("boss")
	_, tok := h.token(boss, "script")
	n := 0
	for _, r := range h.srv.engine.Routes() {
		k := r.Method + " " + r.Path
		if publicRoutes[k] || strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		n++
		res, body := h.bearer(r.Method, concrete(r.Path), tok, nil)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("%s with a bearer token: %d (Location %q), want a redirect to /login", k, res.StatusCode, res.Header.Get("Location"))
		}
		if strings.Contains(string(body), "fake mp4") {
			t.Errorf("%s: footage for a bearer token on a page route", k)
		}
	}
	if n < 20 {
		t.Errorf("only %d page routes walked", n)
	}
	// The API takes the token and never fails inside on a token principal.
	for _, r := range h.srv.engine.Routes() {
		k := r.Method + " " + r.Path
		if publicRoutes[k] || !strings.HasPrefix(r.Path, "/api/") || k == "DELETE /api/v1/tokens/:id" {
			continue
		}
		res, body := h.bearer(r.Method, concrete(r.Path), tok, map[string]string{})
		if res.StatusCode >= 500 && res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s with a bearer token: %d %s", k, res.StatusCode, body)
		}
	}
}

// TestTokenCannotMintTokens and records its last use.
func TestTokenCannotMintTokensAndRecordsUse(t *testing.T) {
	h := newHarness(t)
	a := h.login("admin")
	id, tok := h.token(a, "cron")
	list := func() (lastUsed *time.Time) {
		_, body := a.do("GET", "/api/v1/tokens", nil)
		var out struct {
			Tokens []struct {
				ID       int64
				LastUsed *time.Time `json:"last_used"`
			}
		}
		json.Unmarshal(body, &out)
		for _, t := range out.Tokens {
			if t.ID == id {
				return t.LastUsed
			}
		}
		return nil
	}
	if lu := list(); lu != nil {
		t.Errorf("unused token has last use %v", lu)
	}
	res, body := h.bearer("POST", "/api/v1/tokens", tok, map[string]string{"name": "child"})
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "cannot create tokens") {
		t.Errorf("token minting a token: %d %s", res.StatusCode, body)
	}
	if n := len(h.auditEntries("token.create")); n != 1 {
		t.Errorf("token.create entries: %d, want 1", n)
	}
	h.clock.Add(5 * time.Minute)
	used := h.clock.Now()
	if res, _ := h.bearer("GET", "/api/v1/users", tok, nil); res.StatusCode != 200 {
		t.Fatalf("token use: %d", res.StatusCode)
	}
	if lu := list(); lu == nil || !lu.Equal(used) {
		t.Errorf("last use %v, want %v", lu, used)
	}
	res, page := a.do("GET", "/account", nil)
	if res.StatusCode != 200 || !strings.Contains(string(page), `class="last-used">`+h.srv.localTime("fi", used)) {
		t.Errorf("account page does not show the last use")
	}
}

// localTime renders a time as the templates' lt function does.
func (s *Server) localTime(lang string, t time.Time) string {
	return s.funcs()["lt"].(func(string, time.Time) string)(lang, t)
}

// TestTOTPCodeGoodOnce: a code that logged in once is refused in its
// step, even through the ±1 step window; the next step's code works.
func TestTOTPCodeGoodOnce(t *testing.T) {
	h := newHarness(t)
	secret, _ := NewTOTPSecret()
	h.db.Update(context.Background(), func(tx *registry.Tx) error {
		u, _ := tx.UserByName("keeper")
		u.TOTPSecret = secret
		return tx.UpdateUser(u)
	})
	try := func(code string) int {
		res, _ := h.anon().do("POST", "/api/v1/session", map[string]string{"name": "keeper", "password": testPassword, "totp": code})
		return res.StatusCode
	}
	code, _ := TOTPCode(secret, h.clock.Now())
	if s := try(code); s != 200 {
		t.Fatalf("first use: %d", s)
	}
	if s := try(code); s != 401 {
		t.Errorf("same code again: %d, want 401", s)
	}
	// A replayed code is a failed login, audited as such, and counts
	// towards the lockout like a wrong password.
	fails := h.auditEntries("login.fail")
	if len(fails) != 1 || !strings.Contains(string(fails[0].Detail), "one-time code") {
		t.Errorf("after a replay, login.fail entries = %+v, want one naming the one-time code", fails)
	}
	h.clock.Add(20 * time.Second) // still inside the window for that code
	if s := try(code); s != 401 {
		t.Errorf("same code 20 s later: %d, want 401", s)
	}
	// A code of the next step typed early spends the current one too.
	h.clock.Add(30 * time.Second)
	next, _ := TOTPCode(secret, h.clock.Now().Add(30*time.Second))
	cur, _ := TOTPCode(secret, h.clock.Now())
	if s := try(next); s != 200 {
		t.Fatalf("next step's code: %d", s)
	}
	if s := try(cur); s != 401 {
		t.Errorf("an earlier step's code after a later one: %d, want 401", s)
	}
	if e := h.auditEntries("login.fail"); len(e) != 3 {
		t.Errorf("refused replays audited %d times, want 3", len(e))
	}
}

// TestTOTPRaceOneCode: many logins racing with one code get one session.
func TestTOTPRaceOneCode(t *testing.T) {
	h := newHarness(t)
	secret, _ := NewTOTPSecret()
	// A hash that takes a while makes the logins overlap: each reads the
	// account before any has spent the code.
	slow, err := HashPassword(testPassword, HashParams{Memory: 8 * 1024, Time: 8, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	h.db.Update(context.Background(), func(tx *registry.Tx) error {
		u, _ := tx.UserByName("keeper")
		u.TOTPSecret, u.PassHash = secret, slow
		return tx.UpdateUser(u)
	})
	code, _ := TOTPCode(secret, h.clock.Now())
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := h.anon()
			j := fmt.Sprintf(`{"name":"keeper","password":%q,"totp":%q}`, testPassword, code)
			req, _ := http.NewRequest("POST", h.ts.URL+"/api/v1/session", strings.NewReader(j))
			req.Header.Set("Content-Type", "application/json")
			res, err := c.c.Do(req)
			if err != nil {
				return
			}
			res.Body.Close()
			if res.StatusCode == 200 {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Errorf("%d logins succeeded with one code, want 1", ok)
	}
	if n := h.sessionsOf("keeper"); n != 1 {
		t.Errorf("%d sessions from one code", n)
	}
}

// TestAdminCannotGrantSelfKeeper: neither the API nor the page lets an
// admin add the keeper role to their own account; another admin's grant
// is audited with its own kind and shown on the DPO's audit page.
func TestAdminCannotGrantSelfKeeper(t *testing.T) {
	h := newHarness(t)
	a := h.login("admin")
	res, body := a.do("PUT", "/api/v1/users/admin/roles", map[string]any{"roles": []string{"admin", "keeper"}})
	if res.StatusCode != 400 || !strings.Contains(string(body), "keeper role") {
		t.Errorf("API self-grant: %d %s", res.StatusCode, body)
	}
	form := url.Values{"csrf": {a.csrf}, "role": {"admin", "keeper"}}
	if res, _ := a.do("POST", "/users/admin/roles", formBody(form.Encode())); res.StatusCode != 400 {
		t.Errorf("page self-grant: %d", res.StatusCode)
	}
	if h.user("admin").Has(registry.RoleKeeper) {
		t.Fatal("admin granted themselves the keeper role")
	}
	if n := len(h.auditEntries(registry.KindKeeperGrant)); n != 0 {
		t.Errorf("refused grants audited as grants: %d", n)
	}
	// An admin may still add a role that is not keeper to themselves...
	if res, _ := a.do("PUT", "/api/v1/users/admin/roles", map[string]any{"roles": []string{"admin", "dpo"}}); res.StatusCode != 204 {
		t.Errorf("self dpo: %d", res.StatusCode)
	}
	// ...and a keeper-admin keeps keeper when editing their own roles.
	boss := h.login("boss")
	if res, _ := boss.do("PUT", "/api/v1/users/boss/roles", map[string]any{"roles": []string{"admin", "keeper"}}); res.StatusCode != 204 {
		t.Errorf("boss keeps keeper: %d", res.StatusCode)
	}
	// Another admin grants it: audited as a grant, shown to the DPO.
	if res, _ := boss.do("PUT", "/api/v1/users/admin/roles", map[string]any{"roles": []string{"admin", "keeper"}}); res.StatusCode != 204 {
		t.Fatalf("grant by another admin: %d", res.StatusCode)
	}
	if res, _ := boss.do("POST", "/api/v1/users", map[string]any{"name": "uusi", "roles": []string{"keeper"}, "password": "vihreä talo mäellä"}); res.StatusCode != 201 {
		t.Fatalf("add keeper: %d", res.StatusCode)
	}
	gs := h.auditEntries(registry.KindKeeperGrant)
	if len(gs) != 2 || gs[0].Actor != "boss" || gs[0].Object != "user:admin" || gs[1].Object != "user:uusi" {
		t.Fatalf("keeper grants: %+v", gs)
	}
	d := h.login("dpo")
	res, body = d.do("GET", "/audit", nil)
	m := regexp.MustCompile(`(?s)<section class="card" id="keeper-grants">.*?</section>`).Find(body)
	if res.StatusCode != 200 || m == nil {
		t.Fatalf("audit page has no keeper summary: %d", res.StatusCode)
	}
	for _, want := range []string{"user:admin", "user:uusi", "<td>boss</td>", `<span class="tag">keeper</span>`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("keeper summary lacks %q:\n%s", want, m)
		}
	}
}

// TestOneTimePassword: an account an admin created can do nothing but
// change its password: API 403 with a clear error, pages redirect to the
// account page, which shows the change form alone.
func TestOneTimePassword(t *testing.T) {
	h := newHarness(t)
	a := h.login("admin")
	const temp = "vihreä talo mäellä"
	if res, _ := a.do("POST", "/api/v1/users", map[string]any{"name": "liisa", "roles": []string{"keeper", "dpo", "admin"}, "password": temp}); res.StatusCode != 201 {
		t.Fatalf("add: %d", res.StatusCode)
	}
	if !h.user("liisa").MustChangePassword {
		t.Fatal("an admin-set password is not one-time")
	}
	h.addSegments("yard", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), 10, 30*time.Second)
	l := h.anon()
	res, body := l.do("POST", "/api/v1/session", map[string]string{"name": "liisa", "password": temp})
	var login struct {
		CSRF   string `json:"csrf_token"`
		Change bool   `json:"password_change_required"`
	}
	json.Unmarshal(body, &login)
	if res.StatusCode != 200 || !login.Change {
		t.Fatalf("login with a one-time password: %d %s", res.StatusCode, body)
	}
	l.csrf = login.CSRF
	allowed := 0
	for _, r := range h.srv.engine.Routes() {
		k := r.Method + " " + r.Path
		if publicRoutes[k] {
			continue
		}
		if passwordChangeRoutes[k] {
			allowed++
			continue
		}
		res, body := l.do(r.Method, concrete(r.Path), map[string]string{})
		if strings.HasPrefix(r.Path, "/api/") {
			if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "password_change_required") {
				t.Errorf("%s with a one-time password: %d %s", k, res.StatusCode, body)
			}
		} else if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account" {
			t.Errorf("%s with a one-time password: %d (Location %q), want a redirect to /account", k, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if allowed != len(passwordChangeRoutes) {
		t.Errorf("passwordChangeRoutes names %d routes, %d served", len(passwordChangeRoutes), allowed)
	}
	if len(h.playedCameras()) != 0 || len(h.auditEntries("footage")) != 0 {
		t.Error("footage reached with a one-time password")
	}
	res, body = l.do("GET", "/account", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `id="must-change"`) || strings.Contains(string(body), `action="/account/tokens"`) {
		t.Errorf("account page with a one-time password: %d", res.StatusCode)
	}
	// The one-time password cannot be "changed" to itself.
	if res, _ := l.do("PUT", "/api/v1/me/password", map[string]string{"old_password": temp, "new_password": temp}); res.StatusCode != 400 {
		t.Errorf("same password accepted: %d", res.StatusCode)
	}
	const own = "oma salasana jota kukaan ei tiedä"
	if res, body := l.do("PUT", "/api/v1/me/password", map[string]string{"old_password": temp, "new_password": own}); res.StatusCode != 204 {
		t.Fatalf("change: %d %s", res.StatusCode, body)
	}
	if res, _ := l.do("GET", "/api/v1/me", nil); res.StatusCode != 401 {
		t.Errorf("the one-time session outlived the change: %d", res.StatusCode)
	}
	if h.user("liisa").MustChangePassword {
		t.Error("flag not cleared by the change")
	}
	l = h.anon()
	res, body = l.do("POST", "/api/v1/session", map[string]string{"name": "liisa", "password": own})
	json.Unmarshal(body, &login)
	l.csrf = login.CSRF
	if res.StatusCode != 200 || login.Change {
		t.Fatalf("login with own password: %d %s", res.StatusCode, body)
	}
	if res, _ := l.do("GET", "/api/v1/cameras", nil); res.StatusCode != 200 {
		t.Errorf("cameras with own password: %d", res.StatusCode)
	}
}

// TestOneTimePasswordFromUsersPage: the admin's form makes a one-time
// password too, and the page flow leads the user to change it.
func TestOneTimePasswordFromUsersPage(t *testing.T) {
	h := newHarness(t)
	a := h.login("admin")
	const temp = "vihreä talo mäellä"
	form := url.Values{"csrf": {a.csrf}, "name": {"pekka"}, "role": {"keeper"}, "password": {temp}, "password2": {temp}, "lang": {"fi"}}
	if res, _ := a.do("POST", "/users", formBody(form.Encode())); res.StatusCode != 303 {
		t.Fatalf("add from page: %d", res.StatusCode)
	}
	if !h.user("pekka").MustChangePassword {
		t.Fatal("page-set password is not one-time")
	}
	_, page := a.do("GET", "/users", nil)
	if !strings.Contains(string(page), `class="tag onetime"`) {
		t.Error("users page does not mark the one-time password")
	}
	// Log in through the form, as a browser does.
	p := h.anon()
	res, body := p.do("GET", "/login", nil)
	tok := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if tok == nil {
		t.Fatalf("login form: %d", res.StatusCode)
	}
	lf := url.Values{"csrf": {string(tok[1])}, "name": {"pekka"}, "password": {temp}, "next": {"/cameras/yard"}}
	if res, _ = p.do("POST", "/login", formBody(lf.Encode())); res.StatusCode != 303 {
		t.Fatalf("form login: %d", res.StatusCode)
	}
	res, _ = p.do("GET", "/cameras/yard", nil)
	if res.StatusCode != 303 || res.Header.Get("Location") != "/account" {
		t.Errorf("day page with a one-time password: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, body = p.do("GET", "/account", nil)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if res.StatusCode != 200 || csrf == nil {
		t.Fatalf("account: %d", res.StatusCode)
	}
	const own = "oma salasana jota kukaan ei tiedä"
	cf := url.Values{"csrf": {string(csrf[1])}, "old": {temp}, "password": {own}, "password2": {own}}
	if res, _ = p.do("POST", "/account/password", formBody(cf.Encode())); res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Errorf("change from page: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if h.user("pekka").MustChangePassword {
		t.Error("flag not cleared by the page change")
	}
}
