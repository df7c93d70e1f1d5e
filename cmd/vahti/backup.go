package main

import (
	"context"
	"fmt"
	"os"
)

func runBackup(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "backup")
	path := fs.String("config", "", "config file")
	out := fs.String("out", "", "file to write the copy to (must not exist)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.need(pos, 0, "no arguments"); err != nil {
		return err
	}
	if err := required("config", *path, "out", *out); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	db, err := openRegistry(e, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, *out); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	if err := auditCLI(ctx, e, db, "registry.backup", "registry", map[string]any{"file": *out, "bytes": st.Size()}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backup written to %s (%d bytes, verified)\n", *out, st.Size())
	return nil
}
