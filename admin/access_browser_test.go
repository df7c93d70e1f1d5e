package admin

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestBrowserAccessRequest drives a real Chromium: a keeper registers a
// data subject's access request with who verified the identity, the
// identifying key and the description that finds them; the page shows
// the statutory deadline and that it is the requester's free request. A
// second request is refused with a ground, and its letter renders (and
// prints to PDF) with the Data Protection Ombudsman's details.
func TestBrowserAccessRequest(t *testing.T) {
	shots := artifactDir(t)
	var h *harness
	h = newHarness(t, withRequests(&h), withController(0))
	h.addSegments("yard", time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC), 40, 30*time.Second)
	ctx := startChromium(t)
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, "access-"+name+".png"), buf, 0o644)
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
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			t.Errorf("JavaScript exception: %s", e.ExceptionDetails.Error())
		}
	})
	run("log in",
		chromedp.Navigate(h.ts.URL+"/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#name", "keeper", chromedp.ByQuery),
		chromedp.SendKeys("#password", testPassword, chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#logout", chromedp.ByQuery),
	)
	register := func(n, ref, received string) string {
		var url string
		run("register "+ref,
			chromedp.Navigate(h.ts.URL+"/requests"),
			chromedp.WaitVisible("#request-form", chromedp.ByQuery),
			chromedp.SetValue("#req-kind", "access", chromedp.ByQuery),
			chromedp.SendKeys("#req-reference", ref, chromedp.ByQuery),
			chromedp.SendKeys("#req-requester", "Maija Meikäläinen", chromedp.ByQuery),
			chromedp.SendKeys("#req-identity", "passi tarkistettu toimistolla", chromedp.ByQuery),
			chromedp.SetValue("#req-verified-by", "boss", chromedp.ByQuery),
			chromedp.SendKeys("#req-subject-key", "Maija Meikäläinen 1.2.1980", chromedp.ByQuery),
			chromedp.SetValue("#req-basis-code", "gdpr-15", chromedp.ByQuery),
			chromedp.Click(`#request-form input[name=camera][value=yard]`, chromedp.ByQuery),
			chromedp.SetValue("#req-from", "2026-11-22T10:00", chromedp.ByQuery),
			chromedp.SetValue("#req-to", "2026-11-22T10:15", chromedp.ByQuery),
			chromedp.SetValue("#req-received", received, chromedp.ByQuery),
			chromedp.SendKeys("#req-description", "punainen takki, pihaportti noin klo 10.05", chromedp.ByQuery),
			shot(n+"-form"),
			chromedp.Click("#req-submit", chromedp.ByQuery),
			chromedp.WaitVisible("#req-state", chromedp.ByQuery),
			chromedp.Location(&url),
			shot(n+"-registered"),
		)
		return url
	}
	first := register("1", "TP-2026-7", "2026-10-31T09:30")
	var deadline, free, verified string
	run("first request page",
		chromedp.Text("#req-deadline-shown", &deadline, chromedp.ByQuery),
		chromedp.Text("#req-free", &free, chromedp.ByQuery),
		chromedp.Text("#req-verified-by-shown", &verified, chromedp.ByQuery),
	)
	// Received 31 October: due at the end of 30 November (no 31st).
	if !strings.Contains(deadline, "30.11.2026 klo 23.59.59") || !strings.Contains(free, "Maksuton") || verified != "boss" {
		t.Errorf("first request: deadline %q, free %q, verified by %q", deadline, free, verified)
	}
	_ = first

	second := register("2", "TP-2026-8", "2026-11-21T09:30")
	run("second request page", chromedp.Text("#req-free", &free, chromedp.ByQuery))
	if !strings.Contains(free, "1 aiempaa pyyntöä") {
		t.Errorf("second request within a year: %q", free)
	}
	// Refusal: the form will not go without a ground.
	var errText, state string
	run("refuse without a ground",
		chromedp.Click("#close-release", chromedp.ByQuery),
		chromedp.SetValue("#close-outcome", "refused", chromedp.ByQuery),
		chromedp.SendKeys("#close-reason", "Muita asukkaita näkyy koko ajan.", chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("close-form").submit(); true`, nil), // skips the browser's own check
		chromedp.WaitVisible("p.error", chromedp.ByQuery),
		chromedp.Text("p.error", &errText, chromedp.ByQuery),
	)
	if !strings.Contains(errText, "hylkäysperuste") {
		t.Errorf("refusal without a ground: %q", errText)
	}
	run("refuse",
		chromedp.Navigate(second),
		chromedp.WaitVisible("#close-form", chromedp.ByQuery),
		chromedp.Click("#close-release", chromedp.ByQuery),
		chromedp.SetValue("#close-outcome", "refused", chromedp.ByQuery),
		chromedp.SetValue("#close-ground", "third-party", chromedp.ByQuery),
		chromedp.SendKeys("#close-reason", "Muita asukkaita ja lapsia näkyy koko ajan.", chromedp.ByQuery),
		chromedp.Click("#close-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#req-letter", chromedp.ByQuery),
		chromedp.Text("#req-state", &state, chromedp.ByQuery),
	)
	if state != "hylätty" {
		t.Errorf("state after refusal: %q", state)
	}
	var omb, ground, basis, printed, border string
	var pdf []byte
	run("letter",
		chromedp.Click("#req-letter", chromedp.ByQuery),
		chromedp.WaitVisible("#letter", chromedp.ByQuery),
		chromedp.Text("#letter-ombudsman", &omb, chromedp.ByQuery),
		chromedp.Text("#letter-ground", &ground, chromedp.ByQuery),
		chromedp.Text("#letter-basis", &basis, chromedp.ByQuery),
		// The print style applies (the CSP forbids an inline one).
		chromedp.Evaluate(`getComputedStyle(document.getElementById("letter-ombudsman")).borderTopStyle`, &border),
		chromedp.Evaluate(`window.print = function(){ window.__printed = "yes"; }; true`, nil),
		chromedp.Click("#print-letter", chromedp.ByQuery),
		chromedp.Evaluate(`String(window.__printed)`, &printed),
		shot("3-letter"),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			pdf, _, err = cdppage.PrintToPDF().WithPreferCSSPageSize(true).Do(ctx)
			return err
		}),
	)
	for _, s := range []string{"Tietosuojavaltuutetun toimisto", "PL 800, 00531 Helsinki", "tietosuoja@om.fi", "029 566 6700", "www.tietosuoja.fi"} {
		if !strings.Contains(omb, s) {
			t.Errorf("the letter's Ombudsman box lacks %q: %q", s, omb)
		}
	}
	if !strings.Contains(ground, "muiden oikeuksiin") || !strings.Contains(basis, "15 artiklan 4 kohta") || printed != "yes" || border != "solid" {
		t.Errorf("letter: ground %q, basis %q, print %q, box border %q", ground, basis, printed, border)
	}
	run("letter in English",
		chromedp.Click("#letter-en", chromedp.ByQuery),
		chromedp.WaitVisible("#letter", chromedp.ByQuery),
		chromedp.Text("#letter-ombudsman", &omb, chromedp.ByQuery),
		chromedp.Text("#letter-basis", &basis, chromedp.ByQuery),
		shot("4-letter-en"),
	)
	if !strings.Contains(omb, "Office of the Data Protection Ombudsman") || !strings.Contains(basis, "Article 15(4)") {
		t.Errorf("English letter: %q / %q", omb, basis)
	}
	pdfPath := filepath.Join(shots, "access-letter.pdf")
	if err := os.WriteFile(pdfPath, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := exec.LookPath("pdftotext"); err == nil {
		out, err := exec.Command(p, pdfPath, "-").Output()
		flat := strings.Join(strings.Fields(string(out)), " ")
		if err != nil || !strings.Contains(flat, "Tietosuojavaltuutetun toimisto") || !strings.Contains(flat, "PL 800, 00531 Helsinki") {
			t.Errorf("the printed letter's text: %v %q", err, flat)
		}
	}
	if n := len(h.auditEntries("request.letter")); n != 2 {
		t.Errorf("request.letter audited %d times, want 2", n)
	}
}
