package configs

import (
	"strings"
	"testing"
)

const controllerBase = "state_dir: /s\nstorage: {root: /r}\ncameras: [{id: a, purpose: p, url: \"rtsp://h/a\"}]\n"

// A complete controller block parses; the example config has one.
func TestControllerBlock(t *testing.T) {
	c, err := Parse([]byte(controllerBase+`controller:
  name: Ensikoti Esimerkki ry
  address: Esimerkkikatu 1, 00100 Helsinki
  email: tietosuoja@example.fi
  privacy_notice: toimiston ilmoitustaulu
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Controller.Configured() || c.Controller.Name != "Ensikoti Esimerkki ry" || c.Controller.PrivacyNotice != "toimiston ilmoitustaulu" {
		t.Errorf("controller: %+v", c.Controller)
	}
	ex, err := Parse(Example, func(string) string { return "x" })
	if err != nil {
		t.Fatalf("example: %v", err)
	}
	if !ex.Controller.Configured() || ex.Controller.Email == "" {
		t.Errorf("the example has no controller: %+v", ex.Controller)
	}
	// Without the block there is no sign, but the config is valid.
	if c, err := Parse([]byte(controllerBase), nil); err != nil || c.Controller.Configured() {
		t.Errorf("no controller block: %v %+v", err, c)
	}
}

// Each bad controller field is named by its key.
func TestControllerErrorsByKey(t *testing.T) {
	for _, tc := range []struct{ yaml, key, want string }{
		{"controller: {email: a@b.fi, privacy_notice: x, address: y}", "controller.name", "required"},
		{"controller: {name: n, email: a@b.fi, privacy_notice: x}", "controller.address", "required"},
		{"controller: {name: n, address: y, email: a@b.fi}", "controller.privacy_notice", "required"},
		{"controller: {name: n, address: y, privacy_notice: x}", "controller.email", "an email or a phone"},
		{"controller: {name: n, address: y, privacy_notice: x, email: \"Maija <m@b.fi>\"}", "controller.email", "plain address"},
		{"controller: {name: n, address: y, privacy_notice: x, email: not-an-address}", "controller.email", "plain address"},
		{"controller: {name: n, address: y, privacy_notice: x, phone: \"call me\"}", "controller.phone", "only digits"},
		{"controller: {name: n, address: y, privacy_notice: x, phone: \"12\"}", "controller.phone", "too few digits"},
		{"controller: {name: n, address: y, privacy_notice: \"javascript://x\", phone: \"09 123 4567\"}", "controller.privacy_notice", "http(s)"},
		{"controller: {name: \"a\\nb\", address: y, privacy_notice: x, phone: \"09 123 4567\"}", "controller.name", "one line"},
		{"controller: {name: " + strings.Repeat("x", 201) + ", address: y, privacy_notice: x, phone: \"09 123 4567\"}", "controller.name", "longer than 200"},
		{"controller: {nme: n}", "nme", "unknown key"},
	} {
		msg := problems(t, []byte(controllerBase+tc.yaml+"\n"))
		if !strings.Contains(msg, tc.key) || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: want %s … %s in:\n%s", tc.yaml, tc.key, tc.want, msg)
		}
	}
}
