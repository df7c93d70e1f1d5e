package admin

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

func TestPlaybackNeedsReasonAndIsAudited(t *testing.T) {
	h := newHarness(t)
	k := h.login("keeper")
	p := "/api/v1/cameras/yard/playback?from=2026-11-22T10:00:00Z&to=2026-11-22T10:05:00Z"
	if res, _ := k.do("GET", p, nil); res.StatusCode != http.StatusPreconditionRequired {
		t.Fatalf("playback without a reason: %d, want 428", res.StatusCode)
	}
	if len(h.playedCameras()) != 0 || len(h.auditEntries("footage")) != 0 {
		t.Fatal("footage served or audited without a reason")
	}
	if res, _ := k.do("PUT", "/api/v1/me/viewing-reason", map[string]string{"reason": "ilkivalta 21.11."}); res.StatusCode != 204 {
		t.Fatalf("reason: %d", res.StatusCode)
	}
	res, body := k.do("GET", p, nil)
	if res.StatusCode != 200 || string(body) != "fake mp4 bytes for yard" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("playback: %d %q %q", res.StatusCode, body, res.Header.Get("Cache-Control"))
	}
	// The browser's range requests for the same window add no entries.
	req, _ := http.NewRequest("GET", h.ts.URL+p, nil)
	req.Header.Set("Range", "bytes=5-")
	if res, err := k.c.Do(req); err != nil || res.StatusCode != http.StatusPartialContent {
		t.Fatalf("range request: %v %v", res.StatusCode, err)
	}
	plays := h.auditEntries("footage.play")
	if len(plays) != 1 {
		t.Fatalf("footage.play entries: %d, want 1", len(plays))
	}
	var d struct {
		Camera, Reason string
		From, To       time.Time
	}
	json.Unmarshal(plays[0].Detail, &d)
	if plays[0].Actor != "keeper" || d.Camera != "yard" || d.Reason != "ilkivalta 21.11." ||
		!d.From.Equal(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)) || !d.To.Equal(time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)) {
		t.Errorf("audit detail: %s", plays[0].Detail)
	}
	// Another window is another entry.
	k.do("GET", strings.Replace(p, "10:05", "10:06", 1), nil)
	if n := len(h.auditEntries("footage.play")); n != 2 {
		t.Errorf("second window: %d entries", n)
	}
	for _, bad := range []string{"from=x&to=y", "from=2026-11-22T10:00:00Z&to=2026-11-22T09:00:00Z",
		"from=2026-11-22T00:00:00Z&to=2026-11-23T00:00:00Z", ""} {
		if res, _ := k.do("GET", "/api/v1/cameras/yard/playback?"+bad, nil); res.StatusCode != 400 {
			t.Errorf("playback ?%s: %d, want 400", bad, res.StatusCode)
		}
	}
}

func TestHoldsThroughPagesAndAPI(t *testing.T) {
	h := newHarness(t)
	k := h.login("keeper")
	// Local time, as typed into the form; 14:00 in November is +02:00.
	form := url.Values{"csrf": {k.csrf}, "camera": {"yard", "lobby"}, "from": {"2026-11-21T14:00"}, "to": {"2026-11-21T15:30"},
		"reason": {"poliisin pyyntö"}, "case_ref": {"5500/R/1/26"}}
	res, body := k.do("POST", "/holds", formBody(form.Encode()))
	if res.StatusCode != 303 {
		t.Fatalf("hold form: %d %s", res.StatusCode, body)
	}
	var hs []registry.Hold
	h.db.View(context.Background(), func(tx *registry.Tx) (err error) { hs, err = tx.Holds(true); return })
	if len(hs) != 1 || !hs[0].From.Equal(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)) || strings.Join(hs[0].Cameras, ",") != "yard,lobby" {
		t.Fatalf("hold stored: %+v", hs)
	}
	// Missing reason: refused with a message in Finnish, nothing stored.
	form.Set("reason", "")
	res, body = k.do("POST", "/holds", formBody(form.Encode()))
	if res.StatusCode != 400 || !strings.Contains(string(body), "Kirjoita peruste") {
		t.Errorf("hold without reason: %d", res.StatusCode)
	}
	// The ambiguous autumn hour asks which one is meant, then accepts the choice.
	form.Set("reason", "x")
	form.Set("from", "2026-10-25T03:30")
	form.Set("to", "2026-10-25T05:00")
	res, body = k.do("POST", "/holds", formBody(form.Encode()))
	if res.StatusCode != 400 || !strings.Contains(string(body), `name="from_dst"`) {
		t.Errorf("ambiguous time: %d, dst choice shown: %v", res.StatusCode, strings.Contains(string(body), "from_dst"))
	}
	form.Set("from_dst", "later")
	if res, _ = k.do("POST", "/holds", formBody(form.Encode())); res.StatusCode != 303 {
		t.Errorf("ambiguous time with a choice: %d", res.StatusCode)
	}
	// Release through the API with a reason.
	res, body = k.do("POST", fmt.Sprintf("/api/v1/holds/%d/release", hs[0].ID), map[string]string{"reason": ""})
	if res.StatusCode != 400 {
		t.Errorf("release without reason: %d", res.StatusCode)
	}
	res, body = k.do("POST", fmt.Sprintf("/api/v1/holds/%d/release", hs[0].ID), map[string]string{"reason": "case closed"})
	if res.StatusCode != 200 || !strings.Contains(string(body), `"active":false`) {
		t.Errorf("release: %d %s", res.StatusCode, body)
	}
	kinds := strings.Join(h.auditKinds(), " ")
	if strings.Count(kinds, "hold.add") != 2 || strings.Count(kinds, "hold.release") != 1 {
		t.Errorf("audit: %s", kinds)
	}
}

func TestDayViewAcrossDST(t *testing.T) {
	h := newHarness(t)
	k := h.login("keeper")
	// 2026-10-25 in Helsinki is 25 hours long: 2026-10-24T21:00Z – 2026-10-25T22:00Z.
	h.addSegments("yard", time.Date(2026, 10, 24, 21, 0, 0, 0, time.UTC), 4, time.Minute)
	h.addSegments("yard", time.Date(2026, 10, 25, 21, 50, 0, 0, time.UTC), 10, time.Minute) // runs past midnight
	res, body := k.do("GET", "/api/v1/cameras/yard/day?date=2026-10-25", nil)
	if res.StatusCode != 200 {
		t.Fatalf("day: %d %s", res.StatusCode, body)
	}
	var d struct {
		From, To time.Time
		Recorded []struct{ From, To time.Time }
		Gaps     []struct{ From, To time.Time }
	}
	json.Unmarshal(body, &d)
	if d.To.Sub(d.From) != 25*time.Hour || len(d.Recorded) != 2 || !d.Recorded[1].To.Equal(d.To) {
		t.Fatalf("day bounds/spans: %s", body)
	}
	if len(d.Gaps) != 1 || !d.Gaps[0].From.Equal(d.Recorded[0].To) {
		t.Errorf("gaps: %+v", d.Gaps)
	}
	// The page draws 25 hours with hour labels, the repeated 03 twice.
	_, page := k.do("GET", "/cameras/yard?date=2026-10-25", nil)
	if n := strings.Count(string(page), `class="tl-label">03<`); n != 2 {
		t.Errorf("hour 03 labelled %d times on the 25-hour day, want 2", n)
	}
	if res, _ := k.do("GET", "/api/v1/cameras/yard/day?date=2026-13-45", nil); res.StatusCode != 400 {
		t.Errorf("bad date: %d", res.StatusCode)
	}
}

func TestParseLocalTimes(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Helsinki")
	cases := []struct {
		in, pick string
		want     string // RFC 3339 UTC, or "amb"/"none"/"bad"
	}{
		{"2026-11-22T14:05", "", "2026-11-22T12:05:00Z"},
		{"2026-07-01 14:05:30", "", "2026-07-01T11:05:30Z"},
		{"2026-11-22T14:05:00+02:00", "", "2026-11-22T12:05:00Z"},
		{"2026-03-29T03:30", "", "none"}, // clocks jump 03:00 → 04:00
		{"2026-03-29T02:59", "", "2026-03-29T00:59:00Z"},
		{"2026-03-29T04:00", "", "2026-03-29T01:00:00Z"},
		{"2026-10-25T03:30", "", "amb"}, // 04:00 EEST → 03:00 EET
		{"2026-10-25T03:30", "earlier", "2026-10-25T00:30:00Z"},
		{"2026-10-25T03:30", "later", "2026-10-25T01:30:00Z"},
		{"2026-10-25T02:59", "", "2026-10-24T23:59:00Z"},
		{"2026-10-25T04:00", "", "2026-10-25T02:00:00Z"},
		{"yesterday", "", "bad"},
	}
	for _, c := range cases {
		got, err := parseWhen(c.in, loc, c.pick)
		var amb *AmbiguousError
		switch c.want {
		case "amb":
			if !errors.As(err, &amb) {
				t.Errorf("%s: %v %v, want ambiguous", c.in, got, err)
			}
		case "none":
			if !errors.Is(err, ErrNoSuchLocalTime) {
				t.Errorf("%s: %v %v, want nonexistent", c.in, got, err)
			}
		case "bad":
			if err == nil {
				t.Errorf("%s: accepted", c.in)
			}
		default:
			if err != nil || got.Format(time.RFC3339) != c.want {
				t.Errorf("%s (%s): %v %v, want %s", c.in, c.pick, got, err, c.want)
			}
		}
	}
	for day, hours := range map[string]float64{"2026-03-29": 23, "2026-10-25": 25, "2026-11-22": 24} {
		d, _ := parseDay(day, loc)
		f, to := dayBounds(d, loc)
		if to.Sub(f).Hours() != hours {
			t.Errorf("%s: %v hours", day, to.Sub(f).Hours())
		}
	}
}

func TestPasswordHashing(t *testing.T) {
	enc, err := HashPassword("oikea hevonen patteri niitti", DefaultHashParams())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(enc) {
		t.Errorf("not a PHC argon2id string: %s", enc)
	}
	if ok, err := VerifyPassword(enc, "oikea hevonen patteri niitti"); !ok || err != nil {
		t.Errorf("right password refused: %v", err)
	}
	if ok, _ := VerifyPassword(enc, "oikea hevonen patteri niitt"); ok {
		t.Error("wrong password accepted")
	}
	enc2, _ := HashPassword("oikea hevonen patteri niitti", DefaultHashParams())
	if enc == enc2 {
		t.Error("two hashes of one password are equal: no salt?")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA"} {
		if _, err := VerifyPassword(bad, "x"); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
	for pw, ok := range map[string]bool{"short": false, "salasana1234": false, "Password1234": false,
		"aaaaaaaaaaaaaaa": false, "keeper-on-paras": false, "kolme pientä porsasta": true} {
		err := CheckPasswordPolicy(pw, "keeper")
		if (err == nil) != ok {
			t.Errorf("policy(%q) = %v", pw, err)
		}
	}
}

func TestTOTPVectors(t *testing.T) {
	// RFC 6238 appendix B, SHA-1 secret "12345678901234567890", last 6 digits.
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
		got, err := TOTPCode(secret, time.Unix(unix, 0))
		if err != nil || got != want {
			t.Errorf("T=%d: %s %v, want %s", unix, got, err, want)
		}
	}
	now := time.Unix(1111111109, 0)
	if !CheckTOTP(secret, "081804", now) || !CheckTOTP(secret, "081804", now.Add(25*time.Second)) {
		t.Error("current code refused")
	}
	if CheckTOTP(secret, "081804", now.Add(2*time.Minute)) || CheckTOTP(secret, "", now) {
		t.Error("stale or empty code accepted")
	}
	u := TOTPURI("Vahti", "keeper", secret)
	if !strings.HasPrefix(u, "otpauth://totp/Vahti:keeper?") || !strings.Contains(u, "secret="+secret) {
		t.Errorf("uri %s", u)
	}
}

func TestLoginWithTOTP(t *testing.T) {
	h := newHarness(t)
	secret, _ := NewTOTPSecret()
	h.db.Update(context.Background(), func(tx *registry.Tx) error {
		u, _ := tx.UserByName("keeper")
		u.TOTPSecret = secret
		return tx.UpdateUser(u)
	})
	c := h.anon()
	if res, _ := c.do("POST", "/api/v1/session", map[string]string{"name": "keeper", "password": testPassword}); res.StatusCode != 401 {
		t.Errorf("no code: %d", res.StatusCode)
	}
	code, _ := TOTPCode(secret, h.clock.Now())
	if res, _ := c.do("POST", "/api/v1/session", map[string]string{"name": "keeper", "password": testPassword, "totp": code}); res.StatusCode != 200 {
		t.Errorf("with code: %d", res.StatusCode)
	}
}

// TestTranslationsComplete: every key used in templates and code exists in
// both catalogs, and every page renders in both languages without a gap.
func TestTranslationsComplete(t *testing.T) {
	keyRe := regexp.MustCompile(`\b(?:t|tf) \$?[A-Za-z.]*L "([a-z0-9._]+)"`)
	used := map[string]bool{}
	fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return nil
		}
		b, _ := templateFS.ReadFile(p)
		for _, m := range keyRe.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		return nil
	})
	// Keys in Go code: every string literal that looks like section.key
	// for a section the catalogs have.
	sections := map[string]bool{}
	for k := range catalogFI {
		sections[strings.SplitN(k, ".", 2)[0]] = true
	}
	goFiles, _ := filepath.Glob("*.go")
	litRe := regexp.MustCompile(`"([a-z]+)\.([a-z0-9._]+)"`)
	for _, f := range goFiles {
		if strings.HasSuffix(f, "_test.go") || f == "i18n.go" {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, m := range litRe.FindAllStringSubmatch(string(b), -1) {
			if k := m[1] + "." + m[2]; sections[m[1]] && k != "login.ok" && k != "login.fail" && k != "audit.export" { // audit kinds, not text
				used[k] = true
			}
		}
	}
	// Keys built at run time.
	for _, s := range []string{"recording", "connecting", "offline", "unknown", "disabled", "authfailed", "paused"} {
		used["state."+s] = true
	}
	for _, r := range []string{"keeper", "dpo", "admin"} {
		used["role."+r], used["role."+r+".desc"] = true, true
	}
	if len(used) < 150 {
		t.Fatalf("only %d keys found; the scan is broken", len(used))
	}
	var missing []string
	for k := range used {
		if _, ok := catalogFI[k]; !ok {
			missing = append(missing, "fi:"+k)
		}
		if _, ok := catalogEN[k]; !ok {
			missing = append(missing, "en:"+k)
		}
	}
	for k := range catalogFI {
		if _, ok := catalogEN[k]; !ok {
			missing = append(missing, "en:"+k)
		}
	}
	for k := range catalogEN {
		if _, ok := catalogFI[k]; !ok {
			missing = append(missing, "fi:"+k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("missing translations: %v", missing)
	}
	for k, v := range catalogFI {
		if strings.Count(v, "%") != strings.Count(catalogEN[k], "%") {
			t.Errorf("%s: format verbs differ between languages", k)
		}
	}

	// Render every page in both languages.
	h := newHarness(t)
	h.addSegments("yard", time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC), 20, 30*time.Second)
	boss := h.login("boss")
	boss.do("PUT", "/api/v1/me/viewing-reason", map[string]string{"reason": "test"})
	boss.do("POST", "/api/v1/holds", map[string]any{"cameras": []string{"yard"}, "from": "2026-11-22T08:00:00Z", "to": "2026-11-22T09:00:00Z", "reason": "r"})
	boss.do("POST", "/api/v1/exports", map[string]any{"cameras": []string{"yard"}, "from": "2026-11-22T08:00:00Z", "to": "2026-11-22T08:05:00Z", "reason": "r", "case_ref": "c"})
	boss.do("POST", "/api/v1/tokens", map[string]string{"name": "t"})
	pages := []string{"/", "/cameras/yard", "/cameras/yard?date=2026-10-25", "/cameras/yard/play?from=2026-11-22T08:00:00Z",
		"/cameras/yard/play?from=2026-10-25T03:30", "/holds", "/holds?all=1", "/exports", "/audit", "/users", "/account", "/cameras/nope"}
	for _, lang := range []string{"fi", "en"} {
		if res, _ := boss.do("PUT", "/api/v1/me/lang", map[string]string{"lang": lang}); res.StatusCode != 200 {
			t.Fatalf("set lang: %d", res.StatusCode)
		}
		for _, p := range pages {
			res, body := boss.do("GET", p, nil)
			if res.StatusCode != 200 && p != "/cameras/nope" {
				t.Errorf("%s %s: %d", lang, p, res.StatusCode)
			}
			if strings.Contains(string(body), "[[") || !strings.Contains(string(body), `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: untranslated text or wrong language", lang, p)
			}
		}
		for _, p := range []string{"/login?lang=" + lang} {
			_, body := h.anon().do("GET", p, nil)
			if strings.Contains(string(body), "[[") || !strings.Contains(string(body), `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: untranslated", lang, p)
			}
		}
	}
	// Clean the reason page too (shown before a reason is given).
	k := h.login("keeper")
	_, body := k.do("GET", "/cameras/yard/play", nil)
	if !strings.Contains(string(body), `id="reason-form"`) || strings.Contains(string(body), "[[") {
		t.Errorf("reason form not shown first")
	}
}

func TestUsersAndTokensAdmin(t *testing.T) {
	h := newHarness(t)
	a := h.login("admin")
	res, body := a.do("POST", "/api/v1/users", map[string]any{"name": "liisa", "roles": []string{"keeper"}, "password": "short"})
	if res.StatusCode != 400 || !strings.Contains(string(body), "12") {
		t.Errorf("weak password: %d %s", res.StatusCode, body)
	}
	res, _ = a.do("POST", "/api/v1/users", map[string]any{"name": "liisa", "roles": []string{"keeper"}, "password": "vihreä talo mäellä"})
	if res.StatusCode != 201 {
		t.Fatalf("add user: %d", res.StatusCode)
	}
	l := h.anon()
	if res, _ := l.do("POST", "/api/v1/session", map[string]string{"name": "liisa", "password": "vihreä talo mäellä"}); res.StatusCode != 200 {
		t.Fatalf("new user login: %d", res.StatusCode)
	}
	// Disabling ends the running session at once.
	if res, _ := a.do("POST", "/api/v1/users/liisa/disable", nil); res.StatusCode != 204 {
		t.Fatalf("disable: %d", res.StatusCode)
	}
	if res, _ := l.do("GET", "/api/v1/me", nil); res.StatusCode != 401 {
		t.Errorf("disabled user's session still works: %d", res.StatusCode)
	}
	if res, _ := a.do("POST", "/api/v1/users/admin/disable", nil); res.StatusCode != 400 {
		t.Errorf("self-disable: %d", res.StatusCode)
	}
	if res, _ := a.do("POST", "/api/v1/users/nobody/disable", nil); res.StatusCode != 404 {
		t.Errorf("disable unknown: %d", res.StatusCode)
	}
	// Tokens: created, used, revoked.
	res, body = a.do("POST", "/api/v1/tokens", map[string]string{"name": "backup script"})
	var tok struct {
		ID    int64
		Token string
	}
	json.Unmarshal(body, &tok)
	bearer := func() int {
		req, _ := http.NewRequest("GET", h.ts.URL+"/api/v1/users", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		res, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode
	}
	if s := bearer(); s != 200 {
		t.Errorf("bearer: %d", s)
	}
	var stored []registry.Token
	h.db.View(context.Background(), func(tx *registry.Tx) (err error) {
		u, _ := tx.UserByName("admin")
		stored, err = tx.Tokens(u.ID)
		return
	})
	sum := sha256.Sum256([]byte(tok.Token))
	if len(stored) != 1 || stored[0].Hash != hex.EncodeToString(sum[:]) || strings.Contains(stored[0].Hash, tok.Token) {
		t.Errorf("token storage: %+v", stored)
	}
	if res, _ := a.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok.ID), nil); res.StatusCode != 204 {
		t.Errorf("revoke: %d", res.StatusCode)
	}
	if s := bearer(); s != 401 {
		t.Errorf("revoked token: %d", s)
	}
	kinds := strings.Join(h.auditKinds(), " ")
	for _, k := range []string{"user.add", "user.disable", "token.create", "token.revoke"} {
		if !strings.Contains(kinds, k) {
			t.Errorf("%s not audited: %s", k, kinds)
		}
	}
}

func TestAuditViewAndVerify(t *testing.T) {
	h := newHarness(t)
	d := h.login("dpo")
	res, body := d.do("POST", "/api/v1/audit/verify", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"ok":true`) {
		t.Fatalf("verify: %d %s", res.StatusCode, body)
	}
	res, body = d.do("GET", "/api/v1/audit?kind=login&actor=dpo", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"login.ok"`) || strings.Contains(string(body), `"audit.verify"`) {
		t.Fatalf("filter: %s", body)
	}
	// Tamper with the chain behind Vahti's back: the button says so.
	h.db.Update(context.Background(), func(tx *registry.Tx) error {
		_, err := tx.Audit("x", "y", "z", "o", nil)
		return err
	})
	raw, _ := os.ReadFile(h.db.Path())
	_ = raw
	tamper(t, h.db.Path())
	res, body = d.do("POST", "/audit/verify", formBody("csrf="+url.QueryEscape(d.csrf)))
	if res.StatusCode != 200 || !strings.Contains(string(body), "Lokiketju on rikki") {
		t.Errorf("tampered chain not reported: %d", res.StatusCode)
	}
}

func TestServeTLSSelfSigned(t *testing.T) {
	h := newHarness(t)
	fp := h.srv.Fingerprint()
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Fatalf("fingerprint %q", fp)
	}
	if fi, err := os.Stat(filepath.Join(h.cfg.StateDir, "tls", "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v", err)
	}
	// A second server on the same state dir reuses the certificate.
	s2, err := New(Config{DB: h.db, Cfg: h.cfg, HashParams: testHash})
	if err != nil || s2.Fingerprint() != fp {
		t.Fatalf("second start: %v %s", err, s2.Fingerprint())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s2.Serve(ctx, ln) }()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := certFingerprint(tls.Certificate{Certificate: [][]byte{conn.ConnectionState().PeerCertificates[0].Raw}}); got != fp {
		t.Errorf("served certificate %s, want %s", got, fp)
	}
	conn.Close()
	// Plain HTTP is not served.
	if res, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil && res.StatusCode == 200 {
		t.Error("plain HTTP answered")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
}

// tamper edits the newest audit row's detail directly in SQLite.
func tamper(t *testing.T, path string) {
	t.Helper()
	db, err := sqlOpen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit SET detail = '{"edited":true}' WHERE seq = (SELECT MAX(seq) FROM audit)`); err != nil {
		t.Fatal(err)
	}
}

// TestUnwiredParts: without holds, exports or playback wired in, the
// endpoints say so with 503 instead of failing obscurely.
func TestUnwiredParts(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Holds, c.Export, c.Playback, c.Cameras = nil, nil, nil, nil })
	k := h.login("keeper")
	k.do("PUT", "/api/v1/me/viewing-reason", map[string]string{"reason": "x"})
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/holds", map[string]any{"cameras": []string{"yard"}, "from": "2026-11-22T10:00:00Z", "to": "2026-11-22T11:00:00Z", "reason": "r"}},
		{"POST", "/api/v1/exports", map[string]any{"cameras": []string{"yard"}, "from": "2026-11-22T10:00:00Z", "to": "2026-11-22T11:00:00Z", "reason": "r", "case_ref": "c"}},
		{"GET", "/api/v1/cameras/yard/playback?from=2026-11-22T10:00:00Z&to=2026-11-22T10:01:00Z", nil},
	} {
		if res, body := k.do(r.method, r.path, r.body); res.StatusCode != 503 {
			t.Errorf("%s %s: %d %s, want 503", r.method, r.path, res.StatusCode, body)
		}
	}
	res, body := k.do("GET", "/api/v1/cameras", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"state":"unknown"`) {
		t.Errorf("cameras without recorder: %s", body)
	}
	if res, _ := k.do("GET", "/", nil); res.StatusCode != 200 {
		t.Errorf("dashboard without recorder/retention: %d", res.StatusCode)
	}
	if res, _ := h.anon().do("GET", "/static/", nil); res.StatusCode != 404 {
		t.Errorf("static directory listing: %d", res.StatusCode)
	}
}

// TestTOTPEnrolment: a user turns the second factor on from the account
// page (confirming a code first) and off again (with a current code).
func TestTOTPEnrolment(t *testing.T) {
	h := newHarness(t)
	k := h.login("dpo")
	post := func(v url.Values) (int, string) {
		v.Set("csrf", k.csrf)
		res, body := k.do("POST", "/account/totp", formBody(v.Encode()))
		return res.StatusCode, string(body)
	}
	_, page := post(url.Values{"action": {"begin"}})
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "otpauth://totp/Vahti:dpo?") {
		t.Fatalf("enrolment page shows no secret")
	}
	if s, _ := post(url.Values{"action": {"confirm"}, "code": {"000000"}}); s != 400 {
		t.Errorf("wrong code accepted: %d", s)
	}
	code, _ := TOTPCode(m[1], h.clock.Now())
	if s, _ := post(url.Values{"action": {"confirm"}, "code": {code}}); s != 303 {
		t.Fatalf("confirm: %d", s)
	}
	c := h.anon()
	if res, _ := c.do("POST", "/api/v1/session", map[string]string{"name": "dpo", "password": testPassword}); res.StatusCode != 401 {
		t.Errorf("login without code after enrolment: %d", res.StatusCode)
	}
	// The code that confirmed the enrolment is spent.
	if res, _ := c.do("POST", "/api/v1/session", map[string]string{"name": "dpo", "password": testPassword, "totp": code}); res.StatusCode != 401 {
		t.Errorf("login with the code that confirmed enrolment: %d, want 401", res.StatusCode)
	}
	h.clock.Add(30 * time.Second)
	code, _ = TOTPCode(m[1], h.clock.Now())
	if res, _ := c.do("POST", "/api/v1/session", map[string]string{"name": "dpo", "password": testPassword, "totp": code}); res.StatusCode != 200 {
		t.Errorf("login with code: %d", res.StatusCode)
	}
	if s, _ := post(url.Values{"action": {"off"}, "code": {code}}); s != 400 {
		t.Errorf("turn off with the code just used to log in: %d, want 400", s)
	}
	h.clock.Add(30 * time.Second)
	code, _ = TOTPCode(m[1], h.clock.Now())
	if s, _ := post(url.Values{"action": {"off"}, "code": {code}}); s != 303 {
		t.Errorf("turn off: %d", s)
	}
	if n := len(h.auditEntries("user.totp")); n != 2 {
		t.Errorf("user.totp audited %d times", n)
	}
}

// TestConcurrentServers: several servers built at once (as parallel tests
// of the whole service do) share gin's mode without a data race.
func TestConcurrentServers(t *testing.T) {
	h := newHarness(t)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			s, err := New(Config{DB: h.db, Cfg: h.cfg, HashParams: testHash})
			if err == nil {
				req := httptest.NewRequest("GET", "/healthz", nil)
				w := httptest.NewRecorder()
				s.Handler().ServeHTTP(w, req)
				if w.Code != 200 {
					err = fmt.Errorf("healthz %d", w.Code)
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A player window reaching past the newest footage must not grow while the
// browser reads it: the page pins the window's end to the footage there is.
func TestPlayWindowPinnedToExistingFootage(t *testing.T) {
	h := newHarness(t)
	from := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	h.addSegments("yard", from, 2, time.Minute)
	k := h.login("keeper")
	k.do("PUT", "/api/v1/me/viewing-reason", map[string]string{"reason": "tapahtuma"})
	res, body := k.do("GET", "/cameras/yard/play?min=5&from="+url.QueryEscape(from.Format(time.RFC3339)), nil)
	if res.StatusCode != 200 {
		t.Fatalf("play page: %d", res.StatusCode)
	}
	want := url.Values{"from": {"2026-11-22T10:00:00Z"}, "to": {"2026-11-22T10:02:00Z"}}.Encode()
	if !strings.Contains(html.UnescapeString(string(body)), "/api/v1/cameras/yard/playback?"+want) {
		t.Errorf("player src not pinned to the newest footage (want …%s)", want)
	}
	if !strings.Contains(string(body), `value="2026-11-22T12:00:00"`) {
		t.Errorf("the time field lost its seconds")
	}
}

// The DPO can release a paused purge from the dashboard; the override is
// done by retention (here a fake) with the DPO's name as the actor.
func TestDPOConfirmsPausedPurge(t *testing.T) {
	var gotActor string
	h := newHarness(t, func(c *Config) {
		c.Retention = func() RetentionState {
			return RetentionState{Paused: true, WritingAllowed: true, Alarms: []string{"clock jumped"}}
		}
		c.ConfirmPurge = func(ctx context.Context, actor, source string) (int, error) { gotActor = actor; return 3, nil }
	})
	d := h.login("dpo")
	_, body := d.do("GET", "/", nil)
	if !strings.Contains(string(body), `action="/retention/confirm"`) {
		t.Fatal("the paused dashboard offers the DPO no confirmation")
	}
	k := h.login("keeper")
	if _, body := k.do("GET", "/", nil); strings.Contains(string(body), `action="/retention/confirm"`) {
		t.Error("a keeper is offered the interlock override")
	}
	if res, _ := k.do("POST", "/api/v1/retention/confirm", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("keeper override: %d, want 403", res.StatusCode)
	}
	res, body := d.do("POST", "/api/v1/retention/confirm", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"deleted":3`) || gotActor != "dpo" {
		t.Errorf("dpo override: %d %s actor %q", res.StatusCode, body, gotActor)
	}
}

func TestHumanDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		8 * time.Second: "8 s", 90 * time.Second: "2 min", 3*time.Hour + 5*time.Minute: "3 h 5 min",
		28 * 24 * time.Hour: "28 d 0 h", 0: "0 min",
	} {
		if got := humanDur(d); got != want {
			t.Errorf("humanDur(%s) = %q, want %q", d, got, want)
		}
	}
}
