package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"vahti/registry"
	"vahti/retention"
)

// withRequests wires the real request rules (retention) into the harness.
func withRequests(h **harness) harnessOpt {
	return func(c *Config) {
		db := c.DB
		c.Holds = HoldFuncs{
			Add: func(ctx context.Context, hd *registry.Hold, a, s string) error {
				return retention.AddHold(ctx, db, hd, a, s)
			},
			Release: func(ctx context.Context, id int64, a, s, r string) (registry.Hold, error) {
				return retention.ReleaseHold(ctx, db, id, a, s, r)
			},
		}
		c.Requests = RequestFuncs{
			Open: func(ctx context.Context, q *registry.Request, a, s string) (registry.Hold, error) {
				return retention.OpenRequest(ctx, db, q, a, s)
			},
			Close: func(ctx context.Context, id int64, in RequestClose, a, s string) (registry.Request, *registry.Hold, error) {
				return retention.CloseRequestWith(ctx, db, id, retention.CloseInput(in), a, s)
			},
		}
	}
}

func form(c *client, kv ...string) formBody {
	v := url.Values{"csrf": {c.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return formBody(v.Encode())
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("json: %v: %s", err, b)
	}
	return v
}

// TestRequestsEndToEndAPIAndPages: a keeper registers, exports and
// delivers; illegal steps and releasing the hold alone are refused; the
// DPO reads everything and changes nothing; receipts and reports are
// audited; the CSV cannot smuggle a formula into a spreadsheet.
func TestRequestsEndToEndAPIAndPages(t *testing.T) {
	var h *harness
	h = newHarness(t, withRequests(&h))
	keeper, dpo := h.login("keeper"), h.login("dpo")

	// Registration: received in the future is refused, nothing is stored.
	req := map[string]any{"kind": "police", "cameras": []string{"yard"}, "from": "2026-11-22T08:00:00Z", "to": "2026-11-22T09:00:00Z",
		"reference": "5500/R/4711/26", "basis_code": "esitutkintalaki", "basis": "ETL 9:1", "authority": "Sisä-Suomen poliisilaitos",
		"officer": "rikoskomisario Virtanen", "received": "2026-11-22T13:00:00Z", "deadline": "2026-11-24T10:00:00Z"}
	if res, body := keeper.do("POST", "/api/v1/requests", req); res.StatusCode != 400 || !strings.Contains(string(body), "future") {
		t.Fatalf("received in the future: %d %s", res.StatusCode, body)
	}
	req["received"] = "2026-11-22T10:00:00Z"
	res, body := keeper.do("POST", "/api/v1/requests", req)
	if res.StatusCode != 201 {
		t.Fatalf("add: %d %s", res.StatusCode, body)
	}
	added := decode[struct {
		Request RequestJSON `json:"request"`
		Hold    apiHold     `json:"hold"`
	}](t, body)
	q := added.Request
	if q.State != "held" || q.Handler != "keeper" || !strings.Contains(q.Basis, "805/2011") || !strings.Contains(q.Basis, "ETL 9:1") || added.Hold.ID == 0 {
		t.Fatalf("added: %+v %+v", q, added.Hold)
	}
	base := fmt.Sprintf("/api/v1/requests/%d", q.ID)

	// The hold cannot be released on its own: API, page; the holds page says why.
	if res, body := keeper.do("POST", fmt.Sprintf("/api/v1/holds/%d/release", q.HoldID), map[string]string{"reason": "x"}); res.StatusCode != 400 ||
		!strings.Contains(string(body), "closing the request") {
		t.Fatalf("API release: %d %s", res.StatusCode, body)
	}
	if res, body := keeper.do("POST", fmt.Sprintf("/holds/%d/release", q.HoldID), form(keeper, "reason", "x")); res.StatusCode != 400 ||
		!strings.Contains(string(body), "puretaan vain sulkemalla pyyntö") {
		t.Fatalf("page release: %d", res.StatusCode)
	}
	_, body = keeper.do("GET", "/holds", nil)
	if strings.Contains(string(body), fmt.Sprintf(`action="/holds/%d/release"`, q.HoldID)) || !strings.Contains(string(body), "Kuuluu avoimeen pyyntöön") {
		t.Error("the holds page offers to release an open request's hold")
	}

	// Illegal steps.
	if res, body := keeper.do("POST", base+"/close", map[string]string{"outcome": "delivered", "hold": "release", "reason": "x"}); res.StatusCode != 400 ||
		!strings.Contains(string(body), "nothing has been exported") {
		t.Errorf("close delivered before export: %d %s", res.StatusCode, body)
	}
	if res, body := keeper.do("POST", base+"/close", map[string]string{"outcome": "withdrawn", "reason": "x"}); res.StatusCode != 400 ||
		!strings.Contains(string(body), "kept or released") {
		t.Errorf("close without the hold choice: %d %s", res.StatusCode, body)
	}

	// The DPO reads, and cannot change anything or see footage.
	if res, _ := dpo.do("GET", base, nil); res.StatusCode != 200 {
		t.Errorf("dpo read: %d", res.StatusCode)
	}
	for _, try := range [][2]string{{"POST", "/api/v1/requests"}, {"POST", base + "/export"}, {"POST", base + "/close"}, {"POST", base + "/deliveries"}} {
		if res, _ := dpo.do(try[0], try[1], map[string]string{}); res.StatusCode != 403 {
			t.Errorf("dpo %s %s: %d", try[0], try[1], res.StatusCode)
		}
	}
	_, body = dpo.do("GET", fmt.Sprintf("/requests/%d", q.ID), nil)
	if strings.Contains(string(body), `id="close-form"`) || strings.Contains(string(body), `id="export-form"`) || !strings.Contains(string(body), "5500/R/4711/26") {
		t.Error("the DPO's request page offers changes or lacks the request")
	}

	// The dashboard warns of the deadline (due within three days) to both.
	for _, c := range []*client{keeper, dpo} {
		if _, body := c.do("GET", "/", nil); !strings.Contains(string(body), `id="deadlines"`) || !strings.Contains(string(body), "5500/R/4711/26") {
			t.Error("dashboard lacks the deadline")
		}
	}

	// Export, then deliver.
	res, body = keeper.do("POST", base+"/export", nil)
	if res.StatusCode != 201 {
		t.Fatalf("export: %d %s", res.StatusCode, body)
	}
	pkg := decode[ExportJSON](t, body)
	const evil = "=HYPERLINK(\"http://evil.example\")"
	res, body = keeper.do("POST", base+"/deliveries", map[string]any{"package": pkg.ID, "recipient": evil, "channel": "usb", "acknowledged": true})
	if res.StatusCode != 201 {
		t.Fatalf("deliver: %d %s", res.StatusCode, body)
	}
	disc := decode[DisclosureJSON](t, body)
	if disc.PackageSHA256 != pkg.SHA256 || disc.RecipientAuthority != "Sisä-Suomen poliisilaitos" || disc.HandedBy != "keeper" {
		t.Fatalf("disclosure: %+v", disc)
	}
	full := decode[RequestJSON](t, func() []byte { _, b := dpo.do("GET", base, nil); return b }())
	var steps []string
	for _, e := range full.History {
		steps = append(steps, e.State+"/"+e.Actor)
	}
	if strings.Join(steps, ",") != "received/keeper,held/keeper,exported/keeper,delivered/keeper" || len(full.Packages) != 1 || len(full.Disclosures) != 1 {
		t.Fatalf("history %v, packages %d, disclosures %d", steps, len(full.Packages), len(full.Disclosures))
	}

	// The receipt, in both languages on one sheet; printing it is audited.
	res, body = dpo.do("GET", disc.Receipt, nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), "Luovutuskuitti") || !strings.Contains(string(body), "Handover receipt") ||
		!strings.Contains(string(body), pkg.SHA256) || !strings.Contains(string(body), "vahti verify-export "+pkg.ID+".zip") {
		t.Fatalf("receipt: %d", res.StatusCode)
	}
	if len(h.auditEntries("receipt.print")) != 1 {
		t.Error("receipt print not audited")
	}

	// The DPO's report and CSV; each is audited.
	_, body = dpo.do("GET", "/disclosures?from=2026-11-22&to=2026-11-22", nil)
	if !strings.Contains(string(body), `id="disc-log"`) || !strings.Contains(string(body), pkg.ID) {
		t.Error("report lacks the delivery")
	}
	if _, body := dpo.do("GET", "/disclosures?from=2026-11-23", nil); strings.Contains(string(body), `id="disc-log"`) {
		t.Error("report ignores its date range")
	}
	res, body = dpo.do("GET", "/disclosures/log.csv?from=2026-11-22&to=2026-11-22", nil)
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(body), "\ufeff"))).ReadAll()
	if err != nil || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != 2 || rows[1][9] != pkg.SHA256 {
		t.Fatalf("csv: %v %q", err, rows)
	}
	if rows[1][4] != "'"+evil {
		t.Errorf("a formula reached the CSV unescaped: %q", rows[1][4])
	}
	if n := len(h.auditEntries("disclosures.report")); n != 3 {
		t.Errorf("%d report audits, want 3", n)
	}

	// Handler and notes change later; the handler must be a keeper.
	if res, body := keeper.do("PUT", base, map[string]string{"handler": "dpo", "notes": "x"}); res.StatusCode != 400 ||
		!strings.Contains(string(body), "not an active registry keeper") {
		t.Errorf("handler who is no keeper: %d %s", res.StatusCode, body)
	}
	if res, body := keeper.do("PUT", base, map[string]string{"handler": "boss", "notes": "soitettu tutkijalle"}); res.StatusCode != 200 ||
		!strings.Contains(string(body), `"handler":"boss"`) {
		t.Errorf("update: %d %s", res.StatusCode, body)
	}

	// Close keeping the hold; then it may be released like any other.
	res, body = keeper.do("POST", base+"/close", map[string]string{"outcome": "delivered", "hold": "keep", "reason": "poliisi pyysi säilyttämään"})
	if res.StatusCode != 200 || !strings.Contains(string(body), `"released_hold":null`) {
		t.Fatalf("close keep: %d %s", res.StatusCode, body)
	}
	if res, body := keeper.do("POST", fmt.Sprintf("/api/v1/holds/%d/release", q.HoldID), map[string]string{"reason": "ei enää tarpeen"}); res.StatusCode != 200 {
		t.Fatalf("release after close: %d %s", res.StatusCode, body)
	}
	kinds := map[string]bool{}
	for _, k := range h.auditKinds() {
		kinds[k] = true
	}
	for _, k := range []string{"request.add", "request.state", "request.export", "disclosure.add", "request.close", "receipt.print", "disclosures.report", "request.update"} {
		if !kinds[k] {
			t.Errorf("no %s audited", k)
		}
	}
}

// TestRequestPagesTranslated renders every request page in both languages
// with every state, channel, basis and ground the catalog must name.
func TestRequestPagesTranslated(t *testing.T) {
	var h *harness
	h = newHarness(t, withRequests(&h))
	boss := h.login("boss")
	mk := func(ref, basis string) int64 {
		res, body := boss.do("POST", "/api/v1/requests", map[string]any{"kind": "access", "cameras": []string{"all"}, "from": "2026-11-22T08:00:00Z",
			"to": "2026-11-22T09:00:00Z", "reference": ref, "basis_code": basis, "basis": "x", "requester": "R"})
		if res.StatusCode != 201 {
			t.Fatalf("add: %d %s", res.StatusCode, body)
		}
		return decode[struct {
			Request RequestJSON `json:"request"`
		}](t, body).Request.ID
	}
	var ids []int64
	for _, b := range registry.BasisCodes {
		ids = append(ids, mk("R-"+b, b))
	}
	boss.do("POST", fmt.Sprintf("/api/v1/requests/%d/export", ids[0]), nil)
	_, body := boss.do("GET", fmt.Sprintf("/api/v1/requests/%d", ids[0]), nil)
	pkg := decode[RequestJSON](t, body).Packages[0].ID
	for _, ch := range registry.DisclosureChannels {
		boss.do("POST", fmt.Sprintf("/api/v1/requests/%d/deliveries", ids[0]), map[string]any{"package": pkg, "recipient": "R", "channel": ch})
	}
	for i, g := range registry.RefusalGrounds {
		if i+1 < len(ids) {
			boss.do("POST", fmt.Sprintf("/api/v1/requests/%d/close", ids[i+1]), map[string]string{"outcome": "refused", "ground": g, "hold": "release", "reason": "r"})
		}
	}
	boss.do("POST", fmt.Sprintf("/api/v1/requests/%d/close", ids[len(ids)-1]), map[string]string{"outcome": "withdrawn", "hold": "keep", "reason": "r"})
	pages := []string{"/requests", "/requests?status=all", "/requests?status=closed&kind=access&state=refused", "/disclosures", "/holds?all=1", "/"}
	for _, id := range ids {
		pages = append(pages, fmt.Sprintf("/requests/%d", id))
	}
	pages = append(pages, fmt.Sprintf("/requests/%d/receipt/1", ids[0]))
	for _, lang := range []string{"fi", "en"} {
		boss.do("PUT", "/api/v1/me/lang", map[string]string{"lang": lang})
		for _, p := range pages {
			res, body := boss.do("GET", p, nil)
			if res.StatusCode != 200 || strings.Contains(string(body), "[[") {
				i := strings.Index(string(body), "[[")
				t.Errorf("%s %s: %d %s", lang, p, res.StatusCode, string(body)[max(i, 0):min(max(i, 0)+80, len(body))])
			}
		}
	}
	// Keys built at run time exist in both catalogs.
	var keys []string
	for _, s := range registry.RequestStates {
		keys = append(keys, "req.state."+s, "req.event."+s)
	}
	for _, s := range []string{"closed", "correction", "note"} {
		keys = append(keys, "req.event."+s)
	}
	for _, s := range registry.BasisCodes {
		keys = append(keys, "req.basis."+s)
	}
	for _, s := range registry.RefusalGrounds {
		keys = append(keys, "req.ground."+s)
	}
	for _, s := range registry.DisclosureChannels {
		keys = append(keys, "disc.channel."+s)
	}
	for _, s := range []string{"delivered", "refused", "withdrawn"} {
		keys = append(keys, "req.outcome."+s)
	}
	for _, k := range keys {
		if _, ok := catalogFI[k]; !ok {
			t.Errorf("fi: %s missing", k)
		}
		if _, ok := catalogEN[k]; !ok {
			t.Errorf("en: %s missing", k)
		}
	}
}
