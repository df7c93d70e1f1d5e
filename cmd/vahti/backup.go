package main

import (
	"context"
	"fmt"
	"os"
)

func runBackup(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "backup")
	path := fs.configFlag()
	out := fs.String("out", "", "file to write the copy to (must not exist)")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := required("config", *path, "out", *out); err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	if err := ce.db.Backup(ctx, *out); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	if err := ce.audit(ctx, "registry.backup", "registry", map[string]any{"file": *out, "bytes": st.Size()}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backup written to %s (%d bytes, verified)\n", *out, st.Size())
	return nil
}
