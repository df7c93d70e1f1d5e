package main

import (
	"context"
	"encoding/json"
	"errors"
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

// cmdEnv is what a command that works on the registry runs with: the
// loaded config, its open registry and who runs the command. Close it when
// the command ends.
type cmdEnv struct {
	e     *env
	cfg   *configs.Config
	db    *registry.DB
	actor string
}

// openEnv loads and validates the config at path (--config) and opens its
// registry. Commands check their other flags first, so a bad flag is named
// before the config is read.
func openEnv(e *env, path string) (*cmdEnv, error) {
	cfg, err := loadConfig(e, path)
	if err != nil {
		return nil, err
	}
	return envFor(e, cfg)
}

// envFor opens the registry of a config already loaded, for a command that
// has work to do (a password prompt) between reading the config and opening
// the registry.
func envFor(e *env, cfg *configs.Config) (*cmdEnv, error) {
	db, err := openRegistry(e, cfg)
	if err != nil {
		return nil, err
	}
	return &cmdEnv{e: e, cfg: cfg, db: db, actor: cliActor(e)}, nil
}

// Close closes the registry.
func (c *cmdEnv) Close() error { return c.db.Close() }

// cameras is the configured camera ids, which the commands naming cameras check.
func (c *cmdEnv) cameras() []string { return c.cfg.CameraIDs() }

// audit appends one audit entry for a CLI action in its own transaction.
func (c *cmdEnv) audit(ctx context.Context, kind, object string, detail any) error {
	return c.db.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit(c.actor, cliSource, kind, object, detail)
		return err
	})
}

// request reads request id, saying so when there is none.
func (c *cmdEnv) request(ctx context.Context, id int64) (q registry.Request, err error) {
	err = c.db.View(ctx, func(tx *registry.Tx) error {
		q, err = tx.Request(id)
		return err
	})
	return q, noRequest(id, err)
}

// updateRequest runs change, which acts on request id, in one transaction
// and returns the request as change left it.
func (c *cmdEnv) updateRequest(ctx context.Context, id int64, change func(*registry.Tx) (registry.Request, error)) (q registry.Request, err error) {
	err = c.db.Update(ctx, func(tx *registry.Tx) error {
		q, err = change(tx)
		return err
	})
	return q, noRequest(id, err)
}

// noRequest words registry.ErrNotFound from an action on request id for
// the user; any other error (or nil) passes through.
func noRequest(id int64, err error) error {
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("no request with id %d", id)
	}
	return err
}

// configFlags declares the two flags most commands share: --config and
// --json, whose help text is jsonUsage.
func (fs *flagSet) configFlags(jsonUsage string) (path *string, asJSON *bool) {
	return fs.configFlag(), fs.Bool("json", false, jsonUsage)
}

// configFlag declares --config alone, for a command that prints no JSON.
func (fs *flagSet) configFlag() *string { return fs.String("config", "", "config file") }

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
