package export

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"vahti/registry"
)

func (e *env) export(cams []string, from, to time.Duration) (*Result, string) {
	e.t.Helper()
	out := filepath.Join(e.t.TempDir(), "out.zip")
	res, err := e.ex.Build(context.Background(), Request{Cameras: cams, From: e.base.Add(from), To: e.base.Add(to),
		Reason: "poliisin pyyntö", CaseRef: "5500/R/1234/26", Actor: "keeper1", Source: "cli"}, out)
	if err != nil {
		e.t.Fatalf("export: %v", err)
	}
	return res, out
}

// unzip extracts a package into a temp dir.
func unzip(t testing.TB, zipPath string) string {
	t.Helper()
	dir := t.TempDir()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkClip asserts what a viewer would check with ffprobe: codecs, first
// packet a keyframe, no frame-timestamp jump, every frame decodes, and the
// video spans [from, to) relative to the clip's start.
func checkClip(t *testing.T, path string, codecs []string, clipStart time.Time, from, to time.Time) {
	t.Helper()
	p := ffprobe(t, path)
	if got := strings.Join(p.codecs(), ","); got != strings.Join(codecs, ",") {
		t.Errorf("%s: codecs %s, want %s", filepath.Base(path), got, strings.Join(codecs, ","))
	}
	vi, _ := p.video()
	var pts []float64
	first := true
	for _, pk := range p.Packets {
		if pk.StreamIndex != vi {
			continue
		}
		if first && !strings.Contains(pk.Flags, "K") {
			t.Errorf("%s: first video packet is not a keyframe (flags %q)", filepath.Base(path), pk.Flags)
		}
		first = false
		pts = append(pts, atof(pk.PTS))
	}
	if len(pts) == 0 {
		t.Fatalf("%s: no video packets", filepath.Base(path))
	}
	for i := 1; i < len(pts); i++ {
		if d := pts[i] - pts[i-1]; math.Abs(d-0.04) > 0.002 {
			t.Errorf("%s: frame %d: pts step %.3f s, want 0.040 (a timestamp gap where recording was continuous)", filepath.Base(path), i, d)
			break
		}
	}
	startOff := from.Sub(clipStart).Seconds()
	endOff := to.Sub(clipStart).Seconds()
	if pts[0] > startOff+1e-6 {
		t.Errorf("%s: video starts at %.3f s, after the requested start %.3f s", filepath.Base(path), pts[0], startOff)
	}
	if last := pts[len(pts)-1] + 0.04; last < endOff-0.041 {
		t.Errorf("%s: video ends at %.3f s, before the requested end %.3f s", filepath.Base(path), last, endOff)
	}
	if msg := decodeErrors(t, path); msg != "" {
		t.Errorf("%s: ffmpeg decode errors: %s", filepath.Base(path), msg)
	}
}

func readManifest(t *testing.T, dir string) *Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func TestExportAcrossSegmentBoundaries(t *testing.T) {
	e := newEnv(t)
	s := makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 12})
	e.addSegments("yard", s, 0, 2)
	from, to := 3500*time.Millisecond, 8500*time.Millisecond
	res, out := e.export([]string{"yard"}, from, to)
	dir := unzip(t, out)
	m := readManifest(t, dir)
	if len(m.Clips) != 1 || m.Clips[0].File != "yard.mp4" {
		t.Fatalf("clips %+v, want one yard.mp4", m.Clips)
	}
	c := m.Clips[0]
	if want := e.base.Add(3 * time.Second); !c.FromUTC.Equal(want) {
		t.Errorf("clip starts %s, want the keyframe at or before from: %s", c.FromUTC, want)
	}
	if c.ToUTC.Before(e.base.Add(to)) {
		t.Errorf("clip ends %s, before the requested end %s", c.ToUTC, e.base.Add(to))
	}
	if len(c.Sources) != 4 {
		t.Errorf("clip sources %v, want the 4 segments 2-4,4-6,6-8,8-10 s", c.Sources)
	}
	if len(m.Gaps) != 0 {
		t.Errorf("gaps %+v, want none", m.Gaps)
	}
	if m.Reason != "poliisin pyyntö" || m.CaseRef != "5500/R/1234/26" || m.Exporter != "keeper1" || m.VahtiVersion != "test" {
		t.Errorf("manifest facts wrong: %+v", m)
	}
	if m.Requested.FromLocal != "2026-11-22T14:00:03.5+02:00" {
		t.Errorf("requested local from %q, want Helsinki time", m.Requested.FromLocal)
	}
	checkClip(t, filepath.Join(dir, "yard.mp4"), []string{"h264", "aac"}, c.FromUTC, e.base.Add(from), e.base.Add(to))

	// Stored copy equals --out, registry row and audit entry agree.
	stored, _ := os.ReadFile(res.Path)
	copied, _ := os.ReadFile(out)
	if !bytes.Equal(stored, copied) {
		t.Error("--out copy differs from the stored package")
	}
	if st, _ := os.Stat(res.Path); st.Mode().Perm() != 0o600 {
		t.Errorf("stored package mode %v, want 0600", st.Mode().Perm())
	}
	var row registry.Export
	var entries []registry.Entry
	e.db.View(context.Background(), func(tx *registry.Tx) error {
		row, _ = tx.Export(res.Export.ID)
		entries, _ = tx.AuditEntries(registry.AuditFilter{})
		return nil
	})
	if row.SHA256 != res.Export.SHA256 || row.Path != "exports/"+res.Export.ID+".zip" || !row.FootageEnd.Equal(c.ToUTC) {
		t.Errorf("registry row %+v", row)
	}
	if sum := sha256.Sum256(stored); hex.EncodeToString(sum[:]) != row.SHA256 || int64(len(stored)) != row.Bytes {
		t.Errorf("stored package: SHA-256 %x, %d bytes; registry says %s, %d bytes", sum, len(stored), row.SHA256, row.Bytes)
	}
	found := false
	for _, en := range entries {
		if en.Kind == "export.create" && en.Object == "export:"+res.Export.ID {
			found = strings.Contains(string(en.Detail), res.Export.SHA256) && strings.Contains(string(en.Detail), "poliisin")
		}
	}
	if !found {
		t.Errorf("no export.create audit entry with the zip's sha256: %+v", entries)
	}
	if _, err := VerifyPackage(out); err != nil {
		t.Errorf("VerifyPackage: %v", err)
	}
}

func TestExportGapIsStatedAndStartsNewClip(t *testing.T) {
	e := newEnv(t)
	s := makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 12})
	e.addSegments("yard", s, 0, 2, 2) // segment 4-6 s was never recorded
	res, out := e.export([]string{"yard"}, time.Second, 11*time.Second)
	m := res.Manifest
	if len(m.Clips) != 2 || m.Clips[0].File != "yard.mp4" || m.Clips[1].File != "yard-2.mp4" {
		t.Fatalf("clips %+v, want yard.mp4 and yard-2.mp4", m.Clips)
	}
	if len(m.Gaps) != 1 {
		t.Fatalf("gaps %+v, want one", m.Gaps)
	}
	g := m.Gaps[0]
	if !g.FromUTC.Equal(e.base.Add(4*time.Second)) || !g.ToUTC.Equal(e.base.Add(6*time.Second)) || g.Cause != GapNoRecording {
		t.Errorf("gap %+v, want 4 s - 6 s no-recording", g)
	}
	dir := unzip(t, out)
	checkClip(t, filepath.Join(dir, "yard.mp4"), []string{"h264", "aac"}, m.Clips[0].FromUTC, e.base.Add(time.Second), e.base.Add(4*time.Second))
	checkClip(t, filepath.Join(dir, "yard-2.mp4"), []string{"h264", "aac"}, m.Clips[1].FromUTC, e.base.Add(6*time.Second), e.base.Add(11*time.Second))
	if len(m.Warnings) == 0 {
		t.Error("no warning about the gap")
	}
}

func TestExportTwoCamerasH265LPCM(t *testing.T) {
	e := newEnv(t)
	e.addSegments("yard", makeStream(t, streamOpts{codec: "h265", audio: "lpcm", seconds: 8}), 0, 2)
	e.addSegments("lobby", makeStream(t, streamOpts{codec: "h264", seconds: 8}), 500*time.Millisecond, 2)
	res, out := e.export([]string{"yard", "lobby"}, 2*time.Second, 6*time.Second)
	m := res.Manifest
	if len(m.Clips) != 2 || m.Clips[0].File != "yard.mp4" || m.Clips[1].File != "lobby.mp4" {
		t.Fatalf("clips %+v", m.Clips)
	}
	if m.Clips[0].Codecs != "h265,lpcm" || m.Clips[1].Codecs != "h264" {
		t.Errorf("codecs %q %q", m.Clips[0].Codecs, m.Clips[1].Codecs)
	}
	dir := unzip(t, out)
	p := ffprobe(t, filepath.Join(dir, "yard.mp4"))
	if _, c := p.video(); c != "hevc" {
		t.Errorf("yard video codec %q, want hevc", c)
	}
	checkVideoOnly(t, filepath.Join(dir, "yard.mp4"), m.Clips[0].FromUTC, e.base.Add(2*time.Second), e.base.Add(6*time.Second))
	checkClip(t, filepath.Join(dir, "lobby.mp4"), []string{"h264"}, m.Clips[1].FromUTC, e.base.Add(2*time.Second), e.base.Add(6*time.Second))

	// LPCM: ffmpeg 5 cannot read ipcm, so read the track back with mediacommon.
	f, err := os.Open(filepath.Join(dir, "yard.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pres pmp4.Presentation
	if err := pres.Unmarshal(f); err != nil {
		t.Fatalf("pmp4 unmarshal: %v", err)
	}
	if len(pres.Tracks) != 2 {
		t.Fatalf("%d tracks", len(pres.Tracks))
	}
	lp, ok := pres.Tracks[1].Codec.(*mp4.CodecLPCM)
	if !ok || lp.BitDepth != 16 || lp.SampleRate != 8000 {
		t.Fatalf("audio codec %#v, want LPCM s16 8 kHz", pres.Tracks[1].Codec)
	}
	var total uint32
	for i, sa := range pres.Tracks[1].Samples {
		total += sa.Duration
		pl, err := sa.GetPayload()
		if err != nil || len(pl) != 320 {
			t.Fatalf("lpcm sample %d: %d bytes, %v", i, len(pl), err)
		}
	}
	vdur := 0.0
	for _, sa := range pres.Tracks[0].Samples {
		vdur += float64(sa.Duration) / float64(pres.Tracks[0].TimeScale)
	}
	if d := float64(total) / 8000; math.Abs(d-vdur) > 0.05 {
		t.Errorf("lpcm covers %.3f s, video %.3f s", d, vdur)
	}
}

// checkVideoOnly is checkClip for files whose audio ffmpeg cannot read.
func checkVideoOnly(t *testing.T, path string, clipStart, from, to time.Time) {
	t.Helper()
	p := ffprobe(t, path)
	vi, _ := p.video()
	var pts []float64
	for _, pk := range p.Packets {
		if pk.StreamIndex == vi {
			if len(pts) == 0 && !strings.Contains(pk.Flags, "K") {
				t.Errorf("first video packet not a keyframe")
			}
			pts = append(pts, atof(pk.PTS))
		}
	}
	for i := 1; i < len(pts); i++ {
		if d := pts[i] - pts[i-1]; math.Abs(d-0.04) > 0.002 {
			t.Fatalf("pts step %.3f at frame %d", d, i)
		}
	}
	if pts[0] > from.Sub(clipStart).Seconds()+1e-6 || pts[len(pts)-1]+0.04 < to.Sub(clipStart).Seconds()-0.041 {
		t.Errorf("video %.3f-%.3f s does not span the request", pts[0], pts[len(pts)-1])
	}
	out, _ := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-f", "null", "-").CombinedOutput()
	if len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("decode errors: %s", out)
	}
}

func TestExportDamagedSegmentsAreGaps(t *testing.T) {
	e := newEnv(t)
	s := makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 12})
	segs := e.addSegments("yard", s, 0, 2)
	// 2-4 s: empty; 4-6 s: truncated; 8-10 s: garbage of the same size.
	os.WriteFile(e.abs(segs[1]), nil, 0o644)
	b, _ := os.ReadFile(e.abs(segs[2]))
	os.WriteFile(e.abs(segs[2]), b[:len(b)/2], 0o644)
	junk := bytes.Repeat([]byte("garbage!"), int(segs[4].Bytes)/8+1)[:segs[4].Bytes]
	os.WriteFile(e.abs(segs[4]), junk, 0o644)

	res, out := e.export([]string{"yard"}, 0, 12*time.Second)
	m := res.Manifest
	status := map[string]string{}
	for _, s := range m.Sources {
		status[s.Path] = s.Status
	}
	for i, want := range []string{SourceOK, SourceDamaged, SourceDamaged, SourceOK, SourceDamaged, SourceOK} {
		if got := status[segs[i].Path]; got != want {
			t.Errorf("segment %d: status %q, want %q", i, got, want)
		}
	}
	var files []string
	for _, c := range m.Clips {
		files = append(files, c.File)
	}
	if strings.Join(files, ",") != "yard.mp4,yard-2.mp4,yard-3.mp4" {
		t.Errorf("clips %v, want three (0-2, 6-8, 10-12 s)", files)
	}
	if len(m.Gaps) != 2 || m.Gaps[0].Cause != GapDamaged || !m.Gaps[0].FromUTC.Equal(e.base.Add(2*time.Second)) ||
		!m.Gaps[0].ToUTC.Equal(e.base.Add(6*time.Second)) || len(m.Gaps[0].Segments) != 2 {
		t.Errorf("gaps %+v, want 2-6 s and 8-10 s damaged", m.Gaps)
	}
	dir := unzip(t, out)
	for _, c := range m.Clips {
		if msg := decodeErrors(t, filepath.Join(dir, c.File)); msg != "" {
			t.Errorf("%s: %s", c.File, msg)
		}
	}
	if _, err := VerifyPackage(out); err != nil {
		t.Error(err)
	}
}

func TestExportTamperedSegmentExcludedAndAudited(t *testing.T) {
	e := newEnv(t)
	s := makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 8})
	segs := e.addSegments("yard", s, 0, 2)
	// Alter one byte of a frame after recording: the file still parses.
	b, _ := os.ReadFile(e.abs(segs[2]))
	b[len(b)-100] ^= 0xff
	os.WriteFile(e.abs(segs[2]), b, 0o644)

	res, out := e.export([]string{"yard"}, 0, 8*time.Second)
	m := res.Manifest
	var tampered []string
	for _, s := range m.Sources {
		if s.Status == SourceTampered {
			tampered = append(tampered, s.Path)
			if !strings.Contains(s.Detail, "SHA-256") {
				t.Errorf("detail %q does not say the hash differs", s.Detail)
			}
		}
	}
	if len(tampered) != 1 || tampered[0] != segs[2].Path {
		t.Fatalf("tampered %v, want %s", tampered, segs[2].Path)
	}
	loud := false
	for _, w := range res.Warnings {
		loud = loud || strings.Contains(w, "TAMPERING") && strings.Contains(w, segs[2].Path)
	}
	if !loud {
		t.Errorf("warnings %v do not name the tampered segment", res.Warnings)
	}
	if len(m.Gaps) != 1 || m.Gaps[0].Cause != GapTampered {
		t.Errorf("gaps %+v, want one tampered-segment gap", m.Gaps)
	}
	for _, c := range m.Clips {
		for _, src := range c.Sources {
			if src == segs[2].Path {
				t.Errorf("tampered segment stitched into %s", c.File)
			}
		}
	}
	var kinds []string
	e.db.View(context.Background(), func(tx *registry.Tx) error {
		en, _ := tx.AuditEntries(registry.AuditFilter{})
		for _, x := range en {
			kinds = append(kinds, x.Kind+" "+x.Object)
		}
		return nil
	})
	if !strings.Contains(strings.Join(kinds, ";"), "segment.tampered segment:"+segs[2].Path) {
		t.Errorf("audit %v has no segment.tampered entry", kinds)
	}
	if _, err := VerifyPackage(out); err != nil {
		t.Error(err)
	}
}

func TestExportBadRequestsLeaveNothing(t *testing.T) {
	e := newEnv(t)
	e.ex.Cameras = []string{"yard", "lobby"}
	e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", seconds: 4}), 0, 2)
	ok := Request{Cameras: []string{"yard"}, From: e.base, To: e.base.Add(2 * time.Second), Reason: "x", Actor: "k", Source: "cli"}
	cases := map[string]func(r *Request){
		"missing reason":    func(r *Request) { r.Reason = "  " },
		"empty range":       func(r *Request) { r.To = r.From },
		"reversed range":    func(r *Request) { r.From, r.To = r.To, r.From },
		"unknown camera":    func(r *Request) { r.Cameras = []string{"garage"} },
		"no camera":         func(r *Request) { r.Cameras = nil },
		"no footage":        func(r *Request) { r.From, r.To = e.base.Add(time.Hour), e.base.Add(2*time.Hour) },
		"camera no footage": func(r *Request) { r.Cameras = []string{"lobby"} },
		"too long":          func(r *Request) { r.To = r.From.Add(49 * time.Hour) },
	}
	for name, mod := range cases {
		r := ok
		mod(&r)
		out := filepath.Join(t.TempDir(), "out.zip")
		_, err := e.ex.Build(context.Background(), r, out)
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: err %v, want ErrBadRequest", name, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: --out file left behind", name)
		}
	}
	left, _ := os.ReadDir(filepath.Join(e.state, ExportsDir))
	if len(left) != 0 {
		t.Errorf("exports dir holds %d files after refused requests", len(left))
	}
	var n int
	e.db.View(context.Background(), func(tx *registry.Tx) error {
		x, _ := tx.Exports()
		n = len(x)
		return nil
	})
	if n != 0 {
		t.Errorf("%d exports recorded", n)
	}
}

func TestExportSplitsOnParamsChangeAndLimits(t *testing.T) {
	e := newEnv(t)
	small := makeStream(t, streamOpts{codec: "h264", seconds: 4})
	big := makeStream(t, streamOpts{codec: "h264", seconds: 4, size: "640x480"})
	e.addSegments("yard", small, 0, 2)
	e.addSegments("yard", big, 4*time.Second, 2) // resolution change at 4 s, no gap
	res, out := e.export([]string{"yard"}, 0, 8*time.Second)
	m := res.Manifest
	if len(m.Clips) != 2 || len(m.Gaps) != 0 {
		t.Fatalf("clips %+v gaps %+v, want 2 clips and no gap", m.Clips, m.Gaps)
	}
	dir := unzip(t, out)
	w1, w2 := ffprobe(t, filepath.Join(dir, "yard.mp4")).Streams[0].Width, ffprobe(t, filepath.Join(dir, "yard-2.mp4")).Streams[0].Width
	if w1 != 320 || w2 != 640 {
		t.Errorf("widths %d %d, want 320 then 640", w1, w2)
	}
	// A clip longer than the limit continues in the next file at a segment boundary.
	e.ex.MaxClipDuration = 3 * time.Second
	res, _ = e.export([]string{"yard"}, 0, 4*time.Second)
	if len(res.Manifest.Clips) != 2 || len(res.Manifest.Gaps) != 0 || !res.Manifest.Clips[1].FromUTC.Equal(e.base.Add(2*time.Second)) {
		t.Errorf("clips %+v gaps %+v, want a split at 2 s and no gap", res.Manifest.Clips, res.Manifest.Gaps)
	}
}

func TestKeyCreatedOnceMode0600(t *testing.T) {
	dir := t.TempDir()
	a, err := PublicKeyString(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := PublicKeyString(dir)
	if a != b || !strings.HasPrefix(a, "ssh-ed25519 ") {
		t.Errorf("keys %q %q", a, b)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v %v", st, err)
	}
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		pub, err := exec.Command("ssh-keygen", "-y", "-f", filepath.Join(dir, KeyFile)).Output()
		if err != nil || !strings.HasPrefix(a, strings.TrimSpace(string(pub))) {
			t.Errorf("ssh-keygen -y: %q %v, want %q", pub, err, a)
		}
	}
}

// The layout used above 4 GiB (co64, 64-bit mdat size) plays too.
func TestLargeLayoutPlays(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 6}), 0, 2)
	p, err := makePlan(e.root, "yard", e.base, e.base.Add(6*time.Second), segs, planOpts{splitOnGap: true, force64: true})
	if err != nil || len(p.clips) != 1 {
		t.Fatalf("plan: %v %d clips", err, len(p.clips))
	}
	out := filepath.Join(t.TempDir(), "large.mp4")
	f, _ := os.Create(out)
	n, _, terr, err := writeClip(context.Background(), f, p, p.clips[0], true)
	f.Close()
	if err != nil || terr != nil || n != p.clips[0].size {
		t.Fatalf("write: %v %v %d", err, terr, n)
	}
	b, _ := os.ReadFile(out)
	if !bytes.Contains(b[:len(p.clips[0].header)], []byte("co64")) {
		t.Fatal("no co64 box")
	}
	checkClip(t, out, []string{"h264", "aac"}, p.clips[0].start, e.base, e.base.Add(6*time.Second))
}

func TestExportMissingFileAndCancel(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", seconds: 6}), 0, 2)
	os.Remove(e.abs(segs[1])) // catalogued, gone from disk
	res, _ := e.export([]string{"yard"}, 0, 6*time.Second)
	if len(res.Manifest.Clips) != 2 || len(res.Manifest.Gaps) != 1 || res.Manifest.Gaps[0].Cause != GapDamaged {
		t.Errorf("clips %d gaps %+v, want 2 clips around a damaged-segment gap", len(res.Manifest.Clips), res.Manifest.Gaps)
	}
	// A cancelled export leaves no package and no row.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before, _ := os.ReadDir(filepath.Join(e.state, ExportsDir))
	_, err := e.ex.Build(ctx, Request{Cameras: []string{"yard"}, From: e.base, To: e.base.Add(6 * time.Second), Reason: "x", Actor: "k"}, "")
	if err == nil {
		t.Fatal("cancelled export succeeded")
	}
	after, _ := os.ReadDir(filepath.Join(e.state, ExportsDir))
	if len(after) != len(before) {
		t.Errorf("cancelled export left files: %d -> %d", len(before), len(after))
	}
}

// Parts of the request before the first and after the last footage are gaps too.
func TestExportLeadingAndTrailingGaps(t *testing.T) {
	e := newEnv(t)
	e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", seconds: 4}), 0, 2)
	res, _ := e.export([]string{"yard"}, -5*time.Second, 10*time.Second)
	g := res.Manifest.Gaps
	if len(g) != 2 || !g[0].FromUTC.Equal(e.base.Add(-5*time.Second)) || !g[0].ToUTC.Equal(e.base) ||
		!g[1].FromUTC.Equal(e.base.Add(4*time.Second)) || !g[1].ToUTC.Equal(e.base.Add(10*time.Second)) {
		t.Errorf("gaps %+v, want -5..0 s and 4..10 s", g)
	}
	a := res.Manifest.Actual
	if len(a) != 1 || !a[0].FromUTC.Equal(e.base) || !a[0].ToUTC.Equal(e.base.Add(4*time.Second)) {
		t.Errorf("actual %+v, want 0..4 s", a)
	}
}

// The newest stretch of a range is still being written: the manifest must
// say so, not claim the camera recorded nothing.
func TestExportTrailingGapOfARunningRecording(t *testing.T) {
	e := newEnv(t)
	s := makeStream(t, streamOpts{codec: "h264", seconds: 6})
	segs := e.addSegments("yard", s, 0, 2)
	last := segs[len(segs)-1]
	res, _ := e.export([]string{"yard"}, time.Second, 10*time.Second)
	if g := res.Manifest.Gaps; len(g) != 1 || g[0].Cause != GapNoRecording {
		t.Fatalf("gaps without a recording in progress: %+v", g)
	}
	// The recorder is writing the next segment.
	tmp := filepath.Join(e.root, filepath.FromSlash(registry.UnfinishedPath("yard", last.End)))
	if err := os.WriteFile(tmp, []byte("being written"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, _ = e.export([]string{"yard"}, time.Second, 10*time.Second)
	g := res.Manifest.Gaps
	if len(g) != 1 || g[0].Cause != GapInProgress || !g[0].ToUTC.Equal(e.base.Add(10*time.Second)) {
		t.Fatalf("trailing gap while recording: %+v, want one %s gap to the end", g, GapInProgress)
	}
}
