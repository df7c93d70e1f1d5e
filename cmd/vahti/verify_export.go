package main

import (
	"context"
	"fmt"
	"os"
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
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.need(pos, 1, "FILE.zip"); err != nil {
		return err
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
	fmt.Fprintf(e.stdout, "OK: package %s, %d clip(s) match manifest.json, signature valid\n", r.PackageID, len(r.Clips))
	fmt.Fprintf(e.stdout, "signed by %s\n  %s\n", r.Fingerprint, r.PublicKey)
	if want == "" {
		fmt.Fprintln(e.stdout, "compare this key with the box's published key (vahti pubkey), or pass --pubkey")
	}
	return nil
}
