package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"gopkg.in/yaml.v3"

	"vahti/configs"
	"vahti/registry"
)

// Config reload: the config file is watched (fsnotify on its folder, so an
// editor's write-and-rename is seen) and SIGHUP reloads it too. A changed
// file is loaded and validated like at start:
//   - invalid: refused, logged and kept as the config-invalid alarm until a
//     valid file is seen; the running config stays;
//   - valid: the keys that differ are audited (config.reload: key names
//     only, never values, so no password ever reaches the chain). The
//     alarms.* keys apply at once; cameras.* too (a new camera starts, a
//     removed one finishes its segment and stops, a changed one restarts,
//     the others are not touched), unless a camera's max_age is involved;
//     every other key needs a restart and is reported so. The admin UI's
//     camera list follows (admin.Server.SetCameras).

// reloadDebounce gathers the burst of events one save makes.
const reloadDebounce = 300 * time.Millisecond

// liveKeyPrefixes are the keys applied without a restart.
var liveKeyPrefixes = []string{"alarms."}

type reloader struct {
	s         *service
	path      string
	getenv    func(string) string
	hup       chan os.Signal
	w         *fsnotify.Watcher // nil: the file is not watched
	closeOnce sync.Once
	// last is the flattened last valid config seen; reloads diff against it.
	last map[string]string
}

func (s *service) newReloader(getenv func(string) string) *reloader {
	r := &reloader{s: s, path: s.cfg.Path, getenv: getenv, hup: make(chan os.Signal, 1), last: flattenConfig(s.cfg)}
	// Registered now, before the service is reported started, so a SIGHUP
	// never meets the default action (which ends the process).
	signal.Notify(r.hup, syscall.SIGHUP)
	// Watched from now too, so no edit made after start is missed.
	if r.path != "" {
		w, err := fsnotify.NewWatcher()
		if err == nil {
			if err = w.Add(filepath.Dir(r.path)); err != nil {
				w.Close()
			}
		}
		if err != nil {
			s.log.Warn("config file not watched (SIGHUP still reloads)", "err", err)
		} else {
			r.w = w
		}
	}
	return r
}

// close stops the SIGHUP registration and the watch (idempotent).
func (r *reloader) close() {
	r.closeOnce.Do(func() {
		signal.Stop(r.hup)
		if r.w != nil {
			r.w.Close()
		}
	})
}

func (r *reloader) run(ctx context.Context) {
	defer r.close()
	var events <-chan fsnotify.Event
	var errs <-chan error
	if r.w != nil {
		events, errs = r.w.Events, r.w.Errors
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.hup:
			r.s.log.Info("SIGHUP: reloading the config")
			r.reload(ctx)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Clean(ev.Name) == filepath.Clean(r.path) && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				debounce = time.After(reloadDebounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.s.log.Warn("config watch", "err", err)
		case <-debounce:
			debounce = nil
			r.reload(ctx)
		}
	}
}

// reloadResult is what one reload did (for tests and the audit entry).
type reloadResult struct {
	Changed      []string `json:"changed"`
	Applied      []string `json:"applied"`
	NeedsRestart []string `json:"needs_restart"`
	// Cameras the recorder started, stopped and restarted.
	Started   []string `json:"cameras_started,omitempty"`
	Stopped   []string `json:"cameras_stopped,omitempty"`
	Restarted []string `json:"cameras_restarted,omitempty"`
}

func (r *reloader) reload(ctx context.Context) (reloadResult, error) {
	s := r.s
	var res reloadResult
	if r.path == "" {
		return res, fmt.Errorf("no config file to reload")
	}
	cfg, err := configs.Load(r.path, r.getenv)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		s.alarms.setConfigError(msg)
		s.log.Error("config reload refused; the running config stays", "err", msg)
		return res, err
	}
	s.alarms.setConfigError("")
	next := flattenConfig(cfg)
	for k := range union(r.last, next) {
		if r.last[k] != next[k] {
			res.Changed = append(res.Changed, k)
		}
	}
	sort.Strings(res.Changed)
	if len(res.Changed) == 0 {
		return res, nil
	}
	// Cameras apply live unless a camera's effective max_age would differ
	// from the one retention runs with (the config it started with): footage
	// could otherwise be kept longer than the new config says.
	var camKeys []string
	for _, k := range res.Changed {
		if strings.HasPrefix(k, "cameras.") {
			camKeys = append(camKeys, k)
		}
	}
	camsLive := true
	for _, cam := range cfg.Cameras {
		// s.cfg is what retention runs with (a camera it does not know
		// gets the global max_age).
		camsLive = camsLive && s.cfg.MaxAgeFor(cam.ID) == cfg.MaxAgeFor(cam.ID)
	}
	if len(camKeys) > 0 && camsLive {
		rc, err := s.rec.Reconfigure(cfg.Cameras)
		if err != nil {
			s.log.Error("cameras not reconfigured", "err", err)
			camsLive = false
		} else {
			res.Started, res.Stopped, res.Restarted = rc.Started, rc.Stopped, rc.Restarted
			s.log.Info("cameras reconfigured", "started", rc.Started, "stopped", rc.Stopped, "restarted", rc.Restarted)
			if s.adm != nil {
				s.adm.SetCameras(cfg.Cameras) // the UI shows and accepts the new list now
			}
		}
	}
	for _, k := range res.Changed {
		if isLiveKey(k) || (camsLive && strings.HasPrefix(k, "cameras.")) {
			res.Applied = append(res.Applied, k)
		} else {
			res.NeedsRestart = append(res.NeedsRestart, k)
		}
	}
	s.alarms.setConfig(cfg.Alarms)
	r.last = next
	err = s.db.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit("system", "service", "config.reload", "config", res)
		return err
	})
	if err != nil {
		s.log.Error("config reload not audited", "err", err)
	}
	s.log.Info("config reloaded", "changed", res.Changed, "applied", res.Applied)
	if len(res.NeedsRestart) > 0 {
		s.log.Warn("config changes that need a restart (systemctl restart vahti)", "keys", res.NeedsRestart)
	}
	return res, err
}

func isLiveKey(k string) bool {
	for _, p := range liveKeyPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func union(a, b map[string]string) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

// flattenConfig maps each leaf key ("retention.max_age",
// "cameras.yard.url") to a comparable value. Cameras are keyed by id, so a
// reordering is no change. Values are only compared, never logged or
// audited (a URL holds the camera's password).
func flattenConfig(c *configs.Config) map[string]string {
	out := map[string]string{}
	cp := *c
	cp.Cameras = nil
	b, err := yaml.Marshal(&cp)
	if err == nil {
		var m map[string]any
		if yaml.Unmarshal(b, &m) == nil {
			delete(m, "cameras")
			flattenInto(out, "", m)
		}
	}
	for _, cam := range c.Cameras {
		b, err := yaml.Marshal(cam)
		if err != nil {
			continue
		}
		var m map[string]any
		if yaml.Unmarshal(b, &m) == nil {
			flattenInto(out, "cameras."+cam.ID+".", m)
		}
	}
	return out
}

func flattenInto(out map[string]string, prefix string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			flattenInto(out, prefix+k+".", vv)
		}
	default:
		out[strings.TrimSuffix(prefix, ".")] = fmt.Sprint(x)
	}
}
