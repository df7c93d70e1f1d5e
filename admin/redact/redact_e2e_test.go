package redact

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"vahti/admin/export"
)

func quadrantRegions(t *testing.T, mode string) *Regions {
	t.Helper()
	doc := `{"cameras": {"yard": {"mode": "` + mode + `", "tracks": [{"keyframes": [{"at": "2026-11-22T12:00:00Z", "x": 0, "y": 0, "w": 0.5, "h": 0.5}]}]}}}`
	r, err := Parse([]byte(doc), Scope{Cameras: []string{"yard"}, From: testBase, To: testBase.Add(6 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRedactionMeasured redacts the top-left quadrant of a detailed test
// picture and measures, against the ordinary package's clip: inside the
// region SSIM far below what re-encoding alone gives (measured here on
// the same clip), outside PSNR above 30 dB; keep mode inverts both. The
// segments and the ordinary package are byte-identical afterwards.
func TestRedactionMeasured(t *testing.T) {
	e := newEnv(t, "yard")
	ctx := context.Background()
	tool, err := Find(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := export.Request{Cameras: []string{"yard"}, From: testBase, To: testBase.Add(6 * time.Second), Reason: "test", Actor: "maija", Source: "cli"}
	orig, err := e.ex.Build(ctx, req, "")
	if err != nil {
		t.Fatal(err)
	}
	segsBefore := hashTree(t, e.root)
	origBytes := hashTree(t, e.state+"/exports")[orig.Export.ID+".zip"]
	dir := t.TempDir()
	origClip := unzipClip(t, orig.Path, "yard.mp4", dir)

	// The baseline: the same clip re-encoded with nothing hidden.
	base := dir + "/baseline.mp4"
	if err := tool.Encode(ctx, origClip, base, "[0:v]format=yuv420p[v]", false, nil); err != nil {
		t.Fatal(err)
	}
	inBase, _ := compare(t, base, origClip, 0, 0, 320, 240)
	_, outBase := compare(t, base, origClip, 320, 240, 320, 240)
	t.Logf("re-encode only: SSIM inside %.4f, PSNR outside %.2f dB", inBase, outBase)

	var progress []float64
	for _, mode := range []string{ModeBlur, ModeKeep} {
		res, err := Build(ctx, e.ex, req, quadrantRegions(t, mode), Options{Tool: tool, Progress: func(f float64) { progress = append(progress, f) }}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := export.VerifyPackage(res.Path); err != nil {
			t.Fatalf("%s: verify: %v", mode, err)
		}
		m := res.Manifest
		var rm Manifest
		if !m.Redacted || json.Unmarshal(m.Redaction, &rm) != nil || rm.Mode != mode || !strings.HasPrefix(rm.FFmpeg, "ffmpeg version") ||
			len(rm.Clips) != 1 || !strings.Contains(rm.Clips[0].Filter, "drawbox") || rm.Audio != "dropped" {
			t.Fatalf("%s: manifest redaction = %s (redacted %v)", mode, m.Redaction, m.Redacted)
		}
		if len(m.Sources) != 2 || m.Sources[0].SHA256 != e.segs[0].SHA256 || m.Sources[1].SHA256 != e.segs[1].SHA256 {
			t.Fatalf("%s: manifest sources = %+v", mode, m.Sources)
		}
		red := unzipClip(t, res.Path, "yard.mp4", dir)
		if n, bad := probeFrames(t, red); n < 140 || bad != "" {
			t.Fatalf("%s: redacted clip: %d frames, %s", mode, n, bad)
		}
		in, inPSNR := compare(t, red, origClip, 0, 0, 320, 240)
		outSSIM, out := compare(t, red, origClip, 320, 240, 320, 240)
		_, out2 := compare(t, red, origClip, 320, 0, 320, 240)
		t.Logf("%s: quadrant SSIM %.4f PSNR %.2f dB; bottom-right SSIM %.4f PSNR %.2f dB; top-right PSNR %.2f dB", mode, in, inPSNR, outSSIM, out, out2)
		hidden, shown := in, out
		if mode == ModeKeep {
			// Keep only the quadrant: it is the part left as it was.
			hidden, _ = compare(t, red, origClip, 320, 240, 320, 240)
			_, shown = compare(t, red, origClip, 0, 0, 320, 240)
			if tr, _ := compare(t, red, origClip, 320, 0, 320, 240); tr > inBase-0.4 {
				t.Errorf("keep: top-right SSIM %.4f, re-encoding alone %.4f: not hidden enough", tr, inBase)
			}
		}
		if hidden > inBase-0.4 {
			t.Errorf("%s: hidden area SSIM %.4f, re-encoding alone %.4f: not hidden enough", mode, hidden, inBase)
		}
		if shown < 30 {
			t.Errorf("%s: shown area PSNR %.2f dB, want above 30", mode, shown)
		}
		if mode == ModeBlur && out2 < 30 {
			t.Errorf("blur: top-right PSNR %.2f dB, want above 30", out2)
		}
	}
	if len(progress) == 0 || progress[len(progress)-1] != 1 {
		t.Errorf("progress = %v, want ending at 1", progress)
	}
	if after := hashTree(t, e.root); !equalMaps(segsBefore, after) {
		t.Errorf("segments changed: before %v after %v", segsBefore, after)
	}
	if got := hashTree(t, e.state+"/exports")[orig.Export.ID+".zip"]; got != origBytes {
		t.Errorf("the ordinary package changed")
	}
	for name := range hashTree(t, e.state+"/exports") {
		if strings.HasPrefix(name, WorkPrefix) || strings.HasPrefix(name, ".") {
			t.Errorf("left behind: %s", name)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
