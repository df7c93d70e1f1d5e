package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vahti/admin"
	"vahti/admin/export"
	"vahti/registry"
	"vahti/seal"
)

// keyFlags are the two ways a command that reads footage opens sealed
// segments: a keeper's login password (read from stdin, never echoed or
// logged) or the recovery key from the data protection officer's safe.
type keyFlags struct {
	user         *string
	recoveryFile *string
}

// keyFlags declares --user and --recovery-key-file.
func (fs *flagSet) keyFlags() keyFlags {
	return keyFlags{
		user:         fs.String("user", "", "open sealed footage as this keeper (their login password is read from stdin)"),
		recoveryFile: fs.String("recovery-key-file", "", "open sealed footage with the recovery key in this file (as printed by keys init)"),
	}
}

// given reports whether either flag was set.
func (k keyFlags) given() bool { return *k.user != "" || *k.recoveryFile != "" }

// check refuses both flags at once (before any password is read).
func (k keyFlags) check() error {
	if *k.user != "" && *k.recoveryFile != "" {
		return usageErr("--user and --recovery-key-file: give one, not both")
	}
	return nil
}

// errNeedKeys says how to open sealed footage; commands wrap it with what
// they were asked to read.
var errNeedKeys = errors.New("the footage is sealed: give --user NAME (a keeper; their password on stdin) or --recovery-key-file FILE")

// Audit kinds of opening the site keys from the CLI.
const (
	kindKeysUnlock     = "keys.unlock"
	kindKeysUnlockFail = "keys.unlock.fail"
)

// unlock opens the site keyring as the flags say and returns the
// Unwrapper every reader of sealed footage takes (over the registry, one
// read transaction per lookup, so a key destroyed meanwhile is gone for it
// too) and the function that wipes the keyring: call it when the command
// is done with footage. purpose names the command in the audit entry. A
// failed attempt is audited too: a password tried against the wraps is a
// login attempt.
func (c *cmdEnv) unlock(ctx context.Context, k keyFlags, purpose string) (seal.Unwrapper, func(), error) {
	if err := k.check(); err != nil {
		return nil, nil, err
	}
	var ring *seal.Keyring
	var err error
	var object, with string
	switch {
	case *k.user != "":
		object, with = "user:"+*k.user, "password"
		ring, err = c.unlockPassword(ctx, *k.user)
	case *k.recoveryFile != "":
		object, with = "keys:recovery", "recovery_key"
		ring, err = c.unlockRecovery(ctx, *k.recoveryFile)
	default:
		return nil, nil, errNeedKeys
	}
	var wrong wrongSecret
	if errors.As(err, &wrong) {
		if aerr := c.audit(ctx, kindKeysUnlockFail, object, map[string]any{"with": with, "for": purpose}); aerr != nil {
			return nil, nil, errors.Join(err, aerr)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	// No audit entry, no footage.
	if err := c.audit(ctx, kindKeysUnlock, object, map[string]any{"with": with, "for": purpose}); err != nil {
		ring.Wipe()
		return nil, nil, err
	}
	return ring.Unwrapper(c.db.KeyStore(ctx)), ring.Wipe, nil
}

// wrongSecret is a password or recovery key that does not open the keys:
// audited as a failed attempt.
type wrongSecret struct{ error }

func (w wrongSecret) Unwrap() error { return w.error }

// siteKeyIn is the site public key, or an error naming keys init.
func siteKeyIn(tx *registry.Tx) (seal.SitePublicKey, error) {
	s, err := tx.SealSiteKey()
	if errors.Is(err, registry.ErrNoKeys) {
		return seal.SitePublicKey{}, errors.New("no site keys: this site's footage is not sealed (vahti keys init has not run), so --user and --recovery-key-file open nothing")
	}
	if err != nil {
		return seal.SitePublicKey{}, err
	}
	return seal.ParseSitePublicKey(s.PublicKey)
}

// unlockPassword opens the keyring with a keeper's login password: it
// must be the password of their account (the login hash) and open their
// wrap of the site key.
func (c *cmdEnv) unlockPassword(ctx context.Context, name string) (*seal.Keyring, error) {
	var u registry.User
	var site seal.SitePublicKey
	var wrap []byte
	err := c.db.View(ctx, func(tx *registry.Tx) error {
		var err error
		if site, err = siteKeyIn(tx); err != nil {
			return err
		}
		if u, err = tx.UserByName(name); errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("--user %s: no such account", name)
		} else if err != nil {
			return err
		}
		if !u.Has(registry.RoleKeeper) || u.Disabled {
			return fmt.Errorf("--user %s: not an enabled keeper (only keepers open footage)", name)
		}
		wrap, err = tx.KeeperWrap(u.ID)
		if errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("--user %s: no access to sealed footage yet (a logged-in keeper grants it in the UI, or: vahti keys grant --user %s --recovery-key-file FILE)", name, name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	pw, err := readPassword(c.e, "Login password of "+u.Name+": ")
	if err != nil {
		return nil, err
	}
	b := []byte(pw)
	defer clear(b)
	if ok, err := admin.VerifyPassword(u.PassHash, pw); err != nil || !ok {
		return nil, wrongSecret{fmt.Errorf("--user %s: wrong password", name)}
	}
	ring, err := seal.UnlockPassword(site, wrap, b)
	if errors.Is(err, seal.ErrUnlock) {
		// The login password is right but the wrap was made under another
		// one (a password changed without the keyring): it needs a new grant.
		return nil, fmt.Errorf("--user %s: the login password does not open this keeper's wrap of the site key; grant access again (vahti keys grant --user %s --recovery-key-file FILE)", name, name)
	}
	if err != nil {
		return nil, fmt.Errorf("--user %s: %w", name, err)
	}
	return ring, nil
}

// unlockRecovery opens the keyring with the recovery key in path.
func (c *cmdEnv) unlockRecovery(ctx context.Context, path string) (*seal.Keyring, error) {
	rk, err := readRecoveryKeyFile(path) // a typo is named by the key's checksum
	if err != nil {
		return nil, err
	}
	defer rk.Wipe()
	return c.unlockWith(ctx, rk)
}

// unlockWith opens the keyring with a parsed recovery key.
func (c *cmdEnv) unlockWith(ctx context.Context, rk seal.RecoveryKey) (*seal.Keyring, error) {
	var site seal.SitePublicKey
	var wrap []byte
	err := c.db.View(ctx, func(tx *registry.Tx) error {
		var err error
		if site, err = siteKeyIn(tx); err != nil {
			return err
		}
		wrap, err = tx.RecoveryWrap()
		return err
	})
	if err != nil {
		return nil, err
	}
	ring, err := seal.UnlockRecovery(site, wrap, rk)
	if errors.Is(err, seal.ErrUnlock) {
		return nil, wrongSecret{errors.New("--recovery-key-file: the recovery key does not open this site's keys (a key of another site?)")}
	}
	if err != nil {
		return nil, fmt.Errorf("--recovery-key-file: %w", err)
	}
	return ring, nil
}

// footageKeys prepares ex to read the footage of cams over [from, to):
// with --user or --recovery-key-file it opens the keys and sets
// ex.Unwrap; without them it refuses if any source segment there is
// sealed, naming the flags, rather than let the package lose it. The
// returned function wipes the keyring.
func (c *cmdEnv) footageKeys(ctx context.Context, ex *export.Exporter, k keyFlags, cams []string, from, to time.Time, purpose string) (func(), error) {
	if k.given() {
		unwrap, wipe, err := c.unlock(ctx, k, purpose)
		if err != nil {
			return nil, err
		}
		ex.Unwrap = unwrap
		return wipe, nil
	}
	n, err := c.sealedSources(ctx, cams, from, to)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, fmt.Errorf("%d source segment(s) of %s: %w", n, strings.Join(cams, ", "), errNeedKeys)
	}
	return func() {}, nil
}

// sealedSources counts the catalogued segments of cams over [from, to)
// whose file is sealed (starts with seal.Magic); a missing or unreadable
// file is left to the exporter, which reports it.
func (c *cmdEnv) sealedSources(ctx context.Context, cams []string, from, to time.Time) (int, error) {
	var segs []registry.Segment
	err := c.db.View(ctx, func(tx *registry.Tx) error {
		for _, cam := range cams {
			s, err := tx.SegmentsIn(cam, from, to)
			if err != nil {
				return err
			}
			segs = append(segs, s...)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range segs {
		if isSealedFile(filepath.Join(c.cfg.Storage.Root, filepath.FromSlash(s.Path))) {
			n++
		}
	}
	return n, nil
}

// isSealedFile reports whether the file at p starts with seal.Magic.
func isSealedFile(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [len(seal.Magic)]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && b == seal.Magic
}

// requestFootageKeys is footageKeys for the cameras and range of request id.
func (c *cmdEnv) requestFootageKeys(ctx context.Context, ex *export.Exporter, k keyFlags, id int64) (func(), error) {
	q, err := c.request(ctx, id)
	if err != nil {
		return nil, err
	}
	cams := q.Cameras
	if len(cams) == 1 && cams[0] == registry.AllCameras {
		cams = c.cfg.CameraIDs()
	}
	return c.footageKeys(ctx, ex, k, cams, q.From, q.To, fmt.Sprintf("request export %d", id))
}
