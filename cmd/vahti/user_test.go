package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"vahti/admin"
	"vahti/registry"
)

func TestUserCommands(t *testing.T) {
	c := newCLI(t)
	const pw = "kolme iloista kilpikonnaa"
	if _, errs, code := c.run("lyhyt\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper"); code == 0 ||
		!strings.Contains(errs, "at least 12") {
		t.Fatalf("short password: exit %d, %q", code, errs)
	}
	if _, errs, code := c.run("salasana1234\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper"); code == 0 ||
		!strings.Contains(errs, "commonly used") {
		t.Fatalf("common password: exit %d, %q", code, errs)
	}
	if errs := c.fail("user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "boss"); !strings.Contains(errs, "unknown role") {
		t.Errorf("bad role: %q", errs)
	}
	// A name the login would never look up is refused before the
	// password is asked for (no stdin is given here).
	for _, bad := range []string{strings.Repeat("a", 65), "-liisa", "liisa virtanen"} {
		if errs := c.fail("user", "add", "--config", "$CONFIG", "--name", bad, "--role", "keeper"); !strings.Contains(errs, "1 to 64") {
			t.Errorf("name %q: %q", bad, errs)
		}
	}
	if _, errs, code := c.run(pw+"\n", "user", "add", "--config", "$CONFIG", "--name", "liisa", "--role", "keeper,dpo", "--lang", "en"); code != 0 {
		t.Fatalf("add: %s", errs)
	}
	if _, errs, code := c.run(pw+"\n", "user", "add", "--name", "liisa", "--config", "$CONFIG", "--role", "admin"); code == 0 ||
		!strings.Contains(errs, "already exists") {
		t.Errorf("duplicate: %q", errs)
	}
	var users []struct {
		Name     string
		Roles    []string
		Lang     string
		Disabled bool
		TOTP     bool
	}
	json.Unmarshal([]byte(c.ok("user", "list", "--config", "$CONFIG", "--json")), &users)
	if len(users) != 1 || users[0].Name != "liisa" || strings.Join(users[0].Roles, ",") != "keeper,dpo" || users[0].Lang != "en" {
		t.Fatalf("list: %+v", users)
	}
	if out := c.ok("user", "list", "--config", "$CONFIG"); !strings.Contains(out, "liisa") || !strings.Contains(out, "keeper,dpo") {
		t.Errorf("list table: %s", out)
	}
	// The stored hash verifies the password and is argon2id.
	db, err := registry.Open(c.dir+"/state", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	user := func() (u registry.User) {
		db.View(context.Background(), func(tx *registry.Tx) (err error) { u, err = tx.UserByName("liisa"); return })
		return
	}
	if u := user(); !strings.HasPrefix(u.PassHash, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Errorf("hash %q", u.PassHash)
	} else if ok, _ := admin.VerifyPassword(u.PassHash, pw); !ok {
		t.Error("stored hash does not verify")
	}
	c.ok("user", "disable", "liisa", "--config", "$CONFIG")
	if !user().Disabled {
		t.Error("not disabled")
	}
	c.ok("user", "enable", "--config", "$CONFIG", "liisa")
	out := c.ok("user", "totp", "--config", "$CONFIG", "liisa")
	if u := user(); u.Disabled || u.TOTPSecret == "" || !strings.Contains(out, "otpauth://totp/Vahti:liisa?") {
		t.Errorf("enable/totp: %+v %s", u, out)
	}
	if _, errs, code := c.run("uusi pitkä salasana tähän\n", "user", "passwd", "--config", "$CONFIG", "liisa"); code != 0 {
		t.Fatalf("passwd: %s", errs)
	}
	if ok, _ := admin.VerifyPassword(user().PassHash, "uusi pitkä salasana tähän"); !ok {
		t.Error("new password does not verify")
	}
	c.fail("user", "passwd", "--config", "$CONFIG", "nobody")
	var kinds []string
	db.View(context.Background(), func(tx *registry.Tx) error {
		es, err := tx.AuditEntries(registry.AuditFilter{Kind: "user"})
		for _, e := range es {
			kinds = append(kinds, e.Kind+"@"+e.Source)
		}
		return err
	})
	if got := strings.Join(kinds, " "); got != "user.add@cli user.keeper.grant@cli user.disable@cli user.enable@cli user.totp@cli user.passwd@cli" {
		t.Errorf("audit: %s", got)
	}
}
