package main

import (
	"archive/zip"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/checkpoint"
	"vahti/registry"
)

func checkpointFiles(t *testing.T, c *cli) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(c.dir, "state", checkpoint.DirName, "*.txt"))
	return names
}

// A service start and stop each sign the head; `audit verify` checks the
// chain against them and catches a cut tail and a rewritten chain, naming
// the checkpoint.
func TestAuditVerifyUsesCheckpoints(t *testing.T) {
	c := newCLI(t, "yard")
	c.ok("hold", "add", "--config", "$CONFIG", "--camera", "yard", "--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z", "--reason", "a")
	startStop(t, c)
	cps := checkpointFiles(t, c)
	if len(cps) != 2 {
		t.Fatalf("a start and a stop should leave 2 checkpoints: %v", cps)
	}
	var res verifyResult
	if err := json.Unmarshal([]byte(c.ok("audit", "verify", "--config", "$CONFIG", "--json")), &res); err != nil || !res.OK || res.Checkpoints != 2 {
		t.Fatalf("untouched: %v %+v", err, res)
	}
	// Offline: an exported chain against copies of the checkpoints, with
	// the key as `vahti pubkey` prints it.
	out := filepath.Join(c.dir, "chain.jsonl")
	c.ok("audit", "export", "--config", "$CONFIG", "--out", out)
	pub := strings.TrimSpace(c.ok("pubkey", "--config", "$CONFIG"))
	cpDir := filepath.Join(c.dir, "state", checkpoint.DirName)
	if o := c.ok("audit", "verify", "--file", out, "--checkpoints", cpDir, "--pubkey", pub); !strings.Contains(o, "2 checkpoints") {
		t.Fatalf("offline: %s", o)
	}
	lines := readLines(t, out)
	cut := filepath.Join(c.dir, "cut.jsonl")
	os.WriteFile(cut, []byte(strings.Join(lines[:len(lines)-2], "\n")+"\n"), 0o600)
	if e := c.fail("audit", "verify", "--file", cut, "--checkpoints", cpDir, "--pubkey", pub); !strings.Contains(e, filepath.Base(cps[1])) {
		t.Fatalf("offline cut tail: %s", e)
	}

	raw, err := sql.Open("sqlite", filepath.Join(c.dir, "state", "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// The tail cut back to before the service ran.
	if _, err := raw.Exec(`DELETE FROM audit WHERE seq > 1`); err != nil {
		t.Fatal(err)
	}
	e := c.fail("audit", "verify", "--config", "$CONFIG")
	if !strings.Contains(e, "tampered") || !strings.Contains(e, filepath.Base(cps[1])) {
		t.Fatalf("cut tail: %s", e)
	}
	// The whole chain deleted beside a hold, checkpoints gone too: still
	// an error, not an empty OK.
	os.RemoveAll(cpDir)
	if _, err := raw.Exec(`DELETE FROM audit`); err != nil {
		t.Fatal(err)
	}
	if e := c.fail("audit", "verify", "--config", "$CONFIG"); !strings.Contains(e, "empty") {
		t.Fatalf("empty chain: %s", e)
	}
}

func TestAuditVerifyReportsABadCheckpointSignature(t *testing.T) {
	c := newCLI(t, "yard")
	startStop(t, c)
	cps := checkpointFiles(t, c)
	if len(cps) == 0 {
		t.Fatal("no checkpoint")
	}
	b, _ := os.ReadFile(cps[0])
	os.WriteFile(cps[0], []byte(strings.Replace(string(b), "reason: start", "reason: hourly", 1)), 0o600)
	e := c.fail("audit", "verify", "--config", "$CONFIG")
	if !strings.Contains(e, filepath.Base(cps[0])) || !strings.Contains(e, "bad signature") {
		t.Fatalf("bad signature: %s", e)
	}
	if e := c.fail("audit", "verify", "--file", "x.jsonl", "--checkpoints", c.dir); !strings.Contains(e, "--pubkey") {
		t.Fatalf("offline checkpoints without a key: %s", e)
	}
}

// Every export manifest carries the chain head, signed with the manifest.
func TestExportManifestRecordsAuditHead(t *testing.T) {
	c := newCLI(t)
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	catalogFFmpegSegments(t, c, base)
	c.ok("hold", "add", "--config", "$CONFIG", "--camera", "yard", "--from", "2026-11-22T12:00:00Z", "--to", "2026-11-22T12:00:06Z", "--reason", "a")
	db := registryOf(t, c)
	var head registry.Head
	db.View(context.Background(), func(tx *registry.Tx) error { head, _ = tx.AuditHead(); return nil })
	out := filepath.Join(c.dir, "case.zip")
	c.ok("export", "--config", "$CONFIG", "--camera", "yard", "--from", "2026-11-22T12:00:01Z",
		"--to", "2026-11-22T12:00:05Z", "--reason", "r", "--out", out)
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		AuditHead *registry.Head `json:"audit_head"`
	}
	if err := json.NewDecoder(f).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.AuditHead == nil || m.AuditHead.Seq != head.Seq || m.AuditHead.Hash != head.Hash || !m.AuditHead.Time.Equal(head.Time) {
		t.Fatalf("manifest audit_head %+v, chain head before the export %+v", m.AuditHead, head)
	}
}

// A restore rolls the chain back to the backup: checkpoints made since are
// set aside (kept) and named in the restore's entry, and the restored
// chain verifies against the checkpoints that still apply.
func TestRestoreSetsAsideTheCheckpointsItRollsBack(t *testing.T) {
	c := newCLI(t, "yard")
	startStop(t, c)
	before := checkpointFiles(t, c)
	bk := filepath.Join(c.dir, "backup.db")
	c.ok("backup", "--config", "$CONFIG", "--out", bk)
	c.ok("hold", "add", "--config", "$CONFIG", "--camera", "yard", "--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z", "--reason", "a")
	startStop(t, c)
	after := checkpointFiles(t, c)
	if len(before) != 2 || len(after) != 4 {
		t.Fatalf("checkpoints %v then %v", before, after)
	}
	c.ok("restore", "--config", "$CONFIG", "--from", bk)
	if got := checkpointFiles(t, c); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("left in place %v, want %v", got, before)
	}
	moved, _ := filepath.Glob(filepath.Join(c.dir, "state", checkpoint.DirName, checkpoint.SupersededPrefix+"*", "*.txt"))
	if len(moved) != 2 {
		t.Fatalf("set aside: %v", moved)
	}
	var res verifyResult
	if err := json.Unmarshal([]byte(c.ok("audit", "verify", "--config", "$CONFIG", "--json")), &res); err != nil || !res.OK || res.Checkpoints != 2 {
		t.Fatalf("restored chain: %v %+v", err, res)
	}
	es := auditKinds(t, registryOf(t, c), "registry.restore")
	if len(es) != 1 || !strings.Contains(string(es[0].Detail), filepath.Base(moved[1])) || !strings.Contains(string(es[0].Detail), "rolled_back_head") {
		t.Fatalf("restore entry: %+v", es)
	}
}
