package main

import (
	"context"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve")
	path := fs.configFlag()
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	log, err := newLogger(e.stderr, *logFormat)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	return runService(ctx, e, cfg, log, nil)
}
