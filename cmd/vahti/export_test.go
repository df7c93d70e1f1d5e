package main

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

// catalogFFmpegSegments records 6 s of yard as three 2 s fMP4 segments
// (ffmpeg's segment muxer), laid out and catalogued like the recorder's.
func catalogFFmpegSegments(t *testing.T, c *cli, base time.Time) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg not installed")
		}
		t.Skip("ffmpeg not installed")
	}
	tmp := t.TempDir()
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "6",
		"-c:v", "libx264", "-bf", "0", "-g", "25", "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-f", "segment", "-segment_time", "2",
		"-segment_format", "mp4", "-segment_format_options", "movflags=frag_keyframe+empty_moov+default_base_moof",
		filepath.Join(tmp, "s%03d.mp4"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	root := filepath.Join(c.dir, "rec")
	db, err := registry.Open(filepath.Join(c.dir, "state"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for k := 0; k < 3; k++ {
		b, err := os.ReadFile(filepath.Join(tmp, fmt.Sprintf("s%03d.mp4", k)))
		if err != nil {
			t.Fatal(err)
		}
		start := base.Add(time.Duration(k) * 2 * time.Second)
		rel := registry.SegmentPath("yard", start)
		abs := filepath.Join(root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(abs), 0o755)
		if err := os.WriteFile(abs, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		seg := &registry.Segment{Camera: "yard", Start: start, End: start.Add(2 * time.Second), Path: rel, Bytes: int64(len(b)),
			Codecs: "h264", Params: "p1", SHA256: hex.EncodeToString(sum[:])}
		if err := db.Update(context.Background(), func(tx *registry.Tx) error { return tx.AddSegment(seg) }); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExportVerifyPubkeyCLI(t *testing.T) {
	c := newCLI(t)
	c.envs["SUDO_USER"] = "keeper1"
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	catalogFFmpegSegments(t, c, base)
	out := filepath.Join(c.dir, "case.zip")
	stdout := c.ok("export", "--config", "$CONFIG", "--camera", "yard", "--from", "2026-11-22T14:00:01+02:00",
		"--to", "2026-11-22T12:00:05Z", "--reason", "poliisin pyyntö", "--case", "R-7", "--out", out)
	if !strings.Contains(stdout, "yard.mp4") {
		t.Errorf("export output: %s", stdout)
	}
	key := strings.TrimSpace(c.ok("pubkey", "--config", "$CONFIG"))
	if !strings.HasPrefix(key, "ssh-ed25519 ") {
		t.Fatalf("pubkey: %q", key)
	}
	if v := c.ok("verify-export", out, "--pubkey", key); !strings.HasPrefix(v, "OK:") {
		t.Errorf("verify-export: %s", v)
	}
	// The stored package exists and the audit chain holds export.create.
	ents, _ := os.ReadDir(filepath.Join(c.dir, "state", "exports"))
	if len(ents) != 1 {
		t.Errorf("%d stored packages, want 1", len(ents))
	}
	db, _ := registry.Open(filepath.Join(c.dir, "state"), time.Now)
	var kinds []string
	db.View(context.Background(), func(tx *registry.Tx) error {
		es, _ := tx.AuditEntries(registry.AuditFilter{Kind: "export"})
		for _, e := range es {
			kinds = append(kinds, e.Kind+" "+e.Actor)
		}
		return nil
	})
	db.Close()
	if strings.Join(kinds, ";") != "export.create keeper1" {
		t.Errorf("audit: %v", kinds)
	}

	// A flipped byte in the clip: verify-export fails naming it.
	bad := filepath.Join(c.dir, "bad.zip")
	flipEntry(t, out, bad, "yard.mp4")
	if msg := c.fail("verify-export", bad); !strings.Contains(msg, "yard.mp4") {
		t.Errorf("verify-export of a damaged package: %q", msg)
	}

	// Bad requests: clear error, exit 2, no file.
	for name, args := range map[string][]string{
		"reversed":       {"--from", "2026-11-22T12:00:05Z", "--to", "2026-11-22T12:00:01Z", "--reason", "x"},
		"unknown camera": {"--camera", "garage", "--from", "2026-11-22T12:00:01Z", "--to", "2026-11-22T12:00:05Z", "--reason", "x"},
		"no reason":      {"--from", "2026-11-22T12:00:01Z", "--to", "2026-11-22T12:00:05Z"},
		"no footage":     {"--from", "2026-11-23T12:00:01Z", "--to", "2026-11-23T12:00:05Z", "--reason", "x"},
	} {
		o := filepath.Join(c.dir, "refused.zip")
		a := append([]string{"export", "--config", "$CONFIG", "--camera", "yard", "--out", o}, args...)
		if name == "unknown camera" {
			a = append([]string{"export", "--config", "$CONFIG", "--out", o}, args...)
		}
		_, errs, code := c.run("", a...)
		if code != 2 || errs == "" {
			t.Errorf("%s: exit %d, stderr %q", name, code, errs)
		}
		if _, err := os.Stat(o); err == nil {
			t.Errorf("%s: left %s behind", name, o)
		}
	}
}

func flipEntry(t *testing.T, src, dst, name string) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, _ := os.Create(dst)
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, e := range zr.File {
		rc, _ := e.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if e.Name == name {
			b[len(b)/2] ^= 0x40
		}
		w, _ := zw.Create(e.Name)
		w.Write(b)
	}
	zw.Close()
}
