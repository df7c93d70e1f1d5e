package admin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestBrowserPoliceRequest drives a real Chromium through a police
// request: the keeper registers it, exports from it, records the
// delivery and prints the receipt, and cannot release its hold from the
// holds page; the DPO sees the delivery in the disclosure log and
// downloads the CSV.
func TestBrowserPoliceRequest(t *testing.T) {
	shots := artifactDir(t)
	var h *harness
	h = newHarness(t, withRequests(&h))
	h.addSegments("yard", time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC), 40, 30*time.Second)

	ctx := startChromium(t)
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, "request-"+name+".png"), buf, 0o644)
		})
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			var loc string
			chromedp.Run(ctx, chromedp.Location(&loc), shot("failed-"+strings.ReplaceAll(step, " ", "-")))
			t.Fatalf("%s (at %s): %v", step, loc, err)
		}
	}
	dl := t.TempDir()
	done := make(chan string, 1)
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			t.Errorf("JavaScript exception: %s", e.ExceptionDetails.Error())
		}
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			select {
			case done <- e.GUID:
			default:
			}
		}
	})
	login := func(name string) {
		run("log in as "+name,
			chromedp.Navigate(h.ts.URL+"/login"),
			chromedp.WaitVisible("#login-form", chromedp.ByQuery),
			chromedp.SendKeys("#name", name, chromedp.ByQuery),
			chromedp.SendKeys("#password", testPassword, chromedp.ByQuery),
			chromedp.Click("#login-submit", chromedp.ByQuery),
			chromedp.WaitVisible("#logout", chromedp.ByQuery),
		)
	}

	// The keeper registers a police request.
	login("keeper")
	var state string
	run("register",
		chromedp.Navigate(h.ts.URL+"/requests"),
		chromedp.WaitVisible("#request-form", chromedp.ByQuery),
		chromedp.SendKeys("#req-reference", "5500/R/4711/26", chromedp.ByQuery),
		chromedp.SendKeys("#req-authority", "Sisä-Suomen poliisilaitos", chromedp.ByQuery),
		chromedp.SendKeys("#req-officer", "rikoskomisario Virtanen", chromedp.ByQuery),
		chromedp.SetValue("#req-basis-code", "esitutkintalaki", chromedp.ByQuery),
		chromedp.Click(`#request-form input[name=camera][value=yard]`, chromedp.ByQuery),
		chromedp.SetValue("#req-from", "2026-11-22T10:00", chromedp.ByQuery),
		chromedp.SetValue("#req-to", "2026-11-22T10:15", chromedp.ByQuery),
		chromedp.SetValue("#req-received", "2026-11-22T09:30", chromedp.ByQuery),
		chromedp.SetValue("#req-deadline", "2026-11-23T16:00", chromedp.ByQuery),
		shot("1-form"),
		chromedp.Click("#req-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#req-state", chromedp.ByQuery),
		chromedp.Text("#req-state", &state, chromedp.ByQuery),
		shot("2-registered"),
	)
	if state != "tallenne turvattu" {
		t.Fatalf("state after registering: %q", state)
	}
	var reqURL, basis, dash string
	run("request page", chromedp.Location(&reqURL), chromedp.Text("#req-basis-shown", &basis, chromedp.ByQuery))
	if !strings.Contains(basis, "805/2011") {
		t.Errorf("basis shown: %q", basis)
	}
	// Due tomorrow: the dashboard warns.
	run("dashboard deadline", chromedp.Navigate(h.ts.URL+"/"), chromedp.WaitVisible("#deadlines", chromedp.ByQuery),
		chromedp.Text("#deadlines", &dash, chromedp.ByQuery))
	if !strings.Contains(dash, "5500/R/4711/26") {
		t.Errorf("dashboard deadlines: %q", dash)
	}

	// The holds page offers no release for the request's hold, and a
	// forged release form is refused with the reason.
	var holdsText, forged string
	var releaseForms int
	run("holds page",
		chromedp.Navigate(h.ts.URL+"/holds"),
		chromedp.WaitVisible(".held-by-request", chromedp.ByQuery),
		chromedp.Text(".held-by-request", &holdsText, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('form[action="/holds/1/release"]').length`, &releaseForms),
		shot("3-holds"),
		chromedp.Evaluate(`(function(){var f=document.createElement("form");f.method="post";f.action="/holds/1/release";
			var c=document.createElement("input");c.name="csrf";c.value=document.querySelector("input[name=csrf]").value;f.appendChild(c);
			var r=document.createElement("input");r.name="reason";r.value="ei tarvita";f.appendChild(r);
			document.body.appendChild(f);f.submit();return true})()`, nil),
		chromedp.WaitVisible("p.error", chromedp.ByQuery),
		chromedp.Text("p.error", &forged, chromedp.ByQuery),
	)
	if releaseForms != 0 || !strings.Contains(holdsText, "puretaan vain sulkemalla pyyntö") {
		t.Errorf("holds page: %d release forms, text %q", releaseForms, holdsText)
	}
	if !strings.Contains(forged, "puretaan vain sulkemalla pyyntö") {
		t.Errorf("forged release: %q", forged)
	}

	// Export from the request, record the delivery.
	var pkgID, discText string
	run("export",
		chromedp.Navigate(reqURL),
		chromedp.WaitVisible("#export-submit", chromedp.ByQuery),
		chromedp.Click("#export-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#req-packages", chromedp.ByQuery),
		chromedp.Text("#req-packages td.mono", &pkgID, chromedp.ByQuery),
		chromedp.Text("#req-state", &state, chromedp.ByQuery),
	)
	if state != "paketti tehty" || pkgID == "" {
		t.Fatalf("after export: state %q, package %q", state, pkgID)
	}
	run("deliver",
		chromedp.WaitVisible("#deliver-form", chromedp.ByQuery),
		chromedp.SetValue("#deliver-channel", "usb", chromedp.ByQuery),
		chromedp.Click("#deliver-ack", chromedp.ByQuery),
		shot("4-deliver-form"),
		chromedp.Click("#deliver-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#req-disclosures", chromedp.ByQuery),
		chromedp.Text("#req-disclosures", &discText, chromedp.ByQuery),
		chromedp.Text("#req-state", &state, chromedp.ByQuery),
		shot("5-delivered"),
	)
	if state != "luovutettu" || !strings.Contains(discText, "rikoskomisario Virtanen") || !strings.Contains(discText, "USB") {
		t.Fatalf("after delivery: state %q, deliveries %q", state, discText)
	}

	// Print the receipt: the print button calls the browser's print, and
	// the page renders to PDF with the package hash and the verify command.
	var sha, verify string
	var printed bool
	var pdf []byte
	run("receipt",
		chromedp.Click("a.receipt-link", chromedp.ByQuery),
		chromedp.WaitVisible("#receipt", chromedp.ByQuery),
		chromedp.Text("#receipt-sha256", &sha, chromedp.ByQuery),
		chromedp.Text("#receipt-verify", &verify, chromedp.ByQuery),
		chromedp.Evaluate(`window.print = function(){ window.__printed = true; }; true`, nil),
		chromedp.Click("#print-receipt", chromedp.ByQuery),
		chromedp.Evaluate(`window.__printed === true`, &printed),
		shot("6-receipt"),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			pdf, _, err = cdppage.PrintToPDF().Do(ctx)
			return err
		}),
	)
	if sha != "00" || !strings.Contains(verify, "vahti verify-export "+pkgID+".zip") || !printed || !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Errorf("receipt: sha %q, verify %q, printed %v, pdf %d bytes", sha, verify, printed, len(pdf))
	}
	os.WriteFile(filepath.Join(shots, "request-receipt.pdf"), pdf, 0o644)
	run("logout", chromedp.Click("#logout", chromedp.ByQuery), chromedp.WaitVisible("#login-form", chromedp.ByQuery))

	// The DPO: the delivery in the disclosure log, the CSV.
	login("dpo")
	var log string
	run("disclosure log",
		chromedp.Click(`header nav a[href="/disclosures"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#disc-log", chromedp.ByQuery),
		chromedp.Text("#disc-log", &log, chromedp.ByQuery),
		shot("7-disclosures"),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllowAndName).WithDownloadPath(dl).WithEventsEnabled(true),
		chromedp.Click("#disc-csv", chromedp.ByQuery),
	)
	if !strings.Contains(log, pkgID) || !strings.Contains(log, "rikoskomisario Virtanen") {
		t.Errorf("disclosure log: %q", log)
	}
	select {
	case guid := <-done:
		b, err := os.ReadFile(filepath.Join(dl, guid))
		if err != nil || !strings.Contains(string(b), pkgID) || !strings.Contains(string(b), "5500/R/4711/26") || !strings.HasPrefix(string(b), "\ufeffid,request,") {
			t.Errorf("downloaded CSV: %v %q", err, b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("CSV download did not complete")
	}
	kinds := map[string]int{}
	for _, k := range h.auditKinds() {
		kinds[k]++
	}
	if kinds["receipt.print"] != 1 || kinds["disclosures.report"] != 2 || kinds["disclosure.add"] != 1 || kinds["request.export"] != 1 {
		t.Errorf("audit: %v", kinds)
	}
}
