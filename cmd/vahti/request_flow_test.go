package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"vahti/admin"
	"vahti/registry"
)

// withMaxAge appends a short retention to the CLI's config.
func withMaxAge(t *testing.T, c *cli, maxAge string) {
	t.Helper()
	f, err := os.OpenFile(c.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("retention:\n  max_age: " + maxAge + "\n  max_delete_fraction: 0.9\n"); err != nil {
		t.Fatal(err)
	}
}

// TestRequestHoldThroughDeadlines: footage asked for by a request
// survives a sweep that deletes its neighbours; the hold cannot be
// released on its own; closing with keep keeps it, closing with release
// lets it go at the next sweep.
func TestRequestHoldThroughDeadlines(t *testing.T) {
	c := newCLI(t)
	c.envs["SUDO_USER"] = "keeper1"
	withMaxAge(t, c, "1h")
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	db := registryOf(t, c)
	askedA := addFootage(t, c, db, now.Add(-3*time.Hour), 3) // past max_age
	askedB := addFootage(t, c, db, now.Add(-5*time.Hour), 3) // past max_age
	other := addFootage(t, c, db, now.Add(-7*time.Hour), 3)  // past max_age, nobody asked
	addFootage(t, c, db, now, 30)                            // young footage
	exists := func(s registry.Segment) bool {
		_, err := os.Stat(filepath.Join(c.dir, "rec", filepath.FromSlash(s.Path)))
		return err == nil
	}
	add := func(segs []registry.Segment, ref string) string {
		out := c.ok("request", "add", "--config", "$CONFIG", "--kind", "police", "--camera", "yard",
			"--from", segs[0].Start.Format(time.RFC3339), "--to", segs[len(segs)-1].End.Format(time.RFC3339),
			"--reference", ref, "--basis", "esitutkintalaki", "--authority", "Itä-Suomen poliisilaitos",
			"--received", now.Add(-4*time.Hour).Format(time.RFC3339), "--deadline", now.Add(48*time.Hour).Format(time.RFC3339))
		return strings.Fields(out)[1]
	}
	reqA, reqB := add(askedA, "5500/R/1/26"), add(askedB, "5500/R/2/26")

	c.ok("purge", "--config", "$CONFIG")
	if exists(other[0]) {
		t.Fatal("unrequested expired footage kept: the sweep did not run")
	}
	for _, s := range append(askedA, askedB...) {
		if !exists(s) {
			t.Fatalf("%s deleted although an open request holds it", s.Path)
		}
	}

	// The hold of an open request cannot be released on its own.
	var v admin.RequestJSON
	json.Unmarshal([]byte(c.ok("request", "show", reqA, "--config", "$CONFIG", "--json")), &v)
	e := c.fail("hold", "release", itoa(v.HoldID), "--config", "$CONFIG", "--reason", "not needed")
	if !strings.Contains(e, "open request "+reqA) || !strings.Contains(e, "closing the request") {
		t.Fatalf("hold release of an open request's hold: %s", e)
	}
	c.ok("purge", "--config", "$CONFIG")
	if !exists(askedA[0]) {
		t.Fatal("footage gone after a refused release")
	}

	// Close A keeping the hold (the police asked for preservation).
	c.ok("request", "close", reqA, "--config", "$CONFIG", "--outcome", "withdrawn", "--reason", "poliisi pyysi säilyttämään")
	// Close B releasing it.
	out := c.ok("request", "close", reqB, "--config", "$CONFIG", "--outcome", "refused", "--ground", "no-basis",
		"--reason", "ei lakiperustetta", "--release-hold")
	if !strings.Contains(out, "released") {
		t.Fatalf("close --release-hold: %s", out)
	}
	now = now.Add(time.Minute)
	c.ok("purge", "--config", "$CONFIG")
	for _, s := range askedA {
		if !exists(s) {
			t.Fatalf("%s deleted although its request was closed keeping the hold", s.Path)
		}
	}
	for _, s := range askedB {
		if exists(s) {
			t.Fatalf("%s kept after its request was closed releasing the hold", s.Path)
		}
	}
	// Once closed, the kept hold can be released like any other.
	c.ok("hold", "release", itoa(v.HoldID), "--config", "$CONFIG", "--reason", "säilytystarve päättyi")
	now = now.Add(time.Minute)
	c.ok("purge", "--config", "$CONFIG")
	if exists(askedA[0]) {
		t.Fatal("footage kept after the closed request's hold was released")
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestRequestStatusFlowAndDisclosureLink drives a police request through
// received → held → exported → delivered, refusing every illegal step,
// and checks the link: the disclosure entry carries the SHA-256 of a
// package verify-export accepts and whose manifest names the request.
func TestRequestStatusFlowAndDisclosureLink(t *testing.T) {
	c := newCLI(t)
	c.envs["SUDO_USER"] = "keeper1"
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	catalogFFmpegSegments(t, c, base)
	now := base.Add(2 * time.Hour)
	c.now = func() time.Time { return now }

	// Bad input: received in the future, deadline before received.
	common := []string{"request", "add", "--config", "$CONFIG", "--kind", "police", "--camera", "yard",
		"--from", "2026-11-22T12:00:01Z", "--to", "2026-11-22T12:00:05Z", "--reference", "5500/R/4711/26"}
	if e := c.fail(append(common, "--basis", "poliisilaki", "--received", now.Add(time.Hour).Format(time.RFC3339))...); !strings.Contains(e, "in the future") {
		t.Errorf("received in the future: %s", e)
	}
	if e := c.fail(append(common, "--basis", "poliisilaki", "--received", now.Add(-time.Hour).Format(time.RFC3339),
		"--deadline", now.Add(-2*time.Hour).Format(time.RFC3339))...); !strings.Contains(e, "deadline") {
		t.Errorf("deadline before received: %s", e)
	}
	if e := c.fail(append(common, "--basis", "poliisilaki", "--handler", "nobody")...); !strings.Contains(e, "handler") {
		t.Errorf("unknown handler: %s", e)
	}

	out := c.ok(append(common, "--basis", "esitutkintalaki", "--authority", "Sisä-Suomen poliisilaitos", "--officer", "rikoskomisario Virtanen",
		"--contact", "0295 000 000", "--received", now.Add(-26*time.Hour).Format(time.RFC3339), "--json")...)
	var added struct {
		Request admin.RequestJSON `json:"request"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil {
		t.Fatal(err)
	}
	q := added.Request
	id := itoa(q.ID)
	if q.State != "held" || q.BasisCode != "esitutkintalaki" || !strings.Contains(q.Basis, "805/2011") ||
		!q.Received.Equal(now.Add(-26*time.Hour)) || q.Officer != "rikoskomisario Virtanen" {
		t.Fatalf("added: %+v", q)
	}

	// Illegal steps, each with a clear error.
	if e := c.fail("request", "deliver", id, "--config", "$CONFIG", "--package", "x", "--recipient", "Virtanen", "--channel", "usb"); !strings.Contains(e, "not made for request") {
		t.Errorf("deliver before export: %s", e)
	}
	if e := c.fail("request", "close", id, "--config", "$CONFIG", "--outcome", "delivered", "--reason", "x"); !strings.Contains(e, "cannot go from held to delivered") ||
		!strings.Contains(e, "request export "+id) {
		t.Errorf("close delivered before export: %s", e)
	}
	if e := c.fail("request", "deliver", id, "--config", "$CONFIG", "--package", "x", "--recipient", "V", "--channel", "pigeon"); !strings.Contains(e, "usb, in-person") {
		t.Errorf("bad channel: %s", e)
	}

	// Export from the request.
	zipPath := filepath.Join(c.dir, "request.zip")
	var ex struct {
		ID     string `json:"id"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal([]byte(c.ok("request", "export", id, "--config", "$CONFIG", "--out", zipPath, "--json")), &ex); err != nil || ex.ID == "" {
		t.Fatalf("request export: %v", err)
	}
	if v := c.ok("verify-export", zipPath); !strings.HasPrefix(v, "OK:") {
		t.Fatalf("verify-export: %s", v)
	}
	man := readManifest(t, zipPath)
	if man.Request == nil || itoa(man.Request.ID) != id || man.Request.Reference != "5500/R/4711/26" ||
		man.Request.Authority != "Sisä-Suomen poliisilaitos" || !strings.Contains(man.Request.Basis, "805/2011") {
		t.Fatalf("manifest does not name the request: %+v", man.Request)
	}

	// Wrong package, future handover: refused.
	if e := c.fail("request", "deliver", id, "--config", "$CONFIG", "--package", "nonesuch", "--recipient", "V", "--channel", "usb"); !strings.Contains(e, "not made for request") {
		t.Errorf("foreign package: %s", e)
	}
	if e := c.fail("request", "deliver", id, "--config", "$CONFIG", "--package", ex.ID, "--recipient", "V", "--channel", "usb",
		"--at", now.Add(time.Hour).Format(time.RFC3339)); !strings.Contains(e, "in the future") {
		t.Errorf("future handover: %s", e)
	}
	now = now.Add(10 * time.Minute)
	var d admin.DisclosureJSON
	if err := json.Unmarshal([]byte(c.ok("request", "deliver", id, "--config", "$CONFIG", "--package", ex.ID, "--recipient", "rikoskomisario Virtanen",
		"--channel", "usb", "--acknowledged", "--json")), &d); err != nil {
		t.Fatal(err)
	}
	fileSum := sha256File(t, zipPath)
	if d.PackageSHA256 != fileSum || d.PackageSHA256 != ex.SHA256 || d.Channel != "usb" || !d.Acknowledged ||
		d.RecipientAuthority != "Sisä-Suomen poliisilaitos" || d.HandedBy != "keeper1" {
		t.Fatalf("disclosure entry: %+v (file sha256 %s)", d, fileSum)
	}

	// After delivery nothing may refuse or withdraw it.
	if e := c.fail("request", "close", id, "--config", "$CONFIG", "--outcome", "refused", "--reason", "x"); !strings.Contains(e, "already been handed over") {
		t.Errorf("refuse after delivery: %s", e)
	}
	// A correction is a new entry referring to the old one.
	if e := c.fail("request", "deliver", id, "--config", "$CONFIG", "--package", ex.ID, "--recipient", "rikoskomisario Virtanen",
		"--channel", "in-person", "--corrects", itoa(d.ID)); !strings.Contains(e, "correction needs a note") {
		t.Errorf("correction without note: %s", e)
	}
	c.ok("request", "deliver", id, "--config", "$CONFIG", "--package", ex.ID, "--recipient", "rikoskomisario Virtanen",
		"--channel", "in-person", "--corrects", itoa(d.ID), "--note", "noudettiin paikan päällä, ei postitse")
	c.ok("request", "close", id, "--config", "$CONFIG", "--outcome", "delivered", "--reason", "luovutettu", "--release-hold")
	if e := c.fail("request", "export", id, "--config", "$CONFIG", "--out", filepath.Join(c.dir, "again.zip")); !strings.Contains(e, "is closed") {
		t.Errorf("export of a closed request: %s", e)
	}

	// The history lists every step with actor and time.
	var full admin.RequestJSON
	json.Unmarshal([]byte(c.ok("request", "show", id, "--config", "$CONFIG", "--json")), &full)
	var steps []string
	for _, h := range full.History {
		if h.Actor != "keeper1" || h.Time.IsZero() {
			t.Errorf("history step without actor or time: %+v", h)
		}
		steps = append(steps, h.State)
	}
	if got := strings.Join(steps, ","); got != "received,held,exported,delivered,correction,closed" {
		t.Errorf("history %s", got)
	}
	if len(full.Packages) != 1 || full.Packages[0].ID != ex.ID || len(full.Disclosures) != 2 || full.Disclosures[1].Corrects != d.ID {
		t.Errorf("show: packages %+v disclosures %+v", full.Packages, full.Disclosures)
	}

	// The disclosure log, as CSV and JSON, filtered by date.
	rows, err := csv.NewReader(strings.NewReader(c.ok("disclosures", "list", "--config", "$CONFIG", "--csv"))).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "id" || rows[1][9] != fileSum || rows[1][2] != "5500/R/4711/26" {
		t.Fatalf("csv: %v %q", err, rows)
	}
	var js []admin.DisclosureJSON
	json.Unmarshal([]byte(c.ok("disclosures", "list", "--config", "$CONFIG", "--json",
		"--from", now.Add(-time.Hour).Format(time.RFC3339), "--to", now.Add(time.Hour).Format(time.RFC3339))), &js)
	if len(js) != 2 {
		t.Errorf("json in range: %d entries", len(js))
	}
	if out := c.ok("disclosures", "list", "--config", "$CONFIG", "--from", now.Add(time.Hour).Format(time.RFC3339)); !strings.Contains(out, "no disclosures") {
		t.Errorf("out of range: %s", out)
	}

	kinds := map[string]int{}
	for _, e := range auditKinds(t, registryOf(t, c), "") {
		kinds[e.Kind]++
	}
	for _, k := range []string{"request.add", "request.state", "request.export", "export.create", "disclosure.add", "request.close", "disclosures.report"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in the audit chain: %v", k, kinds)
		}
	}
}

func readManifest(t *testing.T, p string) struct {
	Request *registry.RequestRef `json:"request"`
} {
	t.Helper()
	var m struct {
		Request *registry.RequestRef `json:"request"`
	}
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == "manifest.json" {
			r, _ := f.Open()
			b, _ := io.ReadAll(r)
			r.Close()
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
