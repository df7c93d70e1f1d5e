package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vahti/admin"
	"vahti/configs"
	"vahti/recorder/fakecam"
	"vahti/registry"
	"vahti/seal"
)

// demoCameras are the simulated cameras of 'vahti demo'.
var demoCameras = []configs.Camera{
	{ID: "yard", Name: "Piha", Purpose: "Asiakkaiden ja henkilökunnan turvallisuus pihalla", Transport: "auto"},
	{ID: "lobby", Name: "Aula", Purpose: "Sisäänkäynnin valvonta", Transport: "auto"},
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo")
	dir := fs.String("dir", "", "state directory (default: a new temporary directory, removed at exit)")
	listen := fs.String("listen", "127.0.0.1:8443", "admin UI address (HTTPS)")
	rtsp := fs.String("rtsp", "127.0.0.1:0", "address of the simulated cameras (RTSP)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.need(pos, 0, "no arguments"); err != nil {
		return err
	}
	log, err := newLogger(e.stderr, *logFormat)
	if err != nil {
		return err
	}
	if *dir != "" {
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return err
		}
	} else {
		d, err := os.MkdirTemp("", "vahti-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d) // demo footage only: nothing real is ever recorded here
		*dir = d
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}

	ids := make([]string, len(demoCameras))
	for i, c := range demoCameras {
		ids[i] = c.ID
	}
	cams, err := fakecam.Start(fakecam.Config{Listen: *rtsp, Cameras: ids, Codec: "h264", Audio: "aac"})
	if err != nil {
		return fmt.Errorf("simulated cameras: %w", err)
	}
	defer cams.Close()

	cfg, err := configs.Parse(configs.Example, e.getenv)
	if err != nil {
		return fmt.Errorf("embedded example config: %w", err)
	}
	cfg.StateDir = filepath.Join(abs, "state")
	cfg.Storage.Root = filepath.Join(abs, "recordings")
	cfg.Storage.SegmentDuration = configs.Duration(10 * time.Second)
	cfg.Admin.Listen = *listen
	// Sealed, as a new install: the demo shows footage opening only for a
	// keeper who is logged in.
	cfg.Storage.Encryption = configs.EncryptionSealed
	cfg.Cameras = nil
	for _, c := range demoCameras {
		c.URL = cams.URL(c.ID)
		cfg.Cameras = append(cfg.Cameras, c)
	}

	// The config is written out so that the other commands (status, hold,
	// export, purge --dry-run) can be tried against the running demo.
	b, err := cfg.Marshal()
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(abs, "vahti.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Vahti demo: simulated cameras at rtsp://%s/{%s}\n", cams.Addr(), strings.Join(ids, ","))
	fmt.Fprintf(e.stdout, "config: %s  (try: go run ./cmd/vahti status --config %s)\n", cfgPath, cfgPath)
	rk, err := demoKeys(ctx, e, cfgPath, abs)
	if err != nil {
		return err
	}
	defer rk.Wipe()
	return runService(ctx, e, cfg, log, func(s *service) {
		if err := demoLogins(ctx, e, s, rk); err != nil {
			log.Error("demo logins not created", "err", err)
		}
	})
}

// demoRecoveryFile is where the demo keeps its recovery key, so that a
// reused --dir can grant the demo keeper again. A real box never holds it.
const demoRecoveryFile = "recovery-key.txt"

// demoKeys runs vahti keys init for the demo's config and prints the
// recovery key; on a reused --dir it reads the key the first run kept.
func demoKeys(ctx context.Context, e *env, cfgPath, dir string) (seal.RecoveryKey, error) {
	keep := filepath.Join(dir, demoRecoveryFile)
	var out bytes.Buffer
	ie := *e
	ie.stdout = &out
	err := keysInit(ctx, &ie, []string{"--config", cfgPath, "--json"})
	if errors.Is(err, registry.ErrKeysExist) {
		rk, err := readRecoveryKeyFile(keep)
		if err != nil {
			return seal.RecoveryKey{}, fmt.Errorf("demo: the site keys of %s exist but its recovery key is gone: %w", dir, err)
		}
		fmt.Fprintf(e.stdout, "footage is sealed; the recovery key of this demo is in %s\n", keep)
		return rk, nil
	}
	if err != nil {
		return seal.RecoveryKey{}, fmt.Errorf("demo: keys init: %w", err)
	}
	var res struct {
		RecoveryKey string `json:"recovery_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return seal.RecoveryKey{}, fmt.Errorf("demo: keys init output: %w", err)
	}
	rk, err := seal.ParseRecoveryKey(res.RecoveryKey)
	if err != nil {
		return seal.RecoveryKey{}, err
	}
	if err := os.WriteFile(keep, []byte(res.RecoveryKey+"\n"), 0o600); err != nil {
		return seal.RecoveryKey{}, err
	}
	fmt.Fprintf(e.stdout, `
footage is sealed (vahti keys init ran). RECOVERY KEY:

    %s

On a real box keys init shows it once: print it and keep it in the data
protection officer's safe, away from the box. This demo keeps a copy in
%s so that you can try
vahti cat --config %s --recovery-key-file %s SEGMENT
`, res.RecoveryKey, keep, cfgPath, keep)
	return rk, nil
}

// demoLogins creates (or, on a reused --dir, resets) a demo keeper and a
// demo data protection officer with fresh random passwords, printed once.
// Nothing else in Vahti has a default password. The keeper is granted the
// sealed footage with the recovery key, as vahti user add
// --recovery-key-file does.
func demoLogins(ctx context.Context, e *env, s *service, rk seal.RecoveryKey) error {
	fmt.Fprintf(e.stdout, "\nadmin UI: %s  (self-signed certificate, SHA-256 %s)\n", s.adminURL, s.adm.Fingerprint())
	ring, err := demoRing(ctx, s.db, rk)
	if err != nil {
		return err
	}
	defer ring.Wipe()
	for _, u := range []struct{ name, role string }{{"demo-keeper", registry.RoleKeeper}, {"demo-dpo", registry.RoleDPO}} {
		pw := rand.Text()
		hash, err := admin.HashPassword(pw, admin.DefaultHashParams())
		if err != nil {
			return err
		}
		var wrap []byte
		if u.role == registry.RoleKeeper {
			if wrap, err = ring.WrapPassword([]byte(pw), seal.DefaultArgon2); err != nil {
				return err
			}
		}
		err = s.db.Update(ctx, func(tx *registry.Tx) error {
			old, err := tx.UserByName(u.name)
			id := old.ID
			if err == nil {
				old.PassHash, old.Failed, old.LockedUntil = hash, 0, time.Time{}
				err = tx.UpdateUser(old)
			} else {
				nu := registry.User{Name: u.name, Roles: []string{u.role}, PassHash: hash, Lang: "fi"}
				err = tx.AddUser(&nu)
				id = nu.ID
			}
			if err != nil {
				return err
			}
			if _, err = tx.Audit("system", "demo", "user.add", "user:"+u.name, map[string]any{"roles": []string{u.role}}); err != nil {
				return err
			}
			if wrap == nil {
				return nil
			}
			if err := tx.PutKeeperWrap(id, wrap, "demo"); err != nil {
				return err
			}
			_, err = tx.Audit("system", "demo", kindKeysGrant, "user:"+u.name, map[string]any{"with": "recovery_key"})
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "one-time login: %-12s password %s  (%s)\n", u.name, pw, u.role)
	}
	fmt.Fprintln(e.stdout, "Ctrl-C stops the demo.")
	return nil
}

// demoRing opens the demo's site keys with its recovery key.
func demoRing(ctx context.Context, db *registry.DB, rk seal.RecoveryKey) (*seal.Keyring, error) {
	var site seal.SitePublicKey
	var wrap []byte
	err := db.View(ctx, func(tx *registry.Tx) error {
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
	return seal.UnlockRecovery(site, wrap, rk)
}
