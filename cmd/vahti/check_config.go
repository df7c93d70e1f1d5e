package main

import (
	"context"
	"errors"
	"fmt"

	"vahti/configs"
)

func runCheckConfig(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "check-config")
	path := fs.String("config", "", "config file to validate")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	var probs *configs.Problems
	if *asJSON {
		out := struct {
			OK       bool              `json:"ok"`
			Problems []configs.Problem `json:"problems"`
			Cameras  int               `json:"cameras,omitempty"`
		}{OK: err == nil, Problems: []configs.Problem{}}
		if errors.As(err, &probs) {
			out.Problems = *probs
		} else if err != nil {
			out.Problems = []configs.Problem{{Msg: err.Error()}}
		} else {
			out.Cameras = len(cfg.Cameras)
		}
		if perr := printJSON(e, out); perr != nil {
			return perr
		}
		if err != nil {
			return exitError{code: 1, err: fmt.Errorf("%s: invalid", *path)}
		}
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: OK (%d cameras, retention %s)\n", *path, len(cfg.Cameras), cfg.Retention.MaxAge)
	return nil
}
