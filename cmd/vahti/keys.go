package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"vahti/registry"
	"vahti/seal"
)

// runKeys: vahti keys init|status, the sealed-footage keys (seal/DESIGN.md).
func runKeys(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "keys", args,
		subcommand{"init", keysInit},
		subcommand{"status", keysStatus},
	)
}

// kindKeysInit is the audit kind of vahti keys init.
const kindKeysInit = "keys.init"

func keysInit(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys init")
	cfgPath, asJSON := fs.configFlags(`print {"recovery_key": …} as JSON`)
	if err := fs.parseNone(args); err != nil {
		return err
	}
	ce, err := openEnv(e, *cfgPath)
	if err != nil {
		return err
	}
	defer ce.Close()
	// Refuse before making anything: a second site key would orphan
	// every epoch (and so every segment) sealed to the first.
	if err := ce.db.View(ctx, func(tx *registry.Tx) error {
		s, err := tx.SealSiteKey()
		if err == nil {
			return fmt.Errorf("%w (made %s by %s); keys init runs once, and its recovery key is the one in the safe",
				registry.ErrKeysExist, s.Created.Format(time.RFC3339), s.CreatedBy)
		}
		if errors.Is(err, registry.ErrNoKeys) {
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	ring, err := seal.NewSite()
	if err != nil {
		return err
	}
	defer ring.Wipe()
	rk, err := seal.NewRecoveryKey()
	if err != nil {
		return err
	}
	defer rk.Wipe()
	rw, err := ring.WrapRecovery(rk)
	if err != nil {
		return err
	}
	rp, err := rk.Public()
	if err != nil {
		return err
	}
	day := seal.EpochFor(e.now())
	epub, esealed, err := seal.NewEpoch(ring.Public(), day)
	if err != nil {
		return err
	}
	fp := ring.Public().Fingerprint()
	err = ce.db.Update(ctx, func(tx *registry.Tx) error {
		site := registry.SealSite{PublicKey: ring.Public().Bytes(), RecoveryPublicKey: rp.Bytes(), CreatedBy: ce.actor}
		if err := tx.InitSealSite(site, rw); err != nil {
			return err
		}
		if err := tx.AddEpoch(int64(day), epub.Bytes(), esealed); err != nil {
			return err
		}
		_, err := tx.Audit(ce.actor, cliSource, kindKeysInit, "keys:site",
			map[string]any{"site_key": fp, "first_epoch": day.String()})
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, map[string]string{"recovery_key": rk.String(), "site_key": fp, "first_epoch": day.String()})
	}
	fmt.Fprintf(e.stdout, `Site keys made (site key %s).

RECOVERY KEY: shown this once, never stored on this box.

    %s

Write it down or print this page, and keep it in the data protection
officer's safe, away from the box. With the registry it opens all footage
that is still kept; without it, footage is readable only while a keeper
with a wrap of the site key exists. Vahti cannot show it again.
`, fp, rk.String())
	return nil
}

type keysStatusView struct {
	Sealed        bool       `json:"sealed_keys"`
	SiteKey       string     `json:"site_key,omitempty"`
	Created       *time.Time `json:"created,omitempty"`
	CreatedBy     string     `json:"created_by,omitempty"`
	Recovery      bool       `json:"recovery_wrap"`
	KeepersWrap   []string   `json:"keepers_with_access"`
	KeepersNoWrap []string   `json:"keepers_without_access"`
	// OtherWraps are wraps of accounts that are no longer enabled keepers
	// (left for the grant flow to delete).
	OtherWraps       []string `json:"wraps_of_non_keepers"`
	EpochsLive       int      `json:"epochs_live"`
	EpochsDestroyed  int      `json:"epochs_destroyed"`
	LatestEpoch      string   `json:"latest_epoch,omitempty"`
	SegmentKeysCount int      `json:"segment_keys"`
}

func keysStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys status")
	cfgPath, asJSON := fs.configFlags("print JSON")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	ce, err := openEnv(e, *cfgPath)
	if err != nil {
		return err
	}
	defer ce.Close()
	v := keysStatusView{KeepersWrap: []string{}, KeepersNoWrap: []string{}, OtherWraps: []string{}}
	err = ce.db.View(ctx, func(tx *registry.Tx) error {
		s, err := tx.SealSiteKey()
		if errors.Is(err, registry.ErrNoKeys) {
			return nil
		}
		if err != nil {
			return err
		}
		pub, err := seal.ParseSitePublicKey(s.PublicKey)
		if err != nil {
			return err
		}
		v.Sealed, v.SiteKey, v.Created, v.CreatedBy = true, pub.Fingerprint(), &s.Created, s.CreatedBy
		wraps, err := tx.SealWraps()
		if err != nil {
			return err
		}
		wrapped := map[int64]bool{}
		for _, w := range wraps {
			if w.Kind == "recovery" {
				v.Recovery = true
			} else {
				wrapped[w.UserID] = true
			}
		}
		users, err := tx.Users()
		if err != nil {
			return err
		}
		for _, u := range users {
			keeper := u.Has(registry.RoleKeeper) && !u.Disabled
			switch {
			case keeper && wrapped[u.ID]:
				v.KeepersWrap = append(v.KeepersWrap, u.Name)
			case keeper:
				v.KeepersNoWrap = append(v.KeepersNoWrap, u.Name)
			case wrapped[u.ID]:
				v.OtherWraps = append(v.OtherWraps, u.Name)
			}
		}
		if v.EpochsLive, v.EpochsDestroyed, err = tx.EpochCounts(); err != nil {
			return err
		}
		if ep, err := tx.LatestEpoch(); err == nil {
			v.LatestEpoch = seal.EpochID(ep.Day).String()
		} else if !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		v.SegmentKeysCount, err = tx.SegmentKeyCount()
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, v)
	}
	if !v.Sealed {
		fmt.Fprintln(e.stdout, "no site keys: footage is not sealed (vahti keys init makes them)")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	none := func(l []string) string {
		if len(l) == 0 {
			return "-"
		}
		return strings.Join(l, ", ")
	}
	fmt.Fprintf(tw, "site key\t%s (made %s by %s)\n", v.SiteKey, v.Created.Format(time.RFC3339), v.CreatedBy)
	fmt.Fprintf(tw, "recovery wrap\t%v\n", v.Recovery)
	fmt.Fprintf(tw, "keepers with access\t%s\n", none(v.KeepersWrap))
	fmt.Fprintf(tw, "keepers without access\t%s\n", none(v.KeepersNoWrap))
	if len(v.OtherWraps) > 0 {
		fmt.Fprintf(tw, "wraps of non-keepers\t%s\n", none(v.OtherWraps))
	}
	fmt.Fprintf(tw, "epochs\t%d live, %d destroyed, latest %s\n", v.EpochsLive, v.EpochsDestroyed, v.LatestEpoch)
	fmt.Fprintf(tw, "segment keys\t%d\n", v.SegmentKeysCount)
	return tw.Flush()
}
