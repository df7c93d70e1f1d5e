package admin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

// TestAccessRequestAPI: an access request through the API with who
// verified the identity and the identifying key (only its keyed hash
// stored), free once a year, the deadline's extension, refusal only with
// a ground, the letter page (audited), and a delivery marked as a
// data-subject disclosure in JSON and CSV.
func TestAccessRequestAPI(t *testing.T) {
	var h *harness
	h = newHarness(t, withRequests(&h), withController(0))
	keeper := h.login("keeper")
	add := func(received, key string) RequestJSON {
		t.Helper()
		res, body := keeper.do("POST", "/api/v1/requests", map[string]any{"kind": "access", "cameras": []string{"yard"},
			"from": "2026-11-22T08:00:00Z", "to": "2026-11-22T08:30:00Z", "reference": "SAR-" + received[:10], "basis_code": "gdpr-15",
			"requester": "Maija Meikäläinen", "identity": "passport", "verified_by": "boss", "subject_key": key,
			"description": "red coat", "received": received})
		if res.StatusCode != 201 {
			t.Fatalf("add: %d %s", res.StatusCode, body)
		}
		return decode[struct {
			Request RequestJSON `json:"request"`
		}](t, body).Request
	}
	get := func(id int64) RequestJSON {
		t.Helper()
		_, body := keeper.do("GET", fmt.Sprintf("/api/v1/requests/%d", id), nil)
		return decode[RequestJSON](t, body)
	}
	a := add("2026-10-31T10:00:00+02:00", "Maija Meikäläinen 1980-02-01")
	if want := time.Date(2026, 11, 30, 21, 59, 59, 0, time.UTC); a.Deadline == nil || !a.Deadline.Equal(want) || a.VerifiedBy != "boss" || !a.SubjectKey {
		t.Fatalf("added: %+v (deadline want %s)", a, want)
	}
	b := add("2026-11-21T10:00:00+02:00", "maija  meikäläinen 1980-02-01")
	if g := get(a.ID); g.Free == nil || !*g.Free {
		t.Errorf("the first request is not free: %+v", g.Free)
	}
	if g := get(b.ID); g.Free == nil || *g.Free || *g.Earlier != 1 {
		t.Errorf("the second within a year: free %v earlier %v", g.Free, g.Earlier)
	}
	if res, body := keeper.do("POST", "/api/v1/requests", map[string]any{"kind": "access", "cameras": []string{"yard"},
		"from": "2026-11-22T08:00:00Z", "to": "2026-11-22T08:30:00Z", "reference": "X", "basis_code": "gdpr-15", "verified_by": "nobody"}); res.StatusCode != 400 {
		t.Errorf("verified by no account: %d %s", res.StatusCode, body)
	}
	for _, f := range []string{"registry.db", "registry.db-wal"} {
		raw, _ := os.ReadFile(filepath.Join(h.cfg.StateDir, f))
		if bytes.Contains(raw, []byte("1980-02-01")) {
			t.Errorf("%s holds the plain identifying key", f)
		}
	}
	// Extension.
	base := fmt.Sprintf("/api/v1/requests/%d", b.ID)
	if res, _ := keeper.do("POST", base+"/extend", map[string]any{"months": 1}); res.StatusCode != 400 {
		t.Errorf("extension without a reason: %d", res.StatusCode)
	}
	if res, _ := keeper.do("POST", base+"/extend", map[string]any{"months": 3, "reason": "x"}); res.StatusCode != 400 {
		t.Errorf("extension by 3 months: %d", res.StatusCode)
	}
	res, body := keeper.do("POST", base+"/extend", map[string]any{"months": 2, "reason": "many cameras"})
	if ext := decode[RequestJSON](t, body); res.StatusCode != 200 || ext.ExtensionMonths != 2 ||
		!ext.Deadline.Equal(time.Date(2027, 2, 21, 21, 59, 59, 0, time.UTC)) {
		t.Errorf("extend: %d %s", res.StatusCode, body)
	}
	// Refusal: an access request's needs a ground from the list.
	if res, body := keeper.do("POST", base+"/close", map[string]string{"outcome": "refused", "hold": "release", "reason": "x"}); res.StatusCode != 400 ||
		!strings.Contains(string(body), "ground") {
		t.Errorf("refusal without a ground: %d %s", res.StatusCode, body)
	}
	if res, body := keeper.do("GET", fmt.Sprintf("/requests/%d/letter", b.ID), nil); res.StatusCode != 409 {
		t.Errorf("letter of an open request: %d %s", res.StatusCode, body)
	}
	if res, body := keeper.do("POST", base+"/close", map[string]string{"outcome": "refused", "hold": "release", "ground": "not-identifiable",
		"reason": "Kasvot eivät erotu yhdessäkään kuvassa."}); res.StatusCode != 200 {
		t.Fatalf("refusal: %d %s", res.StatusCode, body)
	}
	for lang, want := range map[string][]string{
		"fi": {"Tietosuojavaltuutetun toimisto", "11 artiklan 2 kohta", "Kasvot eivät erotu", "Teitä ei voida tunnistaa"},
		"en": {"Office of the Data Protection Ombudsman", "Articles 11(2) and 12(2)", "cannot be identified in the footage"},
	} {
		res, body := keeper.do("GET", fmt.Sprintf("/requests/%d/letter?lang=%s", b.ID, lang), nil)
		for _, s := range append(want, "PL 800, 00531 Helsinki", "tietosuoja@om.fi", "029 566 6700", "Ensikoti &lt;Esimerkki&gt; ry") {
			if res.StatusCode != 200 || !strings.Contains(string(body), s) {
				t.Errorf("%s letter (%d) lacks %q", lang, res.StatusCode, s)
			}
		}
	}
	if es := h.auditEntries("request.letter"); len(es) != 2 {
		t.Errorf("request.letter audited %d times, want 2", len(es))
	}
	// A third is viewed on site: no package, then closed so.
	c := add("2026-11-22T09:00:00+02:00", "")
	vbase := fmt.Sprintf("/api/v1/requests/%d", c.ID)
	if res, body := keeper.do("POST", vbase+"/close", map[string]string{"outcome": "viewed-on-site", "hold": "release", "reason": "x"}); res.StatusCode != 400 {
		t.Errorf("closing as viewed before a viewing: %d %s", res.StatusCode, body)
	}
	if res, _ := keeper.do("POST", vbase+"/viewing", map[string]string{"viewed_by": "dpo"}); res.StatusCode != 400 {
		t.Errorf("a viewing shown by a non-keeper: %d", res.StatusCode)
	}
	res, body = keeper.do("POST", vbase+"/viewing", map[string]string{"viewed_by": "boss", "note": "ohjaajan kanssa"})
	if v := decode[RequestJSON](t, body); res.StatusCode != 200 || v.State != "viewed-on-site" {
		t.Errorf("viewing: %d %s", res.StatusCode, body)
	}
	if res, body := keeper.do("POST", vbase+"/close", map[string]string{"outcome": "viewed-on-site", "hold": "release", "reason": "katsottu"}); res.StatusCode != 200 {
		t.Errorf("close viewed: %d %s", res.StatusCode, body)
	}
	if es := h.auditEntries("request.view"); len(es) != 1 || !strings.Contains(string(es[0].Detail), `"viewed_by":"boss"`) {
		t.Errorf("request.view audit: %+v", es)
	}
	if g := get(c.ID); g.Free != nil || g.SubjectKey {
		t.Errorf("no key recorded, yet free is told: %+v", g.Free)
	}
	// A delivery to the data subject is marked so.
	res, body = keeper.do("POST", fmt.Sprintf("/api/v1/requests/%d/export", a.ID), nil)
	if res.StatusCode != 201 {
		t.Fatalf("export: %d %s", res.StatusCode, body)
	}
	pkg := decode[ExportJSON](t, body)
	res, body = keeper.do("POST", fmt.Sprintf("/api/v1/requests/%d/deliveries", a.ID), map[string]any{"package": pkg.ID,
		"recipient": "Maija Meikäläinen", "channel": "in-person", "acknowledged": true})
	if d := decode[DisclosureJSON](t, body); res.StatusCode != 201 || !d.Subject || d.Kind != "access" {
		t.Errorf("delivery: %d %s", res.StatusCode, body)
	}
	_, body = keeper.do("GET", "/disclosures/log.csv", nil)
	if !strings.Contains(string(body), ",access,true,") || !strings.Contains(string(body), "kind,subject,expired_utc,request_ref_hash") {
		t.Errorf("CSV lacks the data-subject mark:\n%s", body)
	}
	// When a's request expires from the register, the log still reads:
	// the entry without its request, marked expired, kind kept.
	if res, body := keeper.do("POST", fmt.Sprintf("/api/v1/requests/%d/close", a.ID), map[string]string{"outcome": "delivered", "hold": "release", "reason": "luovutettu"}); res.StatusCode != 200 {
		t.Fatalf("close a: %d %s", res.StatusCode, body)
	}
	if err := h.db.Update(context.Background(), func(tx *registry.Tx) error {
		_, err := tx.ExpireRequest(a.ID, strings.Repeat("e", 64))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	res, body = keeper.do("GET", "/disclosures", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), "pyyntö poistunut rekisteristä") || strings.Contains(string(body), "Maija Meikäläinen</td>") {
		t.Errorf("disclosure page after expiry: %d", res.StatusCode)
	}
	res, body = keeper.do("GET", "/api/v1/disclosures", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"request_ref_hash":"eeee`) || strings.Contains(string(body), "Meikäläinen") {
		t.Errorf("disclosures JSON after expiry: %d %s", res.StatusCode, body)
	}
	if res, body := keeper.do("GET", "/disclosures/log.csv", nil); res.StatusCode != 200 || strings.Contains(string(body), "Meikäläinen") {
		t.Errorf("disclosures CSV after expiry: %d %s", res.StatusCode, body)
	}

	// An authority's refusal has no letter to a data subject.
	res, body = keeper.do("POST", "/api/v1/requests", map[string]any{"kind": "police", "cameras": []string{"yard"},
		"from": "2026-11-22T08:00:00Z", "to": "2026-11-22T08:30:00Z", "reference": "5500/R/9/26", "basis_code": "poliisilaki"})
	pq := decode[struct {
		Request RequestJSON `json:"request"`
	}](t, body).Request
	keeper.do("POST", fmt.Sprintf("/api/v1/requests/%d/close", pq.ID), map[string]string{"outcome": "refused", "hold": "release", "reason": "x"})
	if res, _ := keeper.do("GET", fmt.Sprintf("/requests/%d/letter", pq.ID), nil); res.StatusCode != 409 {
		t.Errorf("letter of a refused police request: %d", res.StatusCode)
	}
	_ = registry.RequestAccess
}
