package main

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"vahti/admin/export"
)

// runPubkey prints the box's export signing key (created at first use),
// to publish so recipients can check who signed a package.
func runPubkey(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "pubkey")
	path, asJSON := fs.configFlags("print key, fingerprint and allowed_signers line as JSON")
	allowed := fs.Bool("allowed-signers", false, "print an allowed_signers line for ssh-keygen -Y verify")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	line, err := export.PublicKeyString(cfg.StateDir)
	if err != nil {
		return err
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return printJSON(e, map[string]string{"public_key": line, "fingerprint": export.Fingerprint(pub),
			"allowed_signers": strings.TrimSpace(export.AllowedSigners(pub)), "namespace": export.Namespace})
	case *allowed:
		fmt.Fprint(e.stdout, export.AllowedSigners(pub))
	default:
		fmt.Fprintln(e.stdout, line)
	}
	return nil
}
