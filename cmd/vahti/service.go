package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"vahti/admin"
	"vahti/admin/export"
	"vahti/admin/jobs"
	"vahti/checkpoint"
	"vahti/configs"
	"vahti/mp4read"
	"vahti/recorder"
	"vahti/registry"
	"vahti/retention"
	"vahti/seal"
)

// service is Vahti's long-running parts under one errgroup: each has
// Run(ctx) and stops when the context ends.
type service struct {
	cfg *configs.Config
	db  *registry.DB
	log *slog.Logger
	now func() time.Time
	rec *recorder.Recorder
	ret *retention.Retention
	exp *export.Exporter
	job *jobs.Runner
	// keys is the site key while a keeper is logged in (admin.Keyring).
	keys *admin.Keyring
	adm  *admin.Server
	cp   *checkpoint.Writer
	// epochs is nil when footage is not sealed (epochs.go).
	epochs *epochs
	// adminURL is where the admin UI listens, known once its socket is open.
	adminURL string
	// Operations (metrics.go, health.go): the Prometheus registry, the
	// heartbeat's view of health, and metrics.listen's URL once open.
	metrics    *prometheus.Registry
	health     health
	metricsURL string
	alarms     *alarms
	reloader   *reloader
	backups    backupState
	unheld     unheldCache
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
	if err := os.MkdirAll(cfg.Storage.Root, registry.SegmentDirMode); err != nil {
		return fmt.Errorf("storage.root: %w", err)
	}
	// Before anything is read or written: tighten what Vahti owns, refuse
	// what others could write or read.
	if err := registry.SecureDirs(cfg.StateDir, cfg.Storage.Root); err != nil {
		return err
	}
	db, err := openRegistry(e, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	s := &service{cfg: cfg, db: db, log: log, now: e.now}
	s.initOps(e.getenv)
	if err := s.build(); err != nil {
		return err
	}
	ops, err := s.openOps()
	if err != nil {
		return err
	}
	defer ops.close()
	adminLn, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	s.adminURL = "https://" + adminLn.Addr().String() + "/"

	// Before this start is recorded: a registry that never ran a service
	// but finds footage on disk pauses deletion (the old holds may be lost).
	if paused, err := retention.MarkNewRegistry(ctx, db, cfg.Storage.Root); err != nil {
		return err
	} else if paused {
		log.Warn("new registry database but footage already on disk: deletion paused until the registry is restored or the DPO confirms")
	}
	err = db.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.Audit("system", "service", "service.start", "service", map[string]any{
			"version": version, "cameras": cfg.CameraIDs(), "max_age": cfg.Retention.MaxAge.String(),
		})
		if err != nil {
			return err
		}
		return auditRetentionChange(tx, cfg)
	})
	if err != nil {
		return err
	}
	s.cp.WriteLogged(ctx, "start")
	log.Info("vahti started", "version", version, "cameras", len(cfg.Cameras), "storage", cfg.Storage.Root,
		"max_age", cfg.Retention.MaxAge.String())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.rec.Run(gctx) })
	if s.epochs != nil {
		g.Go(func() error { return s.epochs.run(gctx) })
	}
	g.Go(func() error { return s.ret.Run(gctx) })
	g.Go(func() error { return s.adm.Serve(gctx, adminLn) })
	g.Go(func() error { return s.job.Run(gctx) })
	g.Go(func() error { return s.writeStatus(gctx) })
	g.Go(func() error { return s.cp.Run(gctx) })
	g.Go(func() error { return ops.run(gctx) })
	if ready != nil {
		ready(s)
	}
	err = g.Wait()
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if db.Update(stopCtx, func(tx *registry.Tx) error {
		_, err := tx.Audit("system", "service", "service.stop", "service", nil)
		return err
	}) == nil {
		s.cp.WriteLogged(stopCtx, "stop")
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// build makes the parts and wires them to each other: the disk guard
// gates the recorder, the recorder's reconcile runs in the nightly purge,
// and the admin UI drives holds, exports and playback.
func (s *service) build() error {
	cfg, db := s.cfg, s.db
	// The box's key signs audit checkpoints as well as export manifests.
	signer, err := export.LoadOrCreateKey(cfg.StateDir)
	if err != nil {
		return err
	}
	s.cp = &checkpoint.Writer{DB: db, StateDir: cfg.StateDir, Signer: signer, Now: s.now,
		Log: s.log.With("part", "checkpoint")}
	s.ret, err = retention.New(retention.Config{
		Cfg: cfg, DB: db, Now: s.now, Log: s.log.With("part", "retention"),
		Reconcile: func(ctx context.Context) error {
			_, err := recorder.Reconcile(ctx, cfg.Storage.Root, db, s.now, s.log.With("part", "reconcile"))
			return err
		},
		Checkpoint: func(ctx context.Context) error {
			_, _, err := s.cp.Write(ctx, "purge-report")
			return err
		},
	})
	if err != nil {
		return err
	}
	s.epochs, err = sealingFor(context.Background(), cfg, db, s.now, s.log)
	if err != nil {
		return err
	}
	var sealEpoch recorder.EpochFunc
	if s.epochs != nil {
		sealEpoch = s.epochs.Epoch
	}
	s.rec, err = recorder.New(recorder.Config{
		Root: cfg.Storage.Root, StateDir: cfg.StateDir, Cameras: cfg.Cameras,
		SegmentDuration: cfg.Storage.SegmentDuration.D(), PartDuration: cfg.Storage.PartDuration.D(),
		FsyncInterval: cfg.Storage.FsyncInterval.D(), DB: db, Now: s.now, Log: s.log,
		CanWrite: s.ret.WritingAllowed, Seal: sealEpoch,
	})
	if err != nil {
		return err
	}
	s.exp = exporterFor(cfg, db, s.now, s.log)
	// Sealed footage opens with the key a keeper's login unlocks (admin's
	// keyring): the exporter, playback, jobs and redaction read through it.
	keys := admin.NewKeyring(db)
	s.exp.Unwrap = keys.Unwrapper()
	keys.OnOpen(s.sealPendingHolds)
	s.keys = keys
	// The admin UI checks every camera against its live list (which a
	// reload changes) before it exports or plays; the start-up list here
	// would refuse a camera added since.
	s.exp.Cameras = nil
	s.job = &jobs.Runner{DB: db, Exporter: s.exp, Log: s.log.With("part", "jobs"), Keys: keys,
		Cameras: func() []string { // the live list: a reload may add cameras
			var ids []string
			for _, c := range s.cameraStates() {
				ids = append(ids, c.ID)
			}
			return ids
		}}
	s.adm, err = admin.New(admin.Config{
		DB: db, Cfg: cfg, Now: s.now, Log: s.log.With("part", "admin"), Version: version, Metrics: s.metrics,
		Alarms:  s.adminAlarms,
		Cameras: s.cameraStates,
		Holds: admin.HoldFuncs{
			Add: func(ctx context.Context, h *registry.Hold, actor, source string) error {
				if err := retention.AddHold(ctx, db, h, actor, source); err != nil {
					return err
				}
				s.sealHoldKeys(ctx, h.ID, actor, source)
				return nil
			},
			Release: func(ctx context.Context, id int64, actor, source, reason string) (registry.Hold, error) {
				return retention.ReleaseHold(ctx, db, id, actor, source, reason)
			},
		},
		Requests: admin.RequestFuncs{
			Open: func(ctx context.Context, q *registry.Request, actor, source string) (registry.Hold, error) {
				return retention.OpenRequest(ctx, db, q, actor, source)
			},
			Close: func(ctx context.Context, id int64, in admin.RequestClose, actor, source string) (registry.Request, *registry.Hold, error) {
				return retention.CloseRequestWith(ctx, db, id, retention.CloseInput(in), actor, source)
			},
		},
		Export: func(ctx context.Context, r admin.ExportRequest, out string) (registry.Export, error) {
			return s.exp.Export(ctx, export.Request(r), out)
		},
		Playback:      s.exp.Playback,
		Jobs:          s.job,
		Retention:     s.retentionState,
		ConfirmPurge:  s.confirmPurge,
		Keyring:       keys,
		RecorderSeals: func() bool { return sealEpoch != nil },
	})
	return err
}

// confirmPurge runs one pass overriding the interlocks in the name of the
// person who confirmed (the override is audited as theirs). The interlock
// state lives in the registry, so the running retention sees the release.
func (s *service) confirmPurge(ctx context.Context, actor, source string) (int, error) {
	r, err := retention.New(retention.Config{Cfg: s.cfg, DB: s.db, Now: s.now, Log: s.log.With("part", "retention"),
		Actor: actor, Source: source})
	if err != nil {
		return 0, err
	}
	rep, err := r.PurgeWith(ctx, retention.PurgeOptions{Force: true})
	return len(rep.Segments), err
}

// exporterFor is the one place an Exporter is configured, for the service
// and the export command alike.
func exporterFor(cfg *configs.Config, db *registry.DB, now func() time.Time, log *slog.Logger) *export.Exporter {
	return &export.Exporter{Root: cfg.Storage.Root, StateDir: cfg.StateDir, DB: db, Now: now, Loc: cfg.Location(),
		Version: version, Log: log.With("part", "export"), Cameras: cfg.CameraIDs()}
}

func (s *service) cameraStates() []admin.CameraState {
	st := s.rec.Status()
	out := make([]admin.CameraState, 0, len(st))
	for _, c := range st {
		out = append(out, admin.CameraState{ID: c.ID, Name: c.Name, State: c.State, Since: c.Since,
			LastFrame: c.LastFrame, BitrateBps: c.BitrateBps, Segments: c.Segments, Reconnects: c.Reconnects,
			Error: c.Error, Codecs: c.Codecs, Unsupported: c.Unsupported})
	}
	return out
}

func (s *service) retentionState() admin.RetentionState {
	st := s.ret.Status()
	rs := admin.RetentionState{NextPurge: st.NextNightly, LastPurge: st.LastNightly, LastDeleted: st.LastSweepCount,
		DiskTotal: st.Disk.Total, DiskFree: st.Disk.Free, WritingAllowed: st.WritingAllowed, Paused: st.Paused,
		HoldsForReview: st.HoldsForReview}
	for _, a := range st.Alarms {
		rs.Alarms = append(rs.Alarms, a.Message)
		rs.AlarmKinds = append(rs.AlarmKinds, a.Kind)
	}
	return rs
}

// retentionPolicy is the part of the config whose changes the audit chain
// records: what decides how long footage is kept.
func retentionPolicy(cfg *configs.Config) map[string]string {
	p := map[string]string{
		"max_age": cfg.Retention.MaxAge.String(), "sweep_interval": cfg.Retention.SweepInterval.String(),
		"nightly_purge_at": cfg.Retention.NightlyPurgeAt, "timezone": cfg.Retention.Timezone,
		"min_free": cfg.Retention.MinFree.String(), "hold_auto_release": fmt.Sprint(cfg.Retention.HoldAutoRelease),
	}
	for _, c := range cfg.Cameras {
		p["camera."+c.ID+".max_age"] = configs.Duration(cfg.MaxAgeFor(c.ID)).String()
	}
	return p
}

const metaRetentionPolicy = "retention_policy"

// auditRetentionChange writes a "config.retention" entry when the policy
// differs from the one the service last started with.
func auditRetentionChange(tx *registry.Tx, cfg *configs.Config) error {
	cur := retentionPolicy(cfg)
	b, _ := json.Marshal(cur)
	prevJSON, err := tx.Meta(metaRetentionPolicy)
	if err != nil || prevJSON == string(b) {
		return err
	}
	var prev map[string]string
	json.Unmarshal([]byte(prevJSON), &prev)
	if _, err := tx.Audit("system", "service", "config.retention", "config", map[string]any{"from": prev, "to": cur}); err != nil {
		return err
	}
	return tx.SetMeta(metaRetentionPolicy, string(b))
}

// statusFileName is the live status the running service writes for
// 'vahti status', which runs as another process.
const statusFileName = "status.json"

// liveStatus is the content of status.json.
type liveStatus struct {
	Written   time.Time               `json:"written"`
	PID       int                     `json:"pid"`
	Version   string                  `json:"version"`
	AdminURL  string                  `json:"admin_url"`
	TLSSHA256 string                  `json:"admin_tls_sha256"`
	Cameras   []recorder.CameraStatus `json:"cameras"`
	Retention retention.Status        `json:"retention"`
	Alarms    []Alarm                 `json:"alarms"`
}

func (s *service) snapshot() liveStatus {
	return liveStatus{Written: s.now().UTC(), PID: os.Getpid(), Version: version, AdminURL: s.adminURL,
		TLSSHA256: s.adm.Fingerprint(), Cameras: s.rec.Status(), Retention: s.ret.Status(),
		Alarms: s.alarms.Active()}
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

// sealHoldKeys re-seals a new hold's segment keys out of their days'
// epochs and writes its key file, when a keeper's login has the site key
// open (a keeper places holds in the UI, so it normally is). Otherwise,
// or if it fails, the hold is in place all the same and its keys are
// sealed at the next keeper login (sealPendingHolds): until then the
// day's epoch stays, which keeps the footage and only delays the second
// erasure layer.
func (s *service) sealHoldKeys(ctx context.Context, id int64, actor, source string) {
	err := s.keys.Use(func(r *seal.Keyring) error {
		_, err := retention.SealHeldKeys(ctx, s.cfg, s.db, id, r, actor, source)
		return err
	})
	if err != nil && !errors.Is(err, mp4read.ErrLocked) {
		s.log.Warn("hold placed; sealing its keys is left to the next keeper login", "hold", id, "err", err)
	}
}

// sealPendingHolds seals the keys of holds placed while no key was open
// (from the command line), when a keeper's login opens it.
func (s *service) sealPendingHolds() {
	var res []retention.SealHeldResult
	err := s.keys.Use(func(r *seal.Keyring) error {
		var err error
		res, err = retention.SealPendingHeldKeys(context.Background(), s.cfg, s.db, r, "system", "service")
		return err
	})
	if err != nil {
		s.log.Warn("sealing the keys of pending holds", "err", err)
		return
	}
	if len(res) > 0 {
		s.log.Info("sealed the keys of holds placed without a keeper", "holds", len(res))
	}
}
