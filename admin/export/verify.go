package export

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
)

// VerifyResult is what VerifyPackage found.
type VerifyResult struct {
	OK          bool      `json:"ok"`
	PackageID   string    `json:"package_id,omitempty"`
	PublicKey   string    `json:"public_key,omitempty"`  // the key that signed manifest.json
	Fingerprint string    `json:"fingerprint,omitempty"` // compare with `vahti pubkey` on the box
	Clips       []string  `json:"clips,omitempty"`       // clips whose hash matched
	Problems    []string  `json:"problems,omitempty"`    // each names the file that fails
	Manifest    *Manifest `json:"-"`
}

// VerifyPackage checks a package offline: the manifest's SSHSIG signature
// (namespace vahti-export, by the key in allowed_signers), every clip's
// SHA-256 and size against the manifest, and that no file is missing or
// extra. It returns an error naming every failure; the result is filled
// either way. Whether the signing key is the box's own is for the caller to
// compare (Fingerprint); see also VerifyPackageKey.
func VerifyPackage(zipPath string) (VerifyResult, error) {
	return VerifyPackageKey(zipPath, "")
}

// VerifyPackageKey is VerifyPackage that also requires the signature to be
// made by wantKey (an authorized_keys line, e.g. from `vahti pubkey`), if
// not empty.
func VerifyPackageKey(zipPath, wantKey string) (VerifyResult, error) {
	var r VerifyResult
	fail := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	done := func() (VerifyResult, error) {
		r.OK = len(r.Problems) == 0
		if r.OK {
			return r, nil
		}
		return r, fmt.Errorf("%s: verification failed:\n  %s", zipPath, strings.Join(r.Problems, "\n  "))
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return r, fmt.Errorf("%s: %w", zipPath, err)
	}
	defer zr.Close()
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		if _, dup := files[f.Name]; dup {
			fail("%s: appears twice in the zip", f.Name)
		}
		files[f.Name] = f
	}
	small := func(name string) []byte {
		f := files[name]
		if f == nil {
			fail("%s: missing", name)
			return nil
		}
		rc, err := f.Open()
		if err != nil {
			fail("%s: %v", name, err)
			return nil
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
		if err != nil {
			fail("%s: unreadable: %v", name, err)
			return nil
		}
		return b
	}
	mj := small(ManifestName)
	sig := small(SignatureName)
	allowed := small(AllowedSignersName)
	small(ReadmeName)
	if mj == nil {
		return done()
	}
	// Signature first: an unsigned manifest's hashes prove nothing.
	if sig != nil {
		pub, err := VerifySSHSIG(sig, Namespace, mj)
		if err != nil {
			fail("%s: %v (manifest.json altered or signature not Vahti's)", SignatureName, err)
		} else {
			r.PublicKey, r.Fingerprint = authorizedLine(pub), Fingerprint(pub)
			if allowed != nil && !allowedSignersHas(allowed, pub) {
				fail("%s: does not list the key that signed manifest.json (%s)", AllowedSignersName, r.Fingerprint)
			}
			if wantKey != "" {
				want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(wantKey))
				if err != nil {
					fail("expected public key: %v", err)
				} else if !bytes.Equal(want.Marshal(), pub.Marshal()) {
					fail("%s: signed by %s, not by the expected key %s", SignatureName, r.Fingerprint, Fingerprint(want))
				}
			}
		}
	}
	var man Manifest
	if err := json.Unmarshal(mj, &man); err != nil {
		fail("%s: not valid JSON: %v", ManifestName, err)
		return done()
	}
	r.Manifest, r.PackageID = &man, man.PackageID
	if man.Format != ManifestFormat {
		fail("%s: format %q, want %q", ManifestName, man.Format, ManifestFormat)
	}
	expected := map[string]bool{ManifestName: true, SignatureName: true, AllowedSignersName: true, ReadmeName: true}
	for _, c := range man.Clips {
		if expected[c.File] || c.File == "" || strings.ContainsAny(c.File, "/\\") {
			fail("%s: bad clip name %q", ManifestName, c.File)
			continue
		}
		expected[c.File] = true
		f := files[c.File]
		if f == nil {
			fail("%s: missing (listed in manifest.json)", c.File)
			continue
		}
		rc, err := f.Open()
		if err != nil {
			fail("%s: %v", c.File, err)
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, bufio.NewReaderSize(rc, 1<<20))
		rc.Close()
		sum := hex.EncodeToString(h.Sum(nil))
		switch {
		case err != nil:
			fail("%s: unreadable: %v", c.File, err)
		case n != c.Bytes:
			fail("%s: %d bytes, manifest.json says %d", c.File, n, c.Bytes)
		case sum != c.SHA256:
			fail("%s: SHA-256 %s does not match manifest.json (%s)", c.File, sum, c.SHA256)
		default:
			r.Clips = append(r.Clips, c.File)
		}
	}
	var extra []string
	for name := range files {
		if !expected[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		fail("%s: extra file, not listed in manifest.json", name)
	}
	return done()
}

// allowedSignersHas reports whether an allowed_signers file lists pub for
// the principal and namespace ssh-keygen is told to check.
func allowedSignersHas(b []byte, pub ssh.PublicKey) bool {
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.Index(line, "ssh-")
		if i < 0 || !strings.HasPrefix(line, SignerID+" ") {
			continue
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line[i:]))
		if err == nil && bytes.Equal(k.Marshal(), pub.Marshal()) {
			return true
		}
	}
	return false
}
