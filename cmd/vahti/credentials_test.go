package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"vahti/configs"
	"vahti/registry"
)

// runningService starts the whole service on c's config, as `vahti serve`
// does, and returns the admin UI's base URL; it stops at the test's end.
func runningService(t *testing.T, c *cli) string {
	t.Helper()
	cfg, err := configs.Load(c.config, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, now: time.Now,
		getenv: func(string) string { return "" }}
	logs := &fsBuffer{}
	ready := make(chan *service, 1)
	served := make(chan error, 1)
	go func() {
		served <- runService(ctx, e, cfg, slog.New(slog.NewTextHandler(logs, nil)), func(s *service) { ready <- s })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-served:
		case <-time.After(15 * time.Second):
			t.Error("service did not stop")
		}
	})
	select {
	case s := <-ready:
		return strings.TrimSuffix(s.adminURL, "/")
	case err := <-served:
		t.Fatalf("service ended: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("service not ready\n%s", logs.String())
	}
	return ""
}

// webClient is a cookie-keeping HTTPS client of the running service.
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
	tok  string // a bearer token instead of the cookie, when set
}

func newBrowser(t *testing.T, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // the box's self-signed certificate
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *webClient) do(method, path string, body any) (int, string, http.Header) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.csrf != "" {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	if b.tok != "" {
		req.Header.Set("Authorization", "Bearer "+b.tok)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out), res.Header
}

func (b *webClient) login(name, pw string) {
	b.t.Helper()
	code, body, _ := b.do("POST", "/api/v1/session", map[string]string{"name": name, "password": pw})
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if json.Unmarshal([]byte(body), &out) != nil || code != 200 {
		b.t.Fatalf("login %s: %d %s", name, code, body)
	}
	b.csrf = out.CSRF
}

// loggedOut waits up to a second for a session to be refused on both the
// API and a page.
func (b *webClient) loggedOut(what string) {
	b.t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		api, _, _ := b.do("GET", "/api/v1/me", nil)
		page, _, h := b.do("GET", "/", nil)
		if api == 401 && page == 303 && strings.HasPrefix(h.Get("Location"), "/login") {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: the session still works a second later (API %d, page %d)", what, api, page)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *webClient) works(what string) {
	b.t.Helper()
	api, body, _ := b.do("GET", "/api/v1/me", nil)
	page := 200
	if b.tok == "" {
		page, _, _ = b.do("GET", "/", nil)
	}
	if api != 200 || page != 200 {
		b.t.Fatalf("%s: API %d %s, page %d", what, api, body, page)
	}
}

// TestCLIChangesEndLiveSessions: `vahti user passwd`, `user roles` and
// `user disable`, run as another process would while the service runs,
// end the account's sessions in the service within a second;
// --revoke-tokens ends its API tokens too.
func TestCLIChangesEndLiveSessions(t *testing.T) {
	c := newCLI(t, "yard")
	pw := "kolme iloista kilpikonnaa"
	if _, errs, code := c.run(pw+"\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper"); code != 0 {
		t.Fatal(errs)
	}
	base := runningService(t, c)
	b := newBrowser(t, base)
	b.login("liisa", pw)
	b.works("fresh login")
	code, body, _ := b.do("POST", "/api/v1/tokens", map[string]string{"name": "skripti"})
	var tok struct{ Token string }
	if json.Unmarshal([]byte(body), &tok) != nil || code != 201 {
		t.Fatalf("token: %d %s", code, body)
	}
	script := &webClient{t: t, base: base, c: b.c, tok: tok.Token}
	script.c = newBrowser(t, base).c // no cookies
	script.works("token")

	passwd := func(newPW string, extra ...string) {
		t.Helper()
		args := append([]string{"user", "passwd", "--config", "$CONFIG", "liisa"}, extra...)
		if out, errs, code := c.run(newPW+"\n", args...); code != 0 || !strings.Contains(out, "sessions have ended") {
			t.Fatalf("passwd: %d %s %s", code, out, errs)
		}
	}
	pw = "uusi pitkä salasana tähän"
	passwd(pw)
	b.loggedOut("after user passwd")
	script.works("token after a passwd without --revoke-tokens")

	b.login("liisa", pw)
	pw = "vielä yksi uusi salasana"
	passwd(pw, "--revoke-tokens")
	b.loggedOut("after user passwd --revoke-tokens")
	if code, _, _ := script.do("GET", "/api/v1/me", nil); code != 401 {
		t.Errorf("token after --revoke-tokens: %d, want 401", code)
	}

	b.login("liisa", pw)
	c.ok("user", "roles", "--config", "$CONFIG", "liisa", "--role", "keeper,dpo")
	b.loggedOut("after user roles")

	b.login("liisa", pw)
	c.ok("user", "disable", "--config", "$CONFIG", "liisa")
	b.loggedOut("after user disable")

	db := openTestDB(t, c)
	var detail string
	db.View(context.Background(), func(tx *registry.Tx) error {
		es, err := tx.AuditEntries(registry.AuditFilter{Kind: "user.passwd"})
		if len(es) == 2 {
			detail = string(es[1].Detail)
		}
		return err
	})
	if !strings.Contains(detail, `"tokens_revoked":1`) {
		t.Errorf("passwd --revoke-tokens audit detail: %q", detail)
	}
}

// TestCLITemporaryPassword: `user add --temporary` makes a one-time
// password (the account can only change it); without the flag the typed
// password is the person's own.
func TestCLITemporaryPassword(t *testing.T) {
	c := newCLI(t, "yard")
	const temp, own = "väliaikainen salasana", "oma salasana jota kukaan ei tiedä"
	if out, errs, code := c.run(temp+"\n", "user", "add", "--config", "$CONFIG", "--name", "bob", "--role", "keeper", "--temporary"); code != 0 ||
		!strings.Contains(out, "one-time") {
		t.Fatalf("add --temporary: %s %s", out, errs)
	}
	if _, errs, code := c.run(own+"\n", "user", "add", "--config", "$CONFIG", "--name", "eve", "--role", "keeper"); code != 0 {
		t.Fatal(errs)
	}
	if out := c.ok("user", "list", "--config", "$CONFIG"); !strings.Contains(out, "one-time password") {
		t.Errorf("list does not show the one-time password:\n%s", out)
	}
	base := runningService(t, c)
	b := newBrowser(t, base)
	b.login("bob", temp)
	if code, body, _ := b.do("GET", "/api/v1/cameras", nil); code != 403 || !strings.Contains(body, "password_change_required") {
		t.Errorf("cameras with a one-time password: %d %s", code, body)
	}
	if code, _, h := b.do("GET", "/", nil); code != 303 || h.Get("Location") != "/account" {
		t.Errorf("overview with a one-time password: %d %q", code, h.Get("Location"))
	}
	e := newBrowser(t, base)
	e.login("eve", own)
	if code, body, _ := e.do("GET", "/api/v1/cameras", nil); code != 200 {
		t.Errorf("cameras with a password typed by its owner: %d %s", code, body)
	}
	// The operator sets bob's own password on the box: no longer one-time.
	if _, errs, code := c.run(own+"\n", "user", "passwd", "--config", "$CONFIG", "bob"); code != 0 {
		t.Fatal(errs)
	}
	b = newBrowser(t, base)
	b.login("bob", own)
	if code, _, _ := b.do("GET", "/api/v1/cameras", nil); code != 200 {
		t.Errorf("cameras after passwd: %d", code)
	}
}

func openTestDB(t *testing.T, c *cli) *registry.DB {
	t.Helper()
	db, err := registry.Open(c.dir+"/state", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func lastActor(t *testing.T, c *cli, kind string) string {
	t.Helper()
	db := openTestDB(t, c)
	var actor string
	db.View(context.Background(), func(tx *registry.Tx) error {
		es, err := tx.AuditEntries(registry.AuditFilter{Kind: kind})
		if len(es) > 0 {
			actor = es[len(es)-1].Actor
		}
		return err
	})
	return actor
}

// TestSudoUserOnlyForRoot: SUDO_USER names the actor only when the
// command runs as root; anyone else could set it to any name.
func TestSudoUserOnlyForRoot(t *testing.T) {
	c := newCLI(t, "yard")
	if _, errs, code := c.run("kolme iloista kilpikonnaa\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "dpo"); code != 0 {
		t.Fatal(errs)
	}
	c.envs["SUDO_USER"] = "mallory"
	c.euid = 1000
	c.ok("user", "disable", "--config", "$CONFIG", "liisa")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if got := lastActor(t, c, "user.disable"); got != me.Username {
		t.Errorf("non-root with SUDO_USER=mallory: actor %q, want the process owner %q", got, me.Username)
	}
	c.euid = 0
	c.ok("user", "enable", "--config", "$CONFIG", "liisa")
	if got := lastActor(t, c, "user.enable"); got != "mallory" {
		t.Errorf("root under sudo: actor %q, want mallory", got)
	}
}

// TestCLINoSelfKeeperGrant: an admin known to the CLI (behind sudo)
// cannot give their own account the keeper role; another person can,
// and the grant is audited with its own kind.
func TestCLINoSelfKeeperGrant(t *testing.T) {
	c := newCLI(t, "yard")
	if _, errs, code := c.run("kolme iloista kilpikonnaa\n", "user", "add", "--config", "$CONFIG", "--name", "anna", "--role", "admin"); code != 0 {
		t.Fatal(errs)
	}
	c.envs["SUDO_USER"] = "anna"
	if errs := c.fail("user", "roles", "--config", "$CONFIG", "anna", "--role", "admin,keeper"); !strings.Contains(errs, "keeper role") {
		t.Errorf("self-grant: %q", errs)
	}
	db := openTestDB(t, c)
	var u registry.User
	db.View(context.Background(), func(tx *registry.Tx) (err error) { u, err = tx.UserByName("anna"); return })
	if u.Has(registry.RoleKeeper) {
		t.Fatal("anna granted herself the keeper role")
	}
	c.ok("user", "roles", "--config", "$CONFIG", "anna", "--role", "admin,dpo") // other roles: fine
	c.envs["SUDO_USER"] = "olli"
	c.ok("user", "roles", "--config", "$CONFIG", "anna", "--role", "admin,keeper")
	if got := lastActor(t, c, registry.KindKeeperGrant); got != "olli" {
		t.Errorf("keeper grant audited with actor %q, want olli", got)
	}
	if errs := c.fail("user", "roles", "--config", "$CONFIG", "anna"); !strings.Contains(errs, "--role") {
		t.Errorf("roles without --role: %q", errs)
	}
}

// TestCLIPasswdEndsBrowserSession: a real browser logged in to the running
// service is sent to the login page once `vahti user passwd` has run; and
// an account made with --temporary lands on the password change and
// cannot leave it.
func TestCLIPasswdEndsBrowserSession(t *testing.T) {
	needTool(t, "chromium")
	chrome, _ := exec.LookPath("chromium")
	c := newCLI(t, "yard")
	const pw, temp = "kolme iloista kilpikonnaa", "väliaikainen salasana"
	if _, errs, code := c.run(pw+"\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper"); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := c.run(temp+"\n", "user", "add", "--config", "$CONFIG", "--name", "bob", "--role", "keeper", "--temporary"); code != 0 {
		t.Fatal(errs)
	}
	base := runningService(t, c)

	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("ignore-certificate-errors", true), // the service's self-signed certificate
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	quiet := chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Logf("chromedp: %s", msg)
		}
	})
	ctx, cancel := chromedp.NewContext(actx, quiet)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	run := func(what string, acts ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, acts...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	login := func(name, pw string) chromedp.Tasks {
		return chromedp.Tasks{
			chromedp.Navigate(base + "/login"),
			chromedp.WaitVisible("#login-form", chromedp.ByQuery),
			chromedp.SendKeys("#name", name, chromedp.ByQuery),
			chromedp.SendKeys("#password", pw, chromedp.ByQuery),
			chromedp.Click("#login-submit", chromedp.ByQuery),
			chromedp.WaitVisible("#logout", chromedp.ByQuery),
		}
	}
	run("login", login("liisa", pw), chromedp.Navigate(base+"/account"), chromedp.WaitVisible("#password", chromedp.ByQuery))
	if _, errs, code := c.run("uusi pitkä salasana tähän\n", "user", "passwd", "--config", "$CONFIG", "liisa"); code != 0 {
		t.Fatal(errs)
	}
	var loc string
	run("after passwd", chromedp.Navigate(base+"/account"), chromedp.WaitVisible("#login-form", chromedp.ByQuery), chromedp.Location(&loc))
	if !strings.Contains(loc, "/login") {
		t.Errorf("after user passwd the browser shows %s, want the login page", loc)
	}

	// A one-time password: the browser is kept on the password change.
	run("temporary login", login("bob", temp), chromedp.WaitVisible("#must-change", chromedp.ByQuery), chromedp.Location(&loc))
	if !strings.HasSuffix(loc, "/account") {
		t.Errorf("with a one-time password the browser lands on %s, want /account", loc)
	}
	run("try the day view", chromedp.Navigate(base+"/cameras/yard"), chromedp.WaitVisible("#must-change", chromedp.ByQuery), chromedp.Location(&loc))
	if !strings.HasSuffix(loc, "/account") {
		t.Errorf("the day view with a one-time password shows %s", loc)
	}
}

// TestCLIPasswdByAnotherIsOneTime: `user passwd` run behind sudo by
// another account holder sets a one-time password; run by the person
// themselves (or by an operator without an account) it is theirs;
// --temporary and --temporary=false say so explicitly.
func TestCLIPasswdByAnotherIsOneTime(t *testing.T) {
	c := newCLI(t, "yard")
	for _, n := range []string{"anna", "liisa"} {
		if _, errs, code := c.run("kolme iloista kilpikonnaa\n", "user", "add", "--config", "$CONFIG", "--name", n, "--role", "admin"); code != 0 {
			t.Fatal(errs)
		}
	}
	db := openTestDB(t, c)
	oneTime := func() bool {
		var u registry.User
		db.View(context.Background(), func(tx *registry.Tx) (err error) { u, err = tx.UserByName("liisa"); return })
		return u.MustChangePassword
	}
	passwd := func(extra ...string) string {
		t.Helper()
		out, errs, code := c.run("uusi pitkä salasana tähän\n", append([]string{"user", "passwd", "--config", "$CONFIG", "liisa"}, extra...)...)
		if code != 0 {
			t.Fatalf("passwd %v: %s", extra, errs)
		}
		return out
	}
	passwd() // the operator (not an account holder) at the box
	if oneTime() {
		t.Error("passwd by an operator without an account made a one-time password")
	}
	c.envs["SUDO_USER"] = "anna"
	if out := passwd(); !oneTime() || !strings.Contains(out, "one-time") {
		t.Errorf("passwd by anna for liisa: one-time %v, %q", oneTime(), out)
	}
	passwd("--temporary=false")
	if oneTime() {
		t.Error("--temporary=false still one-time")
	}
	c.envs["SUDO_USER"] = "liisa"
	passwd("--temporary")
	if !oneTime() {
		t.Error("--temporary by liisa herself not one-time")
	}
	passwd()
	if oneTime() {
		t.Error("liisa's own passwd left a one-time password")
	}
}
