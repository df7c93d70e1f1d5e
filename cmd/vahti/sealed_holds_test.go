package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/registry"
	"vahti/retention"
	"vahti/seal"
)

// TestHoldKeysSealedByTheService: a hold placed from the command line
// (no keyring) gets its key file when a keeper next logs in; a hold a
// keeper places in the UI gets it at once. Either file opens the held
// segment with the recovery key alone, without the registry.
func TestHoldKeysSealedByTheService(t *testing.T) {
	c := newCLI(t)
	c.envs["SUDO_USER"] = "operaattori"
	c.euid = 0
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	catalogFFmpegSegments(t, c, base)
	rkFile := initKeys(t, c)
	sealCatalogued(t, c, "yard")
	if out, errs, code := c.run(keeperPassword+"\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper",
		"--recovery-key-file", rkFile); code != 0 {
		t.Fatalf("user add: exit %d\n%s%s", code, out, errs)
	}
	c.ok("hold", "add", "--config", "$CONFIG", "--camera", "yard", "--from", "2026-11-22T12:00:00Z", "--to", "2026-11-22T12:00:02Z", "--reason", "poliisi 1")
	state := filepath.Join(c.dir, "state")
	cliHold := retention.HoldKeysPath(state, 1)
	if _, err := os.Stat(cliHold); err == nil {
		t.Fatal("a hold placed without a keyring has a key file already")
	}

	s := startService(t, c, "")
	b := newBrowser(t, strings.TrimSuffix(s.adminURL, "/"))
	b.login("liisa", keeperPassword)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(cliHold); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the keeper's login did not seal the pending hold's keys")
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body, _ := b.do("POST", "/api/v1/holds", map[string]any{"cameras": []string{"yard"},
		"from": "2026-11-22T12:00:02Z", "to": "2026-11-22T12:00:04Z", "reason": "poliisi 2"})
	if code != 201 {
		t.Fatalf("place hold: %d %s", code, body)
	}
	uiHold := retention.HoldKeysPath(state, 2)
	if _, err := os.Stat(uiHold); err != nil {
		t.Fatalf("a hold placed by a logged-in keeper has no key file when the call returns: %v", err)
	}

	b2, err := os.ReadFile(rkFile)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := seal.ParseRecoveryKey(strings.TrimSpace(string(b2)))
	if err != nil {
		t.Fatal(err)
	}
	for file, start := range map[string]time.Time{cliHold: base, uiHold: base.Add(2 * time.Second)} {
		p := filepath.Join(c.dir, "rec", filepath.FromSlash(registry.SegmentPath("yard", start)))
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		rd, err := retention.OpenHeldSegment(file, rk, f, st.Size())
		if err != nil {
			t.Errorf("%s does not open %s with the recovery key: %v", filepath.Base(file), filepath.Base(p), err)
		} else if err := rd.Verify(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		f.Close()
	}

	// The registry lost: a box with an empty state_dir and the same
	// recordings. vahti cat opens the held segment with the recovery key
	// and the hold's key file, and nothing else does.
	cfg, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	lostDir := t.TempDir()
	lost := &cli{t: t, dir: lostDir, config: filepath.Join(lostDir, "lost.yaml"), now: time.Now, envs: map[string]string{}}
	if err := os.WriteFile(lost.config, bytes.Replace(cfg, []byte(state), []byte(filepath.Join(lostDir, "state")), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(c.dir, "rec", filepath.FromSlash(registry.SegmentPath("yard", base)))
	if out, _, code := lost.run("", "cat", "--config", "$CONFIG", "--recovery-key-file", rkFile, seg); code == 0 || out != "" {
		t.Fatalf("without the registry and without --hold-keys cat opened the segment (exit %d)", code)
	}
	out, errs, code := lost.run("", "cat", "--config", "$CONFIG", "--recovery-key-file", rkFile, "--hold-keys", cliHold, seg)
	if code != 0 || ffprobeFrames(t, []byte(out)) == 0 {
		t.Fatalf("cat --hold-keys: exit %d, %d bytes: %s", code, len(out), errs)
	}
	if _, _, code := lost.run("", "cat", "--config", "$CONFIG", "--hold-keys", cliHold, seg); code == 0 {
		t.Error("--hold-keys without --recovery-key-file was accepted")
	}
	if n := len(auditOf(t, lost, "footage.play")); n != 1 {
		t.Errorf("%d footage.play entries for the one viewing, want 1", n)
	}
}
