package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The recovery key sheet: what `vahti keys init --page html|pdf` writes to
// stdout instead of the text, for the data protection officer's safe. It
// goes to stdout only (a printer's `lp`, or a USB stick), never to a file
// on the box: a copy of the recovery key on the box's disk would defeat
// sealing. A PDF is printed by headless Chromium in a folder in RAM
// (/dev/shm), removed before the command returns.

// ramDir is where the PDF is made: tmpfs, so the key never reaches a disk.
const ramDir = "/dev/shm"

var recoverySheet = template.Must(template.New("sheet").Parse(`<!doctype html>
<html lang="fi"><head><meta charset="utf-8"><title>Vahti – palautusavain / recovery key</title>
<style>
@page { size: A4; margin: 18mm; }
body { font: 11pt/1.45 "DejaVu Sans", sans-serif; color: #000; }
h1 { font-size: 17pt; margin: 0 0 4mm; }
h2 { font-size: 13pt; margin: 8mm 0 2mm; }
.key { font: 16pt/1.7 "DejaVu Sans Mono", monospace; letter-spacing: .06em; border: 2px solid #000;
       padding: 4mm 5mm; margin: 4mm 0; }
.key div { white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content auto; gap: 1mm 5mm; }
dt { font-weight: bold; }
.sign { margin-top: 10mm; display: grid; grid-template-columns: 1fr 1fr; gap: 10mm; }
.sign div { border-top: 1px solid #000; padding-top: 1mm; font-size: 9pt; }
</style></head><body>
<h1>Vahti – tallenteiden palautusavain · recovery key for the footage</h1>
<dl>
<dt>Rekisterinpitäjä / Controller</dt><dd>{{.Controller}}</dd>
<dt>Laitteen avain / Site key</dt><dd>{{.Fingerprint}}</dd>
<dt>Tehty / Made</dt><dd>{{.Made}}</dd>
</dl>
<div class="key" id="recovery-key">{{range .KeyLines}}<div>{{.}}</div>{{end}}</div>
<h2>Suomeksi</h2>
<p>Tällä avaimella ja rekisterillä avautuvat kaikki vielä säilytettävät tallenteet, ja
pidätyksen avaintiedostolla pidätetyt tallenteet myös ilman rekisteriä. Vahti ei näytä
avainta uudelleen, eikä sitä ole tallennettu laitteelle.</p>
<p>Säilytä tämä sivu tietosuojavastaavan kassakaapissa, erillään laitteesta. Älä kopioi
avainta laitteelle, sähköpostiin tai pilveen. Kirjoitusvirhe huomataan: avaimessa on
tarkiste.</p>
<h2>In English</h2>
<p>With the registry this key opens all footage still kept, and with a hold's key file
it opens that hold's footage even without the registry. Vahti cannot show it again, and
it is not stored on the box.</p>
<p>Keep this page in the data protection officer's safe, away from the box. Do not copy
the key to the box, to e-mail or to a cloud service. A typo is caught: the key carries a
checksum.</p>
<div class="sign"><div>Vastaanottanut / Received by</div><div>Päivämäärä / Date</div></div>
</body></html>
`))

type sheetData struct {
	Controller, Fingerprint, Made string
	// KeyLines is the recovery key in two lines of seven groups, so that
	// no line break (or a printer's hyphenation) falls inside a group.
	KeyLines []string
}

// keyLines splits a recovery key as seal prints it (groups joined by "-").
func keyLines(key string) []string {
	g := strings.Split(key, "-")
	half := (len(g) + 1) / 2
	return []string{strings.Join(g[:half], "-"), strings.Join(g[half:], "-")}
}

// writeRecoverySheet writes the sheet as HTML or, with Chromium, as PDF.
func writeRecoverySheet(ctx context.Context, w io.Writer, format string, d sheetData) error {
	var page bytes.Buffer
	if err := recoverySheet.Execute(&page, d); err != nil {
		return err
	}
	defer clear(page.Bytes())
	if format == "html" {
		_, err := w.Write(page.Bytes())
		return err
	}
	chrome, err := findChromium()
	if err != nil {
		return err
	}
	if st, err := os.Stat(ramDir); err != nil || !st.IsDir() {
		return fmt.Errorf("--page pdf prints in %s (memory), which is missing; use --page html and print it from a browser", ramDir)
	}
	dir, err := os.MkdirTemp(ramDir, "vahti-recovery-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir) // deletion-gate: the recovery sheet's folder in RAM, no footage
	out := filepath.Join(dir, "recovery-key.pdf")
	if err := printPDFIn(ctx, chrome, dir, page.Bytes(), out); err != nil {
		return err
	}
	pdf, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	defer clear(pdf)
	_, err = w.Write(pdf)
	return err
}

// sheetFormat checks --page before any key is made: a PDF needs Chromium
// and a folder in RAM.
func sheetFormat(page string, asJSON bool) error {
	switch {
	case page == "":
		return nil
	case page != "html" && page != "pdf":
		return usageErr("--page: html or pdf, got %q", page)
	case asJSON:
		return errors.New("--page and --json: choose one (both print the recovery key)")
	case page == "pdf":
		if _, err := findChromium(); err != nil {
			return err
		}
		if st, err := os.Stat(ramDir); err != nil || !st.IsDir() {
			return fmt.Errorf("--page pdf prints in %s (memory), which is missing; use --page html and print it from a browser", ramDir)
		}
	}
	return nil
}

// madeAt is when the keys were made, in the box's local time.
func madeAt(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2.1.2006 15.04 MST")
}
