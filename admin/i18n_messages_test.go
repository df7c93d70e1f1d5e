package admin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"vahti/admin/export"
	"vahti/registry"
	"vahti/retention"
)

// TestMessagesReachPagesTranslated produces the validation, interlock
// and alarm texts of retention, the exporter and the registry from the
// real code and checks that a page shows each in Finnish and English from
// the catalog: a new or reworded message that is not in the catalog fails
// here instead of reaching a Finnish keeper in English.
func TestMessagesReachPagesTranslated(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	db, err := registry.Open(dir, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var msgs []string
	add := func(err error) {
		t.Helper()
		if err == nil {
			t.Fatal("expected a refusal")
		}
		msgs = append(msgs, err.Error())
	}

	// The exporter's refusals.
	ex := &export.Exporter{Root: dir, StateDir: dir, DB: db, Now: func() time.Time { return now }, Cameras: []string{"yard"}, MaxRange: time.Hour}
	good := export.Request{Cameras: []string{"yard"}, From: now.Add(-time.Hour), To: now.Add(-30 * time.Minute), Reason: "r", Actor: "k"}
	for _, mod := range []func(*export.Request){
		func(r *export.Request) { r.Reason = "" },
		func(r *export.Request) { r.Actor = "" },
		func(r *export.Request) { r.Cameras = nil },
		func(r *export.Request) { r.From = time.Time{} },
		func(r *export.Request) { r.From, r.To = r.To, r.From },
		func(r *export.Request) { r.From = r.To.Add(-2 * time.Hour) },
		func(r *export.Request) { r.Cameras = []string{"garage"} },
		func(r *export.Request) {}, // no footage
	} {
		r := good
		mod(&r)
		_, err := ex.Build(ctx, r, "")
		if !errors.Is(err, export.ErrBadRequest) {
			t.Fatalf("export %+v: %v", r, err)
		}
		add(err)
	}

	// Holds.
	add(retention.ValidateHold(&registry.Hold{}))
	h := registry.Hold{Cameras: []string{"yard"}, From: now.Add(-time.Hour), To: now, Reason: "r"}
	if err := retention.AddHold(ctx, db, &h, "k", "test"); err != nil {
		t.Fatal(err)
	}
	_, err = retention.ReleaseHold(ctx, db, h.ID, "k", "test", "")
	add(err)
	retention.ReleaseHold(ctx, db, h.ID, "k", "test", "done")
	_, err = retention.ReleaseHold(ctx, db, h.ID, "k", "test", "again")
	add(err)

	// The register.
	long := strings.Repeat("x", 4001)
	add(registry.ValidateRequest(&registry.Request{Kind: "curious", BasisCode: "whim", Received: now.Add(time.Hour), Deadline: now, Notes: long}, now))
	add(registry.ValidateRequest(&registry.Request{Kind: "police", Reference: "R", Received: now.Add(-time.Hour), Deadline: now.Add(-2 * time.Hour)}, now))
	q := registry.Request{Kind: "police", Cameras: []string{"yard"}, From: now.Add(-time.Hour), To: now, Reference: "R", Basis: "b", Handler: "nobody"}
	_, err = retention.OpenRequest(ctx, db, &q, "k", "test")
	add(err)
	q.Handler = ""
	if _, err := retention.OpenRequest(ctx, db, &q, "k", "test"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []retention.CloseInput{{Outcome: "lost", Reason: "r"}, {Outcome: "withdrawn"},
		{Outcome: "withdrawn", Reason: "r", Ground: "other"}, {Outcome: "refused", Reason: "r", Ground: "whim"}} {
		_, _, err := retention.CloseRequestWith(ctx, db, q.ID, in, "k", "test")
		add(err)
	}
	// The disclosure log.
	err = db.Update(ctx, func(tx *registry.Tx) error {
		d := registry.Disclosure{RequestID: q.ID, Channel: "pigeon", At: now.Add(time.Hour), Corrects: 99, Note: long}
		return tx.RecordDelivery(&d, "k", "test")
	})
	add(err)
	err = db.Update(ctx, func(tx *registry.Tx) error {
		d := registry.Disclosure{RequestID: q.ID, PackageID: "nonesuch", Recipient: "V", Channel: "usb", Corrects: 1}
		return tx.RecordDelivery(&d, "k", "test")
	})
	add(err)
	if _, _, err := retention.CloseRequestWith(ctx, db, q.ID, retention.CloseInput{Outcome: "withdrawn", Reason: "r"}, "k", "test"); err != nil {
		t.Fatal(err)
	}
	_, _, err = retention.CloseRequestWith(ctx, db, q.ID, retention.CloseInput{Outcome: "withdrawn", Reason: "r"}, "k", "test")
	add(err)

	for _, m := range msgs {
		for _, lang := range []string{"fi", "en"} {
			got, ok := translateMessage(lang, m)
			if !ok {
				t.Errorf("%s: no catalog text for %q", lang, m)
				continue
			}
			if strings.Contains(got, "[[") || strings.Contains(got, "%!") {
				t.Errorf("%s: %q rendered as %q", lang, m, got)
			}
			if lang == "fi" {
				t.Logf("%s\n  → %s", m, got)
			}
			if lang == "fi" && got == m {
				t.Errorf("fi: %q shown untranslated", m)
			}
		}
	}

	// Every retention alarm kind has its own catalog text.
	for _, kind := range []string{retention.AlarmClockJump, retention.AlarmClockBackwards, retention.AlarmDeleteFraction,
		retention.AlarmCatalogMismatch, retention.AlarmDiskLow, retention.AlarmDiskFullHeld, retention.AlarmHoldReview, retention.AlarmError} {
		v := alarmViews([]string{kind}, []string{"detail"})[0]
		if v.Key == "alarm.other" {
			t.Errorf("alarm %s has no catalog text", kind)
		}
		if _, ok := catalogFI[v.Key]; !ok {
			t.Errorf("fi: %s missing", v.Key)
		}
		if _, ok := catalogEN[v.Key]; !ok {
			t.Errorf("en: %s missing", v.Key)
		}
	}
}

// TestDashboardAlarmInFinnish: an interlock alarm reaches the Finnish
// dashboard as the catalog's text, with retention's message as detail.
func TestDashboardAlarmInFinnish(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Retention = func() RetentionState {
			return RetentionState{Paused: true, WritingAllowed: true, AlarmKinds: []string{retention.AlarmClockJump},
				Alarms: []string{"clock reads 2027-01-01T00:00:00Z, 960h0m0s after the last time seen"}}
		}
	})
	_, body := h.login("dpo").do("GET", "/", nil)
	if !strings.Contains(string(body), catalogFI["alarm.clockjump"]) {
		t.Errorf("dashboard lacks the Finnish alarm text")
	}
}
