package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"vahti/registry"
	"vahti/seal"
)

// An administrator sets a one-time password for someone else's account
// (the person forgot theirs, or a keeper account needs footage access).
// As at account creation (addUser), the password is someone else's
// knowledge: it works once, to choose one's own. With sealed footage it is
// also the moment of a grant: a logged-in keeper with access wraps the key
// under the one-time password; anyone else's reset removes the account's
// wrap (it was under a password that no longer logs in), so footage
// access then waits for a keeper's grant.

// setOneTimePassword sets pw as name's one-time password, ending its
// sessions, and reports what it did about footage access (grantMade,
// grantNone, or "" when the account is no keeper or nothing is sealed).
func (s *Server) setOneTimePassword(ctx context.Context, p *principal, ip, name, pw string) (string, error) {
	if name == p.user.Name {
		return "", uerr("error.selfonetime")
	}
	if err := CheckPasswordPolicy(pw, name); err != nil {
		return "", uerr("error.password", strings.TrimPrefix(err.Error(), ErrWeakPassword.Error()+": "))
	}
	hash, err := HashPassword(pw, s.cfg.HashParams)
	if err != nil {
		return "", err
	}
	grant := ""
	err = s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		grant = ""
		u, err := tx.UserByName(name)
		if err != nil {
			return err
		}
		u.PassHash, u.MustChangePassword = hash, true
		if err := tx.UpdateUser(u); err != nil { // ends every session of the account
			return err
		}
		if _, err := tx.Audit(p.user.Name, ip, "user.passwd", "user:"+name, map[string]any{"one_time_password": true}); err != nil {
			return err
		}
		on, err := sealed(tx)
		if err != nil || !on {
			return err
		}
		gone, err := tx.DeleteKeeperWrap(u.ID)
		if err != nil {
			return err
		}
		if !u.Has(registry.RoleKeeper) || u.Disabled {
			return nil
		}
		grant = grantNone
		ring, err := s.grantRing(tx, p)
		if err != nil {
			return err
		}
		if ring == nil {
			if gone {
				_, err = tx.Audit(p.user.Name, ip, "keys.revoke", "user:"+name, map[string]any{"why": "one-time password set without a grant"})
			}
			return err
		}
		if err := s.grantUnder(tx, ring, p, ip, u, pw); err != nil {
			return err
		}
		grant = grantMade
		return nil
	})
	if err == nil {
		s.sweepKeys(ctx) // the account's sessions ended: one may have held the key
	}
	return grant, err
}

func (s *Server) pageSetOneTime(c *gin.Context) {
	p := authOf(c)
	name := c.Param("name")
	if c.PostForm("password") != c.PostForm("password2") {
		s.showUsers(c, http.StatusBadRequest, usersPage{}, tr(p.lang(), "error.passwordmatch"))
		return
	}
	grant, err := s.setOneTimePassword(c.Request.Context(), p, c.ClientIP(), name, c.PostForm("password"))
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			s.renderError(c, http.StatusNotFound, "error.nouser")
			return
		}
		s.showUsers(c, http.StatusBadRequest, usersPage{}, errorText(p.lang(), err))
		return
	}
	msg := trf(p.lang(), "users.onetimeset", name)
	switch grant {
	case grantMade:
		msg = trf(p.lang(), "users.onetimegranted", name)
	case grantNone:
		msg = trf(p.lang(), "users.onetimenogrant", name)
	}
	s.flashRedirect(c, "/users", msg)
}

func (s *Server) apiSetOneTime(c *gin.Context) {
	var in struct {
		Password string `json:"password"`
	}
	if c.ShouldBindJSON(&in) != nil || in.Password == "" {
		jsonError(c, http.StatusBadRequest, `expected JSON {"password": "a one-time password for the person"}`)
		return
	}
	grant, err := s.setOneTimePassword(c.Request.Context(), authOf(c), c.ClientIP(), c.Param("name"), in.Password)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	out := gin.H{"name": c.Param("name"), "one_time_password": true}
	if grant != "" {
		out["footage_access"] = grant
	}
	c.JSON(http.StatusOK, out)
}

// grantUnder wraps the site key (ring, open by p's login) for account u
// under its one-time password pw, in tx, audited "keys.grant": the
// keeper-to-keeper grant of account creation and of a one-time password.
func (s *Server) grantUnder(tx *registry.Tx, ring *seal.Keyring, p *principal, ip string, u registry.User, pw string) error {
	wrap, err := ring.WrapPassword([]byte(pw), s.wrapParams())
	if err != nil {
		return fmt.Errorf("grant to %s: %w", u.Name, err)
	}
	if err := tx.PutKeeperWrap(u.ID, wrap, p.user.Name); err != nil {
		return err
	}
	_, err = tx.Audit(p.user.Name, ip, "keys.grant", "user:"+u.Name, map[string]any{"wrap": "one-time password"})
	return err
}
