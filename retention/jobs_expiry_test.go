package retention

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"vahti/registry"
)

// addJob queues an ad-hoc export job (requestID 0) or a request's, and
// takes it to state (running, or ended as done with pkg, failed or
// cancelled) at the fixture's clock.
func (f *fixture) addJob(requestID int64, state, pkg string) registry.Job {
	f.t.Helper()
	j := registry.Job{Kind: registry.JobExport, RequestID: requestID, CreatedBy: "liisa", Source: "test",
		Params: `{"adhoc":{"cameras":["yard"],"reason":"poliisin pyyntö","case_ref":"POL-9"}}`}
	err := f.db.Update(context.Background(), func(tx *registry.Tx) error {
		if err := tx.AddJob(&j); err != nil {
			return err
		}
		if state == registry.JobQueued {
			return nil
		}
		if err := tx.StartJob(j.ID); err != nil || state == registry.JobRunning {
			return err
		}
		_, err := tx.EndJob(j.ID, state, pkg, "")
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

func (f *fixture) jobThere(id int64) bool {
	f.t.Helper()
	var err error
	f.db.View(context.Background(), func(tx *registry.Tx) error { _, err = tx.Job(id); return nil })
	return err == nil
}

func (f *fixture) addPackage(id string, end time.Time) {
	f.t.Helper()
	if err := f.db.Update(context.Background(), func(tx *registry.Tx) error {
		return tx.AddExport(&registry.Export{ID: id, Path: "exports/" + id + ".zip", Cameras: []string{"yard"}, From: end.Add(-time.Hour),
			To: end, FootageEnd: end, SHA256: strings.Repeat("ab", 32), Bytes: 10, Reason: "r", CreatedBy: "liisa"})
	}); err != nil {
		f.t.Fatal(err)
	}
}

// TestAdHocJobRowsExpire: ended ad-hoc export job rows leave the registry
// through the job gate in a purge pass, audited job.expire: a failed one
// max_age after it ended, a done one when its package expired. A running
// and a queued job stay whatever their age, and so does a done job whose
// package a hold keeps.
func TestAdHocJobRowsExpire(t *testing.T) {
	f := newFixture(t)
	maxAge := f.cfg.Retention.MaxAge.D()
	f.addPackage("pkgB", t0.Add(-time.Hour))
	f.addPackage("pkgE", t0.Add(-3*time.Hour))
	f.hold([]string{"yard"}, t0.Add(-210*time.Minute), t0.Add(-200*time.Minute)) // within pkgE's range, not pkgB's
	failed := f.addJob(0, registry.JobFailed, "")
	done := f.addJob(0, registry.JobDone, "pkgB")
	running := f.addJob(0, registry.JobRunning, "")
	queued := f.addJob(0, registry.JobQueued, "")
	heldPkg := f.addJob(0, registry.JobDone, "pkgE")

	f.set(t0.Add(time.Hour))
	if rep := f.purge(); rep.JobsExpired != 0 {
		t.Fatalf("young jobs expired: %d", rep.JobsExpired)
	}
	for _, j := range []registry.Job{failed, done, running, queued, heldPkg} {
		if !f.jobThere(j.ID) {
			t.Fatalf("job %d went too early", j.ID)
		}
	}

	f.set(t0.Add(maxAge + 2*time.Hour))
	// A dry run counts the same two rows (the done job's package would go
	// in the same pass) and removes nothing.
	dry, err := f.r.PurgeWith(context.Background(), PurgeOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.JobsExpired != 2 {
		t.Errorf("dry run: %d jobs would expire, want 2", dry.JobsExpired)
	}
	for _, j := range []registry.Job{failed, done, running, queued, heldPkg} {
		if !f.jobThere(j.ID) {
			t.Fatalf("the dry run deleted job %d", j.ID)
		}
	}
	if es := f.audit("job.expire"); len(es) != 0 {
		t.Fatalf("the dry run audited %d job.expire", len(es))
	}
	rep, err := f.r.PurgeWith(context.Background(), PurgeOptions{Force: true}) // the clock jumped ahead on purpose
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []registry.Job{running, queued, heldPkg} {
		if !f.jobThere(j.ID) {
			t.Errorf("job %d (package %q) was deleted", j.ID, j.Package)
		}
	}
	for _, j := range []registry.Job{failed, done} {
		if f.jobThere(j.ID) {
			t.Errorf("job %d (package %q) is still there", j.ID, j.Package)
		}
	}
	es := f.audit("job.expire")
	if rep.JobsExpired != 2 || len(es) != 2 {
		t.Fatalf("expired %d, audited %d", rep.JobsExpired, len(es))
	}
	objs := map[string]bool{}
	for _, e := range es {
		objs[e.Object] = true
		if s := string(e.Detail); strings.Contains(s, "POL-9") || strings.Contains(s, "poliisin") {
			t.Errorf("job.expire names the case: %s", s)
		}
	}
	if !objs[fmt.Sprintf("job:%d", failed.ID)] || !objs[fmt.Sprintf("job:%d", done.ID)] {
		t.Errorf("job.expire objects: %v", objs)
	}
	// The running job ends: it goes max_age after that, not before.
	if err := f.db.Update(context.Background(), func(tx *registry.Tx) error {
		_, err := tx.EndJob(running.ID, registry.JobFailed, "", "x")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.r.expireJobs(context.Background(), f.clock()); err != nil || n != 0 || !f.jobThere(running.ID) {
		t.Fatalf("a job that just ended: expired %d (%v)", n, err)
	}
}

// TestRequestJobsExpireWithRequest: a request's job rows leave the
// registry with the request, each audited job.expire; while one of its
// jobs is still queued, the request (and its jobs) stay.
func TestRequestJobsExpireWithRequest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	q := registry.Request{Kind: registry.RequestAccess, Cameras: []string{"yard"}, From: t0.Add(-2 * time.Hour), To: t0.Add(-time.Hour),
		Reference: "SAR-J", BasisCode: registry.BasisAccess, Requester: "Maija Meikäläinen"}
	if _, err := OpenRequest(ctx, f.db, &q, "liisa", "test"); err != nil {
		t.Fatal(err)
	}
	failed := f.addJob(q.ID, registry.JobFailed, "")
	queued := f.addJob(q.ID, registry.JobQueued, "")
	if _, _, err := CloseRequestWith(ctx, f.db, q.ID, CloseInput{Outcome: registry.OutcomeWithdrawn, Reason: "r", ReleaseHold: true},
		"liisa", "test"); err != nil {
		t.Fatal(err)
	}
	f.set(t0.Add(f.cfg.Requests.Retention.D() + 2*time.Hour))
	if n, err := f.r.expireRequests(ctx, f.clock()); err != nil || n != 0 {
		t.Fatalf("a request with a queued job expired: %d %v", n, err)
	}
	if !f.jobThere(queued.ID) || !f.jobThere(failed.ID) {
		t.Fatal("job rows went while the request stayed")
	}
	if err := f.db.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.EndJob(queued.ID, registry.JobCancelled, "", "cancelled by liisa")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.r.expireRequests(ctx, f.clock()); err != nil || n != 1 {
		t.Fatalf("request expiry: %d %v", n, err)
	}
	if f.jobThere(queued.ID) || f.jobThere(failed.ID) {
		t.Fatal("the expired request's job rows stayed")
	}
	if es := f.audit("job.expire"); len(es) != 2 {
		t.Fatalf("job.expire entries: %d", len(es))
	}
}
