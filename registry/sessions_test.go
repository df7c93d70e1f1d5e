package registry

import (
	"context"
	"testing"
	"time"
)

// TestCredentialChangeEndsSessions: UpdateUser deletes an account's
// sessions when a credential changes (keeping one named session if asked)
// and leaves them alone for other changes; a deleted session takes its
// played ranges with it.
func TestCredentialChangeEndsSessions(t *testing.T) {
	db, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var u, other User
	count := func(id int64) (n int) {
		db.View(ctx, func(tx *Tx) (err error) { n, err = tx.UserSessions(id); return })
		return
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.Update(ctx, func(tx *Tx) error {
		u = User{Name: "liisa", Roles: []string{RoleKeeper}, PassHash: "h1"}
		other = User{Name: "pekka", Roles: []string{RoleKeeper}, PassHash: "h2"}
		if err := tx.AddUser(&u); err != nil {
			return err
		}
		if err := tx.AddUser(&other); err != nil {
			return err
		}
		for _, s := range []Session{{Key: "a", UserID: u.ID}, {Key: "b", UserID: u.ID}, {Key: "c", UserID: other.ID}} {
			s.Created, s.LastSeen, s.CSRF = now, now, "x"
			if err := tx.AddSession(s); err != nil {
				return err
			}
		}
		_, err := tx.MarkPlayed("a", "yard|range|reason")
		return err
	}))
	change := func(keep string, fn func(*User)) {
		t.Helper()
		must(db.Update(ctx, func(tx *Tx) error {
			cur, err := tx.User(u.ID)
			if err != nil {
				return err
			}
			fn(&cur)
			return tx.UpdateUserKeeping(cur, keep)
		}))
	}
	change("", func(x *User) { x.Lang, x.Failed = "en", 2 })
	if n := count(u.ID); n != 2 {
		t.Fatalf("a language change ended sessions: %d left", n)
	}
	change("a", func(x *User) { x.TOTPSecret = "SECRET" })
	if n := count(u.ID); n != 1 {
		t.Fatalf("TOTP change keeping a: %d left, want 1", n)
	}
	for name, fn := range map[string]func(*User){
		"password": func(x *User) { x.PassHash = "h3" },
		"roles":    func(x *User) { x.Roles = []string{RoleKeeper, RoleDPO} },
		"disabled": func(x *User) { x.Disabled = true },
		"one-time": func(x *User) { x.MustChangePassword = true },
	} {
		must(db.Update(ctx, func(tx *Tx) error {
			return tx.AddSession(Session{Key: "n-" + name, UserID: u.ID, Created: now, LastSeen: now, CSRF: "x"})
		}))
		change("", fn)
		if n := count(u.ID); n != 0 {
			t.Errorf("%s change: %d sessions left", name, n)
		}
	}
	if n := count(other.ID); n != 1 {
		t.Errorf("another account's session ended: %d", n)
	}
	var plays int
	db.View(ctx, func(tx *Tx) error { return tx.tx.QueryRow(`SELECT COUNT(*) FROM session_plays`).Scan(&plays) })
	if plays != 0 {
		t.Errorf("%d played ranges of deleted sessions left", plays)
	}
	// Expiry: idle and absolute.
	must(db.Update(ctx, func(tx *Tx) error {
		for _, s := range []Session{
			{Key: "idle", LastSeen: now.Add(-20 * time.Minute), Created: now.Add(-time.Hour)},
			{Key: "old", LastSeen: now, Created: now.Add(-9 * time.Hour)},
			{Key: "live", LastSeen: now, Created: now.Add(-time.Hour)},
		} {
			s.UserID, s.CSRF = other.ID, "x"
			if err := tx.AddSession(s); err != nil {
				return err
			}
		}
		n, err := tx.DeleteExpiredSessions(now.Add(-15*time.Minute), now.Add(-8*time.Hour))
		if n != 2 {
			t.Errorf("expired sessions deleted: %d, want 2", n)
		}
		return err
	}))
	must(db.View(ctx, func(tx *Tx) error {
		_, err := tx.Session("live")
		return err
	}))
}
