package admin

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"vahti/admin/export"
	"vahti/checkpoint"
	"vahti/registry"
)

// The DPO sees the chain head and whether the latest signed checkpoint
// still matches; a cut tail shows as a mismatch and fails verification.
func TestAuditPageShowsHeadAndLatestCheckpoint(t *testing.T) {
	h := newHarness(t)
	d := h.login("dpo")
	_, body := d.do("GET", "/audit", nil)
	if !strings.Contains(string(body), `id="anchor-none"`) {
		t.Fatalf("no checkpoint yet: %s", body)
	}
	signer, err := export.LoadOrCreateKey(h.cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	w := &checkpoint.Writer{DB: h.db, StateDir: h.cfg.StateDir, Signer: signer, Now: h.clock.Now}
	cp, wrote, err := w.Write(context.Background(), "hourly")
	if err != nil || !wrote {
		t.Fatal(wrote, err)
	}
	_, body = d.do("GET", "/audit", nil)
	var head registry.Head
	h.db.View(context.Background(), func(tx *registry.Tx) error { head, _ = tx.AuditHead(); return nil })
	for _, want := range []string{cp.File, cp.Hash, `id="anchor-match"`, head.Hash} {
		if !strings.Contains(string(body), want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	// Cut the chain back to before the checkpoint.
	db, err := sqlOpen(h.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM audit WHERE seq >= ?`, cp.Seq); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, body = d.do("GET", "/audit", nil)
	if !strings.Contains(string(body), `id="anchor-mismatch"`) {
		t.Errorf("cut chain not shown as a mismatch")
	}
	res, body := d.do("POST", "/api/v1/audit/verify", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"ok":false`) || !strings.Contains(string(body), cp.File) {
		t.Errorf("API verify after the cut: %d %s", res.StatusCode, body)
	}
	res, body = d.do("POST", "/audit/verify", formBody("csrf="+url.QueryEscape(d.csrf)))
	if res.StatusCode != 200 || !strings.Contains(string(body), "Lokiketju on rikki") || !strings.Contains(string(body), cp.File) {
		t.Errorf("verify after the cut: %d", res.StatusCode)
	}
}
