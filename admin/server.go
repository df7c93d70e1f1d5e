// Package admin is the registry keepers' web UI and JSON API: log in, find
// the moment, watch it, export it, hold it; the data protection officer's
// audit view; the administrator's user list. It serves HTTPS only.
//
// The parts it drives (recorder status, retention holds, exports and
// playback) are handed in as small interfaces and funcs in Config, so this
// package compiles and tests without them and serve.go wires the real ones.
package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"vahti/configs"
	"vahti/registry"
)

// CameraState is the live state of one camera's recording session. Its
// fields are exactly recorder.CameraStatus's, so serve.go can convert with
// admin.CameraState(st).
type CameraState struct {
	ID          string
	Name        string
	State       string    // "recording", "connecting", "offline", "auth failed", "paused (disk full)", "disabled"
	Since       time.Time // when State began
	LastFrame   time.Time
	BitrateBps  float64
	Segments    int64
	Reconnects  int64
	Error       string // already redacted: no camera credentials
	Codecs      []string
	Unsupported []string
}

// RetentionState is what the retention service reports for the dashboard.
// Zero fields are computed from the config and the catalog where possible.
type RetentionState struct {
	NextPurge      time.Time
	LastPurge      time.Time
	LastDeleted    int
	DiskTotal      uint64
	DiskFree       uint64
	WritingAllowed bool
	Paused         bool     // an interlock refuses deletions
	Alarms         []string // messages an operator must read
	AlarmKinds     []string // retention's kind of each alarm (clock-jump, …), for the UI's translated text
	HoldsForReview []int64
}

// HoldService places and releases legal holds; retention owns the rules
// (validation, the audit entry in the same transaction).
type HoldService interface {
	AddHold(ctx context.Context, h *registry.Hold, actor, source string) error
	ReleaseHold(ctx context.Context, id int64, actor, source, reason string) (registry.Hold, error)
}

// HoldFuncs adapts two funcs to HoldService, e.g.
//
//	admin.HoldFuncs{
//	    Add:     func(ctx context.Context, h *registry.Hold, a, s string) error { return retention.AddHold(ctx, db, h, a, s) },
//	    Release: func(ctx context.Context, id int64, a, s, r string) (registry.Hold, error) { return retention.ReleaseHold(ctx, db, id, a, s, r) },
//	}
type HoldFuncs struct {
	Add     func(ctx context.Context, h *registry.Hold, actor, source string) error
	Release func(ctx context.Context, id int64, actor, source, reason string) (registry.Hold, error)
}

func (f HoldFuncs) AddHold(ctx context.Context, h *registry.Hold, actor, source string) error {
	return f.Add(ctx, h, actor, source)
}
func (f HoldFuncs) ReleaseHold(ctx context.Context, id int64, actor, source, reason string) (registry.Hold, error) {
	return f.Release(ctx, id, actor, source, reason)
}

// ExportRequest has exactly export.Request's fields, so serve.go can pass
// export.Request(r) to (*export.Exporter).Export.
type ExportRequest struct {
	Cameras       []string
	From, To      time.Time
	Reason        string
	CaseRef       string
	Actor, Source string
	Request       *registry.RequestRef // the request the package is made for, named in the manifest
}

// ExportFunc writes an evidence package into <state_dir>/exports (and a
// copy to outPath when not empty; admin passes ""), records it in the
// registry's exports table and audits it. Wire it as
//
//	func(ctx context.Context, r admin.ExportRequest, out string) (registry.Export, error) {
//	    return exp.Export(ctx, export.Request(r), out)
//	}
type ExportFunc func(ctx context.Context, req ExportRequest, outPath string) (registry.Export, error)

// PlaybackFunc streams [from, to) of a camera as a seekable MP4 (Range
// requests). Authentication, the role check and the audit entry happen
// before admin calls it.
type PlaybackFunc func(w http.ResponseWriter, r *http.Request, camera string, from, to time.Time)

// Config is everything the admin server needs.
type Config struct {
	DB        *registry.DB
	Cfg       *configs.Config
	Now       func() time.Time     // nil: time.Now
	Log       *slog.Logger         // nil: discard
	Cameras   func() []CameraState // nil: every camera shown as "unknown"
	Holds     HoldService          // nil: holds are read-only
	Export    ExportFunc           // nil: exports unavailable
	Requests  RequestService       // nil: the request register is read-only
	Playback  PlaybackFunc         // nil: playback unavailable
	Jobs      JobService           // nil: no background jobs or redaction (jobs_api.go)
	Retention func() RetentionState
	// ConfirmPurge runs one retention pass that overrides the interlocks,
	// after the data protection officer has checked the alarm (the clock,
	// the catalog). It audits the override as actor from source and returns
	// how many segments went. nil: only `vahti purge --force` can confirm.
	ConfirmPurge func(ctx context.Context, actor, source string) (int, error)
	Version      string
	StateDir     string // default Cfg.StateDir; the self-signed cert and exports live here
	Listen       string // default Cfg.Admin.Listen
	// HashParams is the argon2id cost for passwords set through the UI;
	// zero: DefaultHashParams. Tests lower it.
	HashParams HashParams
	// Metrics receives the HTTP request counters (admin/metrics.go); nil:
	// none are kept.
	Metrics prometheus.Registerer
	// Alarms are the service's raised alarms, shown on the dashboard (nil:
	// none).
	Alarms func() []Alarm
	// Keyring holds the site key while a keeper is logged in (keyring.go);
	// wire its Unwrapper into the exporter. nil: the server makes its own.
	Keyring *Keyring
	// RecorderSeals reports whether the recorder seals new segments (with
	// storage.encryption left out it is decided at start, so keys made
	// since need a restart); nil: as the config and the site keys say.
	RecorderSeals func() bool
}

// Server is the admin UI.
type Server struct {
	cfg         Config
	loc         *time.Location
	engine      *gin.Engine
	sessions    *sessionStore
	limits      *loginLimits
	cert        tls.Certificate
	fingerprint string
	pages       map[string]*template.Template
	dummyHash   string                           // verified against for unknown names, so timing does not tell
	httpMetrics gin.HandlerFunc                  // nil: no metrics
	cams        atomic.Pointer[[]configs.Camera] // the live camera list (cameras.go); nil: Cfg's
	// previews admits one redaction preview at a time (jobs_api.go): each
	// runs ffmpeg, and a keeper clicking on, or a stolen session, must not
	// stack them up against the recorder's CPU.
	previews chan struct{}
	keys     *Keyring
	purges   lastPurge // the dashboard's sealing panel (sealing.go)
}

// New checks the config, loads or creates the TLS certificate and builds
// the routes.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil || cfg.Cfg == nil {
		return nil, errors.New("admin: DB and Cfg are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.StateDir == "" {
		cfg.StateDir = cfg.Cfg.StateDir
	}
	if cfg.Listen == "" {
		cfg.Listen = cfg.Cfg.Admin.Listen
	}
	if cfg.HashParams == (HashParams{}) {
		cfg.HashParams = DefaultHashParams()
	}
	a := cfg.Cfg.Admin
	s := &Server{
		cfg:      cfg,
		loc:      cfg.Cfg.Location(),
		sessions: newSessionStore(cfg.DB, a.SessionIdle.D(), a.SessionMaxAge.D()),
		limits:   newLoginLimits(a.LoginFailLimit, a.LockoutPeriod.D()),
		previews: make(chan struct{}, 1),
		keys:     cfg.Keyring,
	}
	if s.keys == nil {
		s.keys = NewKeyring(cfg.DB)
	}
	var err error
	if s.dummyHash, err = unmatchableHash(cfg.HashParams); err != nil {
		return nil, err
	}
	if s.cert, err = loadOrCreateCert(a.TLSCert, a.TLSKey, cfg.StateDir, cfg.Listen, cfg.Now()); err != nil {
		return nil, err
	}
	s.fingerprint = certFingerprint(s.cert)
	if s.pages, err = s.parseTemplates(); err != nil {
		return nil, err
	}
	if cfg.Metrics != nil {
		if s.httpMetrics, err = httpMetrics(cfg.Metrics); err != nil {
			return nil, fmt.Errorf("admin: metrics: %w", err)
		}
	}
	s.engine = s.routes()
	return s, nil
}

// Keys is the server's keyring (Config.Keyring, or its own).
func (s *Server) Keys() *Keyring { return s.keys }

// Fingerprint is the SHA-256 fingerprint of the served certificate
// (colon-separated hex), for `vahti status` and the first browser visit.
func (s *Server) Fingerprint() string { return s.fingerprint }

// Handler is the whole UI and API, for httptest.NewTLSServer.
func (s *Server) Handler() http.Handler { return s.engine }

// TLSConfig is the server's TLS configuration (TLS 1.2+).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{s.cert}}
}

// Run serves HTTPS on the configured address until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTPS on ln until ctx ends (Run with a listener of one's own).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.engine,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.cfg.Log.Info("admin UI listening", "url", "https://"+ln.Addr().String()+"/", "tls_sha256", s.fingerprint)
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	sweepCtx, stopSweep := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() { defer close(swept); s.runKeySweep(sweepCtx) }()
	defer func() { stopSweep(); <-swept }() // and wiped: a stopped UI holds no key
	select {
	case err := <-errc:
		return fmt.Errorf("admin: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// exportsDir is where packages made through the UI are written.
func (s *Server) exportsDir() string { return s.cfg.StateDir + string(os.PathSeparator) + "exports" }
