package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pollUntil polls cond every 100 ms until it holds or d passes.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	// systemd's notification socket, as systemd would pass it.
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)

	c := newCLI(t, "yard")
	s := startService(t, c, "metrics:\n  listen: 127.0.0.1:0\n")
	if code, body := httpGet(t, s.metricsURL+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	pollUntil(t, 15*time.Second, "/readyz ok", func() bool {
		code, _ := httpGet(t, s.metricsURL+"/readyz")
		return code == 200
	})
	// READY=1 first, then WATCHDOG=1 on the heartbeat.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	buf := make([]byte, 256)
	for len(got) < 2 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("notifications %v: %v", got, err)
		}
		got = append(got, string(buf[:n]))
	}
	if got[0] != "READY=1" || got[1] != "WATCHDOG=1" {
		t.Fatalf("notifications %v", got)
	}

	// A recorder that stops answering: not ready, and no more watchdog
	// pings (systemd then restarts the service).
	s.health.mu.Lock()
	s.health.recorderBeat = time.Now().Add(-time.Minute)
	s.health.mu.Unlock()
	if ok, why := s.live(); ok || why != "recorder not responding" {
		t.Fatalf("stale recorder: live=%v %q", ok, why)
	}
	// A registry whose write probe last succeeded long ago.
	s.health.mu.Lock()
	s.health.recorderBeat = time.Now()
	s.health.registryOK = time.Now().Add(-time.Minute)
	s.health.mu.Unlock()
	if ok, why := s.live(); ok || why != "registry not writable" {
		t.Fatalf("stale registry: live=%v %q", ok, why)
	}
}

func TestReadyzDiskBelowFloor(t *testing.T) {
	c := newCLI(t, "yard")
	// A floor no disk here has free: the disk guard finds nothing unheld to
	// delete and stops recording; readiness says why.
	s := startService(t, c, "retention:\n  min_free: 99%\nmetrics:\n  listen: 127.0.0.1:0\n")
	var body string
	pollUntil(t, 15*time.Second, "/readyz naming the disk", func() bool {
		var code int
		code, body = httpGet(t, s.metricsURL+"/readyz")
		return code == 503 && body == "not ready: disk below the floor\n"
	})
	if strings.Contains(body, c.dir) {
		t.Error("readyz names a path")
	}
	// The process still lives.
	if code, _ := httpGet(t, s.metricsURL+"/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
}

func TestMetricsOffByDefault(t *testing.T) {
	c := newCLI(t, "yard")
	s := startService(t, c, "")
	if s.metricsURL != "" {
		t.Fatalf("metrics listen by default: %s", s.metricsURL)
	}
	if err := s.probeRegistry(t.Context()); err != nil {
		t.Fatalf("probe on a healthy registry: %v", err)
	}
}
