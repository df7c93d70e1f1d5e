package admin

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"vahti/admin/internal/sealtest"
	"vahti/configs"
	"vahti/registry"
	"vahti/retention"
)

// sealingPanel is the dashboard's sealing section as c sees it.
func sealingPanel(t *testing.T, c *client) string {
	t.Helper()
	res, body := c.do("GET", "/", nil)
	if res.StatusCode != 200 {
		t.Fatalf("dashboard: %d", res.StatusCode)
	}
	page := string(body)
	i := strings.Index(page, `id="sealing"`)
	if i < 0 {
		t.Fatalf("the dashboard has no sealing panel")
	}
	j := strings.Index(page[i:], "</section>")
	return page[i : i+j]
}

type statusSealing struct {
	Sealing struct {
		Mode           string   `json:"mode"`
		SiteKey        string   `json:"site_key"`
		KeysOpen       bool     `json:"keys_open"`
		KeeperSessions int      `json:"keeper_sessions"`
		KeepersWith    []string `json:"keepers_with_access"`
		KeepersWithout []string `json:"keepers_without_access"`
		LastPurge      *struct {
			KeysDestroyed   int      `json:"keys_destroyed"`
			EpochsDestroyed []string `json:"epochs_destroyed"`
		} `json:"last_purge"`
	} `json:"sealing"`
}

// TestSealingPanelFollowsKeys: the data protection officer's dashboard
// says the footage keys are closed and nobody can open footage; a keeper's
// login opens them (the panel says so, in both languages, and what that
// means), and the keeper's logout closes them again. The panel names the
// site key by its fingerprint and counts the keepers with and without a
// grant.
func TestSealingPanelFollowsKeys(t *testing.T) {
	b := newSealedBox(t)
	h := b.h
	d := h.login("dpo")
	p := sealingPanel(t, d)
	for _, want := range []string{`data-mode="sealed"`, `data-keys="closed"`, "Yksikään rekisterinpitäjä ei ole kirjautuneena: tallenteita ei voi avata tällä laitteella, ei kukaan.",
		b.site.Fingerprint(), "pääsy tallenteisiin: 2", ">kiinni<"} {
		if !strings.Contains(p, want) {
			t.Errorf("before any keeper login the panel lacks %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "ilman pääsyä") {
		t.Errorf("keepers without a grant listed when every keeper has one:\n%s", p)
	}

	k := h.login("keeper")
	if !h.srv.Keys().Unlocked() {
		t.Fatal("the keeper's login did not open the keys")
	}
	p = sealingPanel(t, d)
	for _, want := range []string{`data-keys="open"`, ">auki<", "Rekisterinpitäjä on kirjautuneena", "Nyt viety laite voitaisiin lukea", "pitävät ne auki: 1"} {
		if !strings.Contains(p, want) {
			t.Errorf("with the keeper logged in the panel lacks %q:\n%s", want, p)
		}
	}
	d.do("PUT", "/api/v1/me/lang", map[string]string{"lang": "en"})
	p = sealingPanel(t, d)
	for _, want := range []string{"Footage sealing", "Footage keys now", ">open<", "A keeper is logged in: footage opens on this box until the last keeper session ends (logout, or 15 min idle)"} {
		if !strings.Contains(p, want) {
			t.Errorf("English panel lacks %q:\n%s", want, p)
		}
	}
	res, body := d.do("GET", "/api/v1/status", nil)
	st := decode[statusSealing](t, body)
	if res.StatusCode != 200 || st.Sealing.Mode != "sealed" || !st.Sealing.KeysOpen || st.Sealing.KeeperSessions != 1 ||
		st.Sealing.SiteKey != b.site.Fingerprint() || strings.Join(st.Sealing.KeepersWith, ",") != "boss,keeper" {
		t.Errorf("status with the keeper logged in: %d %s", res.StatusCode, body)
	}

	k.do("DELETE", "/api/v1/session", nil)
	p = sealingPanel(t, d)
	for _, want := range []string{`data-keys="closed"`, ">closed<", "No keeper is logged in: footage cannot be opened on this box, by anyone."} {
		if !strings.Contains(p, want) {
			t.Errorf("after the keeper's logout the panel lacks %q:\n%s", want, p)
		}
	}
	if _, body := d.do("GET", "/api/v1/status", nil); decode[statusSealing](t, body).Sealing.KeysOpen {
		t.Errorf("status says the keys are open after the last keeper's logout: %s", body)
	}

	// A keeper without a grant is counted and named as such.
	addKeeper(t, h, "uusi")
	p = sealingPanel(t, d)
	if !strings.Contains(p, "without: 1") || !regexp.MustCompile(`tag bad">uusi<`).MatchString(p) {
		t.Errorf("the keeper without a grant is not named:\n%s", p)
	}
}

// addKeeper makes a keeper account with no wrap (no footage access).
func addKeeper(t *testing.T, h *harness, name string) {
	t.Helper()
	hash, err := HashPassword(testPassword, testHash)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.Update(context.Background(), func(tx *registry.Tx) error {
		return tx.AddUser(&registry.User{Name: name, Roles: []string{registry.RoleKeeper}, PassHash: hash, Lang: "fi"})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestSealingPanelLastPurge: the panel shows what the last purge report
// destroyed, as retention writes it to the audit chain; a newer report
// replaces an older one.
func TestSealingPanelLastPurge(t *testing.T) {
	b := newSealedBox(t)
	h := b.h
	report := func(at time.Time, keys []retention.KeyErasure, epochs []string, deleted int64) {
		t.Helper()
		rep := retention.PurgeReport{Time: at, KeysDestroyed: keys, EpochsDestroyed: epochs,
			Cameras: []retention.CameraPurge{{Camera: "yard", DeletedCount: deleted}}}
		if err := h.db.Update(context.Background(), func(tx *registry.Tx) error {
			_, err := tx.Audit("system", "service", "purge.report", "retention", rep)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	d := h.login("dpo")
	if p := sealingPanel(t, d); strings.Contains(p, "sealing-lastpurge") {
		t.Errorf("a last purge shown before any report:\n%s", p)
	}
	report(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC), []retention.KeyErasure{{Camera: "yard", Day: "2026-10-23", SegmentKeys: 7}}, nil, 7)
	if p := sealingPanel(t, d); !strings.Contains(p, "7 tallenteen avainta tuhottu (7 tallennetta poistettu)") {
		t.Errorf("the first report is not shown:\n%s", p)
	}
	report(time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC), []retention.KeyErasure{
		{Camera: "yard", Day: "2026-10-24", SegmentKeys: 1440}, {Camera: "lobby", Day: "2026-10-24", SegmentKeys: 1438}},
		[]string{"2026-10-24"}, 2900)
	p := sealingPanel(t, d)
	for _, want := range []string{"2878 tallenteen avainta tuhottu (2900 tallennetta poistettu)", "Päiväavaimet tuhottu: 2026-10-24.",
		"<td>lobby</td><td>2026-10-24</td><td>1438</td>", "<td>yard</td><td>2026-10-24</td><td>1440</td>"} {
		if !strings.Contains(p, want) {
			t.Errorf("the latest report: panel lacks %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "2026-10-23") {
		t.Errorf("the older report is still shown:\n%s", p)
	}
	_, body := d.do("GET", "/api/v1/status", nil)
	if lp := decode[statusSealing](t, body).Sealing.LastPurge; lp == nil || lp.KeysDestroyed != 2878 || len(lp.EpochsDestroyed) != 1 {
		t.Errorf("status last_purge: %s", body)
	}
}

// TestSealingPanelNotSealed: without site keys the panel says plainly
// that a stolen disk shows everything, and says why: sealing is switched
// off, or vahti keys init has not run yet.
func TestSealingPanelNotSealed(t *testing.T) {
	h := newHarness(t)
	p := sealingPanel(t, h.login("keeper"))
	if !strings.Contains(p, `data-mode="auto"`) || !strings.Contains(p, "Tallenteita ei vielä salata: varastetulta levyltä näkyvät kaikki tallenteet. Aja vahti keys init") {
		t.Errorf("auto without site keys:\n%s", p)
	}
	if strings.Contains(p, "sealing-fingerprint") {
		t.Errorf("a site key shown without site keys:\n%s", p)
	}
	// Keys made after the service started with encryption left out: the
	// recorder still writes plain until a restart, and the panel says so.
	late := newHarness(t, func(c *Config) { c.RecorderSeals = func() bool { return false } })
	sealtest.Site(t, late.db).Wipe()
	p = sealingPanel(t, late.login("dpo"))
	if !strings.Contains(p, `data-mode="restart"`) || !strings.Contains(p, "uudet tallenteet salataan vasta, kun palvelu käynnistetään uudelleen") {
		t.Errorf("keys made after start, recorder plain:\n%s", p)
	}
	off := newHarness(t, func(c *Config) { c.Cfg.Storage.Encryption = configs.EncryptionOff })
	p = sealingPanel(t, off.login("admin"))
	if !strings.Contains(p, `data-mode="off"`) || !strings.Contains(p, "Salaus on pois päältä: varastetulta levyltä näkyvät kaikki tallenteet. Katso README") {
		t.Errorf("storage.encryption: off:\n%s", p)
	}
}

// keyKinds are the audit kinds of sealed footage the audit page must offer.
var keyKinds = []string{"keys.init", "keys.unlock", "keys.unlock.fail", "keys.wipe", "keys.grant", "keys.rewrap", "keys.revoke",
	"keys.segment.destroy", "keys.epoch.destroy", "hold.keys.seal", "hold.keys.delete", "registry.backup.expire", "export.encrypt",
	"footage.play"}

// TestAuditFilterKnowsKeyKinds: the DPO's kind filter offers every key
// kind with its label in Finnish and English, and choosing one lists its
// entries (keys.unlock also its failures).
func TestAuditFilterKnowsKeyKinds(t *testing.T) {
	b := newSealedBox(t)
	h := b.h
	h.login("keeper").do("DELETE", "/api/v1/session", nil) // keys.unlock, keys.wipe
	bad := h.anon()
	bad.do("POST", "/api/v1/session", map[string]string{"name": "keeper", "password": "väärä-salasana-tässä"})
	if err := h.db.Update(context.Background(), func(tx *registry.Tx) error {
		_, err := tx.Audit("anna", "cli", "keys.unlock.fail", "user:anna", map[string]any{"with": "password"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	d := h.login("dpo")
	_, body := d.do("GET", "/audit", nil)
	page := string(body)
	sel := page[strings.Index(page, `<select name="kind"`):]
	sel = sel[:strings.Index(sel, "</select>")]
	for _, k := range keyKinds {
		want := `<option value="` + k + `" >` + catalogFI["kind."+k] + ` (` + k + `)</option>`
		if !strings.Contains(sel, want) {
			t.Errorf("the kind filter lacks %s", want)
		}
	}
	if !strings.Contains(sel, `<optgroup label="Tallenteiden salausavaimet">`) {
		t.Errorf("no group for the key kinds:\n%s", sel)
	}
	_, body = d.do("GET", "/audit?kind=keys.unlock", nil)
	page = string(body)
	rows := page[strings.Index(page, `<table class="audit">`):]
	if !strings.Contains(rows, `<option value="keys.unlock" selected>`) && !strings.Contains(page, `<option value="keys.unlock" selected>`) {
		t.Error("the chosen kind is not selected")
	}
	for _, want := range []string{`<td class="kind">keys.unlock<span class="kind-label muted">avaimet avattu (kirjautuminen tai komentorivi)</span>`,
		`<td class="kind">keys.unlock.fail<span class="kind-label muted">avaimet eivät auenneet</span>`} {
		if !strings.Contains(rows, want) {
			t.Errorf("filtered list lacks %s", want)
		}
	}
	if strings.Contains(rows, "keys.wipe") || strings.Contains(rows, "login.ok") {
		t.Error("the keys.unlock filter lists other kinds")
	}
	d.do("PUT", "/api/v1/me/lang", map[string]string{"lang": "en"})
	_, body = d.do("GET", "/audit", nil)
	for _, want := range []string{">keys closed and wiped from memory (keys.wipe)<", ">day key destroyed (keys.epoch.destroy)<", `<optgroup label="Footage keys (sealing)">`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("English filter lacks %s", want)
		}
	}
	// A kind typed into the address that the list does not know stays chosen.
	_, body = d.do("GET", "/audit?kind=no.such.kind", nil)
	if !strings.Contains(string(body), `<option value="no.such.kind" selected>`) {
		t.Error("an unlisted kind in the address is dropped from the filter")
	}
}

// TestAuditKindsComplete: every kind the filter lists has a label in both
// languages, and every audit kind of the keys ("keys.…") that the code
// writes is listed, so a new one cannot be added without its label.
func TestAuditKindsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range auditKindGroups {
		if catalogFI["kindgroup."+g.Key] == "" || catalogEN["kindgroup."+g.Key] == "" {
			t.Errorf("group %s has no label", g.Key)
		}
		for _, k := range g.Kinds {
			if catalogFI["kind."+k] == "" || catalogEN["kind."+k] == "" {
				t.Errorf("kind %s has no label in both languages", k)
			}
			seen[k] = true
		}
	}
	for _, k := range keyKinds {
		if !seen[k] {
			t.Errorf("kind %s is not in the filter", k)
		}
	}
	lit := regexp.MustCompile(`"((?:hold\.)?keys\.[a-z.]+)"`)
	n := 0
	filepath.WalkDir("..", func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, _ := os.ReadFile(p)
		for _, m := range lit.FindAllStringSubmatch(string(src), -1) {
			n++
			if !seen[m[1]] {
				t.Errorf("%s writes the audit kind %q, which the audit page's filter does not list (audit_kinds.go)", p, m[1])
			}
		}
		return nil
	})
	if n < 9 {
		t.Fatalf("found only %d key kinds in the code: the scan is broken", n)
	}
}

// userRow is the users page's row of name.
func userRow(t *testing.T, page, name string) string {
	t.Helper()
	for _, r := range strings.Split(page, "<tr>") {
		if strings.HasPrefix(r, "<td>"+name+"</td>") {
			return r
		}
	}
	t.Fatalf("no row for %s", name)
	return ""
}

// TestUsersPageMarksFootageAccess: with sealed footage the users page
// marks each keeper with or without a grant; for one without, it says how
// to get it: an administrator who is no keeper with access learns that
// they cannot give it (and the command line way), a logged-in keeper with
// access that their one-time password gives it. Setting a one-time
// password for a keeper with access warns an administrator who would take
// it away. The API says the same.
func TestUsersPageMarksFootageAccess(t *testing.T) {
	b := newSealedBox(t)
	h := b.h
	addKeeper(t, h, "uusi")
	a := h.login("admin")
	_, body := a.do("GET", "/users", nil)
	page := string(body)
	if r := userRow(t, page, "keeper"); !strings.Contains(r, `data-access="granted"`) || !strings.Contains(r, "access-loss") {
		t.Errorf("keeper with a grant, seen by an admin:\n%s", r)
	}
	r := userRow(t, page, "uusi")
	for _, want := range []string{`data-access="none"`, ">ei pääsyä tallenteisiin<", "Pääsyn antaa rekisterinpitäjä, jolla on itsellään pääsy",
		"vahti keys grant --config … --user uusi --recovery-key-file …"} {
		if !strings.Contains(r, want) {
			t.Errorf("keeper without a grant, seen by an admin, lacks %q:\n%s", want, r)
		}
	}
	if !strings.Contains(page, "Uusi rekisterinpitäjän tunnus ei avaa salattuja tallenteita") {
		t.Error("the new-user form does not tell an admin without access that a keeper they create gets none")
	}
	for _, who := range []string{"dpo", "admin"} {
		if strings.Contains(userRow(t, page, who), "data-access") {
			t.Errorf("%s, no keeper, is marked for footage access", who)
		}
	}
	_, body = a.do("GET", "/api/v1/users", nil)
	access := map[string]string{}
	for _, u := range decode[struct {
		Users []apiUser `json:"users"`
	}](t, body).Users {
		access[u.Name] = u.FootageAccess
	}
	if access["keeper"] != grantMade || access["boss"] != grantMade || access["uusi"] != grantNone || access["dpo"] != "" || access["admin"] != "" {
		t.Errorf("GET /api/v1/users footage_access: %v", access)
	}

	// boss: keeper with a grant and admin, logged in (keys open): may grant.
	boss := h.login("boss")
	_, body = boss.do("GET", "/users", nil)
	r = userRow(t, string(body), "uusi")
	if !strings.Contains(r, "Anna pääsy asettamalla hänelle kertakäyttöinen salasana") || strings.Contains(r, "vahti keys grant") {
		t.Errorf("keeper without a grant, seen by a keeper who can grant:\n%s", r)
	}
	if !strings.Contains(string(body), "Uusi rekisterinpitäjän tunnus saa pääsyn") {
		t.Error("the new-user form does not tell a keeper with access that the account gets it")
	}
	if strings.Contains(userRow(t, string(body), "keeper"), "access-loss") {
		t.Error("a keeper who can grant is warned that a one-time password removes access")
	}
	// The grant the hint points to works, and the row changes.
	form := "csrf=" + url.QueryEscape(boss.csrf) + "&password=toinen-kertasalasana-42&password2=toinen-kertasalasana-42"
	if res, _ := boss.do("POST", "/users/uusi/password", formBody(form)); res.StatusCode != 303 {
		t.Fatalf("one-time password: %d", res.StatusCode)
	}
	_, body = a.do("GET", "/users", nil)
	if r := userRow(t, string(body), "uusi"); !strings.Contains(r, `data-access="granted"`) {
		t.Errorf("after the grant:\n%s", r)
	}
}
