package admin

import (
	"context"

	"vahti/registry"
)

// footageAccess is what the users page and GET /api/v1/users say about
// sealed footage: which keepers hold a grant (a wrap of the site key), and
// whether the person looking can give one now. An administrator who is no
// keeper with access must learn from the page that a one-time password
// they set gives no access, and takes away access the keeper had.
type footageAccess struct {
	// Sealed: the site keys exist (vahti keys init ran); without them
	// there is nothing to grant and the page says nothing about it.
	Sealed bool
	// Granted names the accounts that hold a wrap.
	Granted map[string]bool
	// CanGrant: the viewer is a keeper with a grant and the keys are
	// open, so a one-time password they set carries the grant.
	CanGrant bool
}

// Of is name's access as the API spells it: grantMade or grantNone for an
// enabled keeper while footage is sealed, "" otherwise.
func (a footageAccess) Of(u registry.User) string {
	if !a.Sealed || !u.Has(registry.RoleKeeper) || u.Disabled {
		return ""
	}
	if a.Granted[u.Name] {
		return grantMade
	}
	return grantNone
}

// footageAccess reads the wraps for the viewer p.
func (s *Server) footageAccess(ctx context.Context, p *principal) (footageAccess, error) {
	var a footageAccess
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		if a.Sealed, err = sealed(tx); err != nil || !a.Sealed {
			return err
		}
		wraps, err := tx.SealWraps()
		if err != nil {
			return err
		}
		a.Granted = map[string]bool{}
		for _, w := range wraps {
			if w.Kind == "keeper" {
				a.Granted[w.UserName] = true
			}
		}
		ring, err := s.grantRing(tx, p)
		a.CanGrant = ring != nil
		return err
	})
	return a, err
}
