package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"vahti/admin"
)

// runSign writes the camera-surveillance sign (kameravalvontakyltti) of a
// config as one standalone HTML page, to print on A4 and put up where the
// cameras are. The same page is at /sign in the admin UI.
func runSign(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "sign")
	path := fs.configFlag()
	out := fs.String("out", "", "HTML file to write (default: standard output)")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := admin.WriteSign(&buf, cfg, admin.SignOptions{Standalone: true, Printed: e.now(), Loc: cfg.Location()}); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if *out == "" {
		_, err := e.stdout.Write(buf.Bytes())
		return err
	}
	// Written beside the target and renamed: a half-written sign is never
	// left under the name.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".vahti-sign-*")
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	defer os.Remove(tmp.Name()) // deletion-gate: the sign's own temp file, gone once renamed
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("sign: writing %s: %w", *out, err)
	}
	if err := tmp.Chmod(0o644); err != nil { // a public notice, meant to be printed
		tmp.Close()
		return fmt.Errorf("sign: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sign: writing %s: %w", *out, err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	fmt.Fprintf(e.stderr, "wrote %s: print it on A4 and put it up where the cameras are\n", *out)
	return nil
}
