package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"vahti/configs"
	"vahti/registry"
)

// startStop runs the whole service until it is ready, then stops it.
func startStop(t *testing.T, c *cli) {
	t.Helper()
	cfg, err := configs.Load(c.config, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, now: time.Now,
		getenv: func(string) string { return "" }}
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	if err := runService(ctx, e, cfg, log, func(*service) { cancel() }); err != nil {
		t.Fatalf("service: %v", err)
	}
}

func retentionChanges(t *testing.T, c *cli) []registry.Entry {
	t.Helper()
	cfg, err := configs.Load(c.config, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := registry.Open(cfg.StateDir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []registry.Entry
	db.View(context.Background(), func(tx *registry.Tx) error {
		out, err = tx.AuditEntries(registry.AuditFilter{Kind: "config.retention"})
		return err
	})
	return out
}

func TestRetentionPolicyChangesAreAudited(t *testing.T) {
	c := newCLI(t, "yard")
	startStop(t, c)
	startStop(t, c)
	if n := len(retentionChanges(t, c)); n != 1 {
		t.Fatalf("after two starts with one policy: %d config.retention entries, want 1", n)
	}
	b, _ := os.ReadFile(c.config)
	os.WriteFile(c.config, append(b, []byte("retention:\n  max_age: 14d\n")...), 0o600)
	startStop(t, c)
	got := retentionChanges(t, c)
	if len(got) != 2 || !strings.Contains(string(got[1].Detail), `"max_age":"14d"`) ||
		!strings.Contains(string(got[1].Detail), `"max_age":"28d"`) {
		t.Fatalf("shortening max_age was not audited with old and new values: %d entries, last %s", len(got), got[len(got)-1].Detail)
	}
}

func TestSecondServiceRefused(t *testing.T) {
	c := newCLI(t, "yard")
	cfg, _ := configs.Load(c.config, nil)
	unlock, err := registry.LockStateDir(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if msg := c.fail("serve", "--config", "$CONFIG"); !strings.Contains(msg, "in use by a running Vahti service") {
		t.Errorf("second service: %q", msg)
	}
	if msg := c.fail("restore", "--config", "$CONFIG", "--from", c.config); !strings.Contains(msg, "stop the service") {
		t.Errorf("restore beside a service: %q", msg)
	}
}
