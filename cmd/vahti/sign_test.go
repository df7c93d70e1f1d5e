package main

import (
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `vahti sign` writes the standalone sign of the config: every camera's
// purpose, the retention in three languages and the controller; without a
// controller block it refuses and says which block is missing.
func TestSignCommand(t *testing.T) {
	c := newCLI(t, "yard", "lobby")
	out := filepath.Join(c.dir, "kyltti.html")
	_, errs, code := c.run("", "sign", "--config", "$CONFIG", "--out", out)
	if code == 0 || !strings.Contains(errs, "controller") {
		t.Fatalf("sign without a controller block: code %d, %s", code, errs)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused sign left a file")
	}

	f, _ := os.OpenFile(c.config, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("controller:\n  name: Turvakoti Esimerkki\n  address: Esimerkkitie 2, 33100 Tampere\n" +
		"  phone: \"03 123 4567\"\n  privacy_notice: toimiston ilmoitustaulu\n")
	f.Close()
	c.ok("sign", "--config", "$CONFIG", "--out", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(string(b))
	for _, want := range []string{"Turvakoti Esimerkki", "Esimerkkitie 2", "03 123 4567", "toimiston ilmoitustaulu",
		"yard", "lobby", "test", "28 vuorokauden", "28 dygn", "28 days", "<style>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the sign file has no %q", want)
		}
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o644 {
		t.Errorf("sign file mode %v", fi.Mode().Perm())
	}
	// To standard output without --out.
	if s := c.ok("sign", "--config", "$CONFIG"); !strings.Contains(s, "Turvakoti Esimerkki") {
		t.Errorf("sign to stdout: %.200s", s)
	}
	if _, errs, code := c.run("", "sign", "--config", "$CONFIG", "extra"); code == 0 {
		t.Errorf("sign with an argument: %s", errs)
	}
}
