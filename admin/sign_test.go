package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"vahti/configs"
)

var testController = configs.Controller{
	Name:          "Ensikoti <Esimerkki> ry",
	Address:       "Esimerkkikatu 1, 00100 Helsinki",
	Contact:       "Toiminnanjohtaja",
	Email:         "tietosuoja@example.fi",
	Phone:         "+358 9 123 4567",
	PrivacyNotice: "https://example.fi/tietosuoja",
}

// withController gives the harness's config the controller block, a
// disabled camera and one kept a shorter time, plus extra cameras.
func withController(extra int) harnessOpt {
	return func(c *Config) {
		cfg := c.Cfg
		cfg.Controller = testController
		cfg.Cameras = append(cfg.Cameras,
			configs.Camera{ID: "garage", Name: "Autotalli", Purpose: "Ajoneuvojen suojaaminen", URL: "rtsp://127.0.0.1/g", MaxAge: configs.Duration(7 * 24 * time.Hour)},
			configs.Camera{ID: "old", Name: "Vanha", Purpose: "Ei käytössä oleva kamera", URL: "rtsp://127.0.0.1/o", Disabled: true})
		for i := 0; i < extra; i++ {
			cfg.Cameras = append(cfg.Cameras, configs.Camera{ID: fmt.Sprintf("c%d", i), Name: fmt.Sprintf("Käytävä %d", i),
				Purpose: fmt.Sprintf("Asukkaiden ja henkilökunnan turvallisuus käytävällä %d", i), URL: "rtsp://127.0.0.1/c"})
		}
	}
}

// The sign lists the controller, every recording camera's purpose and its
// retention, the access contact and the privacy notice, in Finnish,
// Swedish and English; config text is escaped.
func TestSignContent(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	withController(0)(&Config{Cfg: cfg})
	var buf bytes.Buffer
	if err := WriteSign(&buf, cfg, SignOptions{Standalone: true}); err != nil {
		t.Fatal(err)
	}
	raw := buf.String()
	page := html.UnescapeString(raw)
	for _, want := range []string{
		"Turvallisuus pihalla", "Turvallisuus aulassa", "Ajoneuvojen suojaaminen", // every enabled camera's purpose
		"Piha", "Aula", "Autotalli",
		testController.Name, testController.Address, testController.Contact, testController.Email,
		testController.Phone, testController.PrivacyNotice,
		"28 vrk · 28 dygn · 28 days", "7 vrk · 7 dygn · 7 days",
		trf("fi", "sign.retentiontext", 28), trf("sv", "sign.retentiontext", 28), trf("en", "sign.retentiontext", 28),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the sign has no %q", want)
		}
	}
	for _, key := range []string{"sign.title", "sign.controller", "sign.purposes", "sign.retention", "sign.access", "sign.accesstext", "sign.notice", "sign.noticetext"} {
		for _, lang := range []string{"fi", "sv", "en"} {
			if !strings.Contains(page, tr(lang, key)) {
				t.Errorf("the sign has no %s %s (%q)", lang, key, tr(lang, key))
			}
		}
	}
	if strings.Contains(page, "Ei käytössä oleva kamera") {
		t.Error("a disabled camera, which records nothing, is on the sign")
	}
	if !strings.Contains(raw, "Ensikoti &lt;Esimerkki&gt; ry") || strings.Contains(raw, "<Esimerkki>") || strings.Contains(page, "[[") {
		t.Error("unescaped config text or a missing translation on the sign")
	}
	if !strings.Contains(page, "<style>") || strings.Contains(page, `href="/static/sign.css"`) {
		t.Error("the standalone sign does not carry its style sheet")
	}

	cfg.Controller = configs.Controller{}
	if err := WriteSign(&buf, cfg, SignOptions{}); !errors.Is(err, ErrNoController) {
		t.Errorf("no controller: %v", err)
	}
}

// Every text of the sign is in all three languages, with the same verbs.
func TestSignCatalogComplete(t *testing.T) {
	n := 0
	for k, fi := range catalogFI {
		if !strings.HasPrefix(k, "sign.") {
			continue
		}
		n++
		sv, ok := catalogSV[k]
		if !ok || strings.Count(sv, "%") != strings.Count(fi, "%") {
			t.Errorf("sv %s: %q", k, sv)
		}
	}
	if n < 10 || len(catalogSV) < n {
		t.Errorf("%d sign keys in Finnish, %d in Swedish", n, len(catalogSV))
	}
}

// /sign is for any logged-in role and nobody else; it links its style
// sheet (the CSP allows no inline style) and says what is missing when the
// controller block is not there.
func TestSignPage(t *testing.T) {
	h := newHarness(t, withController(0))
	for _, who := range []string{"keeper", "dpo", "admin"} {
		res, body := h.login(who).do("GET", "/sign", nil)
		if res.StatusCode != 200 || !strings.Contains(string(body), "Ajoneuvojen suojaaminen") || !strings.Contains(string(body), "28 days") {
			t.Errorf("%s GET /sign: %d", who, res.StatusCode)
		}
		if strings.Contains(string(body), "<style") || !strings.Contains(string(body), `href="/static/sign.css"`) {
			t.Errorf("%s: /sign inlines its style, which the CSP refuses", who)
		}
	}
	if res, _ := h.anon().do("GET", "/sign", nil); res.StatusCode != 303 {
		t.Errorf("anonymous /sign: %d", res.StatusCode)
	}
	if res, _ := h.anon().do("GET", "/static/sign.css", nil); res.StatusCode != 200 {
		t.Errorf("/static/sign.css: %d", res.StatusCode)
	}

	h2 := newHarness(t)
	res, body := h2.login("keeper").do("GET", "/sign", nil)
	if res.StatusCode != 409 || !strings.Contains(string(body), "controller") {
		t.Errorf("/sign without a controller block: %d %s", res.StatusCode, body)
	}
}

var (
	pdfPageRe  = regexp.MustCompile(`/Type\s*/Page\b[^s]`)
	pdfMediaRe = regexp.MustCompile(`/MediaBox\s*\[\s*0\s+0\s+([0-9.]+)\s+([0-9.]+)\s*\]`)
)

// pdfPages counts a Chromium PDF's pages and returns the first page's size
// in millimetres.
func pdfPages(t *testing.T, pdf []byte) (int, float64, float64) {
	t.Helper()
	if !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Fatalf("not a PDF: %.20q", pdf)
	}
	m := pdfMediaRe.FindSubmatch(pdf)
	if m == nil {
		t.Fatal("no MediaBox in the PDF")
	}
	w, _ := strconv.ParseFloat(string(m[1]), 64)
	hh, _ := strconv.ParseFloat(string(m[2]), 64)
	return len(pdfPageRe.FindAll(pdf, -1)), w / 72 * 25.4, hh / 72 * 25.4
}

// A real Chromium prints the sign, from /sign and from the file `vahti
// sign` writes, as exactly one A4 page, with 16 cameras on it.
func TestBrowserSignPrintsOneA4Page(t *testing.T) {
	shots := artifactDir(t)
	h := newHarness(t, withController(14))
	file := filepath.Join(t.TempDir(), "kyltti.html")
	var buf bytes.Buffer
	if err := WriteSign(&buf, h.cfg, SignOptions{Standalone: true, Printed: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file, buf.Bytes(), 0o644)
	os.WriteFile(filepath.Join(shots, "sign.html"), buf.Bytes(), 0o644)

	ctx := startChromium(t)
	printPDF := func(what string, actions ...chromedp.Action) []byte {
		t.Helper()
		var pdf []byte
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		actions = append(actions, chromedp.WaitVisible("#sign", chromedp.ByQuery),
			chromedp.ActionFunc(func(ctx context.Context) error {
				var err error
				pdf, _, err = cdppage.PrintToPDF().WithPreferCSSPageSize(true).WithPrintBackground(true).Do(ctx)
				return err
			}))
		if err := chromedp.Run(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return pdf
	}
	login := []chromedp.Action{
		chromedp.Navigate(h.ts.URL + "/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#name", "dpo", chromedp.ByQuery),
		chromedp.SendKeys("#password", testPassword, chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#logout", chromedp.ByQuery),
		chromedp.Navigate(h.ts.URL + "/sign"),
	}
	for name, pdf := range map[string][]byte{
		"page": printPDF("/sign", login...),
		"file": printPDF("the vahti sign file", chromedp.Navigate("file://"+file)),
	} {
		os.WriteFile(filepath.Join(shots, "sign-"+name+".pdf"), pdf, 0o644)
		n, w, hh := pdfPages(t, pdf)
		if n != 1 {
			t.Errorf("%s: the sign prints on %d pages, want 1", name, n)
		}
		if w < 209 || w > 211 || hh < 296 || hh > 298 {
			t.Errorf("%s: page %.1f × %.1f mm, want A4 (210 × 297)", name, w, hh)
		}
	}
}
