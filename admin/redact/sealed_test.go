package redact

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/admin/export"
	"vahti/admin/internal/sealtest"
	"vahti/mp4read"
)

// TestRedactionOfSealedFootage: redaction reads sealed segments through
// the exporter's stage (the decrypted clip exists only in the private work
// directory under state_dir while ffmpeg runs, and is gone afterwards):
// the redacted package verifies, has every frame of the plain footage,
// and names the sealed files' SHA-256 as its sources. Without keys it
// fails with the locked error and leaves nothing behind.
func TestRedactionOfSealedFootage(t *testing.T) {
	e := newEnv(t, "yard")
	ctx := context.Background()
	tool, err := Find(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := export.Request{Cameras: []string{"yard"}, From: testBase, To: testBase.Add(6 * time.Second), Reason: "test", Actor: "maija", Source: "cli"}
	plain, err := e.ex.Build(ctx, req, "")
	if err != nil {
		t.Fatal(err)
	}
	origFrames, _ := probeFrames(t, unzipClip(t, plain.Path, "yard.mp4", t.TempDir()))

	ring := sealtest.Site(t, e.db)
	for i, s := range e.segs {
		e.segs[i] = sealtest.Seal(t, e.db, ring.Public(), filepath.Join(e.root, filepath.FromSlash(s.Path)), s)
	}
	e.ex.Unwrap = ring.Unwrapper(e.db.KeyStore(ctx))
	res, err := Build(ctx, e.ex, req, quadrantRegions(t, ModeBlur), Options{Tool: tool}, "")
	if err != nil {
		t.Fatalf("redaction of sealed footage: %v", err)
	}
	if _, err := export.VerifyPackage(res.Path); err != nil {
		t.Fatalf("verify: %v", err)
	}
	m := res.Manifest
	if len(m.Sources) != 2 || m.Sources[0].SHA256 != e.segs[0].SHA256 || m.Sources[1].SHA256 != e.segs[1].SHA256 {
		t.Fatalf("manifest sources = %+v", m.Sources)
	}
	if n, bad := probeFrames(t, unzipClip(t, res.Path, "yard.mp4", t.TempDir())); n != origFrames || bad != "" {
		t.Fatalf("redacted clip of sealed footage: %d frames (plain %d), %s", n, origFrames, bad)
	}
	left := func() []string {
		var out []string
		ents, _ := os.ReadDir(filepath.Join(e.state, export.ExportsDir))
		for _, d := range ents {
			if strings.HasPrefix(d.Name(), WorkPrefix) || strings.HasPrefix(d.Name(), ".") {
				out = append(out, d.Name())
			}
		}
		return out
	}
	if l := left(); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
	ring.Wipe()
	if _, err := Build(ctx, e.ex, req, quadrantRegions(t, ModeBlur), Options{Tool: tool}, ""); !errors.Is(err, mp4read.ErrLocked) {
		t.Errorf("redaction without keys: %v, want the locked error", err)
	}
	if l := left(); len(l) > 0 {
		t.Errorf("left behind after the refusal: %v", l)
	}
}
