package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

// TestDemoKeys: the demo runs keys init, prints the recovery key with
// where a real one is kept, and the key opens the site keys; a reused
// --dir finds the key again instead of failing.
func TestDemoKeys(t *testing.T) {
	c := newCLI(t)
	var out bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, now: time.Now,
		getenv: func(string) string { return "" }, geteuid: func() int { return 0 }}
	ctx := context.Background()
	rk, err := demoKeys(ctx, e, c.config, c.dir)
	if err != nil {
		t.Fatal(err)
	}
	printed := out.String()
	if !strings.Contains(printed, rk.String()) || !strings.Contains(printed, "safe") {
		t.Errorf("demo output does not show the recovery key and where to keep it:\n%s", printed)
	}
	db, err := registry.Open(filepath.Join(c.dir, "state"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := demoRing(ctx, db, rk)
	db.Close()
	if err != nil {
		t.Fatalf("the printed recovery key does not open the site keys: %v", err)
	}
	ring.Wipe()
	if b, err := os.ReadFile(filepath.Join(c.dir, demoRecoveryFile)); err != nil || !strings.Contains(string(b), rk.String()) {
		t.Errorf("demo recovery key file: %v", err)
	}
	out.Reset()
	again, err := demoKeys(ctx, e, c.config, c.dir)
	if err != nil {
		t.Fatalf("reused --dir: %v", err)
	}
	if again.String() != rk.String() {
		t.Error("reused --dir: another recovery key")
	}
}
