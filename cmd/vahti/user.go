package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"vahti/admin"
	"vahti/registry"
	"vahti/seal"
)

// runUser: vahti user add|list|passwd|roles|disable|enable|totp.
func runUser(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "user", args,
		subcommand{"add", userAdd},
		subcommand{"list", userList},
		subcommand{"passwd", userPasswd},
		subcommand{"roles", userRoles},
		subcommand{"disable", func(ctx context.Context, e *env, args []string) error { return userEnable(ctx, e, true, args) }},
		subcommand{"enable", func(ctx context.Context, e *env, args []string) error { return userEnable(ctx, e, false, args) }},
		subcommand{"totp", userTOTP},
	)
}

func userAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "user add")
	cfgPath, asJSON := fs.configFlags("print JSON")
	name := fs.String("name", "", "account name (a personal one: the audit log names people)")
	role := fs.String("role", "", "keeper, dpo or admin; several as keeper,dpo")
	lang := fs.String("lang", "fi", "UI language: fi or en")
	temporary := fs.Bool("temporary", false, "the password is one you set for the person: it works once, to choose their own at first login")
	rkFile := fs.String("recovery-key-file", "", "with sealed footage: grant the new keeper access with the recovery key in this file")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := required("config", *cfgPath, "name", *name, "role", *role); err != nil {
		return err
	}
	// Before the password is asked for: a name the login cannot look up
	// would make an account nobody can use.
	if !registry.ValidUserName(*name) {
		return fmt.Errorf("--name: %w", registry.ErrUserName)
	}
	roles, err := parseRoles(*role)
	if err != nil {
		return err
	}
	if *lang != "fi" && *lang != "en" {
		return usageErr("--lang: fi or en, got %q", *lang)
	}
	if *rkFile != "" && !slices.Contains(roles, registry.RoleKeeper) {
		return usageErr("--recovery-key-file: only for a keeper (only keepers open footage)")
	}
	var rk seal.RecoveryKey
	if *rkFile != "" {
		// Before the password is asked for: a mistyped key is named at once.
		if rk, err = readRecoveryKeyFile(*rkFile); err != nil {
			return err
		}
		defer rk.Wipe()
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	pw, err := readNewPassword(e, *name)
	if err != nil {
		return err
	}
	hash, err := admin.HashPassword(pw, admin.DefaultHashParams())
	if err != nil {
		return err
	}
	ce, err := envFor(e, cfg)
	if err != nil {
		return err
	}
	defer ce.Close()
	// The footage grant: the recovery key unlocks the site key, which is
	// wrapped under the new keeper's password (a one-time password's wrap
	// is re-made at the forced change, as in the UI).
	var wrap []byte
	if *rkFile != "" {
		ring, err := ce.unlockWith(ctx, rk)
		var wrong wrongSecret
		if errors.As(err, &wrong) {
			err = errors.Join(err, ce.audit(ctx, kindKeysUnlockFail, "user:"+*name, map[string]any{"with": "recovery_key", "for": "user add"}))
		}
		if err != nil {
			return err
		}
		wrap, err = ring.WrapPassword([]byte(pw), seal.DefaultArgon2)
		ring.Wipe()
		if err != nil {
			return err
		}
	}
	sealedSite := false
	u := registry.User{Name: *name, Roles: roles, PassHash: hash, Lang: *lang, MustChangePassword: *temporary}
	actor := ce.actor
	err = ce.db.Update(ctx, func(tx *registry.Tx) error {
		if err := tx.AddUser(&u); err != nil {
			return err
		}
		detail := map[string]any{"roles": roles}
		if *temporary {
			detail["one_time_password"] = true
		}
		if _, err := tx.Audit(actor, cliSource, "user.add", "user:"+u.Name, detail); err != nil {
			return err
		}
		if err := auditKeeperGrant(tx, actor, registry.User{}, u); err != nil {
			return err
		}
		if wrap != nil {
			if err := tx.PutKeeperWrap(u.ID, wrap, actor); err != nil {
				return err
			}
			_, err := tx.Audit(actor, cliSource, kindKeysGrant, "user:"+u.Name, map[string]any{"with": "recovery_key"})
			return err
		}
		_, err := tx.SealSiteKey()
		if errors.Is(err, registry.ErrNoKeys) {
			return nil
		}
		sealedSite = err == nil
		return err
	})
	if err != nil {
		return err
	}
	noFootage := sealedSite && u.Has(registry.RoleKeeper)
	if noFootage {
		fmt.Fprintf(e.stderr, "note: the footage is sealed and %s has no access to it yet: a logged-in keeper grants it in the UI, or: vahti keys grant --config %s --user %s --recovery-key-file FILE\n",
			u.Name, *cfgPath, u.Name)
	}
	if *asJSON {
		return printJSON(e, userJSON(u, e.now()))
	}
	fmt.Fprintf(e.stdout, "user %s added (%s)\n", u.Name, strings.Join(roles, ","))
	if wrap != nil {
		fmt.Fprintf(e.stdout, "%s can open sealed footage after logging in\n", u.Name)
	}
	if *temporary {
		fmt.Fprintf(e.stdout, "the password is one-time: %s must choose their own at first login\n", u.Name)
	}
	return nil
}

// parseRoles checks a --role list (keeper,dpo).
func parseRoles(list string) ([]string, error) {
	var roles []string
	for _, r := range strings.Split(list, ",") {
		r = strings.TrimSpace(r)
		if !registry.ValidRole(r) {
			return nil, usageErr("--role: unknown role %q (keeper, dpo or admin)", r)
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return roles, nil
}

// auditKeeperGrant writes the entry the data protection officer reviews
// when an account gains the keeper role (as the admin UI does).
func auditKeeperGrant(tx *registry.Tx, actor string, before, after registry.User) error {
	if before.Has(registry.RoleKeeper) || !after.Has(registry.RoleKeeper) {
		return nil
	}
	_, err := tx.Audit(actor, cliSource, registry.KindKeeperGrant, "user:"+after.Name, map[string]any{"roles": after.Roles})
	return err
}

type userView struct {
	Name        string     `json:"name"`
	Roles       []string   `json:"roles"`
	Lang        string     `json:"lang"`
	TOTP        bool       `json:"totp"`
	Disabled    bool       `json:"disabled"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	Created     time.Time  `json:"created"`
	// OneTimePassword: the password must be changed at the next login.
	OneTimePassword bool `json:"one_time_password"`
}

func userJSON(u registry.User, now time.Time) userView {
	v := userView{Name: u.Name, Roles: u.Roles, Lang: u.Lang, TOTP: u.TOTPSecret != "", Disabled: u.Disabled, Created: u.Created,
		OneTimePassword: u.MustChangePassword}
	if u.LockedUntil.After(now) {
		t := u.LockedUntil
		v.LockedUntil = &t
	}
	return v
}

func userList(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "user list")
	cfgPath, asJSON := fs.configFlags("print JSON")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	ce, err := openEnv(e, *cfgPath)
	if err != nil {
		return err
	}
	defer ce.Close()
	var us []registry.User
	if err := ce.db.View(ctx, func(tx *registry.Tx) (err error) { us, err = tx.Users(); return }); err != nil {
		return err
	}
	views := make([]userView, 0, len(us))
	for _, u := range us {
		views = append(views, userJSON(u, e.now()))
	}
	if *asJSON {
		return printJSON(e, views)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLES\tLANG\tTOTP\tSTATE\tCREATED")
	for _, v := range views {
		state := "active"
		switch {
		case v.Disabled:
			state = "disabled"
		case v.LockedUntil != nil:
			state = "locked until " + v.LockedUntil.Format(time.RFC3339)
		case v.OneTimePassword:
			state = "one-time password"
		}
		totp := "no"
		if v.TOTP {
			totp = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, strings.Join(v.Roles, ","), v.Lang, totp, state, v.Created.Format("2006-01-02"))
	}
	return tw.Flush()
}

// userChange loads --config, takes NAME, and applies fn to the account in
// one transaction with its audit entry. fn returns the audit detail and
// what to print once the change has committed. A change of credentials
// ends the account's sessions in that transaction (registry.Tx.UpdateUser),
// so a running service refuses them at their next request.
func userChange(ctx context.Context, e *env, name string, args []string, kind string, pre func(*flagSet),
	fn func(tx *registry.Tx, u *registry.User) (any, string, error)) error {
	fs := newFlags(e, "user "+name)
	cfgPath := fs.configFlag()
	if pre != nil {
		pre(fs)
	}
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.need(pos, 1, "an account NAME"); err != nil {
		return err
	}
	ce, err := openEnv(e, *cfgPath)
	if err != nil {
		return err
	}
	defer ce.Close()
	var msg string
	actor := ce.actor
	err = ce.db.Update(ctx, func(tx *registry.Tx) error {
		u, err := tx.UserByName(pos[0])
		if err != nil {
			return err
		}
		before := u
		var detail any
		if detail, msg, err = fn(tx, &u); err != nil {
			return err
		}
		if err := tx.UpdateUser(u); err != nil {
			return err
		}
		if _, err = tx.Audit(actor, cliSource, kind, "user:"+u.Name, detail); err != nil {
			return err
		}
		return auditKeeperGrant(tx, actor, before, u)
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, msg)
	return nil
}

// userPasswd sets a password typed on the box. It is the person's own
// when they set it (run behind sudo as themselves, or by an operator who is
// not an account holder). When the CLI knows that someone else with an
// account sets it (sudo as another account), it is one-time, as one an
// admin sets in the UI; --temporary says so explicitly either way. Every
// session of the account ends; --revoke-tokens also revokes its API tokens.
func userPasswd(ctx context.Context, e *env, args []string) error {
	var temporary, revoke *bool
	var flags *flagSet
	actor := cliActor(e)
	return userChange(ctx, e, "passwd", args, "user.passwd", func(fs *flagSet) {
		flags = fs
		temporary = fs.Bool("temporary", false, "a password you set for the person: it works once, to choose their own at next login "+
			"(the default when you run this behind sudo as another account holder; --temporary=false to override)")
		revoke = fs.Bool("revoke-tokens", false, "also revoke the account's API tokens")
	}, func(tx *registry.Tx, u *registry.User) (any, string, error) {
		oneTime := *temporary
		if !flagGiven(flags, "temporary") {
			other, err := tx.UserByName(actor)
			oneTime = err == nil && other.ID != u.ID
		}
		pw, err := readNewPassword(e, u.Name)
		if err != nil {
			return nil, "", err
		}
		if u.PassHash, err = admin.HashPassword(pw, admin.DefaultHashParams()); err != nil {
			return nil, "", err
		}
		u.Failed, u.LockedUntil = 0, time.Time{}
		u.MustChangePassword = oneTime
		detail := map[string]any{}
		msg := fmt.Sprintf("password of %s changed; its sessions have ended", u.Name)
		if oneTime {
			detail["one_time_password"] = true
			msg += "; the password is one-time: " + u.Name + " must choose their own at next login"
		}
		if *revoke {
			n, err := tx.RevokeUserTokens(u.ID)
			if err != nil {
				return nil, "", err
			}
			detail["tokens_revoked"] = n
			msg += fmt.Sprintf("; %d API token(s) revoked", n)
		}
		return detail, msg, nil
	})
}

// flagGiven reports whether a flag was set on the command line.
func flagGiven(fs *flagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// userRoles replaces an account's roles. Where the CLI knows who runs it
// (the login behind sudo, or the process owner) and that person is the
// account, it refuses to add the keeper role: an admin does not grant
// themselves footage access, on the box any more than in the UI.
func userRoles(ctx context.Context, e *env, args []string) error {
	var role *string
	return userChange(ctx, e, "roles", args, "user.roles", func(fs *flagSet) {
		role = fs.String("role", "", "the new roles: keeper, dpo or admin; several as keeper,dpo")
	}, func(tx *registry.Tx, u *registry.User) (any, string, error) {
		if strings.TrimSpace(*role) == "" {
			return nil, "", usageErr("missing required flag(s): --role")
		}
		roles, err := parseRoles(*role)
		if err != nil {
			return nil, "", err
		}
		if u.Name == cliActor(e) && !u.Has(registry.RoleKeeper) && slices.Contains(roles, registry.RoleKeeper) {
			return nil, "", fmt.Errorf("user %s: you cannot give yourself the keeper role; another administrator must", u.Name)
		}
		u.Roles = roles
		return map[string]any{"roles": roles}, fmt.Sprintf("roles of %s set to %s; its sessions have ended", u.Name, strings.Join(roles, ",")), nil
	})
}

func userEnable(ctx context.Context, e *env, disable bool, args []string) error {
	kind, verb := "user.enable", "enabled"
	if disable {
		kind, verb = "user.disable", "disabled; its sessions have ended"
	}
	return userChange(ctx, e, strings.TrimPrefix(kind, "user."), args, kind, nil, func(_ *registry.Tx, u *registry.User) (any, string, error) {
		u.Disabled = disable
		if !disable {
			u.Failed, u.LockedUntil = 0, time.Time{}
		}
		return nil, fmt.Sprintf("user %s %s", u.Name, verb), nil
	})
}

func userTOTP(ctx context.Context, e *env, args []string) error {
	var off *bool
	return userChange(ctx, e, "totp", args, "user.totp", func(fs *flagSet) {
		off = fs.Bool("off", false, "remove the second factor")
	}, func(_ *registry.Tx, u *registry.User) (any, string, error) {
		if *off {
			u.TOTPSecret = ""
			return map[string]any{"enabled": false}, "one-time codes turned off for " + u.Name, nil
		}
		secret, err := admin.NewTOTPSecret()
		if err != nil {
			return nil, "", err
		}
		u.TOTPSecret = secret
		return map[string]any{"enabled": true}, fmt.Sprintf("Add this to an authenticator app (or type the secret %s):\n%s",
			secret, admin.TOTPURI("Vahti", u.Name, secret)), nil
	})
}

// readNewPassword reads a password: prompted twice without echo on a
// terminal, else the first line of standard input. The policy is checked
// before anything is stored.
func readNewPassword(e *env, name string) (string, error) {
	var pw string
	if f, ok := e.stdin.(*os.File); ok && isTerminal(f) {
		p1, err := promptNoEcho(e, f, "New password for "+name+": ")
		if err != nil {
			return "", err
		}
		if err := admin.CheckPasswordPolicy(p1, name); err != nil {
			return "", err
		}
		p2, err := promptNoEcho(e, f, "Again: ")
		if err != nil {
			return "", err
		}
		if p1 != p2 {
			return "", errors.New("the passwords do not match")
		}
		pw = p1
	} else {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", usageErr("no password on standard input (pipe it in, or run on a terminal to be prompted)")
		}
	}
	if err := admin.CheckPasswordPolicy(pw, name); err != nil {
		return "", err
	}
	return pw, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func promptNoEcho(e *env, f *os.File, prompt string) (string, error) {
	fmt.Fprint(e.stderr, prompt)
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	defer func() {
		unix.IoctlSetTermios(fd, unix.TCSETS, old)
		fmt.Fprintln(e.stderr)
	}()
	var buf []byte
	b := make([]byte, 1)
	for {
		n, err := f.Read(b)
		if n == 1 {
			if b[0] == '\n' || b[0] == '\r' {
				break
			}
			buf = append(buf, b[0])
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", fmt.Errorf("terminal: %w", err)
		}
	}
	return string(buf), nil
}
