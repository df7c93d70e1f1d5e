package admin

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"vahti/registry"
	"vahti/seal"
)

const (
	cookieName = "vahti_session"
	ctxAuth    = "vahti.auth"
)

// principal is who is asking: a session user, or a script with a token.
type principal struct {
	user  registry.User
	sess  *session // nil for API tokens
	token bool
}

func (p *principal) has(roles ...string) bool {
	for _, r := range roles {
		if p.user.Has(r) {
			return true
		}
	}
	return false
}

func (p *principal) lang() string {
	if p == nil || p.user.Lang != "en" {
		return "fi"
	}
	return "en"
}

func authOf(c *gin.Context) *principal {
	if v, ok := c.Get(ctxAuth); ok {
		return v.(*principal)
	}
	return nil
}

// errLoginFailed is the one answer to every failed login, so the response
// does not tell whether the name exists or the account is locked.
var errLoginFailed = errors.New("wrong name or password")

// errThrottled is returned while a source address is throttled.
var errThrottled = errors.New("too many failed logins from this address; wait and try again")

// errBusy is returned when as many password checks as the box affords are
// already running: the client tries again in a moment (429, no queueing,
// so a flood cannot pile up argon2's memory).
var errBusy = errors.New("too many logins at once; try again in a moment")

// login checks a name and password (and TOTP code when enrolled), applies
// per-account-and-source lockout and per-address throttling, audits the
// outcome, and starts a session.
//
// The order is what bounds an attacker: the name is capped and looked up,
// the attempt's throttle and lockout slots are reserved, and only then is
// one of the few argon2 slots taken. A refused attempt costs no hash and
// at most one audit entry per address per window.
func (s *Server) login(ctx context.Context, name, password, totp, ip string) (string, *session, error) {
	now := s.now()
	name = strings.TrimSpace(name)
	source := sourceOf(ip)
	var u registry.User
	var totpStep int64 // the step of an accepted one-time code, spent with the session
	known := false
	if name != "" && utf8.RuneCountInString(name) <= maxLoginName {
		err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
			var err error
			u, err = tx.UserByName(name)
			return err
		})
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return "", nil, err
		}
		known = err == nil
	}
	// who names the attempt in the logs: an account's name, or a keyed
	// hash of what was typed, which may be a password in the wrong field.
	who, account := s.limits.unknownLabel(name), ""
	if known {
		who, account = u.Name, "user:"+u.Name
	} else {
		account = who
	}
	att, ref, until, recorded := s.limits.admit(account, source, now)
	if ref == locked && known && recorded {
		// An administrator may have lifted it (`user enable`, also from
		// the CLI): read the account again, now that the lock is known to
		// be in the table, and forget the lock if it is gone there.
		var cur registry.User
		err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
			var err error
			cur, err = tx.User(u.ID)
			return err
		})
		if err != nil {
			return "", nil, err
		}
		if cur.LockedUntil.Before(until) {
			s.limits.lift(account, source, until)
			att, ref, _, _ = s.limits.admit(account, source, now)
		}
	}
	if ref != admitted {
		why, answer := "account locked", errLoginFailed
		if ref == throttled {
			why, answer = "address throttled", errThrottled
		}
		if write, suppressed := s.limits.auditRefusal(source, now); write {
			detail := map[string]any{"why": why, "window_s": int(s.limits.window / time.Second)}
			if suppressed > 0 {
				detail["refused_unrecorded"] = suppressed
			}
			s.auditLog(ctx, who, ip, "login.fail", "user:"+who, detail)
			s.cfg.Log.Info("login refused; further refusals from this address are not recorded in this window",
				"user", who, "source", ip, "why", why)
		}
		return "", nil, answer
	}
	if !s.limits.tryHash() {
		att.cancel()
		return "", nil, errBusy
	}
	hash := s.dummyHash
	if known {
		hash = u.PassHash
	}
	// Always pay for one argon2 run, whatever the outcome.
	ok, herr := VerifyPassword(hash, password)
	why := ""
	switch {
	case !known:
		why = "unknown user"
	case herr != nil:
		why = "stored hash unreadable"
	case u.Disabled:
		why = "account disabled"
	case !ok:
		why = "wrong password"
	case u.TOTPSecret != "" && !acceptTOTP(u, totp, now, &totpStep):
		why = "wrong or missing one-time code"
	}
	// A keeper's login opens the site key from their wrap with the password
	// that just verified: a second argon2 run, in the same slot.
	var ring *seal.Keyring
	keys, keysErr := "", error(nil)
	if why == "" && u.Has(registry.RoleKeeper) {
		ring, keys, keysErr = s.unlockKeys(ctx, u, password)
	}
	s.limits.hashDone()
	if why != "" {
		lockedUntil := att.failed(now)
		err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
			detail := map[string]any{"why": why}
			if !lockedUntil.IsZero() {
				detail["locked_until"] = lockedUntil
				if known {
					// The users list shows the latest lock of any source;
					// `user enable` clears it, which lifts them all.
					cur, err := tx.User(u.ID)
					if err != nil {
						return err
					}
					if cur.LockedUntil.Before(lockedUntil) {
						cur.LockedUntil = lockedUntil
						if err := tx.UpdateUser(cur); err != nil {
							return err
						}
					}
				}
			}
			_, err := tx.Audit(who, ip, "login.fail", "user:"+who, detail)
			return err
		})
		if err != nil {
			return "", nil, err
		}
		if known && !lockedUntil.IsZero() {
			s.limits.recorded(account, source, lockedUntil)
		}
		s.cfg.Log.Info("login failed", "user", who, "source", ip, "why", why)
		return "", nil, errLoginFailed
	}
	att.succeeded()
	err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit(u.Name, ip, "login.ok", "user:"+u.Name, map[string]any{"roles": u.Roles})
		return err
	})
	if err != nil {
		return "", nil, err
	}
	id, sess, err := s.startSession(ctx, u, totpStep, ip, now)
	if err != nil {
		if ring != nil {
			ring.Wipe()
		}
		return "", nil, err
	}
	s.cfg.Log.Info("login", "user", u.Name, "source", ip)
	s.keyLogin(ctx, u, ip, sess, ring, keys, keysErr)
	return id, sess, nil
}

// keyLogin keeps the key a keeper's login opened, audits the outcome and
// leaves the page a message when the login opened no footage.
func (s *Server) keyLogin(ctx context.Context, u registry.User, ip string, sess *session, ring *seal.Keyring, keys string, keysErr error) {
	sess.keys = keys
	switch keys {
	case keysUnlocked:
		s.keys.hold(sess.key, ring)
		s.auditLog(ctx, u.Name, ip, "keys.unlock", "user:"+u.Name, nil)
	case keysNoGrant:
		s.auditLog(ctx, u.Name, ip, "keys.unlock", "user:"+u.Name, map[string]any{"opened": false, "why": "no grant"})
	case keysFailed:
		s.cfg.Log.Warn("login: the keeper's wrap did not open with their password", "user", u.Name, "err", keysErr)
		s.auditLog(ctx, u.Name, ip, "keys.unlock.fail", "user:"+u.Name, map[string]any{"why": errText(keysErr)})
	default:
		return
	}
	text := "sealed.nogrant"
	if keys == keysFailed {
		text = "sealed.unopened"
	}
	if keys != keysUnlocked && !u.MustChangePassword {
		if err := s.sessions.setFlash(ctx, sess, tr(langOf(u), text)); err != nil {
			s.cfg.Log.Warn("login: leaving the footage-keys message", "user", u.Name, "err", err)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func langOf(u registry.User) string {
	if u.Lang == "en" {
		return "en"
	}
	return "fi"
}

// startSession stores the session of a successful login. A one-time code's
// step is spent in the same transaction, so two logins racing with one
// code cannot both get a session: the loser is refused and audited.
func (s *Server) startSession(ctx context.Context, u registry.User, totpStep int64, ip string, now time.Time) (string, *session, error) {
	var id string
	var sess *session
	replayed := false
	err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		if totpStep > 0 {
			cur, err := tx.User(u.ID)
			if err != nil {
				return err
			}
			if totpStep <= cur.TOTPLastStep {
				replayed = true
				_, err := tx.Audit(u.Name, ip, "login.fail", "user:"+u.Name, map[string]any{"why": "one-time code already used"})
				return err
			}
			cur.TOTPLastStep = totpStep
			if err := tx.UpdateUser(cur); err != nil {
				return err
			}
		}
		var err error
		id, sess, err = s.sessions.add(tx, u.ID, now)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	if replayed {
		return "", nil, errLoginFailed
	}
	return id, sess, nil
}

func (s *Server) setSessionCookie(c *gin.Context, id string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.sessions.maxAge.Seconds())})
}

func clearSessionCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// identify finds the principal of a request, if any, and stores it. A
// bearer token counts only where tokens may be used (the JSON API); pages
// know sessions only, whatever headers a request carries.
func (s *Server) identify(c *gin.Context, tokens bool) {
	ctx := c.Request.Context()
	now := s.now()
	if h := c.GetHeader("Authorization"); tokens && strings.HasPrefix(h, "Bearer ") {
		tok := strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		if tok == "" {
			return
		}
		var t registry.Token
		var u registry.User
		err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
			var err error
			t, u, err = tx.TokenByHash(hashToken(tok))
			return err
		})
		if err != nil || u.Disabled {
			return
		}
		if now.Sub(t.LastUsed) >= registry.TokenTouchEvery {
			err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error { return tx.TouchToken(t.ID, now) })
			if err != nil {
				s.cfg.Log.Warn("admin: recording a token's use", "token", t.ID, "err", err)
			}
		}
		c.Set(ctxAuth, &principal{user: u, token: true})
		return
	}
	id, err := c.Cookie(cookieName)
	if err != nil {
		return
	}
	sess, err := s.sessions.get(ctx, id, now)
	if err != nil {
		s.cfg.Log.Error("admin: reading a session", "err", err)
		return
	}
	if sess == nil {
		return
	}
	var u registry.User
	err = s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		u, err = tx.User(sess.userID)
		return err
	})
	if err != nil || u.Disabled {
		s.sessions.delete(ctx, sess)
		return
	}
	c.Set(ctxAuth, &principal{user: u, sess: sess})
}

// passwordChangeRoutes are all an account with a one-time password may
// use until it has chosen its own (see registry.User.MustChangePassword).
var passwordChangeRoutes = map[string]bool{
	"GET /api/v1/session":     true,
	"DELETE /api/v1/session":  true,
	"GET /api/v1/me":          true,
	"PUT /api/v1/me/password": true,
	"GET /account":            true,
	"POST /account/password":  true,
	"POST /logout":            true,
}

// errMustChangePassword is the API's answer while a one-time password is
// still in use.
const errMustChangePassword = "your password was set by someone else and works only to choose your own: " +
	"PUT /api/v1/me/password with {\"old_password\", \"new_password\"}, then log in again"

// requireAuth refuses anonymous requests: 401 JSON for the API, a
// redirect to the login page for pages. An account whose password someone
// else set gets only the password change (API: 403; pages: a redirect to
// the account page, which then shows the change form alone).
func (s *Server) requireAuth(api bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		s.identify(c, api)
		if p := authOf(c); p != nil {
			if p.user.MustChangePassword && !passwordChangeRoutes[c.Request.Method+" "+c.FullPath()] {
				if api {
					c.Header("Cache-Control", "no-store")
					c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": errMustChangePassword, "password_change_required": true})
					return
				}
				c.Redirect(http.StatusSeeOther, "/account")
				c.Abort()
				return
			}
			c.Next()
			return
		}
		if api {
			jsonError(c, http.StatusUnauthorized, "not logged in")
			return
		}
		next := "/" // after a POST, the form is gone: start from the overview
		if c.Request.Method == http.MethodGet {
			next = c.Request.URL.Path
			if c.Request.URL.RawQuery != "" {
				next += "?" + c.Request.URL.RawQuery
			}
		}
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
		c.Abort()
	}
}

// requireRole refuses principals holding none of roles with 403.
func (s *Server) requireRole(api bool, roles ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := authOf(c)
		if p != nil && p.has(roles...) {
			c.Next()
			return
		}
		if api {
			jsonError(c, http.StatusForbidden, "your role does not allow this (needs "+strings.Join(roles, " or ")+")")
			return
		}
		s.renderError(c, http.StatusForbidden, "error.forbidden")
	}
}

// requireCSRF checks the session's CSRF token on every state-changing
// request made with a cookie. Token-authenticated scripts send no cookie a
// foreign site could ride on, so they need none.
func (s *Server) requireCSRF(api bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		p := authOf(c)
		if p != nil && p.token {
			c.Next()
			return
		}
		got := c.GetHeader("X-CSRF-Token")
		if got == "" && !api {
			got = c.PostForm("csrf")
		}
		if p == nil || p.sess == nil || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.sess.csrf)) != 1 {
			if api {
				jsonError(c, http.StatusForbidden, "missing or wrong CSRF token (send the X-CSRF-Token header from the login response)")
				return
			}
			s.renderError(c, http.StatusForbidden, "error.csrf")
			return
		}
		c.Next()
	}
}

func jsonError(c *gin.Context, code int, msg string) {
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(code, gin.H{"error": msg})
}

// validRoles normalises a role list from a form or JSON.
func validRoles(in []string) ([]string, bool) {
	var out []string
	for _, r := range in {
		for _, p := range strings.Split(r, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if !registry.ValidRole(p) {
				return nil, false
			}
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out, len(out) > 0
}

// safeNext keeps the post-login redirect on this host: n must be a path
// with a single leading "/", printable ASCII only (browsers drop tabs and
// newlines and read "\\" as "/", so "/\t/evil.example" and "/\\evil"
// would leave the site), with no scheme, host or user part, and none of
// that may appear after percent-decoding either. Anything else goes to
// the overview.
func safeNext(n string) string {
	if !localPath(n) {
		return "/"
	}
	return n
}

func localPath(n string) bool {
	if len(n) > 2048 || !strings.HasPrefix(n, "/") {
		return false
	}
	for i := 0; i < len(n); i++ {
		if b := n[i]; b <= ' ' || b >= 0x7f || b == '\\' {
			return false
		}
	}
	u, err := url.Parse(n)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	// The path, also once, twice and three times percent-decoded, must
	// start with exactly one slash and hold no backslash or control
	// character. The query cannot move the host and is left as it is.
	p := n
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	for range 4 {
		if len(p) < 1 || p[0] != '/' || (len(p) > 1 && (p[1] == '/' || p[1] == '\\')) {
			return false
		}
		if strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }) {
			return false
		}
		if p == "/api" || strings.HasPrefix(p, "/api/") {
			return false // after a login, a page; never a JSON answer
		}
		dec, err := url.PathUnescape(p)
		if err != nil {
			return false
		}
		if dec == p {
			return true
		}
		p = dec
	}
	return false // still encoded after three rounds: no page of ours looks like that
}
