package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	OK      bool   `json:"ok"`
	Entries int    `json:"entries"`
	Source  string `json:"source"`
	Seq     int64  `json:"broken_seq,omitempty"`
	Entry   int    `json:"broken_entry,omitempty"` // 1-based position
	Reason  string `json:"reason,omitempty"`
}

func auditVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit verify")
	path := fs.String("config", "", "config file: verify the registry's chain")
	file := fs.String("file", "", "an exported chain (JSONL) to verify offline")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.need(pos, 0, "no arguments"); err != nil {
		return err
	}
	if (*path == "") == (*file == "") {
		return usageErr("audit verify: give exactly one of --config FILE or --file FILE.jsonl")
	}
	var entries []registry.Entry
	res := verifyResult{Source: *file}
	if *file != "" {
		if entries, err = readChain(*file); err != nil {
			return err
		}
	} else {
		cfg, err := loadConfig(e, *path)
		if err != nil {
			return err
		}
		db, err := openRegistry(e, cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		res.Source = db.Path()
		if err := db.View(ctx, func(tx *registry.Tx) error {
			entries, err = tx.AuditEntries(registry.AuditFilter{})
			return err
		}); err != nil {
			return err
		}
	}
	res.Entries = len(entries)
	verr := registry.VerifyChain(entries)
	var ce *registry.ChainError
	if errors.As(verr, &ce) {
		res.Seq, res.Entry, res.Reason = ce.Seq, ce.Index+1, ce.Reason
	} else if verr != nil {
		res.Reason = verr.Error()
	}
	res.OK = verr == nil
	if *asJSON {
		if err := printJSON(e, res); err != nil {
			return err
		}
	} else if res.OK {
		fmt.Fprintf(e.stdout, "audit chain OK: %d entries (%s)\n", res.Entries, res.Source)
	}
	if verr != nil {
		return fmt.Errorf("%s: %w", res.Source, verr)
	}
	return nil
}

// readChain reads an exported chain: one JSON entry per line.
func readChain(path string) ([]registry.Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []registry.Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var en registry.Entry
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&en); err != nil {
			return nil, fmt.Errorf("%s: line %d (entry %d): not an audit entry: %v", path, line, len(out)+1, err)
		}
		out = append(out, en)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

func auditExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit export")
	path := fs.String("config", "", "config file")
	out := fs.String("out", "", "file to write (JSONL, one entry per line)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.need(pos, 0, "no arguments"); err != nil {
		return err
	}
	if err := required("config", *path, "out", *out); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	db, err := openRegistry(e, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	var entries []registry.Entry
	if err := db.View(ctx, func(tx *registry.Tx) error {
		entries, err = tx.AuditEntries(registry.AuditFilter{})
		return err
	}); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".audit-export-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	for _, en := range entries {
		if err := enc.Encode(en); err != nil {
			tmp.Close()
			return fmt.Errorf("--out: %w", err)
		}
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
	fmt.Fprintf(e.stderr, "exported %d audit entries to %s\n", len(entries), *out)
	return auditCLI(ctx, e, db, "audit.export", "audit", map[string]any{"entries": len(entries), "out": *out})
}
