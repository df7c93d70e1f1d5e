package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"vahti/checkpoint"
	"vahti/configs"
	"vahti/registry"
)

// runAudit: vahti audit verify (--config | --file) / audit export.
func runAudit(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "audit", args,
		subcommand{"verify", auditVerify},
		subcommand{"export", auditExport},
	)
}

type verifyResult struct {
	OK          bool                 `json:"ok"`
	Entries     int                  `json:"entries"`
	Source      string               `json:"source"`
	HeadSeq     int64                `json:"head_seq"`
	HeadHash    string               `json:"head_hash,omitempty"`
	Checkpoints int                  `json:"checkpoints"`          // checkpoints the chain was checked against
	Seq         int64                `json:"broken_seq,omitempty"` // where the chain breaks
	Entry       int                  `json:"broken_entry,omitempty"`
	Checkpoint  string               `json:"tampered_checkpoint,omitempty"` // the checkpoint the chain disagrees with
	Reason      string               `json:"reason,omitempty"`
	Problems    []checkpoint.Problem `json:"checkpoint_problems,omitempty"` // checkpoint files that cannot be trusted
}

func auditVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit verify")
	path := fs.String("config", "", "config file: verify the registry's chain")
	file := fs.String("file", "", "an exported chain (JSONL) to verify offline")
	cpDir := fs.String("checkpoints", "", "also check against the checkpoints in this folder (copies kept off the box)")
	pubkey := fs.String("pubkey", "", "the box's public key (as `vahti pubkey` prints it) to check checkpoint signatures with")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	err := fs.parseNone(args)
	if err != nil {
		return err
	}
	if (*path == "") == (*file == "") {
		return usageErr("audit verify: give exactly one of --config FILE or --file FILE.jsonl")
	}
	if *file != "" && *cpDir != "" && *pubkey == "" {
		return usageErr("audit verify: --checkpoints with --file needs --pubkey (the key `vahti pubkey` prints on the box)")
	}
	var trusted ssh.PublicKey
	if *pubkey != "" {
		if trusted, err = checkpoint.ParsePublicKey(*pubkey); err != nil {
			return usageErr("--pubkey: %v", err)
		}
	}
	res := verifyResult{Source: *file}
	var dirs []string
	var cfg *configs.Config
	if *path != "" {
		if cfg, err = loadConfig(e, *path); err != nil {
			return err
		}
		dirs = append(dirs, checkpoint.Dir(cfg.StateDir))
		if trusted == nil {
			// Checking never creates the key; without one, any checkpoint
			// found is reported as unverifiable.
			trusted, _ = checkpoint.BoxKey(cfg.StateDir)
		}
	}
	if *cpDir != "" {
		dirs = append(dirs, *cpDir)
	}
	var cps []checkpoint.Checkpoint
	for _, d := range dirs {
		c, probs, err := checkpoint.ReadAll(d, trusted)
		if err != nil {
			return err
		}
		for _, cp := range c {
			cp.File = filepath.Join(d, cp.File) // the report names which copy
			cps = append(cps, cp)
		}
		for _, p := range probs {
			p.File = filepath.Join(d, p.File)
			res.Problems = append(res.Problems, p)
		}
	}
	res.Checkpoints = len(cps)
	var verr error
	if *file != "" {
		res.Entries, res.HeadSeq, res.HeadHash, verr = verifyChainFile(*file, checkpoint.Anchors(cps))
	} else {
		db, err := openRegistry(e, cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		res.Source = db.Path()
		if err := db.View(ctx, func(tx *registry.Tx) error {
			res.Entries, verr = tx.VerifyAuditWith(checkpoint.Anchors(cps))
			h, err := tx.AuditHead()
			res.HeadSeq, res.HeadHash = h.Seq, h.Hash
			return err
		}); err != nil {
			return err
		}
	}
	var ce *registry.ChainError
	var ae *registry.AnchorError
	switch {
	case errors.As(verr, &ce):
		res.Seq, res.Entry, res.Reason = ce.Seq, ce.Index+1, ce.Reason
	case errors.As(verr, &ae):
		res.Checkpoint, res.Reason = ae.Anchor.Name, verr.Error()
	case verr != nil:
		res.Reason = verr.Error()
	}
	res.OK = verr == nil && len(res.Problems) == 0
	if *asJSON {
		if err := printJSON(e, res); err != nil {
			return err
		}
	} else {
		for _, p := range res.Problems {
			fmt.Fprintf(e.stderr, "%v\n", p)
		}
		if res.OK {
			fmt.Fprintf(e.stdout, "audit chain OK: %d entries, head seq %d %s, agrees with %d checkpoints (%s)\n",
				res.Entries, res.HeadSeq, res.HeadHash, res.Checkpoints, res.Source)
		}
	}
	switch {
	case verr != nil:
		return fmt.Errorf("%s: %w", res.Source, verr)
	case len(res.Problems) > 0:
		return fmt.Errorf("%s: %d checkpoint file(s) cannot be trusted (bad or missing signature): %v", res.Source, len(res.Problems), res.Problems[0])
	}
	return nil
}

// verifyChainFile checks an exported chain (one JSON entry per line)
// while reading it, so a chain of any length needs constant memory.
func verifyChainFile(path string, anchors []registry.Anchor) (n int, headSeq int64, headHash string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, "", err
	}
	defer f.Close()
	v := registry.NewChainVerifier(anchors)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var en registry.Entry
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&en); err != nil {
			return v.Len(), 0, "", fmt.Errorf("%s: line %d (entry %d): not an audit entry: %v", path, line, v.Len()+1, err)
		}
		if err := v.Add(en); err != nil {
			return v.Len(), 0, "", err
		}
	}
	if err := sc.Err(); err != nil {
		return v.Len(), 0, "", fmt.Errorf("%s: %w", path, err)
	}
	headSeq, headHash = v.Head()
	return v.Len(), headSeq, headHash, v.Finish()
}

func auditExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit export")
	path := fs.configFlag()
	out := fs.String("out", "", "file to write (JSONL, one entry per line)")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := required("config", *path, "out", *out); err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".audit-export-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name()) // deletion-gate: the export's own temp file, gone once renamed
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	n := 0
	// Streamed in batches from one snapshot: a long chain is never held in
	// memory at once.
	err = ce.db.View(ctx, func(tx *registry.Tx) error {
		return tx.EachAuditEntry(func(en registry.Entry) error {
			n++
			return enc.Encode(en)
		})
	})
	if err != nil {
		tmp.Close()
		return fmt.Errorf("--out: %w", err)
	}
	if err := w.Flush(); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), *out)
	}
	if err != nil {
		return fmt.Errorf("--out %s: %w", *out, err)
	}
	fmt.Fprintf(e.stderr, "exported %d audit entries to %s\n", n, *out)
	return ce.audit(ctx, "audit.export", "audit", map[string]any{"entries": n, "out": *out})
}
