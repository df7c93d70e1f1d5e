package admin

import (
	"strings"
	"testing"
)

// Each camera's purpose, from the config, is on its day and play pages and
// beside it on the export and hold forms, labelled in the user's language.
func TestPurposeOnDayPlayExportHoldPages(t *testing.T) {
	h := newHarness(t)
	k := h.login("keeper")
	pages := map[string][]string{
		"/cameras/yard":      {"Turvallisuus pihalla"},
		"/cameras/lobby":     {"Turvallisuus aulassa"},
		"/cameras/yard/play": {"Turvallisuus pihalla"},
		"/exports":           {"Turvallisuus pihalla", "Turvallisuus aulassa"},
		"/holds":             {"Turvallisuus pihalla", "Turvallisuus aulassa"},
	}
	check := func(lang, label string) {
		t.Helper()
		for path, wants := range pages {
			res, body := k.do("GET", path, nil)
			if res.StatusCode != 200 {
				t.Fatalf("%s GET %s: %d", lang, path, res.StatusCode)
			}
			for _, want := range wants {
				if !strings.Contains(string(body), label+": "+want) {
					t.Errorf("%s GET %s: no %q", lang, path, label+": "+want)
				}
			}
		}
	}
	check("fi", tr("fi", "camera.purpose"))
	if res, body := k.do("POST", "/account/lang", formBody("lang=en&next=/")); res.StatusCode != 303 {
		t.Fatalf("set lang: %d %s", res.StatusCode, body)
	}
	check("en", tr("en", "camera.purpose"))
	if tr("fi", "camera.purpose") == tr("en", "camera.purpose") {
		t.Error("the label is not translated")
	}
}
