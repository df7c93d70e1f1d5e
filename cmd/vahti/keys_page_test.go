package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"vahti/registry"
	"vahti/seal"
)

// TestRecoveryKeySheet: keys init --page html|pdf prints the recovery key
// as an A4 sheet on stdout; the key on the sheet opens the site key; the
// PDF carries it as text (pdftotext); nothing with the key is left on the
// box: not in state_dir, not in /dev/shm where Chromium printed.
func TestRecoveryKeySheet(t *testing.T) {
	opens := func(t *testing.T, c *cli, key string) {
		t.Helper()
		rk, err := seal.ParseRecoveryKey(key)
		if err != nil {
			t.Fatalf("the sheet's key %q: %v", key, err)
		}
		db, err := registry.Open(filepath.Join(c.dir, "state"), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.View(context.Background(), func(tx *registry.Tx) error {
			ring, err := seal.UnlockRecovery(mustSite(t, tx), mustRecoveryWrap(t, tx), rk)
			if err == nil {
				ring.Wipe()
			}
			return err
		}); err != nil {
			t.Fatalf("the sheet's key does not open the site key: %v", err)
		}
		filepath.WalkDir(c.dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(key)) {
					t.Errorf("the recovery key is on the box in %s", p)
				}
			}
			return nil
		})
	}

	t.Run("html", func(t *testing.T) {
		c := newCLI(t)
		out := c.ok("keys", "init", "--config", "$CONFIG", "--page", "html")
		m := regexp.MustCompile(`id="recovery-key"><div>([A-Z2-7-]+)</div><div>([A-Z2-7-]+)</div>`).FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, "@page { size: A4") || !strings.Contains(out, "kassakaapissa") || !strings.Contains(out, "safe") {
			t.Fatalf("not the sheet:\n%s", out)
		}
		opens(t, c, m[1]+"-"+m[2])
	})

	t.Run("pdf", func(t *testing.T) {
		needTool(t, "chromium")
		needTool(t, "pdftotext")
		c := newCLI(t)
		before, _ := filepath.Glob("/dev/shm/vahti-recovery-*")
		out := c.ok("keys", "init", "--config", "$CONFIG", "--page", "pdf")
		if !strings.HasPrefix(out, "%PDF-") {
			t.Fatalf("stdout is not a PDF: %.40q", out)
		}
		pdf := filepath.Join(t.TempDir(), "sheet.pdf") // the test's copy, off the box's state
		if err := os.WriteFile(pdf, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		text, err := exec.Command("pdftotext", pdf, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		// Two lines of seven whole groups, as a person would type them.
		m := regexp.MustCompile(`([A-Z2-7]{4}(?:-[A-Z2-7]{4}){6})\s+([A-Z2-7]{4}(?:-[A-Z2-7]{4}){6})`).FindStringSubmatch(string(text))
		if m == nil {
			t.Fatalf("no recovery key in two lines of whole groups in the PDF's text:\n%s", text)
		}
		opens(t, c, m[1]+"-"+m[2])
		if after, _ := filepath.Glob("/dev/shm/vahti-recovery-*"); len(after) != len(before) {
			t.Errorf("the RAM folder was left: %v", after)
		}
	})

	t.Run("pdf and json refused before any key is made", func(t *testing.T) {
		c := newCLI(t)
		c.fail("keys", "init", "--config", "$CONFIG", "--page", "pdf", "--json")
		c.ok("keys", "init", "--config", "$CONFIG", "--json") // still the first init
	})
}

func mustSite(t *testing.T, tx *registry.Tx) seal.SitePublicKey {
	t.Helper()
	s, err := tx.SealSiteKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := seal.ParseSitePublicKey(s.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func mustRecoveryWrap(t *testing.T, tx *registry.Tx) []byte {
	t.Helper()
	w, err := tx.RecoveryWrap()
	if err != nil {
		t.Fatal(err)
	}
	return w
}
