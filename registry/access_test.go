package registry

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func helsinki(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// The deadline follows Regulation 1182/71 art. 3(2)(c) in the shelter's
// calendar: the same date a month on, or the month's last day when it
// has none, to the end of that day.
func TestAccessDeadline(t *testing.T) {
	hel := helsinki(t)
	for _, tc := range []struct {
		received time.Time
		months   int
		want     time.Time
	}{
		{time.Date(2026, 1, 31, 10, 0, 0, 0, hel), 1, time.Date(2026, 2, 28, 23, 59, 59, 0, hel)},
		{time.Date(2028, 1, 31, 10, 0, 0, 0, hel), 1, time.Date(2028, 2, 29, 23, 59, 59, 0, hel)}, // leap year
		{time.Date(2026, 3, 31, 8, 0, 0, 0, hel), 1, time.Date(2026, 4, 30, 23, 59, 59, 0, hel)},
		{time.Date(2026, 11, 15, 8, 0, 0, 0, hel), 1, time.Date(2026, 12, 15, 23, 59, 59, 0, hel)},
		{time.Date(2026, 12, 31, 8, 0, 0, 0, hel), 1, time.Date(2027, 1, 31, 23, 59, 59, 0, hel)}, // across the year
		{time.Date(2026, 1, 31, 10, 0, 0, 0, hel), 3, time.Date(2026, 4, 30, 23, 59, 59, 0, hel)}, // extended by 2
		{time.Date(2026, 2, 28, 10, 0, 0, 0, hel), 1, time.Date(2026, 3, 28, 23, 59, 59, 0, hel)}, // not "end of month"
		// 00:30 on 1 March in Helsinki is still 28 February in UTC: the local day counts.
		{time.Date(2026, 3, 1, 0, 30, 0, 0, hel), 1, time.Date(2026, 4, 1, 23, 59, 59, 0, hel)},
	} {
		got := AccessDeadline(tc.received.UTC(), tc.months, hel)
		if !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("received %s +%d: %s, want %s", tc.received, tc.months, got.In(hel), tc.want)
		}
	}
}

func accessDB(t *testing.T, now *time.Time) *DB {
	t.Helper()
	db, err := Open(t.TempDir(), func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.Update(context.Background(), func(tx *Tx) error {
		return tx.AddUser(&User{Name: "liisa", Roles: []string{RoleKeeper}, PassHash: "x"})
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func addAccess(t *testing.T, db *DB, received time.Time, hash string) Request {
	t.Helper()
	q := Request{Kind: RequestAccess, Cameras: []string{"yard"}, From: received.Add(-2 * time.Hour), To: received.Add(-time.Hour),
		Reference: "SAR", BasisCode: BasisAccess, Received: received, SubjectHash: hash, CreatedBy: "liisa", VerifiedBy: "liisa"}
	err := db.Update(context.Background(), func(tx *Tx) error {
		if err := ValidateRequest(&q, tx.Now()); err != nil {
			return err
		}
		if err := tx.AddRequest(&q, "test"); err != nil {
			return err
		}
		_, err := tx.TransitionRequest(q.ID, StateHeld, "liisa", "test", "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// Free once a year: a rolling window of 365 days before the request.
func TestEarlierAccessRequestsRolling(t *testing.T) {
	now := time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC)
	db := accessDB(t, &now)
	secret := bytes.Repeat([]byte{7}, 32)
	h := SubjectHash(secret, "Maija Meikäläinen 1980-02-01")
	other := SubjectHash(secret, "Matti Meikäläinen 1979-05-05")
	base := time.Date(2027, 5, 1, 9, 0, 0, 0, time.UTC)
	count := func(q Request) int {
		t.Helper()
		var n int
		db.View(context.Background(), func(tx *Tx) error {
			var err error
			n, err = tx.EarlierAccessRequests(q)
			if err != nil {
				t.Fatal(err)
			}
			return nil
		})
		return n
	}
	first := addAccess(t, db, base.Add(-366*24*time.Hour), h) // 366 days before: outside
	if n := count(first); n != 0 {
		t.Fatalf("the first request: %d earlier", n)
	}
	addAccess(t, db, base.Add(-100*24*time.Hour), other) // someone else
	q := addAccess(t, db, base, h)
	if n := count(q); n != 0 {
		t.Errorf("366 days after the last one: %d earlier, want 0 (free)", n)
	}
	edge := addAccess(t, db, base.Add(-365*24*time.Hour), h) // exactly 365 days before: inside
	if n := count(q); n != 1 {
		t.Errorf("one exactly 365 days before: %d earlier, want 1", n)
	}
	if n := count(edge); n != 1 {
		t.Errorf("the edge request itself: %d earlier, want 1 (the first, a day before it)", n)
	}
	later := addAccess(t, db, base.Add(time.Hour), h)
	if n := count(later); n != 1 {
		t.Errorf("an hour later: %d earlier, want 1 (q; the edge one is now an hour outside the window)", n)
	}
	if n := count(Request{ID: 99, Kind: RequestAccess, Received: base}); n != -1 {
		t.Errorf("no key recorded: %d, want -1", n)
	}
}

// The identifying key is normalised before hashing, and only the keyed
// hash reaches the database file: the plain key is nowhere in its bytes.
func TestSubjectKeyHashedNotStored(t *testing.T) {
	secret := bytes.Repeat([]byte{9}, 32)
	a := SubjectHash(secret, "Maija Meikäläinen 1980-02-01")
	b := SubjectHash(secret, "  maija\tMEIKA\u0308LA\u0308INEN   1980-02-01 ") // decomposed ä, case, white space
	if a != b || len(a) != 64 {
		t.Fatalf("normalisation: %s vs %s", a, b)
	}
	if a == SubjectHash(bytes.Repeat([]byte{8}, 32), "Maija Meikäläinen 1980-02-01") {
		t.Fatal("the hash does not depend on the install's secret")
	}
	if SubjectHash(secret, " \t") != "" {
		t.Fatal("an empty key hashed")
	}
	dir := t.TempDir()
	sec, err := LoadOrCreateSubjectSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateSubjectSecret(dir)
	if err != nil || !bytes.Equal(sec, again) {
		t.Fatalf("the secret changed between loads: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, SubjectSecretFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", st, err)
	}
	now := time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC)
	db, err := Open(dir, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Update(context.Background(), func(tx *Tx) error {
		return tx.AddUser(&User{Name: "liisa", Roles: []string{RoleKeeper}, PassHash: "x"})
	})
	key := "Maija Meikäläinen 1980-02-01"
	q := addAccess(t, db, now.Add(-time.Hour), SubjectHash(sec, key))
	// A plain key handed in where the hash belongs is refused.
	bad := Request{Kind: RequestAccess, Cameras: []string{"yard"}, From: now.Add(-2 * time.Hour), To: now.Add(-time.Hour),
		Reference: "SAR", BasisCode: BasisAccess, SubjectHash: key, CreatedBy: "liisa"}
	err = db.Update(context.Background(), func(tx *Tx) error {
		ValidateRequest(&bad, now)
		return tx.AddRequest(&bad, "test")
	})
	if err == nil || !strings.Contains(err.Error(), "never stored") {
		t.Fatalf("a plain key as the hash: %v", err)
	}
	db.Close()
	found := false
	for _, f := range []string{"registry.db", "registry.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		for _, plain := range []string{"1980-02-01", "Meikäläinen", "meikäläinen", NormaliseSubjectKey(key)} {
			if bytes.Contains(b, []byte(plain)) {
				t.Errorf("%s holds %q", f, plain)
			}
		}
		found = found || bytes.Contains(b, []byte(q.SubjectHash))
	}
	if !found {
		t.Error("the keyed hash is in neither file: the scan reads the wrong files")
	}
}

// An extension is by at most two further months in all, with a reason,
// for an open access request; it is in the history and the audit chain.
func TestExtendDeadline(t *testing.T) {
	hel := helsinki(t)
	now := time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)
	db := accessDB(t, &now)
	q := addAccess(t, db, time.Date(2026, 1, 31, 10, 0, 0, 0, hel).UTC(), "")
	ctx := context.Background()
	ext := func(months int, reason string) (Request, error) {
		var got Request
		err := db.Update(ctx, func(tx *Tx) error {
			var err error
			got, err = tx.ExtendDeadline(q.ID, months, reason, hel, "liisa", "test")
			return err
		})
		return got, err
	}
	if _, err := ext(1, " "); err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Errorf("no reason: %v", err)
	}
	if _, err := ext(3, "many requests"); err == nil || !strings.Contains(err.Error(), "at most 2") {
		t.Errorf("three months: %v", err)
	}
	got, err := ext(1, "footage from six cameras")
	if err != nil || !got.Deadline.Equal(time.Date(2026, 3, 31, 23, 59, 59, 0, hel)) {
		t.Fatalf("+1: %v %s", err, got.Deadline.In(hel))
	}
	got, err = ext(1, "redaction takes longer")
	if err != nil || !got.Deadline.Equal(time.Date(2026, 4, 30, 23, 59, 59, 0, hel)) || got.ExtensionMonths != 2 {
		t.Fatalf("+1 more: %v %s", err, got.Deadline.In(hel))
	}
	if _, err := ext(1, "and more"); err == nil || !strings.Contains(err.Error(), "at most 2") {
		t.Errorf("a third month: %v", err)
	}
	db.View(ctx, func(tx *Tx) error {
		evs, _ := tx.RequestEvents(q.ID)
		n := 0
		for _, ev := range evs {
			if ev.State == "extended" {
				n++
			}
		}
		es, _ := tx.AuditEntries(AuditFilter{Kind: "request.extend"})
		if n != 2 || len(es) != 2 {
			t.Errorf("history %d, audit %d extensions; want 2 and 2", n, len(es))
		}
		return nil
	})
}

// Refusing needs a ground from the list; viewing on site is an access
// request's outcome, recorded and audited, with no package made.
func TestRefusalGroundAndViewing(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	db := accessDB(t, &now)
	ctx := context.Background()
	q := addAccess(t, db, now.Add(-time.Hour), "")
	for _, g := range []string{"", "because"} {
		err := db.Update(ctx, func(tx *Tx) error {
			_, err := tx.CloseRequest(q.ID, OutcomeRefused, "liisa", "test", "r", g)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "needs a ground") {
			t.Errorf("ground %q: %v", g, err)
		}
	}
	err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.CloseRequest(q.ID, OutcomeViewed, "liisa", "test", "watched", "")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "viewing") {
		t.Errorf("closing as viewed before a viewing: %v", err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		if _, err := tx.RecordViewing(q.ID, "nobody", time.Time{}, "", "liisa", "test"); err == nil {
			t.Error("a viewing shown by no account was recorded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		if _, err := tx.RecordViewing(q.ID, "liisa", now.Add(-10*time.Minute), "with her counsellor", "liisa", "test"); err != nil {
			return err
		}
		_, err := tx.CloseRequest(q.ID, OutcomeViewed, "liisa", "test", "watched on site", "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(ctx, func(tx *Tx) error {
		got, _ := tx.Request(q.ID)
		es, _ := tx.AuditEntries(AuditFilter{Kind: "request.view"})
		pk, _ := tx.RequestExports(q.ID)
		if got.Status != "closed" || got.Outcome != OutcomeViewed || len(es) != 1 || len(pk) != 0 {
			t.Errorf("after viewing: %+v, %d audit entries, %d packages", got, len(es), len(pk))
		}
		if len(es) == 1 && (!strings.Contains(string(es[0].Detail), `"viewed_by":"liisa"`) || !strings.Contains(string(es[0].Detail), `"cameras":["yard"]`)) {
			t.Errorf("request.view detail: %s", es[0].Detail)
		}
		return nil
	})
	// A police request is never viewed on site.
	if err := CheckTransition(Request{ID: 1, Kind: RequestPolice, Status: "open", State: StateHeld}, StateViewed); err == nil {
		t.Error("a police request may be viewed on site")
	}
}

// The disclosure log's one exception: the expiry of an entry whose
// request leaves the register, exactly as ExpireRequest makes it, once.
// Every other change is still refused.
func TestDisclosureExpiryIsTheOnlyChange(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	db := accessDB(t, &now)
	ctx := context.Background()
	q := addAccess(t, db, now.Add(-time.Hour), "")
	var d Disclosure
	err := db.Update(ctx, func(tx *Tx) error {
		e := Export{ID: "pkg1", Path: "exports/pkg1.zip", Cameras: q.Cameras, From: q.From, To: q.To, FootageEnd: q.To,
			SHA256: strings.Repeat("ab", 32), Bytes: 10, Reason: "r", CreatedBy: "liisa"}
		if err := tx.AddExport(&e); err != nil {
			return err
		}
		if err := tx.RequestExported(q.ID, e, "liisa", "test"); err != nil {
			return err
		}
		d = Disclosure{RequestID: q.ID, PackageID: "pkg1", Recipient: "Maija Meikäläinen", RecipientAuthority: "itse",
			Channel: "in-person", AckNote: "kuitattu", Note: "n"}
		return tx.RecordDelivery(&d, "liisa", "test")
	})
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("c", 64)
	for _, stmt := range []string{
		`UPDATE disclosures SET recipient = 'X'`,
		// the expiry, but changing the package's hash too
		`UPDATE disclosures SET request_id = NULL, recipient = '', ack_note = '', note = '', recipient_authority = '', request_ref_hash = '` + hash + `', expired_ns = 1, package_sha256 = 'x'`,
		// the expiry, but keeping the recipient's name
		`UPDATE disclosures SET request_id = NULL, ack_note = '', note = '', recipient_authority = '', request_ref_hash = '` + hash + `', expired_ns = 1`,
		// the expiry without a reference hash
		`UPDATE disclosures SET request_id = NULL, recipient = '', ack_note = '', note = '', recipient_authority = '', expired_ns = 1`,
		// blanking without marking it expired
		`UPDATE disclosures SET request_id = NULL, recipient = '', ack_note = '', note = '', recipient_authority = '', request_ref_hash = '` + hash + `'`,
		`DELETE FROM disclosures`,
	} {
		err := db.Update(ctx, func(tx *Tx) error { _, err := tx.tx.Exec(stmt); return err })
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refusal", stmt, err)
		}
	}
	if err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.CloseRequest(q.ID, OutcomeDelivered, "liisa", "test", "r", "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		n, err := tx.ExpireRequest(q.ID, hash)
		if n != 1 {
			t.Errorf("reduced %d entries, want 1", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(ctx, func(tx *Tx) error {
		got, err := tx.Disclosure(d.ID)
		if err != nil || got.RequestID != 0 || got.Recipient != "" || got.RecipientAuthority != "" || got.AckNote != "" ||
			got.Note != "" || got.RequestRefHash != hash || got.Expired.IsZero() || got.PackageSHA256 != d.PackageSHA256 ||
			!got.Subject || got.Channel != "in-person" {
			t.Errorf("expired entry: %+v %v", got, err)
		}
		if _, err := tx.Request(q.ID); err == nil {
			t.Error("the request is still in the register")
		}
		return nil
	})
	// Expired once, never again.
	err = db.Update(ctx, func(tx *Tx) error {
		_, err := tx.tx.Exec(`UPDATE disclosures SET expired_ns = 2, request_ref_hash = '` + strings.Repeat("d", 64) + `'`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("a second expiry: %v", err)
	}
}

// An access request's deadline is the statutory one or earlier; a later
// one goes only through a recorded extension.
func TestAccessDeadlineNotLaterThanStatutory(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	q := Request{Kind: RequestAccess, Reference: "SAR", BasisCode: BasisAccess, Received: now.Add(-time.Hour),
		Deadline: now.AddDate(0, 2, 0)}
	if err := ValidateRequest(&q, now); err == nil || !strings.Contains(err.Error(), "extend it with a reason") {
		t.Errorf("a two-month deadline typed in: %v", err)
	}
	q = Request{Kind: RequestAccess, Reference: "SAR", BasisCode: BasisAccess, Received: now.Add(-time.Hour), Deadline: now.AddDate(0, 0, 14)}
	if err := ValidateRequest(&q, now); err != nil {
		t.Errorf("an earlier deadline: %v", err)
	}
}
