package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"vahti/admin"
	"vahti/registry"
	"vahti/seal"
)

// runKeys: vahti keys init|status, the sealed-footage keys (seal/DESIGN.md).
func runKeys(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "keys", args,
		subcommand{"init", keysInit},
		subcommand{"status", keysStatus},
		subcommand{"grant", keysGrant},
	)
}

// kindKeysInit is the audit kind of vahti keys init.
const kindKeysInit = "keys.init"

func keysInit(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys init")
	cfgPath, asJSON := fs.configFlags(`print {"recovery_key": …} as JSON`)
	page := fs.String("page", "", "html or pdf: write the recovery key as a printable A4 page to stdout (pipe it to lp or a USB stick; it is never written on the box)")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := sheetFormat(*page, *asJSON); err != nil {
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
	if *page != "" {
		err := writeRecoverySheet(ctx, e.stdout, *page, sheetData{Controller: ce.cfg.Controller.Name, Fingerprint: fp,
			Made: madeAt(e.now(), ce.cfg.Location()), KeyLines: keyLines(rk.String())})
		if err == nil {
			fmt.Fprintf(e.stderr, "Site keys made (site key %s). The recovery key sheet (%s) went to stdout, shown this once.\n", fp, *page)
			return nil
		}
		// The keys exist now: the key must not be lost with the page.
		fmt.Fprintf(e.stderr, "the recovery key sheet could not be made (%v); the key follows as text\n", err)
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
		acc, err := tx.KeyAccess()
		if err != nil {
			return err
		}
		v.Recovery = acc.Recovery
		v.KeepersWrap = append(v.KeepersWrap, acc.KeepersWith...)
		v.KeepersNoWrap = append(v.KeepersNoWrap, acc.KeepersWithout...)
		v.OtherWraps = append(v.OtherWraps, acc.OtherWraps...)
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

// kindKeysGrant is the audit kind of a keeper's wrap made with the recovery key.
const kindKeysGrant = "keys.grant"

// keysGrant gives an existing keeper access to sealed footage with the
// recovery key: the data protection officer brings the key, the keeper
// types their own login password (two people, by construction), and the
// site key is wrapped under that password.
func keysGrant(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys grant")
	cfgPath := fs.configFlag()
	name := fs.String("user", "", "the keeper to grant access to")
	rkFile := fs.String("recovery-key-file", "", "file holding the recovery key (as printed by keys init)")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := required("config", *cfgPath, "user", *name, "recovery-key-file", *rkFile); err != nil {
		return err
	}
	rk, err := readRecoveryKeyFile(*rkFile)
	if err != nil {
		return err
	}
	defer rk.Wipe()
	ce, err := openEnv(e, *cfgPath)
	if err != nil {
		return err
	}
	defer ce.Close()
	var u registry.User
	var site registry.SealSite
	var rw []byte
	if err := ce.db.View(ctx, func(tx *registry.Tx) error {
		if site, err = tx.SealSiteKey(); err != nil {
			return err
		}
		if rw, err = tx.RecoveryWrap(); err != nil {
			return err
		}
		u, err = tx.UserByName(*name)
		return err
	}); err != nil {
		return fmt.Errorf("--user %s: %w", *name, err)
	}
	if !u.Has(registry.RoleKeeper) || u.Disabled {
		return fmt.Errorf("--user %s: not an enabled keeper (only keepers open footage)", u.Name)
	}
	pub, err := seal.ParseSitePublicKey(site.PublicKey)
	if err != nil {
		return err
	}
	ring, err := seal.UnlockRecovery(pub, rw, rk)
	if errors.Is(err, seal.ErrUnlock) {
		return errors.New("--recovery-key-file: the recovery key does not open this site's keys")
	}
	if err != nil {
		return err
	}
	defer ring.Wipe()
	pw, err := readPassword(e, "Login password of "+u.Name+": ")
	if err != nil {
		return err
	}
	// The wrap must open with the password the keeper logs in with, or
	// their login could not unlock the footage.
	if ok, err := admin.VerifyPassword(u.PassHash, pw); err != nil || !ok {
		return fmt.Errorf("that is not %s's login password", u.Name)
	}
	wrap, err := ring.WrapPassword([]byte(pw), seal.DefaultArgon2)
	if err != nil {
		return err
	}
	err = ce.db.Update(ctx, func(tx *registry.Tx) error {
		if err := tx.PutKeeperWrap(u.ID, wrap, ce.actor); err != nil {
			return err
		}
		_, err := tx.Audit(ce.actor, cliSource, kindKeysGrant, "user:"+u.Name, map[string]any{"with": "recovery_key"})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s can now open sealed footage after logging in\n", u.Name)
	return nil
}

// readRecoveryKeyFile reads and parses a recovery key file.
func readRecoveryKeyFile(path string) (seal.RecoveryKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return seal.RecoveryKey{}, fmt.Errorf("--recovery-key-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return seal.RecoveryKey{}, fmt.Errorf("--recovery-key-file: %w", err)
	}
	if len(b) > 4096 {
		return seal.RecoveryKey{}, errors.New("--recovery-key-file: not a recovery key (over 4 KiB)")
	}
	defer clear(b)
	rk, err := seal.ParseRecoveryKey(string(b))
	if err != nil {
		return seal.RecoveryKey{}, fmt.Errorf("--recovery-key-file: %w", err)
	}
	return rk, nil
}

// readPassword reads an existing password: prompted without echo on a
// terminal, else the first line of standard input.
func readPassword(e *env, prompt string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && isTerminal(f) {
		return promptNoEcho(e, f, prompt)
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageErr("no password on standard input (pipe it in, or run on a terminal to be prompted)")
	}
	return pw, nil
}
