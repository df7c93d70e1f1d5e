package jobs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/admin"
	"vahti/admin/export"
	"vahti/registry"
)

// longSegs is just over admin.JobThreshold of 3 s segments.
var longSegs = int(admin.JobThreshold/(3*time.Second)) + 5

// form posts an HTML form (with the session's CSRF token unless csrf is
// false) without following the redirect; it returns the status, the
// Location and the body.
func (c *client) form(path string, v url.Values, csrf bool) (int, string, string) {
	c.e.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	if csrf {
		v.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest("POST", c.e.ts.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := *c.c
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// page GETs an HTML page.
func (c *client) page(path string) (int, string) {
	c.e.t.Helper()
	resp, err := c.c.Get(c.e.ts.URL + path)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// jobsOf lists the jobs of GET /api/v1/jobs?request=q.
func (c *client) jobsOf(q string) []jobView {
	c.e.t.Helper()
	var out struct{ Jobs []jobView }
	if code := c.do("GET", "/api/v1/jobs?request="+q, nil, &out); code != 200 {
		c.e.t.Fatalf("jobs %s: %d", q, code)
	}
	return out.Jobs
}

func ended(j jobView) bool {
	return j.State == registry.JobDone || j.State == registry.JobFailed || j.State == registry.JobCancelled
}

func (e *env) verify(pkg string) export.VerifyResult {
	e.t.Helper()
	vr, err := export.VerifyPackage(filepath.Join(e.cfg.StateDir, "exports", pkg+".zip"))
	if err != nil {
		e.t.Fatalf("package %s: %v", pkg, err)
	}
	return vr
}

// TestLongRequestExportViaPage: the request page's export button with
// more than admin.JobThreshold of footage queues a job and goes back to
// the request page, which lists the job (state, progress, a cancel form;
// pressed twice, still one job);
// the job makes the package, verified, linked to the request and listed
// on its page. A short request is made at once, as before.
func TestLongRequestExportViaPage(t *testing.T) {
	e := newEnv(t, longSegs, nil)
	c := e.login()
	if code, _, _ := c.form("/requests/1/export", nil, false); code != http.StatusForbidden {
		t.Fatalf("export form without CSRF: %d", code)
	}
	for i := 0; i < 2; i++ { // pressed twice: one job
		code, loc, body := c.form("/requests/1/export", nil, true)
		if code != http.StatusSeeOther && code != http.StatusFound || loc != "/requests/1" {
			t.Fatalf("export form: %d %q %s", code, loc, body)
		}
	}
	js := c.jobsOf("1")
	if len(js) != 1 || js[0].Kind != "export" || js[0].Request != 1 || js[0].State != registry.JobQueued {
		t.Fatalf("jobs after the form: %+v", js)
	}
	_, html := c.page("/requests/1")
	for _, want := range []string{`data-jobs="/api/v1/jobs?request=1"`, fmt.Sprintf(`data-job="%d" data-state="queued"`, js[0].ID),
		`<progress max="100" value="0">`, fmt.Sprintf(`action="/jobs/%d/cancel"`, js[0].ID), `/static/jobs.js`} {
		if !strings.Contains(html, want) {
			t.Errorf("request page with a queued job lacks %s", want)
		}
	}
	if strings.Contains(html, `id="req-packages"`) {
		t.Error("a package is listed before the job ran")
	}
	// The DPO reads the request page: the job's state, no cancel, no
	// polling of the keepers' jobs API.
	if _, dh := e.loginAs("dpo").page("/requests/1"); !strings.Contains(dh, fmt.Sprintf(`data-job="%d" data-state="queued"`, js[0].ID)) ||
		strings.Contains(dh, "/cancel") || strings.Contains(dh, "data-jobs=") {
		t.Error("the DPO's request page: job not shown, or cancel/polling offered")
	}
	e.start()
	j := c.wait(js[0].ID, ended)
	if j.State != registry.JobDone || j.Package == "" {
		t.Fatalf("job: %+v", j)
	}
	vr := e.verify(j.Package)
	if vr.Manifest.Request == nil || vr.Manifest.Request.ID != 1 {
		t.Errorf("manifest request: %+v", vr.Manifest.Request)
	}
	_, html = c.page("/requests/1")
	pk := html[strings.Index(html, `id="req-packages"`)+1:]
	if !strings.Contains(pk, j.Package) || !strings.Contains(html, fmt.Sprintf(`data-job="%d" data-state="done"`, j.ID)) ||
		!strings.Contains(html, `<progress max="100" value="100">`) {
		t.Errorf("request page after the job: package %s not listed or job not done", j.Package)
	}
	if strings.Contains(html, fmt.Sprintf(`action="/jobs/%d/cancel"`, j.ID)) {
		t.Error("a done job offers cancel")
	}
	if k := e.auditKinds(); k["job.queue"] != 1 || k["job.done"] != 1 || k["export.create"] != 1 {
		t.Errorf("audit: %v", k)
	}

	// A short request: made within the form's request, no job.
	q := registry.Request{Kind: "access", Cameras: []string{"yard"}, From: base, To: base.Add(6 * time.Second),
		Reference: "SAR-2", Basis: "GDPR 15", Requester: "Toinen", Received: base}
	if _, err := retentionOpen(e, &q); err != nil {
		t.Fatal(err)
	}
	if code, loc, _ := c.form(fmt.Sprintf("/requests/%d/export", q.ID), nil, true); code >= 400 || loc != fmt.Sprintf("/requests/%d", q.ID) {
		t.Fatalf("short export form: %d %q", code, loc)
	}
	if js := c.jobsOf(fmt.Sprint(q.ID)); len(js) != 0 {
		t.Errorf("a 6 s request export became a job: %+v", js)
	}
	if _, html := c.page(fmt.Sprintf("/requests/%d", q.ID)); !strings.Contains(html, `id="req-packages"`) {
		t.Error("the short package is not listed")
	}
}

// TestAdHocExportJobAPI: POST /api/v1/exports over admin.JobThreshold
// answers 202 with a job without a request; the job makes the ordinary
// package (export.create audited, as one made at once) and lists under
// ?request=none, not under a request. A short one is still 201.
func TestAdHocExportJobAPI(t *testing.T) {
	e := newEnv(t, longSegs, nil)
	e.start()
	c := e.login()
	long := map[string]any{"cameras": []string{"yard"}, "from": base.Format(time.RFC3339),
		"to": base.Add(time.Duration(3*longSegs) * time.Second).Format(time.RFC3339), "reason": "poliisin pyyntö", "case_ref": "POL-9"}
	var sub struct{ Job jobView }
	if code := c.do("POST", "/api/v1/exports", long, &sub); code != http.StatusAccepted || sub.Job.ID == 0 || sub.Job.Request != 0 || sub.Job.Kind != "export" {
		t.Fatalf("long ad-hoc export: %d %+v", code, sub)
	}
	j := c.wait(sub.Job.ID, ended)
	if j.State != registry.JobDone || j.Progress != 1 {
		t.Fatalf("job: %+v", j)
	}
	vr := e.verify(j.Package)
	if vr.Manifest.Request != nil || vr.Manifest.CaseRef != "POL-9" {
		t.Errorf("manifest: request %+v case %q", vr.Manifest.Request, vr.Manifest.CaseRef)
	}
	if js := c.jobsOf("none"); len(js) != 1 || js[0].ID != j.ID {
		t.Errorf("?request=none: %+v", js)
	}
	if js := c.jobsOf("1"); len(js) != 0 {
		t.Errorf("request 1's jobs: %+v", js)
	}
	var ex struct {
		Exports []struct{ ID, CaseRef string }
	}
	c.do("GET", "/api/v1/exports", nil, &ex)
	if len(ex.Exports) != 1 || ex.Exports[0].ID != j.Package {
		t.Errorf("exports: %+v", ex.Exports)
	}
	if k := e.auditKinds(); k["job.queue"] != 1 || k["job.done"] != 1 || k["export.create"] != 1 {
		t.Errorf("audit: %v", k)
	}
	short := map[string]any{"cameras": []string{"yard"}, "from": base.Format(time.RFC3339), "to": base.Add(6 * time.Second).Format(time.RFC3339),
		"reason": "poliisin pyyntö", "case_ref": "POL-10"}
	var made struct{ ID string }
	if code := c.do("POST", "/api/v1/exports", short, &made); code != http.StatusCreated || made.ID == "" {
		t.Fatalf("short ad-hoc export: %d %+v", code, made)
	}
	// A bad long one is refused as a short one is: no job.
	bad := map[string]any{"cameras": []string{"yard"}, "from": long["from"], "to": long["to"], "reason": "", "case_ref": "POL-11"}
	if code := c.do("POST", "/api/v1/exports", bad, nil); code != http.StatusBadRequest {
		t.Fatalf("long export without a reason: %d", code)
	}
	if js := c.jobsOf("none"); len(js) != 1 {
		t.Errorf("a refused export was queued: %+v", js)
	}
}

// TestAdHocExportJobPageAndCancel: the Exports page's form over
// admin.JobThreshold queues a job (sent twice: one) and the page lists it
// with a cancel form; the form cancels it (keeper only, CSRF), and the queued job never
// runs.
func TestAdHocExportJobPageAndCancel(t *testing.T) {
	e := newEnv(t, longSegs, nil)
	c := e.login()
	v := url.Values{"camera": {"yard"}, "from": {base.In(e.cfg.Location()).Format("2006-01-02T15:04:05")},
		"to":     {base.Add(time.Duration(3*longSegs) * time.Second).In(e.cfg.Location()).Format("2006-01-02T15:04:05")},
		"reason": {"poliisin pyyntö"}, "case_ref": {"POL-9"}}
	for i := 0; i < 2; i++ { // sent twice: one job
		code, loc, body := c.form("/exports", v, true)
		if code >= 400 || loc != "/exports" {
			t.Fatalf("exports form: %d %q %s", code, loc, body)
		}
	}
	js := c.jobsOf("none")
	if len(js) != 1 || js[0].State != registry.JobQueued {
		t.Fatalf("jobs: %+v", js)
	}
	id := js[0].ID
	_, html := c.page("/exports")
	for _, want := range []string{`data-jobs="/api/v1/jobs?request=none"`, fmt.Sprintf(`data-job="%d" data-state="queued"`, id),
		fmt.Sprintf(`action="/jobs/%d/cancel"`, id)} {
		if !strings.Contains(html, want) {
			t.Errorf("exports page lacks %s", want)
		}
	}
	cancelPath := fmt.Sprintf("/jobs/%d/cancel", id)
	if code, _, _ := c.form(cancelPath, nil, false); code != http.StatusForbidden {
		t.Errorf("cancel without CSRF: %d", code)
	}
	dpo := e.loginAs("dpo")
	if code, _, _ := dpo.form(cancelPath, nil, true); code != http.StatusForbidden {
		t.Errorf("cancel by the DPO: %d", code)
	}
	if j := c.wait(id, func(jobView) bool { return true }); j.State != registry.JobQueued {
		t.Fatalf("refused cancels changed the job: %+v", j)
	}
	if code, loc, body := c.form(cancelPath, nil, true); code >= 400 || loc != "/exports" {
		t.Fatalf("cancel: %d %q %s", code, loc, body)
	}
	if code, loc, _ := c.form(cancelPath, nil, true); code >= 400 || loc != "/exports" {
		t.Errorf("second cancel: %d %q", code, loc)
	}
	e.start()
	time.Sleep(300 * time.Millisecond)
	if j := c.wait(id, func(jobView) bool { return true }); j.State != registry.JobCancelled || j.Package != "" {
		t.Fatalf("cancelled job: %+v", j)
	}
	if _, html := c.page("/exports"); !strings.Contains(html, fmt.Sprintf(`data-job="%d" data-state="cancelled"`, id)) ||
		strings.Contains(html, `action="`+cancelPath+`"`) {
		t.Error("the exports page does not show the job cancelled")
	}
	if k := e.auditKinds(); k["job.cancel"] != 1 || k["job.start"] != 0 || k["export.create"] != 0 {
		t.Errorf("audit: %v", k)
	}
}

// TestAdHocExportResume: an ad-hoc export job that was running when the
// service stopped is run again from the start at the next start.
func TestAdHocExportResume(t *testing.T) {
	e := newEnv(t, longSegs, nil)
	c := e.login()
	long := map[string]any{"cameras": []string{"yard"}, "from": base.Format(time.RFC3339),
		"to": base.Add(time.Duration(3*longSegs) * time.Second).Format(time.RFC3339), "reason": "poliisin pyyntö", "case_ref": "POL-9"}
	var sub struct{ Job jobView }
	if code := c.do("POST", "/api/v1/exports", long, &sub); code != http.StatusAccepted {
		t.Fatalf("submit: %d", code)
	}
	if err := e.db.Update(context.Background(), func(tx *registry.Tx) error { return tx.StartJob(sub.Job.ID) }); err != nil {
		t.Fatal(err)
	}
	e.start()
	j := c.wait(sub.Job.ID, ended)
	if j.State != registry.JobDone {
		t.Fatalf("job: %+v", j)
	}
	e.verify(j.Package)
	var rj registry.Job
	e.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		rj, err = tx.Job(sub.Job.ID)
		return err
	})
	if rj.Attempts != 2 || rj.RequestID != 0 {
		t.Errorf("job row: %+v", rj)
	}
	if k := e.auditKinds(); k["job.resume"] != 1 || k["job.done"] != 1 || k["export.create"] != 1 {
		t.Errorf("audit: %v", k)
	}
}
