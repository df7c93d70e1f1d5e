package main

import (
	"archive/zip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"vahti/admin/export"
)

// ageDecrypt runs Debian's age -d on in with the passphrase. age reads a
// passphrase only from the terminal, so script(1) gives it one: the
// passphrase goes in on script's stdin, which it feeds to the pty.
func ageDecrypt(t *testing.T, in, out, passphrase string) error {
	t.Helper()
	cmd := exec.Command("script", "-qec", "age -d -o '"+out+"' '"+in+"'", "/dev/null")
	cmd.Stdin = strings.NewReader(passphrase + "\n")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("age -d: %s", b)
	}
	return err
}

// TestExportAge: --passphrase-file writes the package encrypted with age
// (scrypt) as OUT.age and no plain zip beside it; Debian's age -d opens
// it with the passphrase and not without; the zip inside verifies, and its
// signed manifest says it travelled encrypted; verify-export opens the
// .age itself with the passphrase file.
func TestExportAge(t *testing.T) {
	needTool(t, "age")
	needTool(t, "script")
	c := newCLI(t)
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	catalogFFmpegSegments(t, c, base)
	const passphrase = "sininen kettu hyppää aidan yli"
	pf := filepath.Join(c.dir, "pass.txt")
	os.WriteFile(pf, []byte(passphrase+"\n"), 0o600)
	short := filepath.Join(c.dir, "short.txt")
	os.WriteFile(short, []byte("lyhyt\n"), 0o600)
	out := filepath.Join(t.TempDir(), "case.zip")
	args := []string{"export", "--config", "$CONFIG", "--camera", "yard", "--from", base.Format(time.RFC3339),
		"--to", base.Add(6 * time.Second).Format(time.RFC3339), "--reason", "poliisin pyyntö", "--out", out}

	if errs := c.fail(append(args, "--passphrase-file", short)...); !strings.Contains(errs, "at least") {
		t.Errorf("short passphrase: %s", errs)
	}
	stdout := c.ok(append(args, "--passphrase-file", pf)...)
	if !strings.Contains(stdout, out+".age") {
		t.Errorf("export output does not name the .age file: %s", stdout)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a plain %s was written beside the encrypted one (%v)", out, err)
	}
	enc, err := os.ReadFile(out + ".age")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(enc), "age-encryption.org/v1\n-> scrypt ") {
		t.Fatalf("not an age scrypt file: %.40q", enc)
	}

	plain := filepath.Join(t.TempDir(), "case.zip")
	if ageDecrypt(t, out+".age", filepath.Join(t.TempDir(), "wrong.zip"), "väärä salalause tässä") == nil {
		t.Error("age -d opened the package with a wrong passphrase")
	}
	if err := ageDecrypt(t, out+".age", plain, passphrase); err != nil {
		t.Fatalf("age -d with the passphrase: %v", err)
	}
	if v := c.ok("verify-export", plain); !strings.HasPrefix(v, "OK:") {
		t.Errorf("verify-export of the decrypted zip: %s", v)
	}
	zr, err := zip.OpenReader(plain)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var man export.Manifest
	for _, f := range zr.File {
		if f.Name == export.ManifestName {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			json.Unmarshal(b, &man)
		}
	}
	if man.Encryption != export.EncryptionAgeScrypt {
		t.Errorf("manifest encryption %q, want %q", man.Encryption, export.EncryptionAgeScrypt)
	}

	if v := c.ok("verify-export", out+".age", "--passphrase-file", pf); !strings.HasPrefix(v, "OK:") {
		t.Errorf("verify-export --passphrase-file: %s", v)
	}
	if errs := c.fail("verify-export", out+".age"); !strings.Contains(errs, "--passphrase-file") {
		t.Errorf("verify-export of a .age without the passphrase: %s", errs)
	}
	wrong := filepath.Join(c.dir, "wrong.txt")
	os.WriteFile(wrong, []byte("väärä salalause tässä\n"), 0o600)
	if errs := c.fail("verify-export", out+".age", "--passphrase-file", wrong); !strings.Contains(errs, "wrong passphrase") {
		t.Errorf("verify-export with a wrong passphrase: %s", errs)
	}

	// request export takes the same flag.
	var q struct {
		Request struct {
			ID int64 `json:"id"`
		} `json:"request"`
	}
	json.Unmarshal([]byte(c.ok("request", "add", "--json", "--config", "$CONFIG", "--kind", "police", "--camera", "yard",
		"--from", base.Format(time.RFC3339), "--to", base.Add(6*time.Second).Format(time.RFC3339),
		"--reference", "1234/R/5678/26", "--basis", "esitutkintalaki")), &q)
	rout := filepath.Join(t.TempDir(), "request.zip")
	c.ok("request", "export", strconv.FormatInt(q.Request.ID, 10), "--config", "$CONFIG", "--out", rout, "--passphrase-file", pf)
	if v := c.ok("verify-export", rout+".age", "--passphrase-file", pf); !strings.HasPrefix(v, "OK:") {
		t.Errorf("verify-export of the request's encrypted package: %s", v)
	}
	if n := len(auditOf(t, c, kindExportEncrypt)); n != 2 {
		t.Errorf("%d export.encrypt audit entries, want 2", n)
	}
}
