package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"vahti/admin/export"
)

// exporter builds the exporter for a command's environment.
func (c *cmdEnv) exporter() *export.Exporter {
	return exporterFor(c.cfg, c.db, c.e.now, slog.New(slog.NewTextHandler(c.e.stderr, nil)))
}

// runExport writes a signed evidence package: kept in <state_dir>/exports
// (what the admin UI offers) and put at --out: a reflink or hard link of the
// stored package on the same filesystem (written once), else one copy.
func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "export")
	path, asJSON := fs.configFlags("print the result as JSON")
	cams := fs.String("camera", "", "camera id(s), comma-separated, or all")
	from := fs.String("from", "", "start (RFC 3339)")
	to := fs.String("to", "", "end (RFC 3339)")
	reason := fs.String("reason", "", "why the footage is exported (audited, in the manifest)")
	caseRef := fs.String("case", "", "case or request reference")
	out := fs.String("out", "", "where to write the package (.zip)")
	keys := fs.keyFlags()
	passFile := passphraseFlag(fs)
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := required("config", *path, "camera", *cams, "from", *from, "to", *to, "reason", *reason, "out", *out); err != nil {
		return err
	}
	if err := keys.check(); err != nil {
		return err
	}
	f, t, err := rangeFlags(*from, *to)
	if err != nil {
		return err
	}
	pass, err := readPassphrase(*passFile)
	if err != nil {
		return err
	}
	defer clear(pass)
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	ex := ce.exporter()
	ids, err := parseCameras(*cams, ex.Cameras)
	if err != nil {
		return err
	}
	if len(ids) == 1 && ids[0] == "all" {
		ids = ex.Cameras
	}
	wipe, err := ce.footageKeys(ctx, ex, keys, ids, f, t, "export")
	if err != nil {
		return err
	}
	defer wipe()
	req := export.Request{Cameras: ids, From: f, To: t, Reason: *reason, CaseRef: *caseRef, Actor: ce.actor, Source: cliSource}
	dst := *out
	if pass != nil {
		ex.Encryption, dst = export.EncryptionAgeScrypt, ""
	}
	res, err := ex.Build(ctx, req, dst)
	if errors.Is(err, export.ErrBadRequest) {
		return usageErr("%v", err)
	}
	if err != nil {
		return err
	}
	enc, err := ce.encryptPackage(ctx, res, pass, *out)
	if err != nil {
		return err
	}
	m := res.Manifest
	if *asJSON {
		v := map[string]any{"id": res.Export.ID, "path": res.Path, "out": *out, "sha256": res.Export.SHA256,
			"bytes": res.Export.Bytes, "clips": m.Clips, "gaps": m.Gaps, "warnings": m.Warnings}
		enc.addTo(v)
		return printJSON(e, v)
	}
	if enc != nil {
		enc.print(e)
	} else {
		fmt.Fprintf(e.stdout, "export %s written to %s (%d bytes, sha256 %s)\n", res.Export.ID, *out, res.Export.Bytes, res.Export.SHA256)
	}
	fmt.Fprintf(e.stdout, "stored as %s\n", res.Path)
	for _, c := range m.Clips {
		fmt.Fprintf(e.stdout, "  %s  %s – %s  %s  %d bytes\n", c.File, c.FromLocal, c.ToLocal, c.Codecs, c.Bytes)
	}
	for _, w := range m.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	if n := countTampered(m); n > 0 {
		fmt.Fprintf(e.stderr, "WARNING: %d source segment(s) failed their SHA-256 check and were excluded; see manifest.json and the audit log\n", n)
	}
	return nil
}

func countTampered(m *export.Manifest) int {
	n := 0
	for _, s := range m.Sources {
		if strings.EqualFold(s.Status, export.SourceTampered) {
			n++
		}
	}
	return n
}

// passphraseFlag declares --passphrase-file (export and request export).
func passphraseFlag(fs *flagSet) *string {
	return fs.String("passphrase-file", "", "encrypt the whole package with age to the passphrase on this file's first line: writes OUT.age (age -d opens it)")
}

// readPassphrase reads --passphrase-file; nil when it is not given.
func readPassphrase(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	p, err := export.ReadPassphraseFile(path)
	if err != nil {
		return nil, usageErr("--passphrase-file: %v", err)
	}
	return p, nil
}

// kindExportEncrypt is the audit kind of a package written encrypted.
const kindExportEncrypt = "export.encrypt"

// encrypted is a package written as OUT.age.
type encrypted struct {
	id, path, sha256 string
	bytes            int64
}

// ageOut is where the encrypted package goes: OUT.age (case.zip.age).
func ageOut(out string) string {
	if strings.HasSuffix(out, export.AgeExt) {
		return out
	}
	return out + export.AgeExt
}

// encryptPackage writes the stored package encrypted to the passphrase at
// OUT.age and audits it with the SHA-256 of what travels; nil, nil without
// a passphrase (Build then delivered the zip to OUT itself).
func (c *cmdEnv) encryptPackage(ctx context.Context, res *export.Result, pass []byte, out string) (*encrypted, error) {
	if pass == nil {
		return nil, nil
	}
	dst := ageOut(out)
	sum, n, err := export.EncryptAge(res.Path, dst, pass)
	if err != nil {
		return nil, fmt.Errorf("export %s stored at %s, but writing it encrypted to %s failed: %w", res.Export.ID, res.Path, dst, err)
	}
	if err := c.audit(ctx, kindExportEncrypt, "export:"+res.Export.ID, map[string]any{"encryption": export.EncryptionAgeScrypt,
		"out": dst, "sha256": sum, "bytes": n, "package_sha256": res.Export.SHA256}); err != nil {
		return nil, err
	}
	return &encrypted{id: res.Export.ID, path: dst, sha256: sum, bytes: n}, nil
}

func (x *encrypted) addTo(v map[string]any) {
	if x != nil {
		v["out"], v["encrypted"] = x.path, map[string]any{"encryption": export.EncryptionAgeScrypt, "sha256": x.sha256, "bytes": x.bytes}
	}
}

func (x *encrypted) print(e *env) {
	fmt.Fprintf(e.stdout, "export %s written encrypted (age, passphrase) to %s (%d bytes, sha256 %s)\n", x.id, x.path, x.bytes, x.sha256)
	fmt.Fprintln(e.stdout, "give the passphrase by another way than the file (by phone); age -d opens the package")
}
