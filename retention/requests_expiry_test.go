package retention

import (
	"context"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

// The register's own retention: a closed request leaves it
// requests.retention after closing, through the gate, audited as
// request.expire, with its history, package links and released hold; its
// disclosure-log entry stays as counts and hashes. A kept hold, an open
// request and a recently closed one stay.
func TestRequestRegisterExpires(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.db.Update(ctx, func(tx *registry.Tx) error {
		return tx.AddUser(&registry.User{Name: "liisa", Roles: []string{registry.RoleKeeper}, PassHash: "x"})
	}); err != nil {
		t.Fatal(err)
	}
	open := func(kind, ref string) registry.Request {
		t.Helper()
		q := registry.Request{Kind: kind, Cameras: []string{"yard"}, From: t0.Add(-2 * time.Hour), To: t0.Add(-time.Hour),
			Reference: ref, BasisCode: registry.BasisAccess, Requester: "Maija Meikäläinen"}
		if kind == registry.RequestPolice {
			q.BasisCode, q.Requester, q.Authority = registry.BasisPolice, "", "Sisä-Suomen poliisilaitos"
		}
		if _, err := OpenRequest(ctx, f.db, &q, "liisa", "test"); err != nil {
			t.Fatal(err)
		}
		return q
	}
	closeIt := func(q registry.Request, outcome string, release bool) {
		t.Helper()
		g := ""
		if outcome == registry.OutcomeRefused {
			g = "no-footage"
		}
		if _, _, err := CloseRequestWith(ctx, f.db, q.ID, CloseInput{Outcome: outcome, Reason: "r", ReleaseHold: release, Ground: g},
			"liisa", "test"); err != nil {
			t.Fatal(err)
		}
	}
	a := open(registry.RequestAccess, "SAR-A")
	var disc registry.Disclosure
	if err := f.db.Update(ctx, func(tx *registry.Tx) error {
		e := registry.Export{ID: "pkgA", Path: "exports/pkgA.zip", Cameras: a.Cameras, From: a.From, To: a.To, FootageEnd: a.To,
			SHA256: strings.Repeat("ab", 32), Bytes: 10, Reason: "r", CreatedBy: "liisa"}
		if err := tx.AddExport(&e); err != nil {
			return err
		}
		if err := tx.RequestExported(a.ID, e, "liisa", "test"); err != nil {
			return err
		}
		disc = registry.Disclosure{RequestID: a.ID, PackageID: "pkgA", Recipient: "Maija Meikäläinen", Channel: "in-person"}
		return tx.RecordDelivery(&disc, "liisa", "test")
	}); err != nil {
		t.Fatal(err)
	}
	closeIt(a, registry.OutcomeDelivered, true)
	b := open(registry.RequestPolice, "5500/R/1/26")
	closeIt(b, registry.OutcomeRefused, false) // the police asked for preservation: the hold stays
	c := open(registry.RequestAccess, "SAR-C") // still open
	keep := f.cfg.Requests.Retention.D()
	f.mu.Lock()
	f.now = t0.Add(keep - 24*time.Hour)
	f.mu.Unlock()
	d := open(registry.RequestAccess, "SAR-D")
	closeIt(d, registry.OutcomeWithdrawn, true) // closed a day before the others' expiry: too young

	f.mu.Lock()
	f.now = t0.Add(keep + 2*time.Hour)
	f.mu.Unlock()
	// Not yet due a second before: the gate measures from closing.
	if ok, why := DeletableRequest(mustRequest(t, f, a.ID), t0.Add(keep-time.Second), keep, nil); ok || why != WhyTooYoung {
		t.Fatalf("a second early: %v %s", ok, why)
	}
	rep, err := f.r.Nightly(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.RequestsExpired != 1 {
		t.Fatalf("nightly expired %d requests, want 1 (refused: %v)", rep.RequestsExpired, rep.Refused)
	}
	secret, err := registry.LoadOrCreateSubjectSecret(f.cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	f.db.View(ctx, func(tx *registry.Tx) error {
		if _, err := tx.Request(a.ID); err == nil {
			t.Error("request A is still in the register")
		}
		if evs, _ := tx.RequestEvents(a.ID); len(evs) != 0 {
			t.Errorf("request A's history stayed: %d events", len(evs))
		}
		if pk, _ := tx.RequestExports(a.ID); len(pk) != 0 {
			t.Errorf("request A's package links stayed: %d", len(pk))
		}
		if _, err := tx.Hold(a.HoldID); err == nil {
			t.Error("request A's released hold stayed")
		}
		got, err := tx.Disclosure(disc.ID)
		if err != nil || got.RequestID != 0 || got.Recipient != "" || got.RequestRefHash != registry.RefHash(secret, "SAR-A") ||
			got.PackageSHA256 != strings.Repeat("ab", 32) || !got.Subject {
			t.Errorf("A's disclosure entry after expiry: %+v %v", got, err)
		}
		for _, q := range []registry.Request{b, c, d} {
			if _, err := tx.Request(q.ID); err != nil {
				t.Errorf("request %s expired: %v", q.Reference, err)
			}
		}
		// The data subject's name outlives the request nowhere: not in
		// the log (above) and not in the audit chain, which is kept for good.
		all, _ := tx.AuditEntries(registry.AuditFilter{})
		for _, e := range all {
			if strings.Contains(string(e.Detail), "Meikäläinen") {
				t.Errorf("audit %s %s names the data subject: %s", e.Kind, e.Object, e.Detail)
			}
		}
		es, _ := tx.AuditEntries(registry.AuditFilter{Kind: "request.expire"})
		if len(es) != 1 || es[0].Object != "request:1" {
			t.Fatalf("request.expire entries: %+v", es)
		}
		if s := string(es[0].Detail); strings.Contains(s, "SAR-A") || strings.Contains(s, "Meikäläinen") ||
			!strings.Contains(s, `"disclosures_reduced":1`) {
			t.Errorf("request.expire detail: %s", s)
		}
		return nil
	})
	// B's kept hold is released: B goes at the next pass.
	if _, err := ReleaseHold(ctx, f.db, b.HoldID, "liisa", "test", "case closed"); err != nil {
		t.Fatal(err)
	}
	if n, err := f.r.expireRequests(ctx, f.clock()); err != nil || n != 1 {
		t.Fatalf("after releasing B's hold: %d %v", n, err)
	}
}

func mustRequest(t *testing.T, f *fixture, id int64) registry.Request {
	t.Helper()
	var q registry.Request
	if err := f.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		q, err = tx.Request(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return q
}
