package main

import (
	"strings"
	"testing"
	"time"
)

// A camera added by a live reload shows in the admin UI without a restart:
// in the API's camera list, on the dashboard, its day and play pages and
// the export and hold forms; and an export of it reaches the exporter
// (refused for having no footage, not as an unknown camera).
func TestReloadedCameraInAdminUI(t *testing.T) {
	c := newCLI(t, "yard")
	const pw = "kolme iloista kilpikonnaa"
	if _, errs, code := c.run(pw+"\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper"); code != 0 {
		t.Fatal(errs)
	}
	s := startService(t, c, "")
	b := newBrowser(t, strings.TrimSuffix(s.adminURL, "/"))
	b.login("liisa", pw)
	if code, _, _ := b.do("GET", "/cameras/gate", nil); code != 404 {
		t.Fatalf("gate's day page before the reload: %d", code)
	}

	editConfig(t, c, "admin:\n", "  - id: gate\n    name: Portti\n    purpose: sisäänkäynnin valvonta\n    url: rtsp://127.0.0.1:1/gate\nadmin:\n")
	pollUntil(t, 10*time.Second, "gate in /api/v1/cameras", func() bool {
		_, body, _ := b.do("GET", "/api/v1/cameras", nil)
		return strings.Contains(body, `"id":"gate"`)
	})
	_, body, _ := b.do("GET", "/api/v1/cameras", nil)
	if !strings.Contains(body, `"id":"yard"`) || !strings.Contains(body, `"purpose":"sisäänkäynnin valvonta"`) {
		t.Errorf("cameras after the reload: %s", body)
	}
	for path, want := range map[string]string{
		"/":                  "Portti",
		"/cameras/gate":      "Portti",
		"/cameras/gate/play": "Portti",
		"/exports":           `value="gate"`,
		"/holds":             `value="gate"`,
	} {
		code, page, _ := b.do("GET", path, nil)
		if code != 200 || !strings.Contains(page, want) {
			t.Errorf("GET %s after the reload: %d, has %q: %v", path, code, want, strings.Contains(page, want))
		}
	}
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().UTC().Format(time.RFC3339)
	code, body, _ := b.do("POST", "/api/v1/exports", map[string]any{"cameras": []string{"gate"}, "from": from, "to": to,
		"reason": "testi", "case_ref": "T-1"})
	if code == 200 || strings.Contains(body, "unknown camera") || !strings.Contains(body, "footage") {
		t.Errorf("export of the new camera: %d %s", code, body)
	}
	// Still nothing else: an unconfigured camera stays unknown.
	if code, _, _ := b.do("GET", "/api/v1/cameras/ghost/day", nil); code != 404 {
		t.Errorf("an unconfigured camera's day: %d", code)
	}
}
