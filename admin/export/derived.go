package export

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"vahti/registry"
	"vahti/seal"
)

// A derived package (a redacted one) is made in two steps: Stage writes
// the request's ordinary clips, exactly as Build would put them in a
// package (every source hash checked), as plain files into a private work
// directory; the caller derives new clips from them (ffmpeg); BuildDerived
// signs, stores, registers and audits a package of the derived clips with
// the staged manifest. The recorded segments are only read.

// Staged is a request's clips written as files for a derived package.
type Staged struct {
	ID       string
	Created  time.Time
	Request  Request
	Manifest *Manifest // the ordinary package's manifest, clips hashed
	Clips    []string  // absolute path of each manifest clip, in order
}

// Stage validates req and writes its clips into dir (which must exist and
// be private). Nothing is registered or audited: a staged clip that is
// not packaged is a work file, removed by the caller.
func (e *Exporter) Stage(ctx context.Context, req Request, dir string) (*Staged, error) {
	if err := e.validate(&req); err != nil {
		return nil, err
	}
	created := e.now()
	id, err := newID(created)
	if err != nil {
		return nil, err
	}
	unwrap, endScope := seal.Scope(e.Unwrap) // as in Build
	defer endScope()
	tampered := map[int64]exclusion{}
	noIndex := map[int64]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		plans, err := e.plans(ctx, req, planOpts{splitOnGap: true, exclude: tampered, noIndex: noIndex,
			maxDuration: e.MaxClipDuration, maxBytes: e.MaxClipBytes, unwrap: unwrap})
		if err != nil {
			return nil, err
		}
		man := e.manifest(id, created, req, plans)
		if len(man.Clips) == 0 {
			return nil, badRequest("no footage of %s between %s and %s%s", strings.Join(req.Cameras, ", "),
				req.From.Format(time.RFC3339), req.To.Format(time.RFC3339), describeExcluded(man))
		}
		st := &Staged{ID: id, Created: created, Request: req, Manifest: man}
		terr, err := e.stageClips(ctx, dir, plans, st)
		if err != nil {
			return nil, err
		}
		if terr == nil {
			return st, nil
		}
		if terr.status == statusIndex {
			if noIndex[terr.seg.ID] {
				return nil, fmt.Errorf("export: segment %s: table differs from its own bytes", terr.seg.Path)
			}
			noIndex[terr.seg.ID] = true
			continue
		}
		tampered[terr.seg.ID] = exclusion{status: terr.status, detail: terr.detail}
		e.log().Error("export: segment excluded from a staged package", "segment", terr.seg.Path, "status", terr.status, "detail", terr.detail)
	}
}

func (e *Exporter) stageClips(ctx context.Context, dir string, plans []*plan, st *Staged) (*tamperErr, error) {
	st.Clips = st.Clips[:0]
	ci := 0
	for _, p := range plans {
		for _, c := range p.clips {
			path := filepath.Join(dir, c.name)
			f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return nil, fmt.Errorf("export: stage: %w", err)
			}
			bw := bufio.NewWriterSize(f, 1<<20)
			n, sum, terr, err := writeClip(ctx, bw, p, c, true)
			if err == nil && terr == nil {
				err = bw.Flush()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil || terr != nil {
				return terr, err
			}
			st.Manifest.Clips[ci].SHA256, st.Manifest.Clips[ci].Bytes = sum, n
			st.Clips = append(st.Clips, path)
			ci++
		}
	}
	return nil, nil
}

// DerivedClip is one file of a derived package: Info describes it in the
// manifest (its SHA-256 and size are filled in as it is packed).
type DerivedClip struct {
	Path string
	Info ClipInfo
}

// Derived describes a derived package.
type Derived struct {
	Clips []DerivedClip
	Notes []string       // replace the ordinary package's notes
	Audit map[string]any // extra detail of the export.create entry (e.g. "redacted": true)
	// Readme writes README.txt (given the signing key's fingerprint); nil:
	// the ordinary package's.
	Readme func(m *Manifest, fingerprint string) string
}

// BuildDerived writes, signs and stores a package of d's clips with the
// staged manifest (its Clips replaced), records it in the registry with
// its export.create audit entry in one transaction, and copies it to
// outPath if not empty, like Build.
func (e *Exporter) BuildDerived(ctx context.Context, st *Staged, d Derived, outPath string) (*Result, error) {
	signer, err := LoadOrCreateKey(e.StateDir)
	if err != nil {
		return nil, err
	}
	man := st.Manifest
	man.Clips = make([]ClipInfo, len(d.Clips))
	for i, c := range d.Clips {
		man.Clips[i] = c.Info
	}
	if d.Notes != nil {
		man.Notes = d.Notes
	}
	if man.AuditHead, err = e.auditHead(ctx); err != nil {
		return nil, err
	}
	dir := filepath.Join(e.StateDir, ExportsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	id, req := st.ID, st.Request
	final := filepath.Join(dir, id+".zip")
	tmp := filepath.Join(dir, "."+id+".zip.tmp")
	defer os.Remove(tmp) // deletion-gate: the temp name of a package being written (a no-op after the rename)
	zsum, zsize, err := writeDerivedZip(ctx, tmp, d, man, signer)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	syncDir(dir)
	rec := registry.Export{ID: id, Path: ExportsDir + "/" + id + ".zip", Cameras: req.Cameras, From: req.From, To: req.To,
		FootageEnd: footageEnd(man), SHA256: zsum, Bytes: zsize, Reason: req.Reason, CaseRef: req.CaseRef,
		CreatedBy: req.Actor, Created: st.Created}
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
		detail := map[string]any{"cameras": req.Cameras, "from": req.From, "to": req.To, "reason": req.Reason, "case": req.CaseRef,
			"sha256": zsum, "bytes": zsize, "clips": len(man.Clips), "gaps": len(man.Gaps), "tampered": bad}
		for k, v := range d.Audit {
			detail[k] = v
		}
		_, err := tx.Audit(req.Actor, req.Source, "export.create", "export:"+id, detail)
		return err
	})
	if err != nil {
		os.Remove(final) // deletion-gate: a package that was never recorded (registry failure) is not a package
		return nil, fmt.Errorf("export %s: %w", id, err)
	}
	res := &Result{Export: rec, Manifest: man, Path: final, Warnings: man.Warnings}
	if outPath != "" {
		if err := deliver(final, outPath); err != nil {
			return res, fmt.Errorf("export %s stored at %s, but copying to %s failed: %w", id, final, outPath, err)
		}
	}
	e.log().Info("derived export written", "export", id, "actor", req.Actor, "cameras", req.Cameras, "bytes", zsize, "clips", len(man.Clips))
	return res, nil
}

func writeDerivedZip(ctx context.Context, path string, d Derived, man *Manifest, signer ssh.Signer) (string, int64, error) {
	var est int64 = 1 << 20
	for _, c := range d.Clips {
		if st, err := os.Stat(c.Path); err == nil {
			est += st.Size() + 1024
		}
	}
	f, sink, err := createPackage(path, est)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	defer sink.sum()
	zw := zip.NewWriter(sink)
	created := man.Created.UTC
	for i, c := range d.Clips {
		if err := ctx.Err(); err != nil {
			return "", 0, err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: c.Info.File, Method: zip.Store, Modified: created})
		if err != nil {
			return "", 0, fmt.Errorf("export: %w", err)
		}
		in, err := os.Open(c.Path)
		if err != nil {
			return "", 0, fmt.Errorf("export: %w", err)
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), bufio.NewReaderSize(in, 1<<20))
		in.Close()
		if err != nil {
			return "", 0, fmt.Errorf("export: clip %s: %w", c.Info.File, err)
		}
		man.Clips[i].SHA256, man.Clips[i].Bytes = hex.EncodeToString(h.Sum(nil)), n
	}
	mj, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return "", 0, fmt.Errorf("export: manifest: %w", err)
	}
	mj = append(mj, '\n')
	sig, err := SignSSHSIG(signer, Namespace, mj)
	if err != nil {
		return "", 0, fmt.Errorf("export: %w", err)
	}
	rd := readme(man, signer.PublicKey())
	if d.Readme != nil {
		rd = d.Readme(man, Fingerprint(signer.PublicKey()))
	}
	files := []struct {
		name string
		data []byte
	}{
		{ManifestName, mj},
		{SignatureName, sig},
		{AllowedSignersName, []byte(AllowedSigners(signer.PublicKey()))},
		{ReadmeName, []byte(rd)},
	}
	for _, fl := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fl.name, Method: zip.Deflate, Modified: created})
		if err == nil {
			_, err = w.Write(fl.data)
		}
		if err != nil {
			return "", 0, fmt.Errorf("export: %s: %w", fl.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return "", 0, fmt.Errorf("export: %w", err)
	}
	return finishPackage(f, sink)
}
