package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"vahti/admin/export"
)

// runVerifyExport checks a package offline: signature, every clip's hash,
// no missing or extra file. --pubkey (a key line or a file holding one,
// e.g. from `vahti pubkey` on the box) also requires that signer.
func runVerifyExport(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "verify-export")
	pub := fs.String("pubkey", "", "require this signer: an ssh-ed25519 key line or a file holding one")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	passFile := fs.String("passphrase-file", "", "the package is FILE.zip.age: decrypt it with the passphrase on this file's first line first")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.need(pos, 1, "FILE.zip"); err != nil {
		return err
	}
	pkg := pos[0]
	if *passFile != "" {
		zip, done, err := decryptForVerify(pkg, *passFile)
		if err != nil {
			return err
		}
		defer done()
		pos[0] = zip
	} else if strings.HasSuffix(pkg, export.AgeExt) {
		return usageErr("%s is encrypted (age): give --passphrase-file FILE, or decrypt it first with age -d", pkg)
	}
	want := strings.TrimSpace(*pub)
	if want != "" && !strings.HasPrefix(want, "ssh-") {
		b, err := os.ReadFile(want)
		if err != nil {
			return usageErr("--pubkey: %v", err)
		}
		want = strings.TrimSpace(string(b))
	}
	r, verr := export.VerifyPackageKey(pos[0], want)
	if *asJSON {
		if err := printJSON(e, r); err != nil {
			return err
		}
		if verr != nil {
			return exitError{code: 1, err: fmt.Errorf("%s: verification failed", pos[0])}
		}
		return nil
	}
	if verr != nil {
		return verr
	}
	if *passFile != "" && (r.Manifest == nil || r.Manifest.Encryption != export.EncryptionAgeScrypt) {
		return fmt.Errorf("%s: decrypted, but its signed manifest does not say it was encrypted (encryption: %s)", pkg, export.EncryptionAgeScrypt)
	}
	fmt.Fprintf(e.stdout, "OK: package %s, %d clip(s) match manifest.json, signature valid\n", r.PackageID, len(r.Clips))
	fmt.Fprintf(e.stdout, "signed by %s\n  %s\n", r.Fingerprint, r.PublicKey)
	if want == "" {
		fmt.Fprintln(e.stdout, "compare this key with the box's published key (vahti pubkey), or pass --pubkey")
	}
	return nil
}

// decryptForVerify decrypts an age-encrypted package into a private
// temporary folder; done removes it.
func decryptForVerify(pkg, passFile string) (string, func(), error) {
	pass, err := readPassphrase(passFile)
	if err != nil {
		return "", nil, err
	}
	defer clear(pass)
	dir, err := os.MkdirTemp("", "vahti-verify-")
	if err != nil {
		return "", nil, err
	}
	done := func() { os.RemoveAll(dir) } // deletion-gate: our private decrypted copy of a package the user holds, made only to verify it
	zip := filepath.Join(dir, strings.TrimSuffix(filepath.Base(pkg), export.AgeExt))
	if err := export.DecryptAge(pkg, zip, pass); err != nil {
		done()
		return "", nil, fmt.Errorf("%w (wrong passphrase, or not an age file)", err)
	}
	return zip, done, nil
}
