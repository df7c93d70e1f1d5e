package main

import (
	"context"
	"errors"
	"fmt"

	"vahti/configs"
)

func runCheckConfig(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "check-config")
	path := fs.String("config", "", "config file to validate")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	var warnings []string
	if err == nil {
		warnings, err = checkSealing(ctx, e, cfg)
	}
	var probs *configs.Problems
	if *asJSON {
		out := struct {
			OK       bool              `json:"ok"`
			Problems []configs.Problem `json:"problems"`
			Warnings []string          `json:"warnings,omitempty"`
			Cameras  int               `json:"cameras,omitempty"`
		}{OK: err == nil, Problems: []configs.Problem{}, Warnings: warnings}
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
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(e.stdout, "%s: OK (%d cameras, retention %s)\n", *path, len(cfg.Cameras), cfg.Retention.MaxAge)
	return nil
}

// checkSealing checks storage.encryption against the registry: sealed
// without site keys is an error naming vahti keys init; left out without
// them, a warning (footage would be plain).
func checkSealing(ctx context.Context, e *env, cfg *configs.Config) ([]string, error) {
	if cfg.Storage.Encryption == configs.EncryptionOff {
		return nil, nil
	}
	ok, err := haveSiteKeys(ctx, e, cfg)
	if err != nil {
		return nil, err
	}
	_, warn, err := sealingDecision(cfg.Storage.Encryption, ok)
	if warn != "" {
		return []string{warn}, err
	}
	return nil, err
}
