package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vahti/registry"
	"vahti/seal"
)

type keysStatusJSON struct {
	Sealed          bool     `json:"sealed_keys"`
	Recovery        bool     `json:"recovery_wrap"`
	KeepersWrap     []string `json:"keepers_with_access"`
	KeepersNoWrap   []string `json:"keepers_without_access"`
	EpochsLive      int      `json:"epochs_live"`
	EpochsDestroyed int      `json:"epochs_destroyed"`
	LatestEpoch     string   `json:"latest_epoch"`
	SiteKey         string   `json:"site_key"`
}

// TestKeysInit: keys init makes the site keys once and prints a recovery
// key that really opens the registry's recovery wrap; it is stored
// nowhere on the box; a second init is refused; status names who has
// access without printing a secret.
func TestKeysInit(t *testing.T) {
	c := newCLI(t)
	var st keysStatusJSON
	json.Unmarshal([]byte(c.ok("keys", "status", "--config", "$CONFIG", "--json")), &st)
	if st.Sealed {
		t.Fatalf("status before init: %+v", st)
	}
	if out := c.ok("keys", "status", "--config", "$CONFIG"); !strings.Contains(out, "no site keys") {
		t.Errorf("status text before init: %s", out)
	}

	out, errs, code := c.run("", "keys", "init", "--config", "$CONFIG", "--json")
	if code != 0 {
		t.Fatalf("keys init: exit %d: %s", code, errs)
	}
	var res struct {
		RecoveryKey string `json:"recovery_key"`
		SiteKey     string `json:"site_key"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("keys init --json: %v: %s", err, out)
	}
	rk, err := seal.ParseRecoveryKey(res.RecoveryKey)
	if err != nil {
		t.Fatalf("printed recovery key: %v", err)
	}
	if strings.Contains(errs, res.RecoveryKey) {
		t.Error("the recovery key went to stderr (logs)")
	}
	errs = c.fail("keys", "init", "--config", "$CONFIG")
	if !strings.Contains(errs, "already exist") {
		t.Errorf("second init: %q", errs)
	}

	db, err := registry.Open(filepath.Join(c.dir, "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var keeper registry.User
	err = db.Update(context.Background(), func(tx *registry.Tx) error {
		s, err := tx.SealSiteKey()
		if err != nil {
			return err
		}
		pub, err := seal.ParseSitePublicKey(s.PublicKey)
		if err != nil {
			return err
		}
		if pub.Fingerprint() != res.SiteKey {
			t.Errorf("fingerprint %s, printed %s", pub.Fingerprint(), res.SiteKey)
		}
		if rp, err := rk.Public(); err != nil || !bytes.Equal(rp.Bytes(), s.RecoveryPublicKey) {
			t.Errorf("stored recovery public key is not the printed key's (%v)", err)
		}
		w, err := tx.RecoveryWrap()
		if err != nil {
			return err
		}
		ring, err := seal.UnlockRecovery(pub, w, rk)
		if err != nil {
			return err
		}
		defer ring.Wipe()
		// The first epoch opens with it: today's footage can be read.
		ep, err := tx.LatestEpoch()
		if err != nil {
			return err
		}
		epub, err := seal.ParseEpochPublicKey(seal.EpochID(ep.Day), ep.PublicKey)
		if err != nil {
			return err
		}
		ek, err := ring.OpenEpoch(epub, ep.SealedPrivate)
		if err != nil {
			return err
		}
		ek.Wipe()
		// A keeper, and a grant for them made with the recovery key.
		keeper = registry.User{Name: "liisa", Roles: []string{registry.RoleKeeper}, PassHash: "x"}
		if err := tx.AddUser(&keeper); err != nil {
			return err
		}
		other := registry.User{Name: "pekka", Roles: []string{registry.RoleKeeper}, PassHash: "x"}
		if err := tx.AddUser(&other); err != nil {
			return err
		}
		kw, err := ring.WrapPassword([]byte("kolme iloista kilpikonnaa"), seal.Argon2Params{Time: 1, Memory: 64, Threads: 1})
		if err != nil {
			return err
		}
		return tx.PutKeeperWrap(keeper.ID, kw, "test")
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "-wal"} {
		b, _ := os.ReadFile(filepath.Join(c.dir, "state", registry.FileName+s))
		if bytes.Contains(b, []byte(res.RecoveryKey)) || bytes.Contains(b, []byte(strings.ReplaceAll(res.RecoveryKey, "-", ""))) {
			t.Fatalf("the recovery key is stored in %s%s", registry.FileName, s)
		}
	}

	json.Unmarshal([]byte(c.ok("keys", "status", "--config", "$CONFIG", "--json")), &st)
	if !st.Sealed || !st.Recovery || st.EpochsLive != 1 || st.EpochsDestroyed != 0 || st.SiteKey != res.SiteKey ||
		strings.Join(st.KeepersWrap, ",") != "liisa" || strings.Join(st.KeepersNoWrap, ",") != "pekka" {
		t.Errorf("status after init: %+v", st)
	}
	text := c.ok("keys", "status", "--config", "$CONFIG")
	if !strings.Contains(text, "keepers with access") || !strings.Contains(text, "liisa") || strings.Contains(text, res.RecoveryKey) {
		t.Errorf("status text: %s", text)
	}
	// The audit chain records the init, and no secret.
	audit := c.ok("audit", "export", "--config", "$CONFIG", "--out", filepath.Join(c.dir, "a.jsonl"))
	_ = audit
	a, err := os.ReadFile(filepath.Join(c.dir, "a.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(a, []byte(`"keys.init"`)) || bytes.Contains(a, []byte(res.RecoveryKey)) {
		t.Errorf("audit of keys init: %s", a)
	}
	if errs := c.fail("keys", "rotate", "--config", "$CONFIG"); !strings.Contains(errs, "unknown subcommand") {
		t.Errorf("unknown verb: %q", errs)
	}
}

// TestKeysInitText: the text form shows the recovery key once, in groups.
func TestKeysInitText(t *testing.T) {
	c := newCLI(t)
	out := c.ok("keys", "init", "--config", "$CONFIG")
	var key string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.Count(l, "-") == 13 && len(l) == 69 {
			key = l
		}
	}
	if _, err := seal.ParseRecoveryKey(key); err != nil || !strings.Contains(out, "shown this once") {
		t.Fatalf("no recovery key in: %s (%v)", out, err)
	}
}

// TestKeysGrant: an existing keeper gets a wrap from the recovery key and
// their own login password; a wrong or mistyped recovery key, a password
// that is not theirs and a non-keeper are refused; the wrap then opens the
// site key with the password.
func TestKeysGrant(t *testing.T) {
	c := newCLI(t)
	const pw = "kolme iloista kilpikonnaa"
	if _, errs, code := c.run(pw+"\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper"); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := c.run(pw+"\n", "user", "add", "--config", "$CONFIG", "--name", "olli", "--role", "admin"); code != 0 {
		t.Fatal(errs)
	}
	rkFile := filepath.Join(c.dir, "recovery.txt")
	if errs := c.fail("keys", "grant", "--config", "$CONFIG", "--user", "liisa", "--recovery-key-file", rkFile); !strings.Contains(errs, "recovery-key-file") {
		t.Errorf("missing file: %q", errs)
	}
	var res struct {
		RecoveryKey string `json:"recovery_key"`
	}
	json.Unmarshal([]byte(c.ok("keys", "init", "--config", "$CONFIG", "--json")), &res)
	grant := func(stdin, user, key string) (string, int) {
		t.Helper()
		if err := os.WriteFile(rkFile, []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errs, code := c.run(stdin, "keys", "grant", "--config", "$CONFIG", "--user", user, "--recovery-key-file", rkFile)
		return errs, code
	}
	other, _ := seal.NewRecoveryKey()
	typo := []byte(res.RecoveryKey)
	typo[0] = map[bool]byte{true: 'B', false: 'A'}[typo[0] == 'A']
	for _, c := range []struct{ stdin, user, key, want string }{
		{pw + "\n", "liisa", other.String(), "does not open this site"},
		{pw + "\n", "liisa", string(typo), "mistyped"},
		{"not her password at all\n", "liisa", res.RecoveryKey, "not liisa's login password"},
		{pw + "\n", "olli", res.RecoveryKey, "not an enabled keeper"},
		{pw + "\n", "nobody", res.RecoveryKey, "not found"},
	} {
		if errs, code := grant(c.stdin, c.user, c.key); code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("grant %s: exit %d %q, want %q", c.user, code, errs, c.want)
		}
	}
	var st keysStatusJSON
	json.Unmarshal([]byte(c.ok("keys", "status", "--config", "$CONFIG", "--json")), &st)
	if len(st.KeepersWrap) != 0 || strings.Join(st.KeepersNoWrap, ",") != "liisa" {
		t.Fatalf("refused grants left a wrap: %+v", st)
	}
	if errs, code := grant(pw+"\n", "liisa", strings.ToLower(res.RecoveryKey)); code != 0 {
		t.Fatalf("grant: %s", errs)
	}
	json.Unmarshal([]byte(c.ok("keys", "status", "--config", "$CONFIG", "--json")), &st)
	if strings.Join(st.KeepersWrap, ",") != "liisa" {
		t.Fatalf("after the grant: %+v", st)
	}
	db, err := registry.Open(filepath.Join(c.dir, "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(context.Background(), func(tx *registry.Tx) error {
		s, _ := tx.SealSiteKey()
		pub, _ := seal.ParseSitePublicKey(s.PublicKey)
		u, _ := tx.UserByName("liisa")
		w, err := tx.KeeperWrap(u.ID)
		if err != nil {
			return err
		}
		ring, err := seal.UnlockPassword(pub, w, []byte(pw))
		if err != nil {
			return err
		}
		ring.Wipe()
		entries, err := tx.AuditEntries(registry.AuditFilter{})
		if err != nil {
			return err
		}
		found := false
		for _, e := range entries {
			found = found || (e.Kind == "keys.grant" && e.Object == "user:liisa")
		}
		if !found {
			t.Error("no keys.grant audit entry")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
