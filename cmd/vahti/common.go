package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"

	"vahti/configs"
	"vahti/registry"
)

// loadConfig reads and validates --config.
func loadConfig(e *env, path string) (*configs.Config, error) {
	if path == "" {
		return nil, usageErr("--config: required")
	}
	return configs.Load(path, e.getenv)
}

// openRegistry opens the registry database of a config.
func openRegistry(e *env, cfg *configs.Config) (*registry.DB, error) {
	return registry.Open(cfg.StateDir, e.now)
}

// openWithConfig loads --config and opens its registry; it also returns
// the configured camera ids, which the commands naming cameras check.
func openWithConfig(e *env, path string) (*registry.DB, []string, error) {
	cfg, err := loadConfig(e, path)
	if err != nil {
		return nil, nil, err
	}
	db, err := openRegistry(e, cfg)
	if err != nil {
		return nil, nil, err
	}
	return db, cfg.CameraIDs(), nil
}

// cliActor names who runs a CLI command, for the audit chain: the login
// behind sudo if any, else the process owner. SUDO_USER is believed only
// when the process runs as root, as it does under sudo: anyone else can
// set it to any name and would write the audit chain as someone else.
func cliActor(e *env) string {
	euid := os.Geteuid()
	if e.geteuid != nil {
		euid = e.geteuid()
	}
	if s := e.getenv("SUDO_USER"); s != "" && euid == 0 {
		return s
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// cliSource is the audit source of CLI commands.
const cliSource = "cli"

// printJSON writes v as one indented JSON document.
func printJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return nil
}

// auditCLI appends one audit entry for a CLI action in its own transaction.
func auditCLI(ctx context.Context, e *env, db *registry.DB, kind, object string, detail any) error {
	return db.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit(cliActor(e), cliSource, kind, object, detail)
		return err
	})
}
