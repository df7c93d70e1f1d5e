package main

import (
	"archive/zip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/admin"
	"vahti/admin/export"
)

// TestRequestExportRedacted: `request export --redact` writes a signed
// package that verify-export accepts, whose manifest says redacted with
// the regions and ffmpeg, with a progress line on stderr; a bad regions
// file is refused naming the field; without ffmpeg on PATH the redacted
// package is refused with the install hint and the ordinary one works.
func TestRequestExportRedacted(t *testing.T) {
	c := newCLI(t)
	c.envs["SUDO_USER"] = "keeper1"
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	catalogFFmpegSegments(t, c, base)
	now := base.Add(2 * time.Hour)
	c.now = func() time.Time { return now }
	c.ok("request", "add", "--config", "$CONFIG", "--kind", "access", "--camera", "yard", "--from", "2026-11-22T12:00:00Z",
		"--to", "2026-11-22T12:00:06Z", "--reference", "SAR-3", "--basis", "GDPR 15", "--requester", "Testi Henkilö")

	regions := filepath.Join(c.dir, "regions.json")
	write := func(doc string) {
		if err := os.WriteFile(regions, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"cameras": {"yard": {"mode": "blur", "tracks": [{"keyframes": [{"at": "2026-11-22T12:00:01Z", "x": 0.2, "y": 0, "w": 0.9, "h": 0.5}]}]}}}`)
	if e := c.fail("request", "export", "1", "--config", "$CONFIG", "--redact", regions, "--out", filepath.Join(c.dir, "x.zip")); !strings.Contains(e, "cameras.yard.tracks[0].keyframes[0].w") {
		t.Errorf("bad regions: %s", e)
	}
	if e := c.fail("request", "export", "1", "--config", "$CONFIG", "--keep-audio", "--out", filepath.Join(c.dir, "x.zip")); !strings.Contains(e, "only with --redact") {
		t.Errorf("--keep-audio alone: %s", e)
	}
	write(`{"cameras": {"yard": {"mode": "blur", "tracks": [{"keyframes": [
		{"at": "2026-11-22T12:00:01Z", "x": 0, "y": 0, "w": 0.5, "h": 0.5},
		{"at": "2026-11-22T12:00:05Z", "x": 0.5, "y": 0.5, "w": 0.5, "h": 0.5}]}]}}}`)
	out := filepath.Join(c.dir, "redacted.zip")
	stdout, stderr, code := c.run("", "request", "export", "1", "--config", "$CONFIG", "--redact", regions, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("request export --redact: %d\n%s\n%s", code, stdout, stderr)
	}
	var js struct {
		Redacted bool   `json:"redacted"`
		ID       string `json:"id"`
	}
	if json.Unmarshal([]byte(stdout), &js) != nil || !js.Redacted || js.ID == "" {
		t.Errorf("--json: %s", stdout)
	}
	if !strings.Contains(stderr, "redacting: 100%") {
		t.Errorf("no progress line: %q", stderr)
	}
	if v := c.ok("verify-export", out); !strings.HasPrefix(v, "OK:") {
		t.Fatalf("verify-export: %s", v)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	var man export.Manifest
	for _, f := range zr.File {
		if f.Name == export.ManifestName {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			json.Unmarshal(b, &man)
		}
	}
	zr.Close()
	var rm struct {
		Mode, FFmpeg, Audio string
		Cameras             map[string]any
		Clips               []struct{ Filter string }
	}
	if !man.Redacted || json.Unmarshal(man.Redaction, &rm) != nil || rm.Mode != "blur" || !strings.HasPrefix(rm.FFmpeg, "ffmpeg version") ||
		rm.Audio != "dropped" || rm.Cameras["yard"] == nil || len(rm.Clips) == 0 || !strings.Contains(rm.Clips[0].Filter, "between(t") {
		t.Fatalf("manifest: redacted %v %s", man.Redacted, man.Redaction)
	}
	if len(man.Sources) != 3 || man.Sources[0].SHA256 == "" || man.Request == nil || man.Request.ID != 1 {
		t.Fatalf("manifest sources %+v request %+v", man.Sources, man.Request)
	}
	var q admin.RequestJSON
	json.Unmarshal([]byte(c.ok("request", "show", "1", "--config", "$CONFIG", "--json")), &q)
	if q.State != "exported" || len(q.Packages) != 1 {
		t.Fatalf("request after the redacted package: %s, %d packages", q.State, len(q.Packages))
	}

	t.Setenv("PATH", t.TempDir())
	if e := c.fail("request", "export", "1", "--config", "$CONFIG", "--redact", regions, "--out", filepath.Join(c.dir, "y.zip")); !strings.Contains(e, "redaction needs ffmpeg: apt install ffmpeg") {
		t.Errorf("without ffmpeg: %s", e)
	}
	plain := filepath.Join(c.dir, "plain.zip")
	c.ok("request", "export", "1", "--config", "$CONFIG", "--out", plain)
	if v := c.ok("verify-export", plain); !strings.HasPrefix(v, "OK:") {
		t.Fatalf("verify-export of the ordinary package: %s", v)
	}
}
