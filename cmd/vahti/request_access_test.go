package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"vahti/admin"
	"vahti/registry"
)

const letterController = `controller:
  name: Ensikoti Esimerkki ry
  address: Esimerkkikatu 1, 00100 Helsinki
  contact: Toiminnanjohtaja
  email: tietosuoja@example.fi
  phone: "+358 9 123 4567"
  privacy_notice: https://example.fi/tietosuoja
`

// An access request from the command line: who verified the identity,
// the keyed identifying key (free once a year), the statutory deadline and
// its extension, viewing on site, and a refusal whose letter is written as
// HTML and, through Chromium, as a PDF that pdftotext reads.
func TestRequestAccessCLI(t *testing.T) {
	c := newCLI(t)
	c.now = func() time.Time { return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) }
	cfg, _ := os.ReadFile(c.config)
	if err := os.WriteFile(c.config, append(cfg, []byte(letterController)...), 0o600); err != nil {
		t.Fatal(err)
	}
	c.envs["SUDO_USER"] = "liisa"
	if _, errs, code := c.run("Pitkä-salasana-2026-x\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper"); code != 0 {
		t.Fatal(errs)
	}
	add := func(received, key string) admin.RequestJSON {
		t.Helper()
		var out struct {
			Request admin.RequestJSON `json:"request"`
		}
		s := c.ok("request", "add", "--json", "--config", "$CONFIG", "--kind", "access", "--camera", "yard",
			"--from", "2026-11-20T10:00:00Z", "--to", "2026-11-20T10:30:00Z", "--reference", "SAR-"+received[:10], "--basis", "gdpr-15",
			"--requester", "Maija Meikäläinen", "--identity", "passport checked at the office", "--verified-by", "liisa",
			"--description", "red coat, yard gate about 12.10", "--subject-key", key, "--received", received)
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Fatal(err)
		}
		return out.Request
	}
	first := add("2026-01-31T10:00:00+02:00", "Maija Meikäläinen 1980-02-01")
	if want := time.Date(2026, 2, 28, 21, 59, 59, 0, time.UTC); first.Deadline == nil || !first.Deadline.Equal(want) {
		t.Errorf("deadline of a request received 31 January: %v, want %s (28 February, end of day, Helsinki)", first.Deadline, want)
	}
	if first.VerifiedBy != "liisa" || !first.SubjectKey {
		t.Errorf("first request: %+v", first)
	}
	second := add("2026-11-29T09:00:00+02:00", "  maija MEIKÄLÄINEN\t1980-02-01")
	id1, id2 := "1", "2"
	if second.ID != 2 {
		t.Fatalf("second id %d", second.ID)
	}
	if out := c.ok("request", "show", id1, "--config", "$CONFIG"); !strings.Contains(out, "free:      yes") ||
		!strings.Contains(out, "verified by: liisa") {
		t.Errorf("show 1: %s", out)
	}
	if out := c.ok("request", "show", id2, "--config", "$CONFIG"); !strings.Contains(out, "free:      no (1 earlier") {
		t.Errorf("show 2: %s", out)
	}
	// The first came 302 days before: the second is not free.
	var v admin.RequestJSON
	json.Unmarshal([]byte(c.ok("request", "show", id2, "--config", "$CONFIG", "--json")), &v)
	if v.Earlier == nil || *v.Earlier != 1 || *v.Free {
		t.Errorf("second request within 12 months: earlier %v free %v", v.Earlier, v.Free)
	}
	// The plain key is nowhere in the registry's files.
	for _, f := range []string{"registry.db", "registry.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(c.dir, "state", f))
		if bytes.Contains(b, []byte("1980-02-01")) {
			t.Errorf("%s holds the identifying key's date of birth", f)
		}
	}
	// Extension: a reason, at most two months in all.
	if e := c.fail("request", "extend", id1, "--config", "$CONFIG", "--months", "1"); !strings.Contains(e, "reason") {
		t.Errorf("extend without a reason: %s", e)
	}
	c.ok("request", "extend", id1, "--config", "$CONFIG", "--months", "2", "--reason", "six cameras to search")
	json.Unmarshal([]byte(c.ok("request", "show", id1, "--config", "$CONFIG", "--json")), &v)
	if want := time.Date(2026, 4, 30, 20, 59, 59, 0, time.UTC); v.Deadline == nil || !v.Deadline.Equal(want) || v.ExtensionMonths != 2 {
		t.Errorf("extended deadline %v (%d months), want %s", v.Deadline, v.ExtensionMonths, want)
	}
	if e := c.fail("request", "extend", id1, "--config", "$CONFIG", "--months", "1", "--reason", "more"); !strings.Contains(e, "at most 2") {
		t.Errorf("a third month: %s", e)
	}
	// The first is viewed on site and closed so.
	c.ok("request", "view", id1, "--config", "$CONFIG", "--by", "liisa", "--note", "with her counsellor")
	c.ok("request", "close", id1, "--config", "$CONFIG", "--outcome", "viewed-on-site", "--reason", "watched on site", "--release-hold")
	// The second is refused; the letter is written in both languages.
	if e := c.fail("request", "letter", id2, "--config", "$CONFIG", "--out", filepath.Join(c.dir, "x.html")); !strings.Contains(e, "only a refused access request") {
		t.Errorf("letter of an open request: %s", e)
	}
	c.ok("request", "close", id2, "--config", "$CONFIG", "--outcome", "refused", "--ground", "third-party",
		"--reason", "Kuvassa näkyy muita asukkaita ja lapsia koko ajan.", "--release-hold")
	for _, tc := range []struct{ lang, want, art, art12 string }{
		{"fi", "Tietosuojavaltuutetun toimisto", "15 artiklan 4 kohta", "12 artiklan 4 kohta"},
		{"en", "Office of the Data Protection Ombudsman", "Article 15(4)", "Article 12(4)"},
	} {
		out := filepath.Join(c.dir, "letter-"+tc.lang+".html")
		c.ok("request", "letter", id2, "--config", "$CONFIG", "--out", out, "--lang", tc.lang)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{tc.want, "PL 800, 00531 Helsinki", "tietosuoja@om.fi", "029 566 6700", tc.art, tc.art12,
			"Ensikoti Esimerkki ry", "Maija Meikäläinen", "muita asukkaita", "@page"} {
			if !strings.Contains(string(b), s) {
				t.Errorf("%s letter lacks %q", tc.lang, s)
			}
		}
	}
	if e := c.fail("request", "letter", id2, "--config", "$CONFIG", "--out", filepath.Join(c.dir, "x.txt")); !strings.Contains(e, ".html or .pdf") {
		t.Errorf("letter to .txt: %s", e)
	}
	needTool(t, "chromium")
	needTool(t, "pdftotext")
	pdf := filepath.Join(c.dir, "letter.pdf")
	c.ok("request", "letter", id2, "--config", "$CONFIG", "--out", pdf)
	txt, err := exec.Command("pdftotext", "-layout", pdf, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	flat := strings.Join(strings.Fields(string(txt)), " ") // lines wrap anywhere
	for _, s := range []string{"Tietosuojavaltuutetun toimisto", "PL 800, 00531 Helsinki", "tietosuoja@om.fi", "029 566 6700",
		"15 artiklan 4 kohta", "Päätös tarkastuspyyntöön", "Kuvassa näkyy muita asukkaita"} {
		if !strings.Contains(flat, s) {
			t.Errorf("the PDF's text lacks %q:\n%s", s, txt)
		}
	}
	if info, err := exec.Command("pdfinfo", pdf).Output(); err == nil && !regexp.MustCompile(`Pages:\s+1\n`).Match(info) {
		t.Errorf("the letter is not one page:\n%s", info)
	}
	db := registryOf(t, c)
	if es := auditKinds(t, db, "request.letter"); len(es) != 3 {
		t.Errorf("request.letter audited %d times, want 3", len(es))
	}
	if es := auditKinds(t, db, "request.view"); len(es) != 1 {
		t.Errorf("request.view audited %d times, want 1", len(es))
	}
	_ = registry.OutcomeViewed
}
