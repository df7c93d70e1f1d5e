package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vahti/registry"
)

// from is an anonymous client whose connections come from a given
// loopback address (127.0.0.2, 127.0.0.3… all work on Linux).
func (h *harness) from(ip string) *client {
	c := h.anon()
	tr := c.c.Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr.DialContext = d.DialContext
	c.c.Transport = tr
	return c
}

func (c *client) tryLogin(name, pw string) int {
	c.h.t.Helper()
	res, _ := c.do("POST", "/api/v1/session", map[string]string{"name": name, "password": pw})
	return res.StatusCode
}

// stateBytes is everything the registry has written to disk.
func (h *harness) stateBytes() []byte {
	var all []byte
	ents, _ := os.ReadDir(h.cfg.StateDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "registry.db") {
			b, _ := os.ReadFile(filepath.Join(h.cfg.StateDir, e.Name()))
			all = append(all, b...)
		}
	}
	return all
}

// TestLoginNameNeverStoredVerbatim: a name that is no account (often a
// password typed into the wrong field) is audited and logged as
// "unknown:" and a short hash; it is nowhere in the database files or
// the system log. A real account is still named.
func TestLoginNameNeverStoredVerbatim(t *testing.T) {
	h := newHarness(t)
	c := h.anon()
	secret := "Kesä-Mökki-Sauna-1987"
	if s := c.tryLogin(secret, "whatever-whatever"); s != 401 {
		t.Fatalf("unknown name: %d", s)
	}
	if s := c.tryLogin(secret, "whatever-whatever"); s != 401 {
		t.Fatalf("unknown name again: %d", s)
	}
	long := strings.Repeat("x", 65) + "-Pitkä-Salasana"
	if s := c.tryLogin(long, "whatever-whatever"); s != 401 {
		t.Fatalf("over-long name: %d", s)
	}
	if s := c.tryLogin("keeper", "wrong-password-1"); s != 401 {
		t.Fatalf("wrong password: %d", s)
	}
	fails := h.auditEntries("login.fail")
	if len(fails) != 4 {
		t.Fatalf("login.fail entries: %d", len(fails))
	}
	for i, f := range fails[:3] {
		if !strings.HasPrefix(f.Actor, "unknown:") || len(f.Actor) != len("unknown:")+unknownTagLen || f.Object != "user:"+f.Actor {
			t.Errorf("entry %d names the unknown login as %q / %q", i, f.Actor, f.Object)
		}
	}
	if fails[0].Actor != fails[1].Actor || fails[0].Actor == fails[2].Actor {
		t.Errorf("the same name should get the same tag, another name another: %q %q %q", fails[0].Actor, fails[1].Actor, fails[2].Actor)
	}
	if fails[3].Actor != "keeper" {
		t.Errorf("a real account's failure names %q", fails[3].Actor)
	}
	for _, needle := range []string{secret, "Pitkä-Salasana", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"} {
		if bytes.Contains(h.stateBytes(), []byte(needle)) {
			t.Errorf("%q is in the registry's files", needle)
		}
		if strings.Contains(h.logs.String(), needle) {
			t.Errorf("%q is in the system log", needle)
		}
	}
}

// TestLoginBodyLimit: a login body over a few kB is refused with 413
// before it is read or audited, on the JSON API and the HTML form, with or
// without a Content-Length.
func TestLoginBodyLimit(t *testing.T) {
	h := newHarness(t)
	big := strings.Repeat("a", 1<<20)
	send := func(path, ct string, body string, chunked bool) int {
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // hides the length: sent chunked
		}
		req, _ := http.NewRequest("POST", h.ts.URL+path, rd)
		req.Header.Set("Content-Type", ct)
		res, err := h.anon().c.Do(req)
		if err != nil && len(body) > 1<<19 {
			// The server hung up while the client was still sending.
			return http.StatusRequestEntityTooLarge
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	js := func(name string) string {
		b, _ := json.Marshal(map[string]string{"name": name, "password": "x"})
		return string(b)
	}
	for _, chunked := range []bool{false, true} {
		if s := send("/api/v1/session", "application/json", js(big), chunked); s != http.StatusRequestEntityTooLarge {
			t.Errorf("1 MiB JSON login (chunked %v): %d, want 413", chunked, s)
		}
		if s := send("/api/v1/session", "application/json", js(strings.Repeat("a", 5000)), chunked); s != http.StatusRequestEntityTooLarge {
			t.Errorf("5 kB JSON login (chunked %v): %d, want 413", chunked, s)
		}
		if s := send("/login", "application/x-www-form-urlencoded", "csrf=x&name="+big, chunked); s != http.StatusRequestEntityTooLarge {
			t.Errorf("1 MiB form login (chunked %v): %d, want 413", chunked, s)
		}
	}
	if n := len(h.auditEntries("login.fail")); n != 0 {
		t.Errorf("refused bodies wrote %d audit entries", n)
	}
	// A normal-sized login still works, through both doors.
	if s := send("/api/v1/session", "application/json", js(strings.Repeat("a", 3000)), false); s != 401 {
		t.Errorf("3 kB JSON login: %d, want 401", s)
	}
	h.login("keeper")
	c := h.anon()
	_, page := c.do("GET", "/login", nil)
	tok := csrfField(t, page)
	res, body := c.do("POST", "/login", formBody("csrf="+tok+"&name=keeper&password="+url.QueryEscape(testPassword)+"&next=%2Fholds"))
	if res.StatusCode != 303 || res.Header.Get("Location") != "/holds" {
		t.Errorf("form login: %d %s %s", res.StatusCode, res.Header.Get("Location"), body)
	}
}

func csrfField(t *testing.T, page []byte) string {
	t.Helper()
	const mark = `name="csrf" value="`
	i := bytes.Index(page, []byte(mark))
	if i < 0 {
		t.Fatalf("no csrf field in the login page")
	}
	rest := page[i+len(mark):]
	return string(rest[:bytes.IndexByte(rest, '"')])
}

// TestThrottledSourceAuditsOncePerWindow: after its failures are used up,
// a source's further attempts are refused without a hash and write one
// audit entry per throttle window, however many there are; other sources
// are not throttled.
func TestThrottledSourceAuditsOncePerWindow(t *testing.T) {
	h := newHarness(t)
	c := h.from("127.0.0.2")
	perSource := 4 * h.cfg.Admin.LoginFailLimit // 12
	for i := 0; i < perSource; i++ {
		if s := c.tryLogin(fmt.Sprintf("guess%d", i), "nope-nope-nope"); s != 401 {
			t.Fatalf("attempt %d: %d", i, s)
		}
	}
	runs := h.srv.limits.hashRuns.Load()
	for i := 0; i < 200; i++ {
		if s := c.tryLogin(fmt.Sprintf("more%d", i), "nope-nope-nope"); s != http.StatusTooManyRequests {
			t.Fatalf("throttled attempt %d: %d", i, s)
		}
	}
	if r := h.srv.limits.hashRuns.Load(); r != runs {
		t.Errorf("throttled attempts ran %d hashes", r-runs)
	}
	fails := h.auditEntries("login.fail")
	if len(fails) != perSource+1 {
		t.Fatalf("login.fail entries: %d, want %d", len(fails), perSource+1)
	}
	if !strings.Contains(string(fails[perSource].Detail), "address throttled") {
		t.Errorf("refusal entry: %s", fails[perSource].Detail)
	}
	// Another address is not affected.
	if s := h.from("127.0.0.3").tryLogin("keeper", testPassword); s != 200 {
		t.Errorf("another source: %d", s)
	}
	// A new window: one more refusal entry, counting the unrecorded ones.
	h.clock.Add(5 * time.Minute)
	c.tryLogin("keeper", testPassword) // still throttled: failures are 5 min old
	h.clock.Add(6 * time.Minute)
	if s := c.tryLogin("keeper", "wrong-again-wrong"); s != 401 {
		t.Errorf("after the window: %d", s)
	}
	fails = h.auditEntries("login.fail")
	if len(fails) != perSource+2 {
		t.Fatalf("login.fail entries after the window: %d, want %d", len(fails), perSource+2)
	}
}

// TestLockoutPerAccountAndSource: a stranger who knows a keeper's name
// locks it out only from the stranger's own address; the keeper's
// workstation logs in. The locked source cannot log in even with the
// right password, and an administrator's enable lifts the lock.
func TestLockoutPerAccountAndSource(t *testing.T) {
	h := newHarness(t)
	stranger := h.from("127.0.0.2")
	for i := 0; i < 10; i++ {
		stranger.tryLogin("keeper", fmt.Sprintf("guess-number-%d", i))
	}
	wrong := 0
	for _, f := range h.auditEntries("login.fail") {
		if f.Actor == "keeper" && strings.Contains(string(f.Detail), "wrong password") {
			wrong++
		}
	}
	if wrong != h.cfg.Admin.LoginFailLimit {
		t.Errorf("%d guesses checked, want %d", wrong, h.cfg.Admin.LoginFailLimit)
	}
	if s := stranger.tryLogin("keeper", testPassword); s != 401 {
		t.Errorf("right password from the locked source: %d, want 401", s)
	}
	if s := h.from("127.0.0.3").tryLogin("keeper", testPassword); s != 200 {
		t.Errorf("keeper's own workstation: %d, want 200", s)
	}
	// The administrator sees that someone was locked out, and lifts it.
	admin := h.login("admin")
	_, body := admin.do("GET", "/api/v1/users", nil)
	if !strings.Contains(string(body), `"locked_until"`) {
		t.Errorf("users list does not show the lock: %s", body)
	}
	if res, _ := admin.do("POST", "/api/v1/users/keeper/enable", nil); res.StatusCode != 204 {
		t.Fatalf("enable: %d", res.StatusCode)
	}
	if s := stranger.tryLogin("keeper", testPassword); s != 200 {
		t.Errorf("after enable: %d, want 200", s)
	}
}

// TestParallelLoginsBounded: a burst of parallel wrong logins for one
// account gets no more guesses than sequential ones, never more than
// maxConcurrentHashes argon2 runs at once; the surplus is answered 429 or
// 401 at once. The right password is refused from that source afterwards,
// and another account logs in.
func TestParallelLoginsBounded(t *testing.T) {
	h := newHarness(t)
	// A slower hash, so the attempts overlap.
	slow, err := HashPassword(testPassword, HashParams{Memory: 16 * 1024, Time: 2, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = h.db.Update(context.Background(), func(tx *registry.Tx) error {
		u, err := tx.UserByName("keeper")
		if err != nil {
			return err
		}
		u.PassHash = slow
		return tx.UpdateUser(u)
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	c := h.anon()
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", h.ts.URL+"/api/v1/session",
				strings.NewReader(fmt.Sprintf(`{"name":"keeper","password":"wrong-guess-%d"}`, i)))
			req.Header.Set("Content-Type", "application/json")
			res, err := c.c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			mu.Lock()
			codes[res.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	wrong := 0
	for _, f := range h.auditEntries("login.fail") {
		if strings.Contains(string(f.Detail), "wrong password") {
			wrong++
		}
	}
	if wrong > h.cfg.Admin.LoginFailLimit || wrong == 0 {
		t.Errorf("%d guesses checked in parallel, want 1..%d (codes %v)", wrong, h.cfg.Admin.LoginFailLimit, codes)
	}
	if p := h.srv.limits.peak.Load(); p > maxConcurrentHashes {
		t.Errorf("%d argon2 runs at once, want at most %d", p, maxConcurrentHashes)
	}
	if codes[200] != 0 || codes[500] != 0 {
		t.Errorf("answers: %v", codes)
	}
	// Until the lock: try the remaining guesses one by one.
	for i := 0; i < 5; i++ {
		c.tryLogin("keeper", "one-more-wrong-guess")
	}
	if s := c.tryLogin("keeper", testPassword); s != 401 {
		t.Errorf("right password after the burst: %d, want 401", s)
	}
	if s := c.tryLogin("dpo", testPassword); s != 200 {
		t.Errorf("another account: %d, want 200", s)
	}
}

// TestBusyAnswers429AtOnce: with every argon2 slot taken, a login is
// answered 429 with Retry-After at once, not queued, and costs the source
// no guess.
func TestBusyAnswers429AtOnce(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < maxConcurrentHashes; i++ {
		h.srv.limits.hashes <- struct{}{}
	}
	c := h.anon()
	start := time.Now()
	res, body := c.do("POST", "/api/v1/session", map[string]string{"name": "keeper", "password": testPassword})
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("busy: %d %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("busy answer took %s: queued?", d)
	}
	_, page := c.do("GET", "/login", nil)
	res, page = c.do("POST", "/login", formBody("csrf="+csrfField(t, page)+"&name=keeper&password=x"))
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(page), tr("fi", "login.busy")) {
		t.Errorf("busy login page: %d", res.StatusCode)
	}
	for i := 0; i < maxConcurrentHashes; i++ {
		<-h.srv.limits.hashes
	}
	for i := 0; i < 2*h.cfg.Admin.LoginFailLimit; i++ {
		if s := c.tryLogin("keeper", testPassword); s != 200 {
			t.Fatalf("after busy: %d (busy answers were counted as failures?)", s)
		}
	}
}

// TestLimiterReservesBeforeHash: attempts admitted but not yet finished
// hold their slots, so no more than the limit are ever admitted at once.
func TestLimiterReservesBeforeHash(t *testing.T) {
	l := newLoginLimits(5, 15*time.Minute)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var open []*loginAttempt
	for i := 0; i < 100; i++ {
		if a, ref, _, _ := l.admit("user:keeper", "10.0.0.9", now); ref == admitted {
			open = append(open, a)
		}
	}
	if len(open) != 5 {
		t.Fatalf("%d attempts admitted in flight, want 5", len(open))
	}
	for _, a := range open {
		a.failed(now)
	}
	if _, ref, until, _ := l.admit("user:keeper", "10.0.0.9", now); ref != locked || !until.Equal(now.Add(15*time.Minute)) {
		t.Errorf("after 5 failures: %v until %v", ref, until)
	}
	if _, ref, _, _ := l.admit("user:keeper", "10.0.0.10", now); ref != admitted {
		t.Errorf("another source locked out too: %v", ref)
	}
	// A source's own limit spans accounts, in flight included.
	n := 0
	for i := 0; i < 100; i++ {
		if _, ref, _, _ := l.admit(fmt.Sprintf("user:u%d", i), "10.0.0.11", now); ref == admitted {
			n++
		}
	}
	if n != 20 {
		t.Errorf("%d attempts admitted from one source, want 20", n)
	}
	// An IPv6 host is one source across its /64.
	if sourceOf("2001:db8::1") != sourceOf("2001:db8::ffff:1") || sourceOf("::ffff:10.0.0.1") != "10.0.0.1" {
		t.Errorf("sources: %s %s %s", sourceOf("2001:db8::1"), sourceOf("2001:db8::ffff:1"), sourceOf("::ffff:10.0.0.1"))
	}
}

// TestSafeNext: the redirect after login stays on this host whatever the
// next parameter says.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/":                                 "/",
		"/holds":                            "/holds",
		"/cameras/yard?date=2026-11-22":     "/cameras/yard?date=2026-11-22",
		"/audit?kind=login.fail&q=a%20b%C3": "/audit?kind=login.fail&q=a%20b%C3",
		"":                                  "/",
		"holds":                             "/",
		"//evil.example":                    "/",
		"///evil.example":                   "/",
		"/\\evil.example":                   "/",
		"\\\\evil.example":                  "/",
		"/\t/evil.example":                  "/",
		"/\n/evil.example":                  "/",
		"/\r\n/evil.example":                "/",
		"\t//evil.example":                  "/",
		" //evil.example":                   "/",
		"/ /evil.example":                   "/",
		"/\x00/evil.example":                "/",
		"/\x7f/evil.example":                "/",
		"/%2f%2fevil.example":               "/",
		"/%2F%2Fevil.example":               "/",
		"%2f%2fevil.example":                "/",
		"/%5cevil.example":                  "/",
		"/%5C%5Cevil.example":               "/",
		"/%252f%252fevil.example":           "/",
		"/%25252f/evil.example":             "/",
		"/%09/evil.example":                 "/",
		"/%0a/evil.example":                 "/",
		"/x/%0d%0aSet-Cookie:a=b":           "/",
		"https:evil.example":                "/",
		"https://evil.example":              "/",
		"javascript:alert(1)":               "/",
		"/javascript:alert(1)":              "/javascript:alert(1)",
		"data:text/html,x":                  "/",
		"//user@evil.example":               "/",
		"/\u3000/evil.example":              "/",
		"/\uff0f/evil.example":              "/",
		"/api/v1/session":                   "/",
		"/%61pi/v1/session":                 "/",
		"/%zz":                              "/",
		"/" + strings.Repeat("a", 3000):     "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLoginRedirectStaysOnHost: the same through the real form, where a
// browser would follow the Location header.
func TestLoginRedirectStaysOnHost(t *testing.T) {
	h := newHarness(t)
	for _, next := range []string{"/\t/evil.example", "//evil.example", "/\\evil.example", "/%2f%2fevil.example", "https:evil.example"} {
		c := h.anon()
		_, page := c.do("GET", "/login?next="+url.QueryEscape(next), nil)
		if bytes.Contains(page, []byte("evil.example")) {
			t.Errorf("login page carries next=%q", next)
		}
		res, _ := c.do("POST", "/login", formBody("csrf="+csrfField(t, page)+"&name=keeper&password="+
			url.QueryEscape(testPassword)+"&next="+url.QueryEscape(next)))
		if res.StatusCode != 303 || res.Header.Get("Location") != "/" {
			t.Errorf("next=%q: %d Location %q", next, res.StatusCode, res.Header.Get("Location"))
		}
	}
}
