package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vahti/admin"
	"vahti/admin/export"
	"vahti/admin/internal/sealtest"
	"vahti/admin/redact"
	"vahti/configs"
	"vahti/registry"
	"vahti/retention"
	"vahti/seal"
)

func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (required under CI)", name)
		}
		t.Skipf("%s not installed", name)
	}
}

var base = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const password = "kaksi-kissaa-ja-koira"

// env is a service in miniature: registry, footage of camera yard,
// exporter, job runner and the admin API over TLS.
type env struct {
	t      *testing.T
	dir    string
	cfg    *configs.Config
	db     *registry.DB
	ex     *export.Exporter
	runner *Runner
	keys   *admin.Keyring // sealed footage only (newSealedEnv)
	ts     *httptest.Server
	stop   context.CancelFunc
	done   chan struct{}
}

var (
	srcMu sync.Mutex
	srcs  = map[string]string{}
)

// segment is one 3 s fMP4 segment of a detailed test picture (made once;
// two kinds, alternating, so long footage costs no more to make).
func segment(t *testing.T, k int) []byte {
	t.Helper()
	k %= 2
	srcMu.Lock()
	defer srcMu.Unlock()
	key := fmt.Sprint(k)
	p, ok := srcs[key]
	if !ok {
		p = filepath.Join(os.TempDir(), fmt.Sprintf("vahti-jobs-src-%d-%d.mp4", os.Getpid(), k))
		args := []string{"-v", "error", "-y", "-f", "lavfi", "-i",
			fmt.Sprintf("testsrc2=size=640x480:rate=25,drawgrid=w=6:h=6:t=1:c=white@0.7,trim=start=%d:duration=3,setpts=PTS-STARTPTS", 3*k),
			"-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-bf", "0", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
			"-movflags", "frag_keyframe+empty_moov+default_base_moof", p}
		if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		srcs[key] = p
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range srcs {
		os.Remove(p)
	}
	os.Exit(code)
}

// newEnv records nseg 3 s segments of yard from base and registers an
// access request over them.
func newEnv(t *testing.T, nseg int, find func(context.Context) (*redact.Tool, error)) *env {
	t.Helper()
	return buildEnv(t, nseg, find, false)
}

// newSealedEnv is newEnv with the footage sealed (site keys made, keeper
// granted under their password) and the service's keyring wired into the
// exporter, the admin server and the runner, as cmd/vahti does.
func newSealedEnv(t *testing.T, nseg int, find func(context.Context) (*redact.Tool, error)) *env {
	t.Helper()
	return buildEnv(t, nseg, find, true)
}

func buildEnv(t *testing.T, nseg int, find func(context.Context) (*redact.Tool, error), sealed bool) *env {
	t.Helper()
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	dir := t.TempDir()
	e := &env{t: t, dir: dir}
	y := fmt.Sprintf("state_dir: %s\nstorage:\n  root: %s\ncameras:\n  - id: yard\n    name: Piha\n    purpose: Turvallisuus\n    url: rtsp://127.0.0.1:8554/yard\nadmin:\n  listen: 127.0.0.1:0\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "rec"))
	cfg, err := configs.Parse([]byte(y), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	now := func() time.Time { return base.Add(3 * time.Hour) }
	db, err := registry.Open(cfg.StateDir, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	var segs []registry.Segment
	for k := 0; k < nseg; k++ {
		data := segment(t, k)
		start := base.Add(time.Duration(3*k) * time.Second)
		rel := registry.SegmentPath("yard", start)
		abs := filepath.Join(cfg.Storage.Root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(abs), 0o750)
		if err := os.WriteFile(abs, data, 0o640); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		seg := registry.Segment{Camera: "yard", Start: start, End: start.Add(3 * time.Second), Path: rel, Bytes: int64(len(data)),
			Codecs: "h264", Params: "test", SHA256: hex.EncodeToString(sum[:])}
		if err := db.Update(context.Background(), func(tx *registry.Tx) error { return tx.AddSegment(&seg) }); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, seg)
	}
	hash, err := admin.HashPassword(password, admin.HashParams{Memory: 1024, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(tx *registry.Tx) error {
		if err := tx.AddUser(&registry.User{Name: "dpo", Roles: []string{registry.RoleDPO}, PassHash: hash, Lang: "en"}); err != nil {
			return err
		}
		return tx.AddUser(&registry.User{Name: "keeper", Roles: []string{registry.RoleKeeper}, PassHash: hash, Lang: "en"})
	}); err != nil {
		t.Fatal(err)
	}
	if sealed {
		ring := sealtest.Site(t, db)
		for _, seg := range segs {
			sealtest.Seal(t, db, ring.Public(), filepath.Join(cfg.Storage.Root, filepath.FromSlash(seg.Path)), seg)
		}
		w, err := ring.WrapPassword([]byte(password), seal.Argon2Params{Time: 1, Memory: 1024, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		ring.Wipe() // the test's copy; the service gets its own at a login
		if err := db.Update(context.Background(), func(tx *registry.Tx) error {
			u, err := tx.UserByName("keeper")
			if err != nil {
				return err
			}
			return tx.PutKeeperWrap(u.ID, w, "test")
		}); err != nil {
			t.Fatal(err)
		}
		e.keys = admin.NewKeyring(db)
	}
	q := registry.Request{Kind: "access", Cameras: []string{"yard"}, From: base, To: base.Add(time.Duration(3*nseg) * time.Second),
		Reference: "SAR-1", Basis: "GDPR 15", Requester: "Testi Henkilö", Received: base}
	if _, err := retention.OpenRequest(context.Background(), db, &q, "keeper", "cli"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.ex = &export.Exporter{Root: cfg.Storage.Root, StateDir: cfg.StateDir, DB: db, Now: now, Version: "test", Log: log}
	e.runner = &Runner{DB: db, Exporter: e.ex, Cameras: cfg.CameraIDs, Log: log, Find: find}
	if e.keys != nil {
		e.ex.Unwrap = e.keys.Unwrapper()
		e.runner.Keys = e.keys
	}
	ex := e.ex
	srv, err := admin.New(admin.Config{DB: db, Cfg: cfg, Now: now, Log: log, Version: "test", Jobs: e.runner, Keyring: e.keys,
		Export: func(ctx context.Context, r admin.ExportRequest, out string) (registry.Export, error) {
			return ex.Export(ctx, export.Request(r), out)
		},
		HashParams: admin.HashParams{Memory: 1024, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewUnstartedServer(srv.Handler())
	e.ts.TLS = srv.TLSConfig()
	e.ts.StartTLS()
	t.Cleanup(e.ts.Close)
	return e
}

func retentionOpen(e *env, q *registry.Request) (registry.Hold, error) {
	return retention.OpenRequest(context.Background(), e.db, q, "keeper", "cli")
}

// start runs the job runner until the test ends (or stopRunner).
func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		if err := e.runner.Run(ctx); err != nil {
			e.t.Errorf("runner: %v", err)
		}
	}()
	e.t.Cleanup(e.stopRunner)
}

func (e *env) stopRunner() {
	if e.stop != nil {
		e.stop()
		<-e.done
		e.stop = nil
	}
}

// client is a logged-in keeper.
type client struct {
	e    *env
	c    *http.Client
	csrf string
}

func (e *env) login() *client {
	e.t.Helper()
	return e.loginAs("keeper")
}

func (e *env) loginAs(name string) *client {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := *e.ts.Client() // a copy: ts.Client() is one shared client, and each login has its own cookies
	c := &client{e: e, c: &hc}
	c.c.Jar = jar
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	code := c.do("POST", "/api/v1/session", map[string]string{"name": name, "password": password}, &out)
	if code != 200 {
		e.t.Fatalf("login: %d", code)
	}
	c.csrf = out.CSRF
	return c
}

// do sends JSON and decodes the JSON answer into out; it returns the status.
func (c *client) do(method, path string, body, out any) int {
	c.e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.e.ts.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	if resp.StatusCode >= 300 {
		c.e.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return resp.StatusCode
}

type jobView struct {
	ID       int64   `json:"id"`
	Kind     string  `json:"kind"`
	Request  int64   `json:"request"`
	State    string  `json:"state"`
	Progress float64 `json:"progress"`
	Package  string  `json:"package"`
	Error    string  `json:"error"`
}

// wait polls the job until pred holds (or 60 s).
func (c *client) wait(id int64, pred func(jobView) bool) jobView {
	c.e.t.Helper()
	var j jobView
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		j = jobView{}
		if code := c.do("GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil, &j); code != 200 {
			c.e.t.Fatalf("job %d: %d", id, code)
		}
		if pred(j) {
			return j
		}
	}
	c.e.t.Fatalf("job %d: still %+v", id, j)
	return j
}

func (e *env) auditKinds() map[string]int {
	out := map[string]int{}
	e.db.View(context.Background(), func(tx *registry.Tx) error {
		es, err := tx.AuditEntries(registry.AuditFilter{Limit: 5000})
		for _, x := range es {
			out[x.Kind]++
		}
		return err
	})
	return out
}

// leftovers lists work dirs and temp files under <state>/exports.
func (e *env) leftovers() []string {
	ents, _ := os.ReadDir(filepath.Join(e.cfg.StateDir, "exports"))
	var out []string
	for _, x := range ents {
		if strings.HasPrefix(x.Name(), ".") {
			out = append(out, x.Name())
		}
	}
	return out
}

// ffmpegsUnder lists running ffmpeg processes whose arguments name dir.
func ffmpegsUnder(dir string) []string {
	var out []string
	ps, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range ps {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "ffmpeg" && strings.Contains(string(b), dir) {
			out = append(out, p)
		}
	}
	return out
}
