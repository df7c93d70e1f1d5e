package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"vahti/configs"
	"vahti/recorder"
	"vahti/recorder/fakecam"
	"vahti/registry"
	"vahti/retention"
)

// startService runs the service of c's config (with extra YAML appended)
// until the test ends and returns it once every part is started.
func startService(t *testing.T, c *cli, extra string) *service {
	t.Helper()
	s, stop := runServiceUntil(t, c, extra)
	t.Cleanup(stop)
	return s
}

// runServiceUntil is startService with a stop function (idempotent) for
// tests that stop the service midway.
func runServiceUntil(t *testing.T, c *cli, extra string) (*service, func()) {
	t.Helper()
	if extra != "" {
		f, err := os.OpenFile(c.config, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(extra)
		f.Close()
	}
	cfg, err := configs.Load(c.config, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, now: c.now,
		getenv: func(string) string { return "" }}
	got := make(chan *service, 1)
	done := make(chan error, 1)
	go func() {
		done <- runService(ctx, e, cfg, slog.New(slog.NewTextHandler(testLogOut(), &slog.HandlerOptions{Level: slog.LevelDebug})), func(s *service) { got <- s })
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("service: %v", err)
			}
		})
	}
	select {
	case s := <-got:
		return s, stop
	case err := <-done:
		t.Fatalf("service ended: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("service did not start")
	}
	return nil, stop
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the admin UI's self-signed certificate
	res, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// scrape fetches /metrics and parses it with Prometheus' own text parser.
func scrape(t *testing.T, s *service) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, s.metricsURL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, body)
	}
	return fams
}

// sample finds the value of name with exactly the given labels, checking
// the family's type.
func sample(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, labels ...string) (float64, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	if f.GetType() != typ {
		t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels)/2 {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch typ {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		default:
			return 1, true
		}
	}
	return 0, false
}

func mustSample(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, labels ...string) float64 {
	t.Helper()
	v, ok := sample(t, fams, name, typ, labels...)
	if !ok {
		t.Fatalf("no sample %s%v", name, labels)
	}
	return v
}

func TestMetricsScrape(t *testing.T) {
	c := newCLI(t, "yard", "lobby")
	now := time.Now().UTC()
	db := registryOf(t, c)
	// Real causes: expired footage the purge command deletes, fresh
	// footage an open police request holds in part.
	addFootage(t, c, db, now.Add(-29*24*time.Hour), 3)
	fresh := addFootage(t, c, db, now.Add(-time.Hour), 100)
	c.ok("purge", "--config", "$CONFIG")
	q := registry.Request{Kind: "police", Cameras: []string{"yard"}, From: fresh[0].Start, To: fresh[9].End,
		Reference: "ITÄ-123", Basis: "esitutkinta"}
	if _, err := retention.OpenRequest(context.Background(), db, &q, "keeper", "cli"); err != nil {
		t.Fatal(err)
	}
	// An access request received 40 days ago is past its one-month deadline.
	late := registry.Request{Kind: "access", Cameras: []string{"yard"}, From: fresh[0].Start, To: fresh[9].End,
		Reference: "SAR-7", Basis: "GDPR 15", Received: now.Add(-40 * 24 * time.Hour)}
	if _, err := retention.OpenRequest(context.Background(), db, &late, "keeper", "cli"); err != nil {
		t.Fatal(err)
	}

	s := startService(t, c, "metrics:\n  listen: 127.0.0.1:0\n")
	if code, _ := httpGet(t, s.adminURL+"login"); code != 200 {
		t.Fatalf("admin /login: %d", code)
	}
	httpGet(t, s.adminURL+"no/such/page")
	fams := scrape(t, s)

	G, C := dto.MetricType_GAUGE, dto.MetricType_COUNTER
	for _, cam := range []string{"yard", "lobby"} {
		if v := mustSample(t, fams, "vahti_camera_up", G, "camera", cam); v != 0 {
			t.Errorf("%s up = %v with no camera behind the URL", cam, v)
		}
		mustSample(t, fams, "vahti_camera_bitrate_bits_per_second", G, "camera", cam)
		mustSample(t, fams, "vahti_camera_reconnects_total", C, "camera", cam)
		mustSample(t, fams, "vahti_camera_segments_written_total", C, "camera", cam)
		if v := mustSample(t, fams, "vahti_camera_frames_total", C, "camera", cam); v != 0 {
			t.Errorf("%s frames = %v with no camera behind the URL", cam, v)
		}
		for _, r := range []string{"bad_rtp", "oversize", "time_jumps", "param_churn", "panics"} {
			if v := mustSample(t, fams, "vahti_camera_dropped_total", C, "camera", cam, "reason", r); v != 0 {
				t.Errorf("%s dropped %s = %v with no camera behind the URL", cam, r, v)
			}
		}
		if v := mustSample(t, fams, "vahti_retention_max_age_seconds", G, "camera", cam); v != 28*24*3600 {
			t.Errorf("%s max age %v", cam, v)
		}
	}
	if v := mustSample(t, fams, "vahti_camera_footage_bytes", G, "camera", "yard"); v != 400 {
		t.Errorf("yard bytes %v, want 400 (100 segments of 4 bytes left)", v)
	}
	if v := mustSample(t, fams, "vahti_purge_deleted_segments_total", C, "path", "expiry"); v != 3 {
		t.Errorf("expiry deletions %v, want 3", v)
	}
	if v := mustSample(t, fams, "vahti_purge_deleted_bytes_total", C, "path", "expiry"); v != 12 {
		t.Errorf("expiry bytes %v, want 12", v)
	}
	if v := mustSample(t, fams, "vahti_purge_deleted_segments_total", C, "path", "disk_guard"); v != 0 {
		t.Errorf("disk guard deletions %v", v)
	}
	mustSample(t, fams, "vahti_purge_deleted_segments_total", C, "path", "export_expiry")
	if v := mustSample(t, fams, "vahti_holds_active", G); v != 2 {
		t.Errorf("holds %v, want 2 (one per request)", v)
	}
	// The hold covers segments 0..9 and touches 10 at its edge (inclusive).
	if v := mustSample(t, fams, "vahti_held_bytes", G); v != 44 {
		t.Errorf("held bytes %v, want 44", v)
	}
	if v := mustSample(t, fams, "vahti_requests_open", G); v != 2 {
		t.Errorf("open requests %v, want 2", v)
	}
	if v := mustSample(t, fams, "vahti_requests_overdue", G); v != 1 {
		t.Errorf("overdue requests %v, want 1", v)
	}
	// Oldest unheld footage: segment 11 (the hold ends at 9's end, 10's start).
	age := mustSample(t, fams, "vahti_footage_oldest_unheld_age_seconds", G, "camera", "yard")
	if want := time.Since(fresh[11].Start).Seconds(); age < want-30 || age > want+30 {
		t.Errorf("oldest unheld age %v, want about %v", age, want)
	}
	if _, ok := sample(t, fams, "vahti_footage_oldest_unheld_age_seconds", G, "camera", "lobby"); ok {
		t.Error("lobby has no footage but an oldest age")
	}
	if v := mustSample(t, fams, "vahti_audit_chain_length", G); v < 3 {
		t.Errorf("audit chain length %v", v)
	}
	// The service signs a checkpoint at start; its age is read from the
	// signed checkpoint, not from a file's mtime.
	if v := mustSample(t, fams, "vahti_audit_checkpoint_age_seconds", G); v < 0 || v > 300 {
		t.Errorf("checkpoint age %v, want the few seconds since the service started", v)
	}
	if v := mustSample(t, fams, "vahti_registry_up", G); v != 1 {
		t.Errorf("registry up %v", v)
	}
	for _, n := range []string{"vahti_disk_free_bytes", "vahti_disk_total_bytes", "vahti_disk_floor_bytes",
		"vahti_recording_allowed", "vahti_retention_paused", "vahti_ready", "go_goroutines", "go_memstats_heap_alloc_bytes",
		"process_resident_memory_bytes"} {
		mustSample(t, fams, n, G)
	}
	mustSample(t, fams, "vahti_build_info", G, "version", version)
	if v := mustSample(t, fams, "vahti_http_requests_total", C, "route", "/login", "method", "GET", "status", "200"); v != 1 {
		t.Errorf("GET /login counted %v times", v)
	}
	// An unknown path is counted under one label, not its own.
	mustSample(t, fams, "vahti_http_requests_total", C, "route", "unmatched", "method", "GET", "status", "404")
	if f := fams["vahti_http_request_duration_seconds"]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		t.Error("no request duration histogram")
	}
	// Nothing personal or secret: no request reference, no URL password.
	_, body := httpGet(t, s.metricsURL+"/metrics")
	for _, bad := range []string{"ITÄ-123", "esitutkinta", "rtsp://", "keeper"} {
		if strings.Contains(body, bad) {
			t.Errorf("metrics carry %q", bad)
		}
	}
}

// Frames and drops come from real streams: a well-behaved camera's frames
// are counted, and a camera sending giant frames shows them as dropped,
// oversize, by camera and reason.
func TestMetricsCameraFramesAndDrops(t *testing.T) {
	good, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{"yard"}, Codec: "h264"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(good.Close)
	bad, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{"gate"}, Codec: "h264", Hostile: fakecam.HostileGiant})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bad.Close)
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, config: filepath.Join(dir, "vahti.yaml"), now: time.Now, envs: map[string]string{}}
	cfg := fmt.Sprintf("state_dir: %[1]s/state\nstorage:\n  root: %[1]s/rec\n  segment_duration: 1s\n  part_duration: 200ms\n"+
		"retention:\n  min_free: 1MiB\nadmin:\n  listen: 127.0.0.1:0\nmetrics:\n  listen: 127.0.0.1:0\ncameras:\n"+
		"  - id: yard\n    name: Yard\n    purpose: test\n    url: %[2]s\n    transport: tcp\n"+
		"  - id: gate\n    name: Gate\n    purpose: test\n    url: %[3]s\n    transport: tcp\n", dir, good.URL("yard"), bad.URL("gate"))
	os.WriteFile(c.config, []byte(cfg), 0o600)
	s := startService(t, c, "")
	pollUntil(t, 40*time.Second, "yard frames and gate's oversize drops", func() bool {
		y, _ := camStatusOf(s, "yard")
		g, _ := camStatusOf(s, "gate")
		return y.Frames >= 50 && g.Dropped.Oversize > 0
	})
	fams := scrape(t, s)
	C := dto.MetricType_COUNTER
	yard, _ := camStatusOf(s, "yard")
	frames := mustSample(t, fams, "vahti_camera_frames_total", C, "camera", "yard")
	// The scrape came before the status read, and both count up.
	if frames < 50 || frames > float64(yard.Frames) {
		t.Errorf("yard frames %v, status says %d", frames, yard.Frames)
	}
	if v := mustSample(t, fams, "vahti_camera_dropped_total", C, "camera", "gate", "reason", "oversize"); v < 1 {
		t.Errorf("gate oversize drops %v", v)
	}
	if v := mustSample(t, fams, "vahti_camera_dropped_total", C, "camera", "yard", "reason", "oversize"); v != 0 {
		t.Errorf("yard oversize drops %v from a well-behaved camera", v)
	}
	if v := mustSample(t, fams, "vahti_camera_frames_total", C, "camera", "gate"); v < 1 {
		t.Errorf("gate frames %v: the normal frames between the giant ones are recorded", v)
	}
}

// Every drop counter the recorder keeps is exported under its own reason.
func TestDropReasonsCoverEveryCounter(t *testing.T) {
	var d recorder.DropCounts
	v := reflect.ValueOf(&d).Elem()
	for i := 0; i < v.NumField(); i++ {
		v.Field(i).SetInt(int64(1) << i)
	}
	var sum int64
	seen := map[string]bool{}
	for _, r := range dropReasons(d) {
		sum += r.n
		seen[r.reason] = true
	}
	if sum != d.Total() || len(seen) != v.NumField() {
		t.Errorf("reasons %v sum to %d, the counters to %d", seen, sum, d.Total())
	}
	for i := 0; i < v.NumField(); i++ {
		if tag := v.Type().Field(i).Tag.Get("json"); !seen[tag] {
			t.Errorf("counter %s has no reason label %q", v.Type().Field(i).Name, tag)
		}
	}
}

// testLogOut is where started services log: stderr with VAHTI_TEST_LOG=1.
func testLogOut() io.Writer {
	if os.Getenv("VAHTI_TEST_LOG") == "1" {
		return os.Stderr
	}
	return io.Discard
}
