package redact

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vahti/admin/export"
)

// Options of one redacted package.
type Options struct {
	KeepAudio bool
	Tool      *Tool // nil: Find
	// Progress gets the fraction done (0–1) as ffmpeg reports it.
	Progress func(float64)
}

// WorkPrefix names the private work directories of redactions under
// <state_dir>/exports: they hold unredacted staged clips while ffmpeg
// runs, and are removed when the package is made, fails or is cancelled
// (and at service start, for one interrupted by a crash: CleanWork).
const WorkPrefix = ".redact-"

// Manifest is the manifest's "redaction" member.
type Manifest struct {
	Mode     string             `json:"mode"` // the package's: keep if any camera keeps, else blur
	Cameras  map[string]*Camera `json:"cameras"`
	LeftOut  []string           `json:"left_out,omitempty"`      // request cameras not in the package (blur mode, not listed)
	Blurred  []string           `json:"blurred_whole,omitempty"` // request cameras not listed, blurred whole (keep mode)
	Audio    string             `json:"audio"`                   // "dropped" or "re-encoded to AAC"
	FFmpeg   string             `json:"ffmpeg"`                  // first line of ffmpeg -version
	Encoding string             `json:"encoding"`                // the encoder options
	Method   string             `json:"method"`                  // how regions are hidden
	Clips    []ClipFilter       `json:"clips"`
}

// ClipFilter is the filter one clip went through.
type ClipFilter struct {
	File         string `json:"file"`
	Camera       string `json:"camera"`
	SourceSHA256 string `json:"source_clip_sha256"` // the stitched, unredacted clip it was made from (not in the package)
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	Filter       string `json:"filter"`
}

// Method describes the hiding for the manifest and README.
var Method = fmt.Sprintf("pixelation to blocks of 1/%d of the picture width (area average), regions rounded outward (blur) or inward (keep); moving regions as fixed boxes per %s step", BlocksAcross, DefaultStep)

// Build makes a redacted package of req (the request's ordinary clips,
// staged by the exporter, each re-encoded through its camera's filter),
// signed and registered like any package, its manifest saying
// redacted: true. The stored segments are only read; staged clips and
// partial outputs are removed whatever happens.
func Build(ctx context.Context, ex *export.Exporter, req export.Request, regs *Regions, opt Options, outPath string) (*export.Result, error) {
	tool := opt.Tool
	if tool == nil {
		var err error
		if tool, err = Find(ctx); err != nil {
			return nil, err
		}
	}
	progress := func(f float64) {
		if opt.Progress != nil {
			opt.Progress(min(max(f, 0), 1))
		}
	}
	rm := &Manifest{Mode: regs.Mode(), Cameras: regs.Cameras, Audio: "dropped", FFmpeg: tool.Version,
		Encoding: strings.Join(Encoding, " "), Method: Method, Clips: []ClipFilter{}}
	if opt.KeepAudio {
		rm.Audio = "re-encoded to AAC (" + strings.Join(AudioEncoding, " ") + ")"
	}
	var cams []string
	for _, c := range req.Cameras {
		switch {
		case regs.Cameras[c] != nil:
			cams = append(cams, c)
		case regs.For(c) != nil:
			cams = append(cams, c)
			rm.Blurred = append(rm.Blurred, c)
		default:
			rm.LeftOut = append(rm.LeftOut, c)
		}
	}
	if len(cams) == 0 {
		return nil, fmt.Errorf("%w: no camera of the request is in the regions file (blur mode leaves unlisted cameras out)", export.ErrBadRequest)
	}
	req.Cameras = cams
	work, err := WorkDir(ex.StateDir)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work) // deletion-gate: the redaction's own work dir (staged copies, partial ffmpeg output), never footage or a stored package
	st, err := ex.Stage(ctx, req, work)
	if err != nil {
		return nil, err
	}
	progress(0.02)
	var total time.Duration
	for _, c := range st.Manifest.Clips {
		total += c.ToUTC.Sub(c.FromUTC)
	}
	var done time.Duration
	d := export.Derived{Audit: map[string]any{"redacted": true, "mode": rm.Mode, "keep_audio": opt.KeepAudio,
		"ffmpeg": tool.Version, "left_out": rm.LeftOut}}
	for i, ci := range st.Manifest.Clips {
		in := st.Clips[i]
		cam := regs.For(ci.Camera)
		pic, err := tool.Probe(ctx, in)
		if err != nil {
			return nil, err
		}
		pic.Start = ci.FromUTC
		if pic.Duration <= 0 {
			pic.Duration = ci.ToUTC.Sub(ci.FromUTC)
		}
		filter, err := Filter(cam, pic)
		if err != nil {
			return nil, err
		}
		out := filepath.Join(work, "redacted-"+ci.File)
		clipDur := ci.ToUTC.Sub(ci.FromUTC)
		var raw *rawAudio
		if opt.KeepAudio {
			if raw, err = extractLPCM(in, filepath.Join(work, "audio-"+ci.File+".raw")); err != nil {
				return nil, err
			}
		}
		err = tool.encode(ctx, in, out, filter, opt.KeepAudio, raw, func(t time.Duration) {
			if total > 0 {
				progress(0.02 + 0.96*float64(done+min(t, clipDur))/float64(total))
			}
		})
		if err != nil {
			return nil, err
		}
		done += clipDur
		rm.Clips = append(rm.Clips, ClipFilter{File: ci.File, Camera: ci.Camera, SourceSHA256: ci.SHA256,
			Width: pic.Width, Height: pic.Height, Filter: filter})
		info := ci
		info.Codecs = "avc1 (H.264, re-encoded)"
		if opt.KeepAudio && tool.hasAudio(ctx, out) {
			info.Codecs += ", mp4a (AAC, re-encoded)"
		}
		info.SHA256, info.Bytes = "", 0
		d.Clips = append(d.Clips, export.DerivedClip{Path: out, Info: info})
	}
	raw, err := json.Marshal(rm)
	if err != nil {
		return nil, fmt.Errorf("redact: manifest: %w", err)
	}
	st.Manifest.Redacted = true
	st.Manifest.Redaction = raw
	d.Notes = []string{
		"REDACTED PACKAGE: the clips are NOT the recorded footage. They were decoded and re-encoded to H.264 by ffmpeg (see redaction.ffmpeg) with regions hidden by pixelation (redaction.method, redaction.clips[].filter).",
		"Mode " + rm.Mode + ": " + map[string]string{ModeBlur: "the listed rectangles are hidden.", ModeKeep: "everything outside the listed rectangles is hidden."}[rm.Mode],
		"Audio: " + rm.Audio + ".",
		"sources lists every recorded segment the clips were made from, with the SHA-256 it was catalogued with; the originals are unchanged and can be verified against it.",
		"Clip start times are wall-clock UTC of the first frame, as in an ordinary package.",
	}
	d.Readme = func(m *export.Manifest, fp string) string { return readme(m, rm, fp) }
	res, err := ex.BuildDerived(ctx, st, d, outPath)
	if err != nil {
		return res, err
	}
	progress(1)
	return res, nil
}

// WorkDir makes a private, uniquely named work directory under
// <state_dir>/exports (removed by the caller; CleanWork after a crash).
func WorkDir(stateDir string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	parent := filepath.Join(stateDir, export.ExportsDir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("redact: %w", err)
	}
	dir := filepath.Join(parent, WorkPrefix+hex.EncodeToString(b[:]))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("redact: %w", err)
	}
	return dir, nil
}

// CleanWork removes work directories left by a redaction that was
// interrupted (a crash, a kill): run it at service start, before any job.
func CleanWork(stateDir string) error {
	parent := filepath.Join(stateDir, export.ExportsDir)
	ents, err := os.ReadDir(parent)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), WorkPrefix) {
			// deletion-gate: a redaction's work dir (staged copies of clips, partial output), never footage or a stored package
			errs = append(errs, os.RemoveAll(filepath.Join(parent, e.Name())))
		}
	}
	return errors.Join(errs...)
}

func readme(m *export.Manifest, rm *Manifest, fp string) string {
	return fmt.Sprintf(`VAHTI – PEITETTY TALLENNEPAKETTI / REDACTED PACKAGE
Paketti / Package: %[1]s
Luotu / Created: %[2]s (%[3]s)

SUOMEKSI
========
Tämän paketin videot EIVÄT ole alkuperäisiä tallenteita: ne on purettu ja pakattu
uudelleen H.264-muotoon (ffmpeg: %[4]s), ja osa kuvasta on peitetty pikselöimällä
(tila %[5]q). Ääni: %[6]s. manifest.json kertoo peitetyt alueet, käytetyn suodattimen
ja jokaisen lähdetallenteen SHA-256-tiivisteen; alkuperäiset tallenteet ovat
muuttamattomina laitteella. manifest.json on allekirjoitettu laitteen Ed25519-avaimella.

Tarkistus:  ssh-keygen -Y verify -f allowed_signers -I %[7]s -n %[8]s -s manifest.json.sig < manifest.json
            sha256sum <tiedosto>.mp4   (vertaa manifest.json:n "clips"-kohtaan)
tai laitteella:  vahti verify-export PAKETTI.zip
Avaimen sormenjälki / key fingerprint: %[9]s

IN ENGLISH
==========
The videos in this package are NOT the original recordings: they were decoded and
re-encoded to H.264 (ffmpeg: %[4]s) with parts of the picture hidden by pixelation
(mode %[5]q). Audio: %[6]s. manifest.json lists the regions, the filter used and the
SHA-256 of every source recording; the originals are unchanged on the box.
manifest.json is signed with the box's Ed25519 key.

To verify:  ssh-keygen -Y verify -f allowed_signers -I %[7]s -n %[8]s -s manifest.json.sig < manifest.json
            sha256sum <file>.mp4   (compare with "clips" in manifest.json)
or on a Vahti box:  vahti verify-export PACKAGE.zip
`, m.PackageID, m.Created.UTC.Format("2006-01-02T15:04:05Z"), m.Created.Local, rm.FFmpeg, rm.Mode, rm.Audio,
		export.SignerID, export.Namespace, fp)
}
