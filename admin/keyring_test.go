package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/admin/export"
	"vahti/admin/internal/sealtest"
	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

// sealedBox is a harness with the real exporter and playback reading
// through the server's keyring, site keys made, and one sealed segment of
// the yard camera (a fakecam clip) at 11:00 UTC.
type sealedBox struct {
	h    *harness
	site seal.SitePublicKey
	seg  registry.Segment
}

var segStart = time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)

func newSealedBox(t *testing.T) *sealedBox {
	t.Helper()
	h := newHarness(t, func(c *Config) {
		c.Keyring = NewKeyring(c.DB)
		ex := &export.Exporter{Root: c.Cfg.Storage.Root, StateDir: c.Cfg.StateDir, DB: c.DB, Now: c.Now, Loc: c.Cfg.Location(),
			Version: "test", Cameras: c.Cfg.CameraIDs(), Log: c.Log, Unwrap: c.Keyring.Unwrapper()}
		c.Export = func(ctx context.Context, r ExportRequest, out string) (registry.Export, error) {
			return ex.Export(ctx, export.Request(r), out)
		}
		c.Playback = ex.Playback
	})
	b := &sealedBox{h: h}
	ring := sealtest.Site(t, h.db)
	defer ring.Wipe() // the test's copy; the service gets its own at a login
	b.site = ring.Public()
	// A grant to "keeper" and "boss" under their passwords, as vahti keys grant leaves it.
	b.wrap(ring, "keeper", testPassword)
	b.wrap(ring, "boss", testPassword)

	clip, err := os.ReadFile(filepath.Join("..", "recorder", "fakecam", "clips", "h264.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	// The clip ends with an mfra box; a segment as the recorder writes it
	// ends with its last fragment.
	top, err := mp4read.ScanTop(bytes.NewReader(clip), int64(len(clip)))
	if err != nil {
		t.Fatal(err)
	}
	for _, bx := range top.Boxes {
		if bx.Type == "mfra" {
			clip = clip[:bx.Off]
		}
	}
	rel := registry.SegmentPath("yard", segStart)
	abs := filepath.Join(h.cfg.Storage.Root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(abs, clip, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(clip)
	row := registry.Segment{Camera: "yard", Start: segStart, End: segStart.Add(4 * time.Second), Path: rel, Bytes: int64(len(clip)),
		Codecs: "h264", Params: "p", SHA256: hex.EncodeToString(sum[:])}
	if err := h.db.Update(context.Background(), func(tx *registry.Tx) error { return tx.AddSegment(&row) }); err != nil {
		t.Fatal(err)
	}
	b.seg = sealtest.Seal(t, h.db, b.site, abs, row)
	return b
}

func (b *sealedBox) user(name string) registry.User {
	b.h.t.Helper()
	var u registry.User
	if err := b.h.db.View(context.Background(), func(tx *registry.Tx) (err error) { u, err = tx.UserByName(name); return }); err != nil {
		b.h.t.Fatal(err)
	}
	return u
}

func (b *sealedBox) wrap(ring *seal.Keyring, name, password string) {
	b.h.t.Helper()
	w, err := ring.WrapPassword([]byte(password), seal.Argon2Params{Time: testHash.Time, Memory: testHash.Memory, Threads: testHash.Threads})
	if err != nil {
		b.h.t.Fatal(err)
	}
	u := b.user(name)
	if err := b.h.db.Update(context.Background(), func(tx *registry.Tx) error { return tx.PutKeeperWrap(u.ID, w, "test") }); err != nil {
		b.h.t.Fatal(err)
	}
}

// keeperWrap is name's wrap, nil when none.
func (b *sealedBox) keeperWrap(name string) []byte {
	b.h.t.Helper()
	u := b.user(name)
	var w []byte
	err := b.h.db.View(context.Background(), func(tx *registry.Tx) (err error) { w, err = tx.KeeperWrap(u.ID); return })
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		b.h.t.Fatal(err)
	}
	return w
}

func (b *sealedBox) playURL() string {
	return "/api/v1/cameras/yard/playback?" + url.Values{"from": {segStart.Add(500 * time.Millisecond).Format(time.RFC3339Nano)},
		"to": {segStart.Add(3 * time.Second).Format(time.RFC3339Nano)}, "reason": {"tapaus 7/2026"}}.Encode()
}

var exportBody = map[string]any{"cameras": []string{"yard"}, "from": "2026-11-22T11:00:00Z", "to": "2026-11-22T11:00:04Z", "reason": "poliisin pyyntö", "case_ref": "c-1"}

// play asks for the window and, on 200, checks that ffprobe reads the
// stitched MP4 it got.
func (b *sealedBox) play(c *client) (int, string) {
	b.h.t.Helper()
	res, body := c.do("GET", b.playURL(), nil)
	if res.StatusCode == 200 {
		if _, err := exec.LookPath("ffprobe"); err == nil {
			f := filepath.Join(b.h.t.TempDir(), "play.mp4")
			os.WriteFile(f, body, 0o600)
			out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", f).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "h264") {
				b.h.t.Errorf("ffprobe of the sealed playback: %v %s", err, out)
			}
		} else if os.Getenv("CI") != "" {
			b.h.t.Fatal("ffprobe not installed")
		}
	}
	return res.StatusCode, string(body)
}

// TestKeysAcrossLoginAndLogout: a keeper's login opens sealed footage
// (playback that ffprobe reads, an export); the last keeper session's
// logout wipes the key, and from then on playback and export fail with the
// locked message, also for a keeper still logged in without a grant, who
// was told so at login.
func TestKeysAcrossLoginAndLogout(t *testing.T) {
	b := newSealedBox(t)
	h := b.h
	keys := h.srv.Keys()
	if !keys.Wiped() || keys.Unlocked() {
		t.Fatal("a key in memory before any login")
	}
	// An admin's login opens nothing.
	h.login("admin")
	if keys.Unlocked() {
		t.Fatal("an admin's login unlocked the site key")
	}
	k := h.login("keeper")
	if !keys.Unlocked() {
		t.Fatal("the keeper's login did not unlock the site key")
	}
	if code, body := b.play(k); code != 200 {
		t.Fatalf("playback while the keeper is logged in: %d %s", code, body)
	}
	if res, body := k.do("POST", "/api/v1/exports", exportBody); res.StatusCode != 201 {
		t.Fatalf("export while the keeper is logged in: %d %s", res.StatusCode, body)
	}
	// A second keeper with a grant: the key stays while either is in.
	boss := h.login("boss")
	if res, _ := k.do("DELETE", "/api/v1/session", nil); res.StatusCode != 204 {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if !keys.Unlocked() {
		t.Fatal("wiped while another keeper who unlocked is still logged in")
	}
	// A keeper without a grant logs in, is told, and keeps nothing open.
	if err := h.db.Update(context.Background(), func(tx *registry.Tx) error {
		hash, _ := HashPassword(testPassword, testHash)
		return tx.AddUser(&registry.User{Name: "uusi", Roles: []string{registry.RoleKeeper}, PassHash: hash, Lang: "fi"})
	}); err != nil {
		t.Fatal(err)
	}
	nu := h.anon()
	res, body := nu.do("POST", "/api/v1/session", map[string]string{"name": "uusi", "password": testPassword})
	if res.StatusCode != 200 || decode[struct {
		Keys string `json:"footage_keys"`
	}](t, body).Keys != keysNoGrant {
		t.Fatalf("login of a keeper without a grant: %d %s", res.StatusCode, body)
	}
	nu.csrf = decode[struct {
		CSRF string `json:"csrf_token"`
	}](t, body).CSRF
	if _, page := nu.do("GET", "/", nil); !strings.Contains(string(page), "Tunnuksellesi ei ole annettu pääsyä salattuihin tallenteisiin") {
		t.Error("the keeper without a grant is not told at login")
	}
	boss.do("DELETE", "/api/v1/session", nil)
	if !keys.Wiped() {
		t.Fatal("the key is still in memory after the last keeper who unlocked it logged out")
	}
	if n := len(h.auditEntries("keys.wipe")); n != 1 {
		t.Errorf("%d keys.wipe entries, want 1", n)
	}
	if _, page := nu.do("GET", "/cameras/yard/play?from=2026-11-22T13:00", nil); !strings.Contains(string(page), "Tallenteet on salattu") {
		t.Error("the play page does not say that sealed footage is locked")
	}
	if code, body := b.play(nu); code != 423 || !strings.Contains(body, "keeper must be logged in") {
		t.Errorf("playback after the last logout: %d %s", code, body)
	}
	if res, body := nu.do("POST", "/api/v1/exports", exportBody); res.StatusCode != 423 || !strings.Contains(string(body), "keeper with access to it is logged in") {
		t.Errorf("export after the last logout: %d %s", res.StatusCode, body)
	}
	if n := len(h.auditEntries("keys.unlock")); n != 3 {
		t.Errorf("%d keys.unlock entries (keeper, boss, uusi without a grant), want 3", n)
	}
}

// TestKeysWipedAtSessionExpiry: a keeper who walks away without logging
// out: the sweep wipes the key once the session's idle time has passed.
func TestKeysWipedAtSessionExpiry(t *testing.T) {
	b := newSealedBox(t)
	h := b.h
	k := h.login("keeper")
	keys := h.srv.Keys()
	h.clock.Add(h.srv.sessions.idle / 2)
	h.srv.sweepKeys(context.Background())
	if !keys.Unlocked() {
		t.Fatal("wiped while the keeper's session lives")
	}
	h.clock.Add(h.srv.sessions.idle)
	h.srv.sweepKeys(context.Background())
	if !keys.Wiped() {
		t.Fatal("the key outlived the keeper's expired session")
	}
	// Another person's session (an admin, no footage) keeps nothing open:
	// footage stays locked for the API (the expired keeper's cookie is refused).
	if res, _ := k.do("GET", b.playURL(), nil); res.StatusCode != 401 {
		t.Errorf("expired session: %d", res.StatusCode)
	}
	if _, err := keys.Unwrapper()(seal.Header{}); !errors.Is(err, mp4read.ErrLocked) {
		t.Errorf("unwrapper after expiry: %v, want ErrLocked", err)
	}
	// A keeper without a grant, logged in now, meets locked footage.
	if err := h.db.Update(context.Background(), func(tx *registry.Tx) error {
		hash, _ := HashPassword(testPassword, testHash)
		return tx.AddUser(&registry.User{Name: "uusi", Roles: []string{registry.RoleKeeper}, PassHash: hash, Lang: "fi"})
	}); err != nil {
		t.Fatal(err)
	}
	if code, body := b.play(h.login("uusi")); code != 423 || !strings.Contains(body, "keeper must be logged in") {
		t.Errorf("playback after the keeper's session expired: %d %s", code, body)
	}
}

// TestKeeperGrant: a logged-in keeper (with admin rights) who makes a
// keeper account wraps the key under its one-time password; the new
// keeper's first login opens footage, the forced password change moves
// the wrap to the new password (the one-time password opens nothing
// afterwards), and their next login opens footage. An admin alone makes
// the account without a grant, and the page says so.
func TestKeeperGrant(t *testing.T) {
	b := newSealedBox(t)
	h := b.h
	keys := h.srv.Keys()
	const otp, own = "kerta-salasana-42x", "oma-salasana-on-pitka"

	adm := h.login("admin")
	res, body := adm.do("POST", "/api/v1/users", map[string]any{"name": "ilman", "roles": []string{"keeper"}, "password": otp})
	if res.StatusCode != 201 || !strings.Contains(string(body), `"footage_access":"not granted"`) {
		t.Fatalf("admin adds a keeper: %d %s", res.StatusCode, body)
	}
	if b.keeperWrap("ilman") != nil {
		t.Fatal("an admin without a keyring made a wrap")
	}
	// The page tells an admin that the grant is still needed.
	form := url.Values{"csrf": {adm.csrf}, "name": {"ilman2"}, "role": {"keeper"}, "password": {otp}, "password2": {otp}, "lang": {"fi"}}
	adm.do("POST", "/users", formBody(form.Encode()))
	if _, page := adm.do("GET", "/users", nil); !strings.Contains(string(page), "ilman pääsyä salattuihin tallenteisiin") {
		t.Error("the users page does not say the admin's new keeper has no footage access")
	}

	boss := h.login("boss")
	res, body = boss.do("POST", "/api/v1/users", map[string]any{"name": "uusi", "roles": []string{"keeper"}, "password": otp, "lang": "en"})
	if res.StatusCode != 201 || !strings.Contains(string(body), `"footage_access":"granted"`) {
		t.Fatalf("a keeper adds a keeper: %d %s", res.StatusCode, body)
	}
	if g := h.auditEntries("keys.grant"); len(g) != 1 || g[0].Actor != "boss" || g[0].Object != "user:uusi" {
		t.Errorf("keys.grant entries: %+v", g)
	}
	boss.do("DELETE", "/api/v1/session", nil)
	if !keys.Wiped() {
		t.Fatal("not wiped after boss logged out")
	}

	// First login with the one-time password: the key opens from its wrap.
	nu := h.anon()
	res, body = nu.do("POST", "/api/v1/session", map[string]string{"name": "uusi", "password": otp})
	if res.StatusCode != 200 || !keys.Unlocked() {
		t.Fatalf("first login of the granted keeper: %d %s (unlocked %v)", res.StatusCode, body, keys.Unlocked())
	}
	nu.csrf = decode[struct {
		CSRF string `json:"csrf_token"`
	}](t, body).CSRF
	if res, body := nu.do("PUT", "/api/v1/me/password", map[string]string{"old_password": otp, "new_password": own}); res.StatusCode != 204 {
		t.Fatalf("password change: %d %s", res.StatusCode, body)
	}
	if !keys.Wiped() {
		t.Error("the password change ended the session, but the key stayed")
	}
	w := b.keeperWrap("uusi")
	if _, err := seal.UnlockPassword(b.site, w, []byte(otp)); !errors.Is(err, seal.ErrUnlock) {
		t.Errorf("the one-time password still opens the wrap: %v", err)
	}
	if r, err := seal.UnlockPassword(b.site, w, []byte(own)); err != nil {
		t.Errorf("the new password does not open the wrap: %v", err)
	} else {
		r.Wipe()
	}
	if n := len(h.auditEntries("keys.rewrap")); n != 1 {
		t.Errorf("%d keys.rewrap entries", n)
	}
	nu = h.anon()
	res, body = nu.do("POST", "/api/v1/session", map[string]string{"name": "uusi", "password": own})
	if res.StatusCode != 200 {
		t.Fatalf("login with the new password: %d %s", res.StatusCode, body)
	}
	nu.csrf = decode[struct {
		CSRF string `json:"csrf_token"`
	}](t, body).CSRF
	if code, body := b.play(nu); code != 200 {
		t.Fatalf("the granted keeper's playback: %d %s", code, body)
	}
	if res, body := nu.do("POST", "/api/v1/exports", exportBody); res.StatusCode != 201 {
		t.Fatalf("the granted keeper's export: %d %s", res.StatusCode, body)
	}

	// Disabling the account deletes its wrap in the same change, and its
	// ended session takes the key with it.
	if res, body := adm.do("POST", "/api/v1/users/uusi/disable", nil); res.StatusCode/100 != 2 {
		t.Fatalf("disable: %d %s", res.StatusCode, body)
	}
	if b.keeperWrap("uusi") != nil {
		t.Error("the disabled keeper's wrap is still there")
	}
	if !keys.Wiped() {
		t.Error("the key outlived the disabled keeper's session")
	}
	// Taking the keeper role away deletes the wrap too.
	if res, body := adm.do("PUT", "/api/v1/users/keeper/roles", map[string]any{"roles": []string{"dpo"}}); res.StatusCode/100 != 2 {
		t.Fatalf("roles: %d %s", res.StatusCode, body)
	}
	if b.keeperWrap("keeper") != nil {
		t.Error("the wrap outlived the keeper role")
	}
	if n := len(h.auditEntries("keys.revoke")); n != 2 {
		t.Errorf("%d keys.revoke entries, want 2", n)
	}
}

// TestOneTimePasswordGrant: a one-time password set for an existing
// keeper by a logged-in keeper with access carries a grant (the wrap opens
// with it, no longer with the old password); set by an admin alone it
// removes the wrap, and the page says a keeper's grant is needed.
func TestOneTimePasswordGrant(t *testing.T) {
	b := newSealedBox(t)
	h := b.h
	const otp = "kerta-salasana-77y"
	boss := h.login("boss")
	res, body := boss.do("PUT", "/api/v1/users/keeper/password", map[string]string{"password": otp})
	if res.StatusCode != 200 || !strings.Contains(string(body), `"footage_access":"granted"`) {
		t.Fatalf("a keeper sets a keeper's one-time password: %d %s", res.StatusCode, body)
	}
	w := b.keeperWrap("keeper")
	if r, err := seal.UnlockPassword(b.site, w, []byte(otp)); err != nil {
		t.Errorf("the one-time password does not open the new wrap: %v", err)
	} else {
		r.Wipe()
	}
	if _, err := seal.UnlockPassword(b.site, w, []byte(testPassword)); !errors.Is(err, seal.ErrUnlock) {
		t.Errorf("the old password still opens the wrap: %v", err)
	}
	if res, _ := boss.do("PUT", "/api/v1/users/boss/password", map[string]string{"password": otp}); res.StatusCode != 400 {
		t.Errorf("one's own one-time password: %d", res.StatusCode)
	}
	adm := h.login("admin")
	form := url.Values{"csrf": {adm.csrf}, "password": {otp + "2"}, "password2": {otp + "2"}}
	adm.do("POST", "/users/keeper/password", formBody(form.Encode()))
	if _, page := adm.do("GET", "/users", nil); !strings.Contains(string(page), "ilman pääsyä salattuihin tallenteisiin") {
		t.Error("the users page does not say the admin's reset left the keeper without footage access")
	}
	if b.keeperWrap("keeper") != nil {
		t.Error("an admin's reset left the keeper's wrap in place")
	}
	if g, r := h.auditEntries("keys.grant"), h.auditEntries("keys.revoke"); len(g) != 1 || g[0].Actor != "boss" || len(r) != 1 || r[0].Actor != "admin" {
		t.Errorf("keys.grant %+v, keys.revoke %+v", g, r)
	}
}
