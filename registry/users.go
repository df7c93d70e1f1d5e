package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Roles. A user may hold several; footage needs RoleKeeper.
const (
	RoleKeeper = "keeper" // footage: view, play back, export; holds; requests
	RoleDPO    = "dpo"    // data protection officer: audit log and reports, no footage
	RoleAdmin  = "admin"  // users and settings, no footage
)

// ValidRole reports whether r names a role.
func ValidRole(r string) bool { return r == RoleKeeper || r == RoleDPO || r == RoleAdmin }

// User is a personal account. PassHash is an encoded argon2id hash; the
// registry never sees a password.
type User struct {
	ID          int64
	Name        string
	Roles       []string
	PassHash    string
	Lang        string // "fi" or "en"
	TOTPSecret  string // base32; empty: no second factor
	Failed      int
	LockedUntil time.Time
	Disabled    bool
	Created     time.Time
}

// Has reports whether the user holds a role.
func (u User) Has(role string) bool { return slices.Contains(u.Roles, role) }

const userCols = `id, name, roles, pass_hash, lang, totp_secret, failed, locked_until_ns, disabled, created_ns`

func scanUser(r interface{ Scan(...any) error }) (User, error) {
	var u User
	var roles string
	var locked, created int64
	err := r.Scan(&u.ID, &u.Name, &roles, &u.PassHash, &u.Lang, &u.TOTPSecret, &u.Failed, &locked, &u.Disabled, &created)
	u.Roles = strings.Split(roles, ",")
	u.LockedUntil, u.Created = fromNS(locked), fromNS(created)
	return u, err
}

// AddUser creates an account and sets u.ID.
func (tx *Tx) AddUser(u *User) error {
	if u.Name == "" || len(u.Roles) == 0 || u.PassHash == "" {
		return fmt.Errorf("user: name, role and password hash are required")
	}
	for _, r := range u.Roles {
		if !ValidRole(r) {
			return fmt.Errorf("user %s: unknown role %q (keeper, dpo or admin)", u.Name, r)
		}
	}
	if u.Lang == "" {
		u.Lang = "fi"
	}
	u.Created = tx.Now()
	res, err := tx.tx.Exec(`INSERT INTO users(name, roles, pass_hash, lang, totp_secret, created_ns) VALUES (?,?,?,?,?,?)`,
		u.Name, strings.Join(u.Roles, ","), u.PassHash, u.Lang, u.TOTPSecret, ns(u.Created))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("user %s: already exists", u.Name)
		}
		return fmt.Errorf("user %s: %w", u.Name, err)
	}
	u.ID, err = res.LastInsertId()
	return err
}

// UserByName returns an account by name.
func (tx *Tx) UserByName(name string) (User, error) {
	u, err := scanUser(tx.tx.QueryRow(`SELECT `+userCols+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	return u, err
}

// User returns an account by id.
func (tx *Tx) User(id int64) (User, error) {
	u, err := scanUser(tx.tx.QueryRow(`SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	return u, err
}

// Users lists all accounts by name.
func (tx *Tx) Users() ([]User, error) {
	rows, err := tx.tx.Query(`SELECT ` + userCols + ` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser writes back every mutable field of an account.
func (tx *Tx) UpdateUser(u User) error {
	_, err := tx.tx.Exec(`UPDATE users SET roles = ?, pass_hash = ?, lang = ?, totp_secret = ?, failed = ?,
		locked_until_ns = ?, disabled = ? WHERE id = ?`, strings.Join(u.Roles, ","), u.PassHash, u.Lang, u.TOTPSecret,
		u.Failed, ns(u.LockedUntil), u.Disabled, u.ID)
	if err != nil {
		return fmt.Errorf("user %s: %w", u.Name, err)
	}
	return nil
}

// Token is a personal API token; only its SHA-256 is stored.
type Token struct {
	ID      int64
	UserID  int64
	Name    string
	Hash    string
	Created time.Time
	Revoked time.Time
}

// AddToken stores a token hash for a user.
func (tx *Tx) AddToken(t *Token) error {
	t.Created = tx.Now()
	res, err := tx.tx.Exec(`INSERT INTO api_tokens(user_id, name, hash, created_ns) VALUES (?,?,?,?)`,
		t.UserID, t.Name, t.Hash, ns(t.Created))
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	t.ID, err = res.LastInsertId()
	return err
}

// TokenUser returns the user owning an unrevoked token hash.
func (tx *Tx) TokenUser(hash string) (User, error) {
	var uid int64
	err := tx.tx.QueryRow(`SELECT user_id FROM api_tokens WHERE hash = ? AND revoked_ns IS NULL`, hash).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("token: %w", err)
	}
	return tx.User(uid)
}

// Tokens lists a user's tokens.
func (tx *Tx) Tokens(userID int64) ([]Token, error) {
	rows, err := tx.tx.Query(`SELECT id, user_id, name, hash, created_ns, revoked_ns FROM api_tokens WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var created int64
		var revoked sql.NullInt64
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &created, &revoked); err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		t.Created, t.Revoked = fromNS(created), nullNS(revoked)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes one of a user's tokens.
func (tx *Tx) RevokeToken(userID, id int64) error {
	res, err := tx.tx.Exec(`UPDATE api_tokens SET revoked_ns = ? WHERE id = ? AND user_id = ? AND revoked_ns IS NULL`,
		ns(tx.Now()), id, userID)
	if err != nil {
		return fmt.Errorf("token %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	return nil
}
