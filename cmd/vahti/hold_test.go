package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

// registryOf opens the CLI test's registry directly.
func registryOf(t *testing.T, c *cli) *registry.DB {
	t.Helper()
	db, err := registry.Open(filepath.Join(c.dir, "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func auditKinds(t *testing.T, db *registry.DB, prefix string) []registry.Entry {
	t.Helper()
	var es []registry.Entry
	if err := db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		es, err = tx.AuditEntries(registry.AuditFilter{Kind: prefix})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return es
}

func TestHoldCommands(t *testing.T) {
	c := newCLI(t)
	c.envs["SUDO_USER"] = "keeper1"
	out := c.ok("hold", "add", "--config", "$CONFIG", "--camera", "yard,lobby", "--from", "2026-11-01T10:00:00+02:00",
		"--to", "2026-11-01T12:00:00Z", "--reason", "break-in", "--case", "POL-7", "--basis", "ET 12 §", "--review", "2027-01-01T00:00:00Z")
	id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil || id <= 0 {
		t.Fatalf("hold add printed %q, want the id", out)
	}
	// --json, flags after the positional, "all".
	var h holdView
	out = c.ok("hold", "add", "--json", "--config", "$CONFIG", "--camera", "all", "--from", "2026-11-02T00:00:00Z",
		"--to", "2099-01-01T00:00:00Z", "--reason", "ongoing investigation")
	if err := json.Unmarshal([]byte(out), &h); err != nil || h.ID != id+1 || !h.Active || h.Cameras[0] != "all" {
		t.Fatalf("hold add --json: %v %s", err, out)
	}
	var list []holdView
	if err := json.Unmarshal([]byte(c.ok("hold", "list", "--config", "$CONFIG", "--json")), &list); err != nil || len(list) != 2 {
		t.Fatalf("hold list --json: %v %+v", err, list)
	}
	if out := c.ok("hold", "list", "--config", "$CONFIG"); !strings.Contains(out, "break-in") || !strings.Contains(out, "active") {
		t.Fatalf("hold list: %s", out)
	}
	out = c.ok("hold", "show", strconv.FormatInt(id, 10), "--config", "$CONFIG", "--json")
	if err := json.Unmarshal([]byte(out), &h); err != nil || h.CaseRef != "POL-7" || h.Basis != "ET 12 §" || h.Review == nil ||
		!h.From.Equal(time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)) || h.CreatedBy != "keeper1" {
		t.Fatalf("hold show: %v %s", err, out)
	}
	// Release: flag before and after the positional both work.
	c.ok("hold", "release", "--config", "$CONFIG", "--reason", "case closed", strconv.FormatInt(id, 10))
	out = c.ok("hold", "show", "--config", "$CONFIG", strconv.FormatInt(id, 10))
	if !strings.Contains(out, "released") || !strings.Contains(out, "case closed") {
		t.Fatalf("after release: %s", out)
	}
	if e := c.fail("hold", "release", strconv.FormatInt(id, 10), "--config", "$CONFIG", "--reason", "again"); !strings.Contains(e, "already released") {
		t.Fatalf("double release: %s", e)
	}
	db := registryOf(t, c)
	es := auditKinds(t, db, "hold")
	if len(es) != 3 || es[0].Kind != "hold.add" || es[2].Kind != "hold.release" || es[0].Actor != "keeper1" || es[0].Source != "cli" {
		t.Fatalf("audit: %+v", es)
	}
}

func TestHoldCommandsRefuseBadInput(t *testing.T) {
	c := newCLI(t)
	ok := []string{"--config", "$CONFIG", "--camera", "yard", "--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z", "--reason", "x"}
	with := func(k, v string) []string {
		a := append([]string{"hold", "add"}, ok...)
		for i := range a {
			if a[i] == k {
				a[i+1] = v
			}
		}
		return a
	}
	cases := []struct {
		args []string
		want string
	}{
		{with("--camera", "garage"), "unknown camera"},
		{with("--reason", " "), "--reason"},
		{with("--from", "yesterday"), "RFC 3339"},
		{with("--to", "2026-11-01T09:00:00Z"), "must be after"},
		{with("--to", "2026-11-01T10:00:00Z"), "must be after"},
		{append(with("--reason", "x"), "--review", "soon"), "--review"},
		{[]string{"hold", "add", "--camera", "yard"}, "missing required"},
		{[]string{"hold"}, "subcommand"},
		{[]string{"hold", "frobnicate"}, "unknown subcommand"},
		{[]string{"hold", "show", "--config", "$CONFIG"}, "expected hold id"},
		{[]string{"hold", "show", "x", "--config", "$CONFIG"}, "not a hold id"},
		{[]string{"hold", "show", "99", "--config", "$CONFIG"}, "no hold with id 99"},
		{[]string{"hold", "release", "1", "--config", "$CONFIG"}, "--reason"},
		{[]string{"hold", "release", "99", "--config", "$CONFIG", "--reason", "x"}, "no hold with id 99"},
		{[]string{"hold", "list"}, "--config"},
	}
	for _, tc := range cases {
		if e := c.fail(tc.args...); !strings.Contains(e, tc.want) {
			t.Errorf("%v: stderr %q does not mention %q", tc.args, e, tc.want)
		}
	}
	if n := len(auditKinds(t, registryOf(t, c), "hold")); n != 0 {
		t.Fatalf("%d hold audit entries after only bad input", n)
	}
}
