package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"vahti/registry"
	"vahti/retention"
)

const repoRoot = "../.."

func runScript(t *testing.T, env []string, script string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot, "scripts", script)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The unit passes systemd's own checks. verify insists that ExecStart
// exists, so a copy points it at a built binary; nothing else changes.
func TestSystemdUnitVerifies(t *testing.T) {
	needTool(t, "systemd-analyze")
	analyze := "systemd-analyze"
	b, err := os.ReadFile(filepath.Join(repoRoot, "configs/systemd/vahti.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"Type=notify", "WatchdogSec=", "Restart=on-failure", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "ReadWritePaths=", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
		"CapabilityBoundingSet=\n", "RestrictAddressFamilies=", "SystemCallFilter=@system-service", "MemoryMax=", "User=vahti"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "vahti.service")
	os.WriteFile(p, []byte(strings.ReplaceAll(unit, "/usr/local/bin/vahti", "/bin/true")), 0o644)
	out, err := exec.Command(analyze, "verify", p).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check can fail: a misspelt directive is reported.
	os.WriteFile(p, []byte(strings.Replace(unit, "ProtectHome=yes", "ProtectHomes=yes", 1)), 0o644)
	if out, _ := exec.Command(analyze, "verify", p).CombinedOutput(); !strings.Contains(string(out), "ProtectHomes") {
		t.Fatalf("a bad key passed verify: %s", out)
	}
}

func TestInstallIntoThrowawayRoot(t *testing.T) {
	bin := vahtiBinary(t)
	root := t.TempDir()
	env := []string{"DESTDIR=" + root, "VAHTI_BINARY=" + bin, "STORAGE_ROOT=/srv/vahti/recordings"}
	out, err := runScript(t, env, "install")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	cfg := filepath.Join(root, "etc/vahti/vahti.yaml")
	if m := mode(t, cfg); m != 0o640 {
		t.Errorf("config mode %o, want 640", m)
	}
	if m := mode(t, filepath.Join(root, "var/lib/vahti")); m != 0o700 {
		t.Errorf("state mode %o, want 700", m)
	}
	if m := mode(t, filepath.Join(root, "srv/vahti/recordings")); m != 0o750 {
		t.Errorf("recordings mode %o, want 750", m)
	}
	if m := mode(t, filepath.Join(root, "usr/local/bin/vahti")); m != 0o755 {
		t.Errorf("binary mode %o", m)
	}
	c, _ := os.ReadFile(cfg)
	if !strings.Contains(string(c), "root: /srv/vahti/recordings") || !strings.Contains(string(c), "listen: 127.0.0.1:9108") {
		t.Errorf("config not from the example with the storage root and loopback metrics:\n%s", c)
	}
	// A new install seals footage, and says keys init comes next.
	if !regexp.MustCompile(`(?m)^storage:\n(?:  .*\n|\s*#.*\n)*  encryption: sealed$`).Match(c) {
		t.Errorf("config does not set storage.encryption: sealed:\n%s", c)
	}
	if !strings.Contains(string(out), "keys init") || !strings.Contains(string(out), "safe") {
		t.Errorf("install does not say to run vahti keys init: %s", out)
	}
	// The installed binary accepts the installed config once keys init
	// has run (state_dir moved under the test: it names the real /var/lib).
	local := filepath.Join(t.TempDir(), "vahti.yaml")
	os.WriteFile(local, regexp.MustCompile(`(?m)^state_dir: .*$`).ReplaceAll(c, []byte("state_dir: "+t.TempDir())), 0o600)
	vahti := filepath.Join(root, "usr/local/bin/vahti")
	if out, err := exec.Command(vahti, "keys", "init", "--config", local).CombinedOutput(); err != nil {
		t.Errorf("keys init: %v\n%s", err, out)
	}
	if out, err := exec.Command(vahti, "check-config", "--config", local).CombinedOutput(); err != nil {
		t.Errorf("check-config: %v\n%s", err, out)
	}
	dropin, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system/vahti.service.d/paths.conf"))
	if !strings.Contains(string(dropin), "ReadWritePaths=/var/lib/vahti /srv/vahti/recordings") {
		t.Errorf("drop-in: %s", dropin)
	}
	// With backup.path set, the nightly copy's folder is writable too
	// (ProtectSystem=strict would refuse it); the existing config is kept.
	withBackup := strings.Replace(string(c), "  path: \"\"", "  path: /mnt/vahti-backup", 1)
	if withBackup == string(c) {
		t.Fatalf("the example config has no empty backup.path to fill in:\n%s", c)
	}
	os.WriteFile(cfg, []byte(withBackup), 0o640)
	if out, err := runScript(t, env, "install"); err != nil {
		t.Fatalf("install again: %v\n%s", err, out)
	}
	dropin, _ = os.ReadFile(filepath.Join(root, "etc/systemd/system/vahti.service.d/paths.conf"))
	if !strings.Contains(string(dropin), "ReadWritePaths=/var/lib/vahti /srv/vahti/recordings /mnt/vahti-backup") {
		t.Errorf("drop-in with backup.path: %s", dropin)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system/vahti.service.d/bind.conf")); err == nil {
		t.Error("CAP_NET_BIND_SERVICE granted for ports above 1024")
	}
	log, _ := os.ReadFile(filepath.Join(root, "vahti-install.log"))
	for _, want := range []string{"skipped: useradd --system", "skipped: chown root:vahti", "skipped: systemctl daemon-reload"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("install log lacks %q:\n%s", want, log)
		}
	}

	// A second install keeps the edited config; a low port gets only
	// CAP_NET_BIND_SERVICE.
	edited := strings.Replace(string(c), "listen: 127.0.0.1:8443", "listen: 0.0.0.0:443", 1)
	os.WriteFile(cfg, []byte(edited), 0o640)
	if out, err := runScript(t, env, "install"); err != nil {
		t.Fatalf("reinstall: %v\n%s", err, out)
	}
	if c2, _ := os.ReadFile(cfg); string(c2) != edited {
		t.Error("reinstall overwrote the config")
	}
	bind, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/vahti.service.d/bind.conf"))
	if err != nil || !strings.Contains(string(bind), "CapabilityBoundingSet=CAP_NET_BIND_SERVICE") {
		t.Errorf("port 443 without the bind capability: %v %s", err, bind)
	}

	// Uninstall keeps footage, registry and config by default.
	seg := filepath.Join(root, "srv/vahti/recordings/yard/2026/11/22/10-00-00.000000.mp4")
	os.MkdirAll(filepath.Dir(seg), 0o750)
	os.WriteFile(seg, []byte("mp4"), 0o640)
	db, err := registry.Open(filepath.Join(root, "var/lib/vahti"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := registry.Hold{Cameras: []string{"all"}, From: time.Now().Add(-time.Hour), To: time.Now(), Reason: "police case", CreatedBy: "keeper"}
	if err := retention.AddHold(context.Background(), db, &h, "keeper", "cli"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if out, err := runScript(t, env, "uninstall"); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	for _, keep := range []string{seg, cfg, filepath.Join(root, "var/lib/vahti/registry.db")} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("uninstall removed %s", keep)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system/vahti.service")); err == nil {
		t.Error("unit left behind")
	}

	// --remove-data is refused while a legal hold is active.
	if out, err := runScript(t, env, "install"); err != nil {
		t.Fatalf("install again: %v\n%s", err, out)
	}
	out, err = runScript(t, env, "uninstall", "--remove-data")
	if err == nil || !strings.Contains(out, "1 legal hold(s) active") {
		t.Fatalf("remove-data with a hold: %v\n%s", err, out)
	}
	if _, err := os.Stat(seg); err != nil {
		t.Fatal("held footage removed")
	}
	db, _ = registry.Open(filepath.Join(root, "var/lib/vahti"), nil)
	if _, err := retention.ReleaseHold(context.Background(), db, h.ID, "keeper", "cli", "case closed"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if out, err := runScript(t, env, "uninstall", "--remove-data", "--remove-config"); err != nil {
		t.Fatalf("remove-data without holds: %v\n%s", err, out)
	}
	for _, gone := range []string{seg, cfg, filepath.Join(root, "var/lib/vahti")} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s kept after --remove-data --remove-config", gone)
		}
	}
}
