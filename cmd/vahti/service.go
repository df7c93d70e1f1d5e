package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"vahti/configs"
	"vahti/recorder"
	"vahti/registry"
)

// service is Vahti's long-running parts under one errgroup: each has
// Run(ctx) and stops when the context ends.
type service struct {
	cfg *configs.Config
	db  *registry.DB
	log *slog.Logger
	now func() time.Time
	rec *recorder.Recorder
}

// newLogger returns a structured logger writing to w.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, usageErr("--log-format: %q is not text or json", format)
}

// runService locks the state dir, opens the registry and runs every part
// until ctx ends or one part fails.
func runService(ctx context.Context, e *env, cfg *configs.Config, log *slog.Logger, ready func(*service)) error {
	unlock, err := registry.LockStateDir(cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.MkdirAll(cfg.Storage.Root, 0o750); err != nil {
		return fmt.Errorf("storage.root: %w", err)
	}
	db, err := openRegistry(e, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	s := &service{cfg: cfg, db: db, log: log, now: e.now}
	s.rec, err = recorder.New(recorder.Config{
		Root: cfg.Storage.Root, StateDir: cfg.StateDir, Cameras: cfg.Cameras,
		SegmentDuration: cfg.Storage.SegmentDuration.D(), PartDuration: cfg.Storage.PartDuration.D(),
		FsyncInterval: cfg.Storage.FsyncInterval.D(), DB: db, Now: e.now, Log: log,
	})
	if err != nil {
		return err
	}

	err = db.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit("system", "service", "service.start", "service", map[string]any{
			"version": version, "cameras": cfg.CameraIDs(), "max_age": cfg.Retention.MaxAge.String(),
		})
		return err
	})
	if err != nil {
		return err
	}
	log.Info("vahti started", "version", version, "cameras", len(cfg.Cameras), "storage", cfg.Storage.Root,
		"max_age", cfg.Retention.MaxAge.String())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.rec.Run(gctx) })
	g.Go(func() error { return s.writeStatus(gctx) })
	if cfg.Metrics.Listen != "" {
		g.Go(func() error { return s.serveMetrics(gctx, cfg.Metrics.Listen) })
	}
	if ready != nil {
		ready(s)
	}
	err = g.Wait()
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db.Update(stopCtx, func(tx *registry.Tx) error {
		_, err := tx.Audit("system", "service", "service.stop", "service", nil)
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// statusFileName is the live status the running service writes for
// 'vahti status', which runs as another process.
const statusFileName = "status.json"

// liveStatus is the content of status.json.
type liveStatus struct {
	Written time.Time               `json:"written"`
	PID     int                     `json:"pid"`
	Version string                  `json:"version"`
	Cameras []recorder.CameraStatus `json:"cameras"`
}

func (s *service) snapshot() liveStatus {
	return liveStatus{Written: s.now().UTC(), PID: os.Getpid(), Version: version, Cameras: s.rec.Status()}
}

func (s *service) writeStatus(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	p := filepath.Join(s.cfg.StateDir, statusFileName)
	for {
		b, err := json.MarshalIndent(s.snapshot(), "", "  ")
		if err == nil {
			tmp := p + ".tmp"
			if err = os.WriteFile(tmp, b, 0o600); err == nil {
				err = os.Rename(tmp, p)
			}
		}
		if err != nil {
			s.log.Warn("status file not written", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
