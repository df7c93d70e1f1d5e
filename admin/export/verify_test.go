package export

import (
	"archive/zip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rewriteZip copies a package, letting edit change, drop (nil) or add entries.
func rewriteZip(t *testing.T, src string, edit func(name string, b []byte) []byte, add map[string][]byte) string {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	dst := filepath.Join(t.TempDir(), "edited.zip")
	f, _ := os.Create(dst)
	zw := zip.NewWriter(f)
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if b = edit(zf.Name, b); b == nil {
			continue
		}
		w, _ := zw.Create(zf.Name)
		w.Write(b)
	}
	for name, b := range add {
		w, _ := zw.Create(name)
		w.Write(b)
	}
	zw.Close()
	f.Close()
	return dst
}

func TestVerifyNamesWhatFails(t *testing.T) {
	e := newEnv(t)
	e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 4}), 0, 2)
	_, pkg := e.export([]string{"yard"}, 0, 4*time.Second)
	r, err := VerifyPackage(pkg)
	if err != nil || !r.OK || len(r.Clips) != 1 || !strings.HasPrefix(r.Fingerprint, "SHA256:") {
		t.Fatalf("intact package: %+v %v", r, err)
	}
	pub, _ := PublicKeyString(e.state)
	if _, err := VerifyPackageKey(pkg, pub); err != nil {
		t.Errorf("with the box's key: %v", err)
	}
	if _, err := VerifyPackageKey(pkg, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl other"); err == nil {
		t.Error("accepted a signature by another key than the expected one")
	}
	flip := func(target string) func(string, []byte) []byte {
		return func(name string, b []byte) []byte {
			if name == target {
				b[len(b)/2] ^= 1
			}
			return b
		}
	}
	cases := []struct {
		name, zip, want string
	}{
		{"clip byte flipped", rewriteZip(t, pkg, flip("yard.mp4"), nil), "yard.mp4: SHA-256"},
		{"manifest byte flipped", rewriteZip(t, pkg, flip(ManifestName), nil), SignatureName},
		{"signature byte flipped", rewriteZip(t, pkg, flip(SignatureName), nil), SignatureName},
		{"clip missing", rewriteZip(t, pkg, func(n string, b []byte) []byte {
			if n == "yard.mp4" {
				return nil
			}
			return b
		}, nil), "yard.mp4: missing"},
		{"extra file", rewriteZip(t, pkg, func(_ string, b []byte) []byte { return b }, map[string][]byte{"extra.mp4": []byte("x")}), "extra.mp4: extra file"},
		{"other allowed_signers", rewriteZip(t, pkg, func(n string, b []byte) []byte {
			if n == AllowedSignersName {
				return []byte("vahti ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
			}
			return b
		}, nil), AllowedSignersName},
	}
	for _, c := range cases {
		r, err := VerifyPackage(c.zip)
		if err == nil || r.OK {
			t.Errorf("%s: verified", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not name %q", c.name, err, c.want)
		}
	}
}

// The package verifies with stock OpenSSH, as README.txt tells a recipient.
func TestSSHKeygenVerifiesManifest(t *testing.T) {
	needTool(t, "ssh-keygen")
	e := newEnv(t)
	e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", seconds: 4}), 0, 2)
	_, pkg := e.export([]string{"yard"}, 0, 2*time.Second)
	dir := unzip(t, pkg)
	verify := func() (string, error) {
		cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", SignerID, "-n", Namespace, "-s", SignatureName)
		cmd.Dir = dir
		m, _ := os.Open(filepath.Join(dir, ManifestName))
		defer m.Close()
		cmd.Stdin = m
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil {
		t.Fatalf("ssh-keygen -Y verify: %v\n%s", err, out)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, ReadmeName))
	for _, want := range []string{"ssh-keygen -Y verify -f allowed_signers -I vahti -n vahti-export -s manifest.json.sig < manifest.json", "SUOMEKSI", "IN ENGLISH", "SHA256:"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.txt lacks %q", want)
		}
	}
	// Our verifier agrees with OpenSSH on a signature OpenSSH made.
	key := filepath.Join(e.state, KeyFile)
	other := filepath.Join(t.TempDir(), "m.json")
	os.WriteFile(other, []byte("hello"), 0o644)
	if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-f", key, "-n", Namespace, other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v %s", err, out)
	}
	sig, _ := os.ReadFile(other + ".sig")
	if _, err := VerifySSHSIG(sig, Namespace, []byte("hello")); err != nil {
		t.Errorf("VerifySSHSIG of an ssh-keygen signature: %v", err)
	}
	if _, err := VerifySSHSIG(sig, "git", []byte("hello")); err == nil {
		t.Error("accepted a signature for another namespace")
	}
	// A changed manifest fails with ssh-keygen too.
	b, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	os.WriteFile(filepath.Join(dir, ManifestName), append(b, ' '), 0o644)
	if out, err := verify(); err == nil {
		t.Errorf("ssh-keygen verified an altered manifest: %s", out)
	}
}
