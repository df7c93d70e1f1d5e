package redact

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"vahti/admin/export"
	"vahti/registry"
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
	origFrames, _ := probeFrames(t, origClip)

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
		if n, bad := probeFrames(t, red); n != origFrames || bad != "" {
			t.Fatalf("%s: redacted clip: %d frames (original %d), %s", mode, n, origFrames, bad)
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

// TestMovingRegionMeasured: a rectangle that moves from the top-left
// quadrant (until 12:00:01) to the bottom-right one (from 12:00:05) hides
// the top-left and shows the bottom-right at the start, the reverse at the
// end, and the picture's centre halfway: the motion is where and when the
// keyframes say, on the footage's own clock.
func TestMovingRegionMeasured(t *testing.T) {
	e := newEnv(t, "yard")
	ctx := context.Background()
	tool, err := Find(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scope := Scope{Cameras: []string{"yard"}, From: testBase, To: testBase.Add(6 * time.Second)}
	regs, err := Parse([]byte(`{"cameras": {"yard": {"mode": "blur", "tracks": [{"keyframes": [
		{"at": "2026-11-22T12:00:01Z", "x": 0, "y": 0, "w": 0.5, "h": 0.5},
		{"at": "2026-11-22T12:00:05Z", "x": 0.5, "y": 0.5, "w": 0.5, "h": 0.5}]}]}}}`), scope)
	if err != nil {
		t.Fatal(err)
	}
	req := export.Request{Cameras: []string{"yard"}, From: scope.From, To: scope.To, Reason: "test", Actor: "maija", Source: "cli"}
	orig, err := e.ex.Build(ctx, req, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(ctx, e.ex, req, regs, Options{Tool: tool}, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o, r := unzipClip(t, orig.Path, "yard.mp4", dir), unzipClip(t, res.Path, "yard.mp4", dir)
	pic, err := tool.Probe(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// Seconds on the files' timeline of a wall-clock moment (the clip's
	// first frame is at the manifest's clip start).
	at := func(d time.Duration) float64 {
		return pic.StartPTS + testBase.Add(d).Sub(res.Manifest.Clips[0].FromUTC).Seconds()
	}
	type check struct {
		name       string
		from, to   float64
		x, y, w, h int
		hidden     bool
	}
	checks := []check{
		{"start, top-left", at(0), at(900 * time.Millisecond), 0, 0, 320, 240, true},
		{"start, bottom-right", at(0), at(900 * time.Millisecond), 320, 240, 320, 240, false},
		{"halfway, centre", at(2900 * time.Millisecond), at(3100 * time.Millisecond), 200, 140, 240, 200, true},
		{"halfway, top-left corner", at(2900 * time.Millisecond), at(3100 * time.Millisecond), 0, 0, 120, 80, false},
		{"end, bottom-right", at(5100 * time.Millisecond), at(5900 * time.Millisecond), 320, 240, 320, 240, true},
		{"end, top-left", at(5100 * time.Millisecond), at(5900 * time.Millisecond), 0, 0, 320, 240, false},
	}
	for _, c := range checks {
		ssim, psnr := compareIn(t, r, o, c.from, c.to, c.x, c.y, c.w, c.h)
		t.Logf("%s (%.2f–%.2f s): SSIM %.4f PSNR %.2f dB", c.name, c.from, c.to, ssim, psnr)
		if c.hidden && ssim > 0.6 {
			t.Errorf("%s: SSIM %.4f: not hidden", c.name, ssim)
		}
		if !c.hidden && psnr < 30 {
			t.Errorf("%s: PSNR %.2f dB: damaged", c.name, psnr)
		}
	}
}

// TestKeepAudio: a redacted clip has no audio track unless asked for,
// and then AAC.
func TestKeepAudio(t *testing.T) {
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	ctx := context.Background()
	tool, err := Find(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := dir + "/src.mp4"
	if b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000",
		"-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", src).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	filter, _ := Filter(&Camera{Mode: ModeKeep}, Picture{Width: 320, Height: 240, Start: testBase, Duration: 2 * time.Second})
	for _, keep := range []bool{false, true} {
		out := fmt.Sprintf("%s/out-%v.mp4", dir, keep)
		if err := tool.Encode(ctx, src, out, filter, keep, nil); err != nil {
			t.Fatal(err)
		}
		b, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0", out).Output()
		if err != nil {
			t.Fatal(err)
		}
		streams := strings.TrimSpace(string(b))
		if hasAudio := strings.Contains(streams, "audio"); hasAudio != keep || !strings.Contains(streams, "h264,video") || keep && !strings.Contains(streams, "aac,audio") {
			t.Errorf("keep audio %v: streams %q", keep, streams)
		}
	}
}

// TestKeepAudioLPCM: G.711 as the recorder stores it (LPCM, which this
// ffmpeg cannot read from MP4) is kept with --keep-audio: extracted raw,
// re-encoded to AAC, as long as the video.
func TestKeepAudioLPCM(t *testing.T) {
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	ctx := context.Background()
	tool, err := Find(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The video of an ordinary export (the exporter's own progressive MP4).
	e := newEnv(t, "yard")
	res, err := e.ex.Build(ctx, export.Request{Cameras: []string{"yard"}, From: testBase, To: testBase.Add(2 * time.Second), Reason: "t", Actor: "m"}, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := os.Open(unzipClip(t, res.Path, "yard.mp4", dir))
	if err != nil {
		t.Fatal(err)
	}
	var p pmp4.Presentation
	if err := p.Unmarshal(f); err != nil {
		t.Fatal(err)
	}
	// 2 s of a 440 Hz tone, 16-bit big-endian mono 8 kHz, 20 ms samples.
	at := &pmp4.Track{ID: 2, TimeScale: 8000, Codec: &mp4.CodecLPCM{BitDepth: 16, SampleRate: 8000, ChannelCount: 1}}
	for i := 0; i < 100; i++ {
		pl := make([]byte, 320)
		for j := 0; j < 160; j++ {
			v := int16(8000 * math.Sin(2*math.Pi*440*float64(i*160+j)/8000))
			pl[2*j], pl[2*j+1] = byte(uint16(v)>>8), byte(v)
		}
		at.Samples = append(at.Samples, &pmp4.Sample{Duration: 160, PayloadSize: 320, GetPayload: func() ([]byte, error) { return pl, nil }})
	}
	p.Tracks = append(p.Tracks, at)
	src := dir + "/lpcm.mp4"
	w, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Marshal(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f.Close()
	raw, err := extractLPCM(src, dir+"/a.raw")
	if err != nil || raw == nil || raw.Format != "s16be" || raw.Rate != 8000 {
		t.Fatalf("extract: %+v %v", raw, err)
	}
	filter, _ := Filter(&Camera{Mode: ModeKeep}, Picture{Width: 640, Height: 480, Start: testBase, Duration: 2 * time.Second})
	out := dir + "/out.mp4"
	if err := tool.encode(ctx, src, out, filter, true, raw, nil); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=codec_name,duration", "-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	var codec string
	var dur float64
	fields := strings.Split(strings.TrimSpace(string(b)), ",")
	if len(fields) == 2 {
		codec = fields[0]
		fmt.Sscanf(fields[1], "%g", &dur)
	}
	if codec != "aac" || math.Abs(dur-2) > 0.1 {
		t.Fatalf("audio of the redacted clip: %q", b)
	}
}

// TestRedactedPackageExcludesTampered: a source segment whose bytes no
// longer match the catalogue is left out of a redacted package too,
// listed as tampered and audited, like an ordinary package.
func TestRedactedPackageExcludesTampered(t *testing.T) {
	e := newEnv(t, "yard")
	ctx := context.Background()
	tool, err := Find(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(e.root, filepath.FromSlash(e.segs[1].Path))
	b, _ := os.ReadFile(p)
	b[len(b)-10] ^= 0xFF
	os.WriteFile(p, b, 0o640)
	req := export.Request{Cameras: []string{"yard"}, From: testBase, To: testBase.Add(6 * time.Second), Reason: "test", Actor: "maija", Source: "cli"}
	res, err := Build(ctx, e.ex, req, quadrantRegions(t, ModeKeep), Options{Tool: tool}, "")
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if len(m.Sources) != 2 || m.Sources[1].Status != export.SourceTampered || len(m.Clips) != 1 || m.Clips[0].ToUTC.After(testBase.Add(3*time.Second)) {
		t.Fatalf("sources %+v clips %+v", m.Sources, m.Clips)
	}
	var n int
	e.db.View(ctx, func(tx *registry.Tx) error {
		es, err := tx.AuditEntries(registry.AuditFilter{Kind: "segment.tampered", Limit: 10})
		n = len(es)
		return err
	})
	if n != 1 {
		t.Errorf("%d segment.tampered entries", n)
	}
	if _, err := export.VerifyPackage(res.Path); err != nil {
		t.Error(err)
	}
}
