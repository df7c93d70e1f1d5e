package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"regexp"
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

// KindKeeperGrant is the audit kind written, beside user.add or
// user.roles, whenever an account gains the keeper role: footage access is
// what the data protection officer reviews, so it has a kind of its own.
const KindKeeperGrant = "user.keeper.grant"

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
	// MustChangePassword marks a password someone else set (an admin in
	// the UI, `user add --temporary`): until the person picks their own,
	// the account can do nothing but change it.
	MustChangePassword bool
	// TOTPLastStep is the last 30-second step whose code was accepted; a
	// code is refused at or before it, so an overheard code is spent.
	TOTPLastStep int64
}

// Has reports whether the user holds a role.
func (u User) Has(role string) bool { return slices.Contains(u.Roles, role) }

const userCols = `id, name, roles, pass_hash, lang, totp_secret, failed, locked_until_ns, disabled, created_ns,
	must_change_password, totp_last_step`

func scanUser(r interface{ Scan(...any) error }) (User, error) {
	var u User
	var roles string
	var locked, created int64
	err := r.Scan(&u.ID, &u.Name, &roles, &u.PassHash, &u.Lang, &u.TOTPSecret, &u.Failed, &locked, &u.Disabled, &created,
		&u.MustChangePassword, &u.TOTPLastStep)
	u.Roles = strings.Split(roles, ",")
	u.LockedUntil, u.Created = fromNS(locked), fromNS(created)
	return u, err
}

// MaxUserName is the longest account name. The login path looks up no
// longer name, so an account with one could never log in.
const MaxUserName = 64

var userNameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$`)

// ValidUserName reports whether name follows the account-name rule: 1 to
// 64 letters, digits and . _ @ -, starting with a letter or digit.
func ValidUserName(name string) bool { return userNameRe.MatchString(name) }

// ErrUserName explains the account-name rule.
var ErrUserName = errors.New("an account name is 1 to 64 letters (a-z, A-Z), digits and . _ @ -, starting with a letter or digit")

// AddUser creates an account and sets u.ID.
func (tx *Tx) AddUser(u *User) error {
	if u.Name == "" || len(u.Roles) == 0 || u.PassHash == "" {
		return fmt.Errorf("user: name, role and password hash are required")
	}
	if !ValidUserName(u.Name) {
		return fmt.Errorf("user %.80q: %w", u.Name, ErrUserName)
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
	res, err := tx.tx.Exec(`INSERT INTO users(name, roles, pass_hash, lang, totp_secret, created_ns, must_change_password)
		VALUES (?,?,?,?,?,?,?)`, u.Name, strings.Join(u.Roles, ","), u.PassHash, u.Lang, u.TOTPSecret, ns(u.Created),
		u.MustChangePassword)
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

// UpdateUser writes back every mutable field of an account. When a
// credential changes (password, roles, second factor, disabled, one-time
// flag) every session of the account ends in the same transaction, so the
// change takes effect in a running service at its next request, whichever
// process made it.
func (tx *Tx) UpdateUser(u User) error { return tx.UpdateUserKeeping(u, "") }

// UpdateUserKeeping is UpdateUser for a change the account makes to
// itself from a session it keeps (enrolling a second factor): that one
// session, by its key, survives; all others end.
func (tx *Tx) UpdateUserKeeping(u User, keepSession string) error {
	old, err := tx.User(u.ID)
	if err != nil {
		return err
	}
	_, err = tx.tx.Exec(`UPDATE users SET roles = ?, pass_hash = ?, lang = ?, totp_secret = ?, failed = ?,
		locked_until_ns = ?, disabled = ?, must_change_password = ?, totp_last_step = ? WHERE id = ?`,
		strings.Join(u.Roles, ","), u.PassHash, u.Lang, u.TOTPSecret, u.Failed, ns(u.LockedUntil), u.Disabled,
		u.MustChangePassword, u.TOTPLastStep, u.ID)
	if err != nil {
		return fmt.Errorf("user %s: %w", u.Name, err)
	}
	if credentialsChanged(old, u) {
		if _, err := tx.EndUserSessions(u.ID, keepSession); err != nil {
			return err
		}
	}
	return nil
}

func credentialsChanged(a, b User) bool {
	return a.PassHash != b.PassHash || a.TOTPSecret != b.TOTPSecret || a.Disabled != b.Disabled ||
		a.MustChangePassword != b.MustChangePassword || strings.Join(a.Roles, ",") != strings.Join(b.Roles, ",")
}

// Token is a personal API token; only its SHA-256 is stored.
type Token struct {
	ID      int64
	UserID  int64
	Name    string
	Hash    string
	Created time.Time
	Revoked time.Time
	// LastUsed is when the token last authenticated a request, to the
	// minute (TouchToken); zero: never.
	LastUsed time.Time
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
	_, u, err := tx.TokenByHash(hash)
	return u, err
}

// TokenByHash returns an unrevoked token and its owner.
func (tx *Tx) TokenByHash(hash string) (Token, User, error) {
	t, err := scanToken(tx.tx.QueryRow(`SELECT `+tokenCols+` FROM api_tokens WHERE hash = ? AND revoked_ns IS NULL`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, User{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return Token{}, User{}, fmt.Errorf("token: %w", err)
	}
	u, err := tx.User(t.UserID)
	return t, u, err
}

// TouchToken records a use of a token at t. It writes only when the stored
// last use is a minute or more older, so a script polling every second
// does not turn each request into a disk write.
func (tx *Tx) TouchToken(id int64, t time.Time) error {
	_, err := tx.tx.Exec(`UPDATE api_tokens SET last_used_ns = ? WHERE id = ? AND (last_used_ns IS NULL OR last_used_ns <= ?)`,
		ns(t), id, ns(t.Add(-TokenTouchEvery)))
	if err != nil {
		return fmt.Errorf("token %d: %w", id, err)
	}
	return nil
}

// TokenTouchEvery is the resolution of Token.LastUsed.
const TokenTouchEvery = time.Minute

// RevokeUserTokens revokes every live token of an account and returns how
// many there were.
func (tx *Tx) RevokeUserTokens(userID int64) (int, error) {
	res, err := tx.tx.Exec(`UPDATE api_tokens SET revoked_ns = ? WHERE user_id = ? AND revoked_ns IS NULL`, ns(tx.Now()), userID)
	if err != nil {
		return 0, fmt.Errorf("tokens of user %d: %w", userID, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

const tokenCols = `id, user_id, name, hash, created_ns, revoked_ns, last_used_ns`

func scanToken(r interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var created int64
	var revoked, used sql.NullInt64
	err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &created, &revoked, &used)
	t.Created, t.Revoked, t.LastUsed = fromNS(created), nullNS(revoked), nullNS(used)
	return t, err
}

// Tokens lists a user's tokens.
func (tx *Tx) Tokens(userID int64) ([]Token, error) {
	rows, err := tx.tx.Query(`SELECT `+tokenCols+` FROM api_tokens WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
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
