package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"vahti/registry"
	"vahti/seal"
)

// Exporter stitches catalogued segments into evidence packages and serves
// seekable playback of the same stitched MP4.
type Exporter struct {
	Root     string // storage.root
	StateDir string // keys/ and exports/ live here
	DB       *registry.DB
	Now      func() time.Time
	Loc      *time.Location // local time in manifests; nil: Europe/Helsinki
	Version  string
	Log      *slog.Logger
	// Cameras are the configured camera ids; a request naming another is
	// refused. Empty: any camera with footage is accepted.
	Cameras []string
	// MaxRange bounds one package (default 48 h): sample tables are kept
	// in memory while the moov is built. Longer spans: several packages.
	MaxRange time.Duration
	// Clip limits; zero: DefaultMaxClipDuration, DefaultMaxClipBytes.
	MaxClipDuration time.Duration
	MaxClipBytes    int64
	// Unwrap opens sealed segments' data keys (the service's keyring while
	// a keeper is logged in); nil: only plain segments can be read, and a
	// sealed one fails the export or playback with mp4read.ErrLocked.
	// The package's clips are plain MP4 either way.
	Unwrap seal.Unwrapper
	// Encryption names, in the signed manifest, what the caller will encrypt
	// the written package with ("" or EncryptionAgeScrypt, see EncryptAge).
	Encryption string

	playOnce sync.Once
	play     *playCache
}

// Request asks for one package.
type Request struct {
	Cameras  []string
	From, To time.Time
	Reason   string
	CaseRef  string
	Actor    string // who asks (account name); audited and in the manifest
	Source   string // "cli" or the client address
	// Request is the register entry the package is made for (nil: none);
	// the manifest names it.
	Request *registry.RequestRef
}

// Result is a written package.
type Result struct {
	Export   registry.Export
	Manifest *Manifest
	Path     string   // the stored package, <state_dir>/exports/<id>.zip
	Warnings []string // tampering, damage, gaps: also in the manifest
}

// ErrBadRequest wraps every refusal of a request (the caller's mistake).
var ErrBadRequest = errors.New("bad export request")

// ExportsDir is where packages are kept, relative to state_dir.
const ExportsDir = "exports"

const defaultMaxRange = 48 * time.Hour

func (e *Exporter) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Exporter) loc() *time.Location {
	if e.Loc != nil {
		return e.Loc
	}
	return helsinki
}

func (e *Exporter) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

func (e *Exporter) validate(req *Request) error {
	req.Reason = strings.TrimSpace(req.Reason)
	req.CaseRef = strings.TrimSpace(req.CaseRef)
	if req.Reason == "" {
		return badRequest("a reason is required")
	}
	if req.Actor == "" {
		return badRequest("the exporting person (actor) is required")
	}
	if len(req.Cameras) == 0 {
		return badRequest("no camera given")
	}
	if req.From.IsZero() || req.To.IsZero() {
		return badRequest("from and to are required")
	}
	if !req.To.After(req.From) {
		return badRequest("to (%s) must be after from (%s)", req.To.UTC().Format(time.RFC3339), req.From.UTC().Format(time.RFC3339))
	}
	max := e.MaxRange
	if max <= 0 {
		max = defaultMaxRange
	}
	if req.To.Sub(req.From) > max {
		return badRequest("range %s is longer than %s; make several packages", req.To.Sub(req.From), max)
	}
	seen := map[string]bool{}
	var cams []string
	for _, c := range req.Cameras {
		c = strings.TrimSpace(c)
		if c == "" || seen[c] {
			continue
		}
		if len(e.Cameras) > 0 && !contains(e.Cameras, c) {
			return badRequest("unknown camera %q (configured: %s)", c, strings.Join(e.Cameras, ", "))
		}
		if strings.ContainsAny(c, "/\\") || c == "." || c == ".." {
			return badRequest("invalid camera id %q", c)
		}
		seen[c] = true
		cams = append(cams, c)
	}
	if len(cams) == 0 {
		return badRequest("no camera given")
	}
	req.Cameras = cams
	req.From, req.To = req.From.UTC(), req.To.UTC()
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Export writes a package (see Build) and returns its registry row.
func (e *Exporter) Export(ctx context.Context, req Request, outPath string) (registry.Export, error) {
	res, err := e.Build(ctx, req, outPath)
	if err != nil {
		return registry.Export{}, err
	}
	return res.Export, nil
}

// Build stitches, signs and stores a package under <state_dir>/exports,
// records it in the registry with its audit entry in one transaction, and,
// if outPath is not empty, copies it there. A refused or failed request
// leaves no package behind.
func (e *Exporter) Build(ctx context.Context, req Request, outPath string) (*Result, error) {
	return e.BuildWithProgress(ctx, req, outPath, nil)
}

// Progress gets the clip bytes copied so far of the package's total, as
// the copying goes (a background job's progress bar). An attempt that
// starts again without a tampered source starts again from 0.
type Progress func(done, total int64)

// BuildWithProgress is Build reporting progress (nil: none).
func (e *Exporter) BuildWithProgress(ctx context.Context, req Request, outPath string, progress Progress) (*Result, error) {
	if err := e.validate(&req); err != nil {
		return nil, err
	}
	signer, err := LoadOrCreateKey(e.StateDir)
	if err != nil {
		return nil, err
	}
	created := e.now()
	id, err := newID(created)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.StateDir, ExportsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	final := filepath.Join(dir, id+".zip")
	tmp := filepath.Join(dir, "."+id+".zip.tmp")
	defer os.Remove(tmp) // a no-op after the rename

	began := time.Now() // durations for the log line only, not decisions
	// Each sealed source's key is unwrapped once for the whole export,
	// and wiped when it ends (seal.Scope).
	unwrap, endScope := seal.Scope(e.Unwrap)
	defer endScope()
	tampered := map[int64]exclusion{}
	noIndex := map[int64]bool{}
	var man *Manifest
	var zsum string
	var zsize int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		plans, err := e.plans(ctx, req, planOpts{splitOnGap: true, exclude: tampered, noIndex: noIndex,
			maxDuration: e.MaxClipDuration, maxBytes: e.MaxClipBytes, unwrap: unwrap})
		if err != nil {
			return nil, err
		}
		man = e.manifest(id, created, req, plans)
		if man.AuditHead, err = e.auditHead(ctx); err != nil {
			return nil, err
		}
		if len(man.Clips) == 0 {
			return nil, badRequest("no footage of %s between %s and %s%s", strings.Join(req.Cameras, ", "),
				req.From.Format(time.RFC3339), req.To.Format(time.RFC3339), describeExcluded(man))
		}
		var terr *tamperErr
		zsum, zsize, terr, err = e.writeZip(ctx, tmp, plans, man, signer, progress)
		if err != nil {
			return nil, err
		}
		if terr == nil {
			break
		}
		if terr.status == statusIndex {
			// The index the plan came from does not describe the segment:
			// plan that segment again from its own boxes.
			if noIndex[terr.seg.ID] {
				return nil, fmt.Errorf("export: segment %s: table differs from its own bytes", terr.seg.Path)
			}
			noIndex[terr.seg.ID] = true
			e.log().Warn("export: segment index does not match the segment; planned from the file instead", "segment", terr.seg.Path, "export", id)
			continue
		}
		// A source no longer matches the hash it was catalogued with: start
		// over without it, so no tampered byte enters the package.
		tampered[terr.seg.ID] = exclusion{status: terr.status, detail: terr.detail}
		if terr.status == SourceTampered {
			e.log().Error("export: segment does not match its catalogued SHA-256: possible tampering; excluded from the package",
				"segment", terr.seg.Path, "detail", terr.detail, "export", id)
		} else {
			e.log().Warn("export: segment unreadable; excluded from the package", "segment", terr.seg.Path, "detail", terr.detail, "export", id)
		}
	}
	written := time.Since(began)
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	syncDir(dir)
	rec := registry.Export{ID: id, Path: ExportsDir + "/" + id + ".zip", Cameras: req.Cameras, From: req.From, To: req.To,
		FootageEnd: footageEnd(man), SHA256: zsum, Bytes: zsize, Reason: req.Reason, CaseRef: req.CaseRef,
		CreatedBy: req.Actor, Created: created}
	err = e.DB.Update(ctx, func(tx *registry.Tx) error {
		if err := tx.AddExport(&rec); err != nil {
			return err
		}
		var bad []string
		for _, s := range man.Sources {
			if s.Status == SourceTampered {
				bad = append(bad, s.Path)
				if _, err := tx.Audit(req.Actor, req.Source, "segment.tampered", "segment:"+s.Path,
					map[string]any{"camera": s.Camera, "path": s.Path, "catalog_sha256": s.SHA256, "detail": s.Detail, "export": id}); err != nil {
					return err
				}
			}
		}
		_, err := tx.Audit(req.Actor, req.Source, "export.create", "export:"+id, map[string]any{
			"cameras": req.Cameras, "from": req.From, "to": req.To, "reason": req.Reason, "case": req.CaseRef,
			"sha256": zsum, "bytes": zsize, "clips": len(man.Clips), "gaps": len(man.Gaps), "tampered": bad})
		return err
	})
	if err != nil {
		os.Remove(final) // never recorded: not a package
		return nil, fmt.Errorf("export %s: %w", id, err)
	}
	res := &Result{Export: rec, Manifest: man, Path: final, Warnings: man.Warnings}
	for _, w := range man.Warnings {
		e.log().Warn("export: "+w, "export", id)
	}
	if outPath != "" {
		if err := deliver(final, outPath); err != nil {
			return res, fmt.Errorf("export %s stored at %s, but copying to %s failed: %w", id, final, outPath, err)
		}
	}
	e.log().Info("export written", "export", id, "actor", req.Actor, "cameras", req.Cameras, "bytes", zsize,
		"clips", len(man.Clips), "gaps", len(man.Gaps), "write", written.Round(time.Millisecond),
		"total", time.Since(began).Round(time.Millisecond))
	return res, nil
}

func describeExcluded(m *Manifest) string {
	var bad []string
	for _, s := range m.Sources {
		if s.Status == SourceDamaged || s.Status == SourceTampered {
			bad = append(bad, s.Path+" ("+s.Status+")")
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return "; unusable segments: " + strings.Join(bad, ", ")
}

func footageEnd(m *Manifest) time.Time {
	var t time.Time
	for _, c := range m.Clips {
		if c.ToUTC.After(t) {
			t = c.ToUTC
		}
	}
	return t
}

func newID(t time.Time) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]), nil
}

// plans makes one stitching plan per requested camera.
func (e *Exporter) plans(ctx context.Context, req Request, o planOpts) ([]*plan, error) {
	segs := map[string][]registry.Segment{}
	err := e.DB.View(ctx, func(tx *registry.Tx) error {
		for _, c := range req.Cameras {
			s, err := tx.SegmentsIn(c, req.From, req.To)
			if err != nil {
				return err
			}
			segs[c] = s
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: catalog: %w", err)
	}
	if o.unwrap == nil {
		o.unwrap = e.Unwrap
	}
	var out []*plan
	for _, c := range req.Cameras {
		p, err := makePlan(e.Root, c, req.From, req.To, segs[c], o)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", c, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// manifest describes the plans; clip hashes and sizes are filled in as
// the clips are written.
func (e *Exporter) manifest(id string, created time.Time, req Request, plans []*plan) *Manifest {
	loc := e.loc()
	rng := func(a, b time.Time) Range { return mkRangeIn(a, b, loc) }
	m := &Manifest{Format: ManifestFormat, PackageID: id, Created: mkInstant(created, loc), VahtiVersion: e.Version,
		Exporter: req.Actor, Source: req.Source, Reason: req.Reason, CaseRef: req.CaseRef, TimeZone: loc.String(),
		Cameras: req.Cameras, Requested: rng(req.From, req.To), Actual: []CamRange{}, Clips: []ClipInfo{},
		Sources: []SourceInfo{}, Gaps: []Gap{}, Warnings: []string{}, Request: req.Request, Encryption: e.Encryption,
		Notes: []string{
			"Clips are the recorded H.264/H.265 and audio samples, unmodified (no re-encoding), stitched into progressive MP4.",
			"Each clip begins at the keyframe at or before the requested start; those earlier frames are shown, not hidden. Clip start times are wall-clock UTC of the first frame.",
			"A gap in recording, or a damaged or tampered source segment, ends a clip; the next footage starts a new clip file. Every gap is listed under gaps.",
			"A source segment whose SHA-256 no longer matches the value recorded when it was written is excluded and listed as tampered.",
		}}
	for _, p := range plans {
		for _, c := range p.clips {
			ci := ClipInfo{File: c.name, Camera: p.camera, Range: rng(c.start, c.end), Codecs: c.codecTag, Bytes: c.size, Sources: []string{}}
			for _, si := range c.sources {
				ci.Sources = append(ci.Sources, p.sources[si].seg.Path)
			}
			m.Clips = append(m.Clips, ci)
		}
		if len(p.clips) > 0 {
			m.Actual = append(m.Actual, CamRange{Camera: p.camera, Range: rng(p.clips[0].start, p.clips[len(p.clips)-1].end)})
		} else {
			m.Warnings = append(m.Warnings, fmt.Sprintf("camera %s: no footage in the requested range", p.camera))
		}
		for _, s := range p.sources {
			m.Sources = append(m.Sources, SourceInfo{Camera: p.camera, Path: s.seg.Path, SHA256: s.seg.SHA256, Bytes: s.seg.Bytes,
				Range: rng(s.from, s.to), Status: s.status, Detail: s.detail, Clip: s.clip})
			switch s.status {
			case SourceTampered:
				m.Warnings = append(m.Warnings, fmt.Sprintf("TAMPERING: camera %s segment %s does not match its catalogued SHA-256 (%s); excluded", p.camera, s.seg.Path, s.detail))
			case SourceDamaged:
				m.Warnings = append(m.Warnings, fmt.Sprintf("camera %s segment %s is damaged (%s); excluded", p.camera, s.seg.Path, s.detail))
			}
		}
		for _, g := range p.gaps {
			g.Range = rng(g.FromUTC, g.ToUTC)
			m.Gaps = append(m.Gaps, g)
			m.Warnings = append(m.Warnings, fmt.Sprintf("camera %s: no footage %s – %s (%s)", p.camera, g.FromLocal, g.ToLocal, g.Cause))
		}
	}
	return m
}

// tamperErr: a source's bytes no longer match the catalog.
type tamperErr struct {
	seg    registry.Segment
	status string // SourceTampered or SourceDamaged
	detail string
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// deliver puts the stored package at dst (the CLI's --out) without
// writing it again where it can: a reflink (a copy sharing the stored
// blocks: btrfs, XFS) or, on the same filesystem, a hard link to the
// stored package (the same file; it is never written again after it is
// stored, and deleting either name leaves the other). Otherwise, on
// another filesystem, one streaming copy. Either way through a temp name
// and an atomic rename, so dst is never half a package.
func deliver(stored, dst string) error {
	if cloned, err := cloneTo(stored, dst); cloned || err != nil {
		return err
	}
	dir := filepath.Dir(dst)
	tmp := filepath.Join(dir, "."+filepath.Base(dst)+".link.tmp")
	os.Remove(tmp) // deletion-gate: our own temp name for --out, never footage or a stored package
	if err := os.Link(stored, tmp); err == nil {
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp) // deletion-gate: our own temp name for --out
			return err
		}
		syncDir(dir)
		return nil
	}
	return copyFile(stored, dst)
}

// cloneTo reflinks src to dst (temp name, fsync, rename); false where the
// filesystem cannot.
func cloneTo(src, dst string) (bool, error) {
	in, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer in.Close()
	dir := filepath.Dir(dst)
	out, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return false, err
	}
	defer os.Remove(out.Name()) // deletion-gate: our own temp name for --out (a no-op after the rename)
	if !cloneFile(out, in) {
		out.Close()
		return false, nil
	}
	err = errors.Join(out.Chmod(0o600), out.Sync(), out.Close())
	if err == nil {
		err = os.Rename(out.Name(), dst)
	}
	if err == nil {
		syncDir(dir)
	}
	return true, err
}

// copyFile copies src to dst through a temp name, fsync and rename.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	dir := filepath.Dir(dst)
	out, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	if !cloneFile(out, in) {
		if st, err := in.Stat(); err == nil {
			preallocate(out, st.Size())
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
	}
	if err := out.Chmod(0o600); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(out.Name(), dst); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}
