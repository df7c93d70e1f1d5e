package configs

import (
	"strings"
	"testing"
	"time"
)

// The operations keys have their defaults and each bad value is named by
// its key.
func TestOperationsKeys(t *testing.T) {
	d := Defaults()
	if d.Alarms.CameraOffline.D() != 5*time.Minute || d.Alarms.CommandTimeout.D() != 30*time.Second ||
		d.Alarms.CertWarn.D() != 30*24*time.Hour || d.Backup.Keep != 7 || d.Backup.Path != "" || d.Metrics.Listen != "" {
		t.Fatalf("defaults: %+v %+v", d.Alarms, d.Backup)
	}
	msg := problems(t, []byte(`state_dir: /s
storage: {root: /r}
cameras: [{id: a, purpose: p, url: "rtsp://h/a"}]
metrics: {listen: nocolon}
alarms: {camera_offline: 0s, command: [notify-send], command_timeout: 1h, audit_check_every: 1s, cert_warn: 1h}
backup: {path: relative/dir, keep: 0}
`))
	for _, want := range []string{"metrics.listen", "alarms.camera_offline", "alarms.command", "alarms.command_timeout",
		"alarms.audit_check_every", "alarms.cert_warn", "backup.path", "backup.keep"} {
		if !strings.Contains(msg, want+":") {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if msg := problems(t, []byte("state_dir: /s\nalarms: {camera_offlin: 5m}\n")); !strings.Contains(msg, "camera_offlin") {
		t.Errorf("a misspelt key is not named: %s", msg)
	}
}
