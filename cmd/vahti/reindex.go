package main

import (
	"context"
	"fmt"

	"vahti/recorder"
)

func runReindex(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "reindex")
	path, asJSON := fs.configFlags("print one JSON document")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	log, err := newLogger(e.stderr, *logFormat)
	if err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	rep, err := recorder.Reconcile(ctx, ce.cfg.Storage.Root, ce.db, e.now, log)
	if err != nil {
		return err
	}
	if err := ce.audit(ctx, "catalog.reindex", "storage", map[string]any{
		"checked": rep.Checked, "adopted": len(rep.Adopted), "missing": len(rep.Missing), "returned": len(rep.Returned),
		"garbage": len(rep.Garbage),
	}); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, rep)
	}
	fmt.Fprintf(e.stdout, "checked %d segment files: %d adopted, %d missing, %d back after missing, %d not valid segments (left in place)\n",
		rep.Checked, len(rep.Adopted), len(rep.Missing), len(rep.Returned), len(rep.Garbage))
	for _, g := range rep.Garbage {
		fmt.Fprintf(e.stdout, "  not a segment: %s: %s\n", g.Path, g.Reason)
	}
	for _, m := range rep.Missing {
		fmt.Fprintf(e.stdout, "  missing: %s\n", m)
	}
	return nil
}
