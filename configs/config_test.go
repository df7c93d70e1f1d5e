package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleIsValid(t *testing.T) {
	c, err := Parse(Example, nil)
	if err != nil {
		t.Fatalf("the shipped example does not validate: %v", err)
	}
	if c.Retention.MaxAge.D() != 28*24*time.Hour || c.Storage.SegmentDuration.D() != time.Minute {
		t.Errorf("example defaults: max_age %s segment %s", c.Retention.MaxAge, c.Storage.SegmentDuration)
	}
	if c.Location().String() != "Europe/Helsinki" {
		t.Errorf("location %s", c.Location())
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"60s": time.Minute, "28d": 28 * 24 * time.Hour, "1d12h": 36 * time.Hour, "1500ms": 1500 * time.Millisecond,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "-1s", "5", "1x", "1.5d", "d1h"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func TestFreeSpace(t *testing.T) {
	f, err := ParseFreeSpace("20GiB")
	if err != nil || f.Floor(1<<40) != 20<<30 {
		t.Errorf("20GiB: %+v %v", f, err)
	}
	f, err = ParseFreeSpace("5%")
	if err != nil || f.Floor(1000) != 50 {
		t.Errorf("5%%: %+v %v", f, err)
	}
	for _, bad := range []string{"", "100%", "-1%", "lots", "5 parsecs"} {
		if _, err := ParseFreeSpace(bad); err == nil {
			t.Errorf("ParseFreeSpace(%q) accepted", bad)
		}
	}
}

func base(extra string) []byte {
	return []byte(`state_dir: /s
storage: {root: /r}
cameras:
  - {id: yard, purpose: safety, url: "rtsp://viewer@192.0.2.1/s"}
` + extra)
}

func problems(t *testing.T, b []byte) string {
	t.Helper()
	_, err := Parse(b, nil)
	var p *Problems
	if !errors.As(err, &p) {
		t.Fatalf("want *Problems, got %v", err)
	}
	return err.Error()
}

func TestRetentionLimit(t *testing.T) {
	if _, err := Parse(base("retention: {max_age: 28d}\n"), nil); err != nil {
		t.Errorf("28d refused: %v", err)
	}
	if msg := problems(t, base("retention: {max_age: 28d1s}\n")); !strings.Contains(msg, "retention.max_age") || !strings.Contains(msg, "privacy notice") {
		t.Errorf("28d1s: %s", msg)
	}
	if _, err := Parse(base("retention: {max_age: 10m}\n"), nil); err != nil {
		t.Errorf("10m refused: %v", err)
	}
	msg := problems(t, []byte(`state_dir: /s
storage: {root: /r}
retention: {max_age: 7d}
cameras:
  - {id: yard, purpose: p, url: "rtsp://h/s", max_age: 8d}
`))
	if !strings.Contains(msg, "cameras[0].max_age") {
		t.Errorf("per-camera longer retention: %s", msg)
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	msg := problems(t, []byte(`state_dir: ""
storage: {root: /r, part_duration: 2h}
retention: {nightly_purge_at: "25:00", sweep_interval: 0s}
admin: {listen: nocolon, tls_cert: /c}
cameras:
  - {id: "", purpose: p, url: rtsp://h/a}
  - {id: a_b, url: "rtsp://"}
`))
	for _, want := range []string{"state_dir", "storage.part_duration", "retention.nightly_purge_at",
		"retention.sweep_interval", "admin.listen", "admin.tls_cert", "cameras[0].id", "cameras[1].id",
		"cameras[1].purpose", "cameras[1].url"} {
		if !strings.Contains(msg, want+":") {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestSecretsNeverInConfigText(t *testing.T) {
	dir := t.TempDir()
	sec := filepath.Join(dir, "secrets.yaml")
	os.WriteFile(sec, []byte("cameras: {yard: fromfile}\n"), 0o600)
	b := []byte(strings.Replace(string(base("")), "state_dir: /s", "state_dir: /s\nsecrets_file: "+sec, 1))
	c, err := Parse(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cameras[0].URL != "rtsp://viewer:fromfile@192.0.2.1/s" {
		t.Errorf("secrets file not applied: %s", RedactURL(c.Cameras[0].URL))
	}
	env := map[string]string{PasswordEnv("yard"): "fromenv"}
	c, err = Parse(b, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Cameras[0].URL != "rtsp://viewer:fromenv@192.0.2.1/s" {
		t.Errorf("environment does not override: %s", RedactURL(c.Cameras[0].URL))
	}
	if r := RedactURL(c.Cameras[0].URL); strings.Contains(r, "fromenv") {
		t.Errorf("RedactURL leaks: %s", r)
	}
	os.WriteFile(sec, []byte("cameras: {gate: x}\n"), 0o600)
	if msg := problems(t, b); !strings.Contains(msg, `unknown camera "gate"`) {
		t.Errorf("secret for unknown camera: %s", msg)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c, err := Parse(Example, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Retention.MinFree = FreeSpace{Bytes: 20 << 30}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(b, nil)
	if err != nil {
		t.Fatalf("marshalled config does not parse: %v\n%s", err, b)
	}
	if c2.Retention != c.Retention || c2.Storage != c.Storage || c2.Admin != c.Admin || c2.Cameras[0] != c.Cameras[0] {
		t.Errorf("round trip changed the config:\n%+v\n%+v", c, c2)
	}
}

// UDP from the LAN is spoofable: a camera without a transport uses TCP,
// and auto and udp stay available when chosen.
func TestTransportDefaultsToTCP(t *testing.T) {
	c, err := Parse(base(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cam := range c.Cameras {
		if cam.Transport != "tcp" {
			t.Errorf("camera %s: default transport %q, want tcp", cam.ID, cam.Transport)
		}
	}
	for _, tr := range []string{"auto", "udp", "tcp"} {
		b := []byte(strings.Replace(string(base("")), "purpose: safety,", "purpose: safety, transport: "+tr+",", 1))
		c, err := Parse(b, nil)
		if err != nil {
			t.Fatalf("transport %s: %v", tr, err)
		}
		if c.Cameras[0].Transport != tr {
			t.Errorf("transport %s read as %q", tr, c.Cameras[0].Transport)
		}
	}
}

func TestStorageEncryption(t *testing.T) {
	withEnc := func(v string) []byte {
		return []byte(strings.Replace(string(base("")), "storage: {root: /r}", "storage: {root: /r, encryption: "+v+"}", 1))
	}
	for _, v := range []string{"sealed", "off"} {
		c, err := Parse(withEnc(v), nil)
		if err != nil {
			t.Errorf("encryption %s refused: %v", v, err)
		} else if c.Storage.Encryption != v {
			t.Errorf("encryption %s read as %q", v, c.Storage.Encryption)
		}
	}
	c, err := Parse(base(""), nil)
	if err != nil || c.Storage.Encryption != EncryptionAuto {
		t.Errorf("left out: %q, %v (want auto)", c.Storage.Encryption, err)
	}
	if msg := problems(t, withEnc("aes")); !strings.Contains(msg, "storage.encryption:") || !strings.Contains(msg, "sealed or off") {
		t.Errorf("encryption aes: %s", msg)
	}
}
