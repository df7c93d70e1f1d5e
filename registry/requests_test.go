package registry

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"
)

// The disclosure log is append-only in the database itself: an UPDATE or
// DELETE by any path (a bug, sqlite3 on the box) is refused.
func TestDisclosureLogIsAppendOnly(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	db, err := Open(t.TempDir(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var d Disclosure
	err = db.Update(ctx, func(tx *Tx) error {
		q := Request{Kind: RequestPolice, Cameras: []string{"yard"}, From: now.Add(-time.Hour), To: now,
			Reference: "R-1", BasisCode: BasisPolice, CreatedBy: "k"}
		if err := ValidateRequest(&q, now); err != nil {
			return err
		}
		if err := tx.AddRequest(&q, "cli"); err != nil {
			return err
		}
		if _, err := tx.TransitionRequest(q.ID, StateHeld, "k", "cli", ""); err != nil {
			return err
		}
		e := Export{ID: "pkg1", Path: "exports/pkg1.zip", Cameras: q.Cameras, From: q.From, To: q.To, FootageEnd: q.To,
			SHA256: strings.Repeat("ab", 32), Bytes: 10, Reason: "r", CreatedBy: "k"}
		if err := tx.AddExport(&e); err != nil {
			return err
		}
		if err := tx.RequestExported(q.ID, e, "k", "cli"); err != nil {
			return err
		}
		d = Disclosure{RequestID: q.ID, PackageID: "pkg1", PackageSHA256: "forged", Recipient: "V", Channel: "usb"}
		return tx.RecordDelivery(&d, "k", "cli")
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.PackageSHA256 != strings.Repeat("ab", 32) {
		t.Errorf("the entry took the caller's hash %q, not the registry's", d.PackageSHA256)
	}
	for _, stmt := range []string{`UPDATE disclosures SET recipient = 'X'`, `DELETE FROM disclosures`} {
		err := db.Update(ctx, func(tx *Tx) error { _, err := tx.tx.Exec(stmt); return err })
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refusal", stmt, err)
		}
	}
	db.View(ctx, func(tx *Tx) error {
		got, err := tx.Disclosure(d.ID)
		if err != nil || got.Recipient != "V" {
			t.Errorf("entry after refused edits: %+v %v", got, err)
		}
		return nil
	})
}

func TestCheckTransition(t *testing.T) {
	open := func(state string) Request { return Request{ID: 4, Status: "open", State: state} }
	for _, tc := range []struct {
		q    Request
		to   string
		want string // "" allowed
	}{
		{open(StateReceived), StateHeld, ""},
		{open(StateHeld), StateExported, ""},
		{open(StateExported), StateDelivered, ""},
		{open(StateExported), StateExported, ""},
		{open(StateDelivered), StateDelivered, ""},
		{open(StateHeld), StateWithdrawn, ""},
		{open(StateHeld), StateDelivered, "nothing has been exported"},
		{open(StateReceived), StateDelivered, "nothing has been exported"},
		{open(StateDelivered), StateRefused, "already been handed over"},
		{open(StateExported), StateHeld, "does not follow"},
		{Request{ID: 4, Status: "closed", State: StateRefused}, StateExported, "is closed"},
	} {
		err := CheckTransition(tc.q, tc.to)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s → %s: %v", tc.q.State, tc.to, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrTransition) {
			t.Errorf("%s → %s: %v, want %q", tc.q.State, tc.to, err, tc.want)
		}
	}
}

func TestValidateRequestDates(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	q := Request{Kind: RequestAccess, Reference: "SAR-1", BasisCode: BasisAccess, Received: now.Add(-48 * time.Hour)}
	if err := ValidateRequest(&q, now); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 20, 23, 59, 59, 0, time.UTC); !q.Deadline.Equal(want) || !strings.Contains(q.Basis, "15") {
		t.Errorf("access request: deadline %s (want %s), basis %q", q.Deadline, want, q.Basis)
	}
	q = Request{Kind: RequestPolice, Reference: "R", Basis: "x", Received: now.Add(time.Hour)}
	if err := ValidateRequest(&q, now); err == nil || !strings.Contains(err.Error(), "future") {
		t.Errorf("future received: %v", err)
	}
}

// A register written before the status flow existed keeps its requests:
// open ones with a hold read as held, closed ones as their outcome, each
// with a first history step.
func TestRequestsMigrateIntoTheStatusFlow(t *testing.T) {
	path := t.TempDir() + "/registry.db"
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{migrations[0],
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version(version) VALUES (1)`,
		`INSERT INTO requests(kind, cameras, from_ns, to_ns, reference, basis, created_by, created_ns, hold_id)
			VALUES ('police', 'yard', 1, 2, 'R-1', 'b', 'k', 1000, 1)`,
		`INSERT INTO requests(kind, cameras, from_ns, to_ns, reference, basis, created_by, created_ns, hold_id, status, outcome)
			VALUES ('access', 'all', 1, 2, 'S-1', 'b', 'k', 2000, 2, 'closed', 'refused')`} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	raw.Close()
	db, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(context.Background(), func(tx *Tx) error {
		for id, want := range map[int64]string{1: StateHeld, 2: StateRefused} {
			q, err := tx.Request(id)
			if err != nil || q.State != want || !q.Received.Equal(q.Created) || q.BasisCode != BasisOther {
				t.Errorf("request %d: %v %+v", id, err, q)
			}
			ev, err := tx.RequestEvents(id)
			if err != nil || len(ev) != 1 || ev[0].State != StateReceived {
				t.Errorf("request %d history: %v %+v", id, err, ev)
			}
		}
		return nil
	})
}
