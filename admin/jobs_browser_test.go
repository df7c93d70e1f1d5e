package admin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"vahti/admin/export"
	"vahti/registry"
)

// extendFootage catalogues copies of the recorded segments of camera
// before the recording's first one, back to back, until there is more
// than JobThreshold of footage: real recorded fMP4, only the catalogue's
// times differ. It returns the new first instant.
func extendFootage(t *testing.T, h *harness, camera string, from, to time.Time) time.Time {
	t.Helper()
	var segs []registry.Segment
	h.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		segs, err = tx.SegmentsIn(camera, from.Add(-time.Minute), to.Add(time.Minute))
		return err
	})
	if len(segs) == 0 {
		t.Fatal("no recorded segments")
	}
	at := segs[0].Start
	for k := 0; to.Sub(at) <= JobThreshold+30*time.Second; k++ {
		src := segs[len(segs)-1-k%len(segs)]
		d := src.End.Sub(src.Start)
		at = at.Add(-d)
		b, err := os.ReadFile(filepath.Join(h.cfg.Storage.Root, filepath.FromSlash(src.Path)))
		if err != nil {
			t.Fatal(err)
		}
		s := src
		s.ID, s.Start, s.End, s.Path = 0, at, at.Add(d), registry.SegmentPath(camera, at)
		abs := filepath.Join(h.cfg.Storage.Root, filepath.FromSlash(s.Path))
		if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(abs, b, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := h.db.Update(context.Background(), func(tx *registry.Tx) error { return tx.AddSegment(&s) }); err != nil {
			t.Fatal(err)
		}
	}
	return at
}

// waitDOM is waitFor across page loads: an answer lost to a reload is
// asked again.
func (b *browserSession) waitDOM(step, js string, timeout time.Duration) {
	b.t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		var ok bool
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		err := chromedp.Run(ctx, chromedp.Evaluate("Boolean("+js+")", &ok, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.run(step, b.shot("timeout-"+strings.ReplaceAll(step, " ", "-")))
			b.t.Fatalf("%s: %s still false after %s (%v)", step, js, timeout, err)
		}
	}
}

// TestBrowserLongRequestExport is issue 11's long-export browser test: a
// keeper presses the request page's export button for more than
// JobThreshold of recorded footage; the page comes back at once with the
// job queued and a progress bar, jobs.js follows it (the page is not
// reloaded by hand) until the bar is full and the job done, and the
// package, verified, is in the request's package list.
func TestBrowserLongRequestExport(t *testing.T) {
	needBinary(t, "ffmpeg")
	needBinary(t, "ffprobe")
	e := newRedactEnv(t)
	h := e.h
	// The job stays queued until the page shows it: the runner is
	// started again below.
	e.stopRunner()
	from := extendFootage(t, h, "yard", e.from, e.to)
	keeper := h.login("keeper")
	res, body := keeper.do("POST", "/api/v1/requests", map[string]any{"kind": "police", "cameras": []string{"yard"},
		"from": from.Format(time.RFC3339), "to": e.to.Format(time.RFC3339), "reference": "POL-2026-31", "basis_code": "poliisilaki",
		"authority": "Sisä-Suomen poliisilaitos", "officer": "rikoskonstaapeli Virtanen"})
	if res.StatusCode != 201 {
		t.Fatalf("add request: %d %s", res.StatusCode, body)
	}
	id := decode[struct {
		Request RequestJSON `json:"request"`
	}](t, body).Request.ID

	b := newBrowserSession(t, h)
	b.login("keeper")
	b.run("open the request",
		chromedp.Navigate(fmt.Sprintf("%s/requests/%d", h.ts.URL, id)),
		chromedp.WaitVisible("#export-submit", chromedp.ByQuery),
		chromedp.Click("#export-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#req-jobs", chromedp.ByQuery),
	)
	var state string
	b.run("job queued", chromedp.AttributeValue(`#req-jobs tr[data-job]`, "data-state", &state, nil, chromedp.ByQuery), b.shot("1-queued"))
	if state != registry.JobQueued {
		t.Fatalf("job state on the page: %q", state)
	}
	// A mark on this page load: gone once jobs.js reloads the page.
	b.eval("mark the page", `window.vahtiMark = 1; true`, nil)

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.runner.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })

	b.waitDOM("job done", `!window.vahtiMark && document.querySelector('#req-jobs tr[data-job]') &&
		document.querySelector('#req-jobs tr[data-job]').getAttribute("data-state") === "done" &&
		document.querySelector('#req-jobs progress').value === 100 && document.querySelector("#req-packages .mono") !== null`, 120*time.Second)
	// Read in one evaluation: the page reloaded itself (jobs.js), and
	// chromedp's node queries can race a navigation they did not start.
	var got []string
	b.waitDOM("package listed", `document.querySelector("#req-packages td.mono") && document.querySelector("#req-jobs a.job-package")`, 10*time.Second)
	b.eval("package listed", `[document.querySelector("#req-packages td.mono").innerText.trim(), document.querySelector("#req-jobs a.job-package").innerText.trim()]`, &got)
	b.run("screenshot", b.shot("2-done"))
	pkg, link := got[0], got[1]
	if pkg == "" || pkg != link {
		t.Fatalf("package on the page %q, job's package %q", pkg, link)
	}
	vr, err := export.VerifyPackage(filepath.Join(h.cfg.StateDir, "exports", pkg+".zip"))
	if err != nil {
		t.Fatalf("package %s: %v", pkg, err)
	}
	if vr.Manifest.Request == nil || vr.Manifest.Request.ID != id {
		t.Errorf("manifest request: %+v", vr.Manifest.Request)
	}
	var js []registry.Job
	h.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		js, err = tx.Jobs(id)
		return err
	})
	if len(js) != 1 || js[0].State != registry.JobDone || js[0].Package != pkg {
		t.Errorf("jobs: %+v", js)
	}
}
