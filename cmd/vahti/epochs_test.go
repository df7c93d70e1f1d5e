package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/registry"
	"vahti/seal"
)

// setEncryption rewrites the CLI's config with storage.encryption v ("":
// left out).
func (c *cli) setEncryption(v string) {
	c.t.Helper()
	b, err := os.ReadFile(c.config)
	if err != nil {
		c.t.Fatal(err)
	}
	s := string(b)
	if i := strings.Index(s, "  encryption: "); i >= 0 {
		j := strings.Index(s[i:], "\n")
		s = s[:i] + s[i+j+1:]
	}
	if v != "" {
		s = strings.Replace(s, "  part_duration: 200ms\n", "  part_duration: 200ms\n  encryption: "+v+"\n", 1)
	}
	if err := os.WriteFile(c.config, []byte(s), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

func TestCheckConfigEncryption(t *testing.T) {
	c := newCLI(t)
	c.setEncryption("sealed")
	msg := c.fail("check-config", "--config", "$CONFIG")
	if !strings.Contains(msg, "storage.encryption:") || !strings.Contains(msg, "vahti keys init") {
		t.Errorf("sealed without site keys: %q", msg)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "state", registry.FileName)); err == nil {
		t.Error("check-config created a registry")
	}

	c.setEncryption("")
	out, errs, code := c.run("", "check-config", "--config", "$CONFIG")
	if code != 0 || !strings.Contains(out, "OK") || !strings.Contains(errs, "footage is not sealed: run vahti keys init, or set storage.encryption: off") {
		t.Errorf("left out without site keys: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	c.setEncryption("off")
	if _, errs, code := c.run("", "check-config", "--config", "$CONFIG"); code != 0 || errs != "" {
		t.Errorf("off: exit %d, stderr %q", code, errs)
	}

	c.ok("keys", "init", "--config", "$CONFIG")
	for _, v := range []string{"sealed", ""} {
		c.setEncryption(v)
		if _, errs, code := c.run("", "check-config", "--config", "$CONFIG"); code != 0 || errs != "" {
			t.Errorf("encryption %q with site keys: exit %d, stderr %q", v, code, errs)
		}
	}
}

// serve with storage.encryption: sealed and no site keys refuses to start,
// naming vahti keys init, before it records anything.
func TestServeSealedWithoutKeysRefused(t *testing.T) {
	c := newCLI(t, "yard")
	c.setEncryption("sealed")
	msg := c.fail("serve", "--config", "$CONFIG")
	if !strings.Contains(msg, "storage.encryption") || !strings.Contains(msg, "vahti keys init") {
		t.Errorf("serve sealed without keys: %q", msg)
	}
	if files, _ := filepath.Glob(filepath.Join(c.dir, "rec", "*")); len(files) != 0 {
		t.Errorf("recorded without keys: %v", files)
	}
}

// TestEpochsAheadOfMidnight: today's epoch is made at once, tomorrow's
// from an hour before midnight UTC, with the site public key only.
func TestEpochsAheadOfMidnight(t *testing.T) {
	ring, err := seal.NewSite()
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Wipe()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	db, err := registry.Open(t.TempDir(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ep := &epochs{db: db, site: ring.Public(), now: func() time.Time { return now }, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	today := seal.EpochFor(now)
	exists := func(d seal.EpochID) bool {
		err := db.View(ctx, func(tx *registry.Tx) error { _, err := tx.Epoch(int64(d)); return err })
		return err == nil
	}
	next, err := ep.due(ctx)
	if err != nil || next != 11*time.Hour || !exists(today) || exists(today+1) {
		t.Fatalf("at noon: next %s, %v; today %v, tomorrow %v", next, err, exists(today), exists(today+1))
	}
	now = now.Add(next)
	if next, err = ep.due(ctx); err != nil || next != time.Hour || !exists(today+1) {
		t.Fatalf("at 23:00: next %s, %v; tomorrow %v", next, err, exists(today+1))
	}
	// The recorder's function gives the stored key, and it seals a key
	// the keyring opens.
	pub, err := ep.Epoch(today + 1)
	if err != nil {
		t.Fatal(err)
	}
	var row registry.SealEpoch
	db.View(ctx, func(tx *registry.Tx) error { row, err = tx.Epoch(int64(today + 1)); return err })
	ek, err := ring.OpenEpoch(pub, row.SealedPrivate)
	if err != nil {
		t.Fatalf("the epoch made for the recorder does not open with the site key: %v", err)
	}
	ek.Wipe()
	// A destroyed day gets no new key.
	if err := db.Update(ctx, func(tx *registry.Tx) error { return tx.DestroyEpoch(int64(today), "test") }); err != nil {
		t.Fatal(err)
	}
	if _, err := ep.Epoch(today); err == nil {
		t.Error("a destroyed epoch was made again")
	}
}
