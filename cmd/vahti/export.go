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
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := required("config", *path, "camera", *cams, "from", *from, "to", *to, "reason", *reason, "out", *out); err != nil {
		return err
	}
	f, t, err := rangeFlags(*from, *to)
	if err != nil {
		return err
	}
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
	res, err := ex.Build(ctx, export.Request{Cameras: ids, From: f, To: t, Reason: *reason, CaseRef: *caseRef,
		Actor: ce.actor, Source: cliSource}, *out)
	if errors.Is(err, export.ErrBadRequest) {
		return usageErr("%v", err)
	}
	if err != nil {
		return err
	}
	m := res.Manifest
	if *asJSON {
		return printJSON(e, map[string]any{"id": res.Export.ID, "path": res.Path, "out": *out, "sha256": res.Export.SHA256,
			"bytes": res.Export.Bytes, "clips": m.Clips, "gaps": m.Gaps, "warnings": m.Warnings})
	}
	fmt.Fprintf(e.stdout, "export %s written to %s (%d bytes, sha256 %s)\nstored as %s\n", res.Export.ID, *out,
		res.Export.Bytes, res.Export.SHA256, res.Path)
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
