package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"vahti/registry"
)

// alarmOf returns the raised alarm of kind (and subject), if any.
func alarmOf(s *service, kind, subject string) (Alarm, bool) {
	for _, a := range s.alarms.Active() {
		if a.Kind == kind && a.Subject == subject {
			return a, true
		}
	}
	return Alarm{}, false
}

func waitAlarm(t *testing.T, s *service, kind, subject string) Alarm {
	t.Helper()
	pollUntil(t, 20*time.Second, "alarm "+kind, func() bool { _, ok := alarmOf(s, kind, subject); return ok })
	a, _ := alarmOf(s, kind, subject)
	return a
}

func TestAlarmCameraOfflineReachesCommandStatusAndMetrics(t *testing.T) {
	c := newCLI(t, "yard")
	out := filepath.Join(c.dir, "alarm.json")
	s := startService(t, c, fmt.Sprintf("metrics:\n  listen: 127.0.0.1:0\nalarms:\n  camera_offline: 1s\n  command: [/bin/sh, -c, 'cat > %s']\n", out))
	// No camera answers at the URL: after camera_offline it is an alarm.
	a := waitAlarm(t, s, AlarmCameraOffline, "yard")
	if !strings.Contains(a.Message, "yard") {
		t.Errorf("message %q", a.Message)
	}
	// The command got the change as JSON on stdin (other alarms, such as
	// an unsynchronised clock on the test machine, may come first).
	var ch alarmChange
	pollUntil(t, 10*time.Second, "alarms.command output with the camera", func() bool {
		b, err := os.ReadFile(out)
		if err != nil || json.Unmarshal(b, &ch) != nil {
			return false
		}
		for _, a := range ch.Active {
			if a.Kind == AlarmCameraOffline && a.Subject == "yard" {
				return true
			}
		}
		return false
	})
	if b, _ := os.ReadFile(out); strings.Contains(string(b), "rtsp://") {
		t.Error("alarm JSON carries the camera URL")
	}
	// In `vahti status` (from status.json, rewritten every 2 s).
	pollUntil(t, 10*time.Second, "status shows the alarm", func() bool {
		o, _, _ := c.run("", "status", "--config", "$CONFIG")
		return strings.Contains(o, "ALARM camera-offline")
	})
	// As a metric.
	fams := scrape(t, s)
	if v := mustSample(t, fams, "vahti_alarm", dto.MetricType_GAUGE, "kind", AlarmCameraOffline, "subject", "yard"); v != 1 {
		t.Errorf("vahti_alarm camera-offline = %v", v)
	}
	if v := mustSample(t, fams, "vahti_alarm", dto.MetricType_GAUGE, "kind", AlarmAuditBroken, "subject", ""); v != 0 {
		t.Errorf("vahti_alarm audit = %v", v)
	}
	// The dashboard's list (admin renders it in fi/en, tested there).
	if got := s.adminAlarms(); len(got) == 0 || got[0].Kind != AlarmCameraOffline || got[0].Subject != "yard" {
		t.Errorf("dashboard alarms %+v", got)
	}
}

func TestAlarmCommandFailureIsReported(t *testing.T) {
	c := newCLI(t, "yard")
	s := startService(t, c, "alarms:\n  camera_offline: 1s\n  command: [/bin/sh, -c, 'echo no mail server >&2; exit 3']\n")
	a := waitAlarm(t, s, AlarmCommandFailed, "")
	if !strings.Contains(a.Message, "no mail server") || !strings.Contains(a.Message, "exit status 3") {
		t.Errorf("message %q", a.Message)
	}
}

func TestAlarmCommandTimeout(t *testing.T) {
	c := newCLI(t, "yard")
	s := startService(t, c, "alarms:\n  camera_offline: 1s\n  command_timeout: 1s\n  command: [/bin/sleep, '30']\n")
	a := waitAlarm(t, s, AlarmCommandFailed, "")
	if !strings.Contains(a.Message, "timed out") {
		t.Errorf("message %q", a.Message)
	}
}

func TestAlarmDiskGuard(t *testing.T) {
	c := newCLI(t, "yard")
	s := startService(t, c, "retention:\n  min_free: 99%\n")
	waitAlarm(t, s, AlarmDiskGuard, "")
}

func TestAlarmAuditChainBroken(t *testing.T) {
	c := newCLI(t, "yard")
	db := registryOf(t, c)
	for i := 0; i < 3; i++ {
		if err := db.Update(context.Background(), func(tx *registry.Tx) error {
			_, err := tx.Audit("keeper", "cli", "test.entry", "x", map[string]any{"i": i})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit SET actor = 'mallory' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	s := startService(t, c, "metrics:\n  listen: 127.0.0.1:0\n")
	waitAlarm(t, s, AlarmAuditBroken, "")
	if v := mustSample(t, scrape(t, s), "vahti_audit_chain_ok", dto.MetricType_GAUGE); v != 0 {
		t.Errorf("vahti_audit_chain_ok = %v", v)
	}
}

func TestAlarmTLSCertExpiring(t *testing.T) {
	c := newCLI(t, "yard")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "vahti"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 24 * time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(c.dir, "cert.pem"), filepath.Join(c.dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cfg, _ := os.ReadFile(c.config)
	cfg = []byte(strings.Replace(string(cfg), "admin:\n", fmt.Sprintf("admin:\n  tls_cert: %s\n  tls_key: %s\n", certFile, keyFile), 1))
	os.WriteFile(c.config, cfg, 0o600)
	s := startService(t, c, "")
	waitAlarm(t, s, AlarmCertExpiring, "")
}

func TestNoCertAlarmForAFreshCertificate(t *testing.T) {
	c := newCLI(t, "yard")
	s := startService(t, c, "")
	time.Sleep(2 * alarmEvery)
	if a, ok := alarmOf(s, AlarmCertExpiring, ""); ok {
		t.Fatalf("self-signed 10-year certificate raised %+v", a)
	}
	if a, ok := alarmOf(s, AlarmAuditBroken, ""); ok {
		t.Fatalf("intact chain raised %+v", a)
	}
}

func TestAlarmOverdueFootageAndInterlock(t *testing.T) {
	c := newCLI(t, "yard")
	db := registryOf(t, c)
	// Footage 40 days old on a registry that never ran a service: deletion
	// is paused (interlock), so the footage stays past max_age.
	addFootage(t, c, db, time.Now().Add(-40*24*time.Hour), 3)
	s := startService(t, c, "")
	waitAlarm(t, s, AlarmInterlock, "")
	a := waitAlarm(t, s, AlarmFootageOverdue, "yard")
	if !strings.Contains(a.Message, "max_age") {
		t.Errorf("message %q", a.Message)
	}
}

func TestAlarmClockStepped(t *testing.T) {
	c := newCLI(t, "yard")
	db := registryOf(t, c)
	// The last pass saw a time a day ahead: the clock has been stepped back.
	ahead := time.Now().Add(24 * time.Hour).UnixNano()
	if err := db.Update(context.Background(), func(tx *registry.Tx) error {
		return tx.SetMeta("retention.last_seen_ns", strconv.FormatInt(ahead, 10))
	}); err != nil {
		t.Fatal(err)
	}
	s := startService(t, c, "")
	waitAlarm(t, s, AlarmClockStepped, "")
}

func TestAlarmClockUnsynchronised(t *testing.T) {
	// The kernel's real answer can be read here (read-only adjtimex).
	if _, err := kernelClockSynced(); err != nil {
		t.Fatalf("adjtimex: %v", err)
	}
	// Setting STA_UNSYNC on the test machine's kernel would disturb its
	// NTP, so the kernel's answer is replaced.
	c := newCLI(t, "yard")
	s := startService(t, c, "")
	s.alarms.mu.Lock()
	s.alarms.adjtimex = func() (bool, error) { return false, nil }
	s.alarms.mu.Unlock()
	waitAlarm(t, s, AlarmClockUnsync, "")
}
