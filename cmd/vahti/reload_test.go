package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vahti/recorder"
	"vahti/recorder/fakecam"
	"vahti/registry"
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
	shown := false
	for _, al := range s.adminAlarms() {
		shown = shown || (al.Kind == AlarmConfigInvalid && strings.Contains(al.Detail, "alarms.camera_offline"))
	}
	if !shown {
		t.Errorf("the dashboard does not show the problem: %+v", s.adminAlarms())
	}
	if _, ok := alarmOf(s, AlarmCameraOffline, "yard"); !ok {
		t.Error("the running config changed after a refused reload")
	}

	// Fixed: the alarm clears. A changed camera restarts; its URL (with
	// its password from the environment) is named by key only.
	editConfig(t, c, "camera_offline: soon", "camera_offline: 2s")
	pollUntil(t, 10*time.Second, "config-invalid cleared", func() bool { _, ok := alarmOf(s, AlarmConfigInvalid, ""); return !ok })
	editConfig(t, c, "url: rtsp://127.0.0.1:1/yard", "url: rtsp://127.0.0.1:2/yard")
	pollUntil(t, 5*time.Second, "second reload audited", func() bool { rs = reloadEntries(t, c); return len(rs) == 3 })
	if got := strings.Join(rs[2].Applied, ","); got != "cameras.yard.url" || strings.Join(rs[2].Restarted, ",") != "yard" {
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

func camStatusOf(s *service, id string) (recorder.CameraStatus, bool) {
	for _, c := range s.rec.Status() {
		if c.ID == id {
			return c, true
		}
	}
	return recorder.CameraStatus{}, false
}

// Reload while recording: adding a camera starts it without touching the
// one already recording; removing a camera finishes its segment and stops
// it; a max_age change is not applied live.
func TestConfigReloadWhileRecording(t *testing.T) {
	cam, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{"yard", "gate"}, Codec: "h264"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cam.Close)
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, config: filepath.Join(dir, "vahti.yaml"), now: time.Now, envs: map[string]string{}}
	camYAML := func(id string) string {
		return fmt.Sprintf("  - id: %s\n    name: %s\n    purpose: test\n    url: %s\n    transport: tcp\n", id, id, cam.URL(id))
	}
	base := fmt.Sprintf("state_dir: %[1]s/state\nstorage:\n  root: %[1]s/rec\n  segment_duration: 1s\n  part_duration: 200ms\n"+
		"retention:\n  min_free: 1MiB\nadmin:\n  listen: 127.0.0.1:0\ncameras:\n", dir)
	os.WriteFile(c.config, []byte(base+camYAML("yard")), 0o600)
	s := startService(t, c, "")
	recording := func(id string) func() bool {
		return func() bool {
			st, ok := camStatusOf(s, id)
			return ok && st.State == recorder.StateRecording && st.Segments > 0
		}
	}
	pollUntil(t, 30*time.Second, "yard recording", recording("yard"))
	yard0, _ := camStatusOf(s, "yard")

	// Add gate: it starts; yard is not touched.
	tmp := c.config + ".tmp"
	os.WriteFile(tmp, []byte(base+camYAML("yard")+camYAML("gate")), 0o600)
	os.Rename(tmp, c.config)
	pollUntil(t, 30*time.Second, "gate recording after the reload", recording("gate"))
	yard1, _ := camStatusOf(s, "yard")
	if !yard1.Since.Equal(yard0.Since) || yard1.Reconnects != yard0.Reconnects || yard1.State != recorder.StateRecording {
		t.Errorf("yard was touched: before %+v after %+v", yard0, yard1)
	}
	rs := reloadEntries(t, c)
	if len(rs) != 1 || strings.Join(rs[0].Started, ",") != "gate" || len(rs[0].Restarted)+len(rs[0].Stopped) != 0 {
		t.Fatalf("reload: %+v", rs)
	}

	// Remove yard: its last segment is finished and catalogued, then it stops.
	db := registryOf(t, c)
	countYard := func() int64 {
		var n int64
		db.View(context.Background(), func(tx *registry.Tx) error {
			sums, err := tx.Summaries()
			n = sums["yard"].Segments
			return err
		})
		return n
	}
	os.WriteFile(tmp, []byte(base+camYAML("gate")), 0o600)
	os.Rename(tmp, c.config)
	pollUntil(t, 15*time.Second, "yard stopped", func() bool { _, ok := camStatusOf(s, "yard"); return !ok })
	before := countYard()
	time.Sleep(2 * time.Second)
	if after := countYard(); after != before {
		t.Errorf("yard still writes after removal: %d then %d segments", before, after)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "rec", "yard", "*", "*", "*", "*.tmp"))
	if len(tmps) != 0 {
		t.Errorf("yard left unfinished segments: %v", tmps)
	}
	if st, _ := camStatusOf(s, "gate"); st.State != recorder.StateRecording {
		t.Errorf("gate after removing yard: %+v", st)
	}
	if rs := reloadEntries(t, c); len(rs) != 2 || strings.Join(rs[1].Stopped, ",") != "yard" {
		t.Fatalf("reload: %+v", rs)
	}

	// A camera max_age change needs a restart: nothing restarts.
	gate0, _ := camStatusOf(s, "gate")
	os.WriteFile(tmp, []byte(base+camYAML("gate")+"    max_age: 7d\n"), 0o600)
	os.Rename(tmp, c.config)
	pollUntil(t, 10*time.Second, "third reload audited", func() bool { return len(reloadEntries(t, c)) == 3 })
	rs = reloadEntries(t, c)
	if strings.Join(rs[2].NeedsRestart, ",") != "cameras.gate.max_age" || len(rs[2].Restarted) != 0 {
		t.Errorf("max_age change: %+v", rs[2])
	}
	if gate1, _ := camStatusOf(s, "gate"); !gate1.Since.Equal(gate0.Since) {
		t.Error("gate restarted for a max_age change")
	}
}
