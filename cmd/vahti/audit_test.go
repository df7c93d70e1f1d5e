package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuditCommands(t *testing.T) {
	c := newCLI(t)
	for _, r := range []string{"a", "b", "c"} {
		c.ok("hold", "add", "--config", "$CONFIG", "--camera", "yard", "--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z", "--reason", r)
	}
	if out := c.ok("audit", "verify", "--config", "$CONFIG"); !strings.Contains(out, "OK: 3 entries") {
		t.Fatalf("verify: %s", out)
	}
	out := filepath.Join(c.dir, "chain.jsonl")
	c.ok("audit", "export", "--config", "$CONFIG", "--out", out)
	if o := c.ok("audit", "verify", "--file", out); !strings.Contains(o, "OK: 3 entries") {
		t.Fatalf("verify --file: %s", o)
	}
	var res verifyResult
	if err := json.Unmarshal([]byte(c.ok("audit", "verify", "--file", out, "--json")), &res); err != nil || !res.OK || res.Entries != 3 {
		t.Fatalf("verify --json: %v %+v", err, res)
	}
	lines := readLines(t, out)
	if len(lines) != 3 {
		t.Fatalf("exported %d lines", len(lines))
	}
	tamper := func(name string, ls []string, want string) {
		t.Helper()
		p := filepath.Join(c.dir, name+".jsonl")
		os.WriteFile(p, []byte(strings.Join(ls, "\n")+"\n"), 0o600)
		e := c.fail("audit", "verify", "--file", p)
		if !strings.Contains(e, want) {
			t.Errorf("%s: %q does not name %q", name, e, want)
		}
	}
	edited := append([]string(nil), lines...)
	edited[1] = strings.Replace(edited[1], `"reason":"b"`, `"reason":"B"`, 1)
	tamper("edited", edited, "entry 2 (seq 2)")
	tamper("deleted", []string{lines[0], lines[2]}, "entry 2 (seq 3)")
	tamper("reordered", []string{lines[0], lines[2], lines[1]}, "entry 2 (seq 3)")
	tamper("garbage", []string{lines[0], "{not json"}, "line 2")
	// The export itself is audited (after the exported entries).
	if o := c.ok("audit", "verify", "--config", "$CONFIG"); !strings.Contains(o, "OK: 4 entries") {
		t.Fatalf("verify after export: %s", o)
	}
	// A tampered database fails by entry.
	db := registryOf(t, c)
	raw, err := sql.Open("sqlite", db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit SET actor = 'mallory' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if e := c.fail("audit", "verify", "--config", "$CONFIG"); !strings.Contains(e, "seq 2") {
		t.Fatalf("tampered db: %s", e)
	}
}

func TestAuditCommandsRefuseBadInput(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "verify"}, "exactly one"},
		{[]string{"audit", "verify", "--config", "$CONFIG", "--file", "x.jsonl"}, "exactly one"},
		{[]string{"audit", "verify", "--file", filepath.Join(c.dir, "missing.jsonl")}, "no such file"},
		{[]string{"audit", "export", "--config", "$CONFIG"}, "--out"},
		{[]string{"audit", "export", "--config", "$CONFIG", "--out", filepath.Join(c.dir, "no", "dir", "x.jsonl")}, "--out"},
		{[]string{"audit"}, "subcommand"},
		{[]string{"audit", "rewrite"}, "unknown subcommand"},
	} {
		if e := c.fail(tc.args...); !strings.Contains(e, tc.want) {
			t.Errorf("%v: %q does not mention %q", tc.args, e, tc.want)
		}
	}
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
