package admin

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vahti/configs"
	"vahti/registry"
)

// fakeClock is the injected clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// testPasswords: every test account's password.
const testPassword = "kaksi-kissaa-ja-koira"

var testUsers = map[string][]string{
	"keeper": {registry.RoleKeeper},
	"dpo":    {registry.RoleDPO},
	"admin":  {registry.RoleAdmin},
	"boss":   {registry.RoleKeeper, registry.RoleDPO, registry.RoleAdmin},
}

type harness struct {
	t        *testing.T
	dir      string
	cfg      *configs.Config
	db       *registry.DB
	clock    *fakeClock
	logs     *syncBuffer
	srv      *Server
	ts       *httptest.Server
	mu       sync.Mutex // guards playback and played: handlers run on server goroutines
	playback PlaybackFunc
	played   []string
}

func (h *harness) setPlayback(f PlaybackFunc) { h.mu.Lock(); defer h.mu.Unlock(); h.playback = f }

func (h *harness) playedCameras() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.played...)
}

type harnessOpt func(*Config)

func testConfig(t *testing.T, dir string) *configs.Config {
	t.Helper()
	y := fmt.Sprintf(`state_dir: %s
storage:
  root: %s
  segment_duration: 2s
  part_duration: 200ms
cameras:
  - id: yard
    name: Piha
    purpose: Turvallisuus pihalla
    url: rtsp://viewer:camsecret@127.0.0.1:8554/yard
  - id: lobby
    name: Aula
    purpose: Turvallisuus aulassa
    url: rtsp://127.0.0.1:8554/lobby
admin:
  listen: 127.0.0.1:0
  login_fail_limit: 3
  lockout: 10m
`, filepath.Join(dir, "state"), filepath.Join(dir, "rec"))
	cfg, err := configs.Parse([]byte(y), func(string) string { return "" })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// cheap argon2 parameters keep -race runs fast; production uses the default.
var testHash = HashParams{Memory: 1024, Time: 1, Threads: 1}

func newHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, clock: &fakeClock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	h.cfg = testConfig(t, dir)
	os.MkdirAll(h.cfg.Storage.Root, 0o755)
	db, err := registry.Open(h.cfg.StateDir, h.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.db = db
	for name, roles := range testUsers {
		hash, err := HashPassword(testPassword, testHash)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(context.Background(), func(tx *registry.Tx) error {
			return tx.AddUser(&registry.User{Name: name, Roles: roles, PassHash: hash, Lang: "fi"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	h.playback = func(w http.ResponseWriter, r *http.Request, camera string, from, to time.Time) {
		h.mu.Lock()
		h.played = append(h.played, camera)
		h.mu.Unlock()
		http.ServeContent(w, r, "clip.mp4", time.Time{}, bytes.NewReader([]byte("fake mp4 bytes for "+camera)))
	}
	cfg := Config{
		DB: db, Cfg: h.cfg, Now: h.clock.Now, Version: "test",
		Log: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Cameras: func() []CameraState {
			return []CameraState{{ID: "yard", State: "recording", Since: h.clock.Now().Add(-time.Hour), LastFrame: h.clock.Now(), BitrateBps: 812000}}
		},
		Holds:  fakeHolds{db: db},
		Export: fakeExport(db, h.cfg.StateDir),
		Playback: func(w http.ResponseWriter, r *http.Request, camera string, from, to time.Time) {
			h.mu.Lock()
			f := h.playback
			h.mu.Unlock()
			f(w, r, camera, from, to)
		},
		HashParams: testHash,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ts = httptest.NewUnstartedServer(h.srv.Handler())
	h.ts.TLS = h.srv.TLSConfig()
	h.ts.StartTLS()
	t.Cleanup(h.ts.Close)
	return h
}

// fakeHolds stands in for retention.AddHold/ReleaseHold: registry + audit.
type fakeHolds struct{ db *registry.DB }

func (f fakeHolds) AddHold(ctx context.Context, h *registry.Hold, actor, source string) error {
	return f.db.Update(ctx, func(tx *registry.Tx) error {
		if err := tx.AddHold(h); err != nil {
			return err
		}
		_, err := tx.Audit(actor, source, "hold.add", fmt.Sprintf("hold:%d", h.ID), map[string]any{"cameras": h.Cameras})
		return err
	})
}

func (f fakeHolds) ReleaseHold(ctx context.Context, id int64, actor, source, reason string) (registry.Hold, error) {
	var h registry.Hold
	err := f.db.Update(ctx, func(tx *registry.Tx) error {
		var err error
		if h, err = tx.ReleaseHold(id, actor, reason); err != nil {
			return err
		}
		_, err = tx.Audit(actor, source, "hold.release", fmt.Sprintf("hold:%d", id), map[string]any{"reason": reason})
		return err
	})
	return h, err
}

// fakeExport writes a small zip into <state>/exports like the real exporter.
func fakeExport(db *registry.DB, stateDir string) ExportFunc {
	n := 0
	var mu sync.Mutex
	return func(ctx context.Context, req ExportRequest, outPath string) (registry.Export, error) {
		mu.Lock()
		n++
		id := fmt.Sprintf("20261122-%04d", n)
		mu.Unlock()
		dir := filepath.Join(stateDir, "exports")
		os.MkdirAll(dir, 0o700)
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("manifest.json")
		json.NewEncoder(w).Encode(req)
		zw.Close()
		if err := os.WriteFile(filepath.Join(dir, id+".zip"), buf.Bytes(), 0o600); err != nil {
			return registry.Export{}, err
		}
		e := registry.Export{ID: id, Path: "exports/" + id + ".zip", Cameras: req.Cameras, From: req.From, To: req.To,
			FootageEnd: req.To, SHA256: "00", Bytes: int64(buf.Len()), Reason: req.Reason, CaseRef: req.CaseRef, CreatedBy: req.Actor}
		err := db.Update(ctx, func(tx *registry.Tx) error {
			if err := tx.AddExport(&e); err != nil {
				return err
			}
			_, err := tx.Audit(req.Actor, req.Source, "export.create", "export:"+id, map[string]any{"cameras": req.Cameras})
			return err
		})
		return e, err
	}
}

// client is a browser-like client with its own cookie jar.
type client struct {
	h    *harness
	c    *http.Client
	csrf string
}

func (h *harness) anon() *client {
	jar, _ := cookiejar.New(nil)
	c := h.ts.Client()
	cc := *c
	cc.Jar = jar
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{h: h, c: &cc}
}

// login logs in through the contract endpoint and keeps the CSRF token.
func (h *harness) login(name string) *client {
	h.t.Helper()
	c := h.anon()
	res, body := c.do("POST", "/api/v1/session", map[string]string{"name": name, "password": testPassword})
	if res.StatusCode != 200 {
		h.t.Fatalf("login %s: %d %s", name, res.StatusCode, body)
	}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	json.Unmarshal(body, &out)
	c.csrf = out.CSRF
	return c
}

// do sends JSON (body non-nil), or a form (body url.Values-like map with
// key "form"), with the CSRF header when the client has one.
func (c *client) do(method, path string, body any) (*http.Response, []byte) {
	c.h.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case formBody:
		rd, ct = strings.NewReader(string(b)), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.h.ts.URL+path, rd)
	if err != nil {
		c.h.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res, out
}

type formBody string

func (h *harness) auditKinds() []string {
	var out []string
	h.db.View(context.Background(), func(tx *registry.Tx) error {
		es, err := tx.AuditEntries(registry.AuditFilter{})
		for _, e := range es {
			out = append(out, e.Kind)
		}
		return err
	})
	return out
}

func (h *harness) auditEntries(kind string) []registry.Entry {
	var out []registry.Entry
	h.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		out, err = tx.AuditEntries(registry.AuditFilter{Kind: kind})
		return err
	})
	return out
}

func (h *harness) addSegments(camera string, from time.Time, n int, each time.Duration) {
	h.t.Helper()
	err := h.db.Update(context.Background(), func(tx *registry.Tx) error {
		for i := 0; i < n; i++ {
			st := from.Add(time.Duration(i) * each)
			s := registry.Segment{Camera: camera, Start: st, End: st.Add(each), Path: registry.SegmentPath(camera, st), Bytes: 1000}
			if err := tx.AddSegment(&s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}
