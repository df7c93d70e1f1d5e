package registry

// KeyAccess is who can open sealed footage: whether the recovery wrap
// exists, the enabled keepers with and without a wrap of the site key,
// and the accounts that hold a wrap without being an enabled keeper (a
// wrap that should have been revoked). Names only, no key material: what
// the dashboard and vahti keys status show.
type KeyAccess struct {
	Recovery                    bool
	KeepersWith, KeepersWithout []string
	OtherWraps                  []string
}

// KeyAccess reads who can open sealed footage.
func (tx *Tx) KeyAccess() (KeyAccess, error) {
	var a KeyAccess
	wraps, err := tx.SealWraps()
	if err != nil {
		return a, err
	}
	wrapped := map[int64]bool{}
	for _, w := range wraps {
		if w.Kind == "recovery" {
			a.Recovery = true
		} else {
			wrapped[w.UserID] = true
		}
	}
	users, err := tx.Users()
	if err != nil {
		return a, err
	}
	for _, u := range users {
		keeper := u.Has(RoleKeeper) && !u.Disabled
		switch {
		case keeper && wrapped[u.ID]:
			a.KeepersWith = append(a.KeepersWith, u.Name)
		case keeper:
			a.KeepersWithout = append(a.KeepersWithout, u.Name)
		case wrapped[u.ID]:
			a.OtherWraps = append(a.OtherWraps, u.Name)
		}
	}
	return a, nil
}
