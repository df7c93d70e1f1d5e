package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func reloadEntries(t *testing.T, c *cli) []reloadResult {
	t.Helper()
	var out []reloadResult
	for _, e := range auditKinds(t, registryOf(t, c), "config.reload") {
		var r reloadResult
		if err := json.Unmarshal(e.Detail, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func editConfig(t *testing.T, c *cli, from, to string) {
	t.Helper()
	b, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), from) {
		t.Fatalf("config lacks %q", from)
	}
	// Write-and-rename, as editors do.
	tmp := c.config + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Replace(string(b), from, to, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, c.config); err != nil {
		t.Fatal(err)
	}
}

func TestConfigReloadWatchedFile(t *testing.T) {
	c := newCLI(t, "yard")
	c.envs["VAHTI_CAMERA_YARD_PASSWORD"] = "hunter2"
	s := startService(t, c, "alarms:\n  camera_offline: 1h\n")

	// A live key applies at once: the camera is now offline "long enough".
	editConfig(t, c, "camera_offline: 1h", "camera_offline: 1s")
	waitAlarm(t, s, AlarmCameraOffline, "yard")
	var rs []reloadResult
	pollUntil(t, 5*time.Second, "config.reload audited", func() bool { rs = reloadEntries(t, c); return len(rs) == 1 })
	if got := strings.Join(rs[0].Applied, ","); got != "alarms.camera_offline" || len(rs[0].NeedsRestart) != 0 {
		t.Fatalf("reload: %+v", rs[0])
	}

	// An invalid file is refused, kept as an alarm, and the running config
	// stays (camera_offline still 1s: the camera alarm stays).
	editConfig(t, c, "camera_offline: 1s", "camera_offline: soon")
	a := waitAlarm(t, s, AlarmConfigInvalid, "")
	if !strings.Contains(a.Message, "alarms.camera_offline") {
		t.Errorf("refusal does not name the key: %q", a.Message)
	}
	if _, ok := alarmOf(s, AlarmCameraOffline, "yard"); !ok {
		t.Error("the running config changed after a refused reload")
	}

	// Fixed: the alarm clears. A camera change and a listen address are
	// reported as needing a restart; the camera's URL (with its password
	// from the environment) is named by key only.
	editConfig(t, c, "camera_offline: soon", "camera_offline: 2s")
	pollUntil(t, 10*time.Second, "config-invalid cleared", func() bool { _, ok := alarmOf(s, AlarmConfigInvalid, ""); return !ok })
	editConfig(t, c, "url: rtsp://127.0.0.1:1/yard", "url: rtsp://127.0.0.1:2/yard")
	pollUntil(t, 5*time.Second, "second reload audited", func() bool { rs = reloadEntries(t, c); return len(rs) == 3 })
	if got := strings.Join(rs[2].NeedsRestart, ","); got != "cameras.yard.url" {
		t.Errorf("camera change: %+v", rs[2])
	}
	for _, e := range auditKinds(t, registryOf(t, c), "config.reload") {
		if strings.Contains(string(e.Detail), "hunter2") || strings.Contains(string(e.Detail), "rtsp://") {
			t.Errorf("audit carries a value: %s", e.Detail)
		}
	}
}

func TestConfigReloadOnSIGHUP(t *testing.T) {
	c := newCLI(t, "yard")
	// The config is a symlink into another folder (as config management
	// often does): edits of the target are not seen by the watcher, so only
	// SIGHUP can bring them in.
	real := filepath.Join(c.dir, "managed", "vahti.yaml")
	os.MkdirAll(filepath.Dir(real), 0o700)
	if err := os.Rename(c.config, real); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, c.config); err != nil {
		t.Fatal(err)
	}
	startService(t, c, "")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if rs := reloadEntries(t, c); len(rs) != 0 {
		t.Fatalf("an unchanged file was audited as a change: %+v", rs)
	}
	b, _ := os.ReadFile(real)
	os.WriteFile(real, []byte(strings.Replace(string(b), "listen: 127.0.0.1:0", "listen: 127.0.0.1:1", 1)), 0o600)
	time.Sleep(time.Second)
	if rs := reloadEntries(t, c); len(rs) != 0 {
		t.Fatalf("reloaded without SIGHUP: %+v", rs)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var rs []reloadResult
	pollUntil(t, 5*time.Second, "SIGHUP reload audited", func() bool { rs = reloadEntries(t, c); return len(rs) == 1 })
	if got := strings.Join(rs[0].NeedsRestart, ","); got != "admin.listen" || len(rs[0].Applied) != 0 {
		t.Errorf("SIGHUP reload: %+v", rs[0])
	}
}
