package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"vahti/admin"
	"vahti/registry"
)

// requestExtend: vahti request extend ID --months 1|2 --reason TEXT.
func requestExtend(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request extend")
	path, asJSON := fs.configFlags("print the request as JSON")
	months := fs.Int("months", 0, "how many further months (1 or 2; at most 2 in all, GDPR art. 12(3))")
	reason := fs.String("reason", "", "why (the requester must be told)")
	id, err := fs.parseID(args, "request")
	if err != nil {
		return err
	}
	if err := required("config", *path, "reason", *reason); err != nil {
		return err
	}
	if *months < 1 || *months > registry.MaxExtensionMonths {
		return usageErr("--months: must be 1 or 2, got %d", *months)
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	q, err := ce.updateRequest(ctx, id, func(tx *registry.Tx) (registry.Request, error) {
		return tx.ExtendDeadline(id, *months, *reason, ce.cfg.Location(), ce.actor, cliSource)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, admin.NewRequestJSON(q, e.now()))
	}
	fmt.Fprintf(e.stdout, "request %d: deadline %s (extended by %d month(s) in all)\n", q.ID, q.Deadline.Format(time.RFC3339), q.ExtensionMonths)
	return nil
}

// requestViewOnSite: vahti request view ID [--by KEEPER] [--at T] [--note TEXT]:
// the requester watched the footage on site; no package is made.
func requestViewOnSite(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request view")
	path, asJSON := fs.configFlags("print the request as JSON")
	by := fs.String("by", "", "the keeper who showed the footage (an account; default: you)")
	at := fs.String("at", "", "when (RFC 3339; default now; never in the future)")
	note := fs.String("note", "", "note")
	id, err := fs.parseID(args, "request")
	if err != nil {
		return err
	}
	if err := required("config", *path); err != nil {
		return err
	}
	when, err := optTime("at", *at)
	if err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	q, err := ce.updateRequest(ctx, id, func(tx *registry.Tx) (registry.Request, error) {
		return tx.RecordViewing(id, *by, when, *note, ce.actor, cliSource)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, admin.NewRequestJSON(q, e.now()))
	}
	fmt.Fprintf(e.stdout, "request %d: viewed on site (close it with --outcome viewed-on-site)\n", q.ID)
	return nil
}

// requestLetter: vahti request letter ID --out FILE [--lang fi|en]. The
// refusal letter as HTML (.html) or, through headless Chromium's
// --print-to-pdf, as PDF (.pdf).
func requestLetter(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request letter")
	path, asJSON := fs.configFlags("print what was written as JSON")
	out := fs.String("out", "", "where to write the letter: FILE.html, or FILE.pdf (needs chromium)")
	lang := fs.String("lang", "fi", "fi or en")
	id, err := fs.parseID(args, "request")
	if err != nil {
		return err
	}
	if err := required("config", *path, "out", *out); err != nil {
		return err
	}
	if *lang != "fi" && *lang != "en" {
		return usageErr("--lang: must be fi or en, got %q", *lang)
	}
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(*out), "."))
	switch format {
	case "htm":
		format = "html"
	case "html", "pdf":
	default:
		return usageErr("--out: the file must end in .html or .pdf, got %q", *out)
	}
	var chrome string
	if format == "pdf" {
		if chrome, err = findChromium(); err != nil {
			return err
		}
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	q, err := ce.request(ctx, id)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := admin.WriteRefusalLetter(&buf, ce.cfg, q, admin.LetterOptions{Lang: *lang, Loc: ce.cfg.Location(), Printed: e.now()}); err != nil {
		return fmt.Errorf("request %d: %w", id, err)
	}
	if format == "html" {
		err = writePrivate(*out, buf.Bytes())
	} else {
		err = printPDF(ctx, chrome, buf.Bytes(), *out)
	}
	if err != nil {
		return err
	}
	if err := ce.audit(ctx, "request.letter", fmt.Sprintf("request:%d", id), map[string]any{"lang": *lang, "ground": q.Ground,
		"format": format, "out": *out}); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, map[string]any{"request": id, "out": *out, "format": format, "lang": *lang})
	}
	fmt.Fprintf(e.stdout, "request %d: refusal letter (%s, %s) written to %s\n", id, *lang, format, *out)
	return nil
}

// writePrivate writes a file that holds personal data, mode 0600.
func writePrivate(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// findChromium is the browser that prints PDFs.
func findChromium() (string, error) {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("--out FILE.pdf needs Chromium to print the PDF, and none was found (install Debian's chromium, or write --out FILE.html and print it from a browser)")
}

// printPDF prints an HTML page to an A4 PDF with headless Chromium, off
// the network, in a throwaway profile.
func printPDF(ctx context.Context, chrome string, html []byte, out string) error {
	return printPDFIn(ctx, chrome, "", html, out)
}

// printPDFIn is printPDF with its temporary folder (the page and
// Chromium's profile) made under base ("": the system's temp folder).
func printPDFIn(ctx context.Context, chrome, base string, html []byte, out string) error {
	dir, err := os.MkdirTemp(base, "vahti-letter-")
	if err != nil {
		return err
	}
	// deletion-gate: the letter's temporary HTML and Chromium's throwaway profile, no footage.
	defer os.RemoveAll(dir)
	page := filepath.Join(dir, "letter.html")
	if err := writePrivate(page, html); err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--no-pdf-header-footer", "--print-to-pdf="+abs,
		"file://"+page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("chromium could not print the letter: %w: %s", err, lastLine(stderr.String()))
	}
	st, err := os.Stat(abs)
	if err != nil || st.Size() == 0 {
		return fmt.Errorf("chromium wrote no PDF to %s: %s", out, lastLine(stderr.String()))
	}
	return os.Chmod(abs, 0o600)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
