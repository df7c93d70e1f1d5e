package main

import (
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
}
