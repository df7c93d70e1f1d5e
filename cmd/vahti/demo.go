package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vahti/admin"
	"vahti/configs"
	"vahti/recorder/fakecam"
	"vahti/registry"
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
	return runService(ctx, e, cfg, log, func(s *service) {
		if err := demoLogins(ctx, e, s); err != nil {
			log.Error("demo logins not created", "err", err)
		}
	})
}

// demoLogins creates (or, on a reused --dir, resets) a demo keeper and a
// demo data protection officer with fresh random passwords, printed once.
// Nothing else in Vahti has a default password.
func demoLogins(ctx context.Context, e *env, s *service) error {
	fmt.Fprintf(e.stdout, "\nadmin UI: %s  (self-signed certificate, SHA-256 %s)\n", s.adminURL, s.adm.Fingerprint())
	for _, u := range []struct{ name, role string }{{"demo-keeper", registry.RoleKeeper}, {"demo-dpo", registry.RoleDPO}} {
		pw := rand.Text()
		hash, err := admin.HashPassword(pw, admin.DefaultHashParams())
		if err != nil {
			return err
		}
		err = s.db.Update(ctx, func(tx *registry.Tx) error {
			old, err := tx.UserByName(u.name)
			if err == nil {
				old.PassHash, old.Failed, old.LockedUntil = hash, 0, time.Time{}
				err = tx.UpdateUser(old)
			} else {
				err = tx.AddUser(&registry.User{Name: u.name, Roles: []string{u.role}, PassHash: hash, Lang: "fi"})
			}
			if err != nil {
				return err
			}
			_, err = tx.Audit("system", "demo", "user.add", "user:"+u.name, map[string]any{"roles": []string{u.role}})
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
