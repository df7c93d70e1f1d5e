package jobs

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"vahti/admin/export"
	"vahti/admin/redact"
	"vahti/registry"
)

// waitRow polls job id's registry row until pred holds (or 60 s: a hang,
// not a timing assertion).
func (e *env) waitRow(id int64, pred func(registry.Job) bool) registry.Job {
	e.t.Helper()
	var j registry.Job
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if err := e.db.View(context.Background(), func(tx *registry.Tx) (err error) { j, err = tx.Job(id); return }); err != nil {
			e.t.Fatal(err)
		}
		if pred(j) {
			return j
		}
	}
	e.t.Fatalf("job %d: still %+v", id, j)
	return j
}

func rowEnded(j registry.Job) bool { return j.Ended() }

// TestJobKeepsKeysAfterLogout: a keeper starts a redaction of sealed
// footage and logs out while it runs. The key stays open (the job holds
// it, the logout's sweep does not drop it), the job reads the sealed
// footage to the end and makes a verified package, and then the key is
// wiped, with keys.keep, keys.release and keys.wipe audited.
func TestJobKeepsKeysAfterLogout(t *testing.T) {
	needTool(t, "ffmpeg")
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	calls := 0
	// The first Find is the submit's check; the second is the running
	// job's, which waits here until the keeper has logged out.
	find := func(ctx context.Context) (*redact.Tool, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 2 {
			close(entered)
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return redact.Find(ctx)
	}
	e := newSealedEnv(t, 2, find)
	if !e.keys.Wiped() {
		t.Fatal("a key in memory before any login")
	}
	c := e.login()
	if !e.keys.Unlocked() {
		t.Fatal("the keeper's login did not open the key")
	}
	var sub struct{ Job jobView }
	if code := c.do("POST", "/api/v1/requests/1/jobs", map[string]any{"redact": keepQuadrant()}, &sub); code != http.StatusAccepted {
		t.Fatalf("submit: %d", code)
	}
	e.start()
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // runs before the runner is stopped: a failed check does not leave it waiting
	select {
	case <-entered:
	case <-time.After(60 * time.Second):
		t.Fatal("the job did not start")
	}
	if j := e.waitRow(sub.Job.ID, func(registry.Job) bool { return true }); j.State != registry.JobRunning {
		t.Fatalf("job: %+v", j)
	}
	if code := c.do("DELETE", "/api/v1/session", nil, nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if !e.keys.Unlocked() || e.keys.Wiped() {
		t.Fatal("the keeper's logout wiped the key a running job holds")
	}
	free()
	j := e.waitRow(sub.Job.ID, rowEnded)
	if j.State != registry.JobDone {
		t.Fatalf("job after the logout: %+v", j)
	}
	if _, err := export.VerifyPackage(filepath.Join(e.cfg.StateDir, "exports", j.Package+".zip")); err != nil {
		t.Error(err)
	}
	if !e.keys.Wiped() || e.keys.Unlocked() {
		t.Fatal("the key is still in memory after the job ended with no keeper logged in")
	}
	if k := e.auditKinds(); k["keys.keep"] != 1 || k["keys.release"] != 1 || k["keys.wipe"] != 1 || k["job.done"] != 1 {
		t.Errorf("audit: %v", k)
	}
}

// TestResumedJobWaitsForKeys: a request's ordinary export of sealed
// footage was running when the service stopped. At the next start no key
// is open: the job stays queued, saying it waits for a keeper's login
// (audited job.wait, not started, not failed). A keeper's login starts it;
// it makes a verified package and keeps the key only while it runs: after
// the keeper logs out the key is wiped.
func TestResumedJobWaitsForKeys(t *testing.T) {
	e := newSealedEnv(t, 2, nil)
	ctx := context.Background()
	j, err := e.runner.Submit(ctx, 1, nil, false, "keeper", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.Update(ctx, func(tx *registry.Tx) error { return tx.StartJob(j.ID) }); err != nil {
		t.Fatal(err)
	}
	e.start()
	w := e.waitRow(j.ID, func(j registry.Job) bool { return j.Error != "" || j.Ended() })
	if w.State != registry.JobQueued || w.Error != WaitingForKeys || w.Attempts != 1 {
		t.Fatalf("resumed job with no key open: %+v", w)
	}
	if k := e.auditKinds(); k["job.resume"] != 1 || k["job.wait"] != 1 || k["job.start"] != 0 || k["job.fail"] != 0 {
		t.Errorf("audit while waiting: %v", k)
	}
	c := e.login()
	d := e.waitRow(j.ID, rowEnded)
	if d.State != registry.JobDone || d.Error != "" || d.Attempts != 2 {
		t.Fatalf("job after the login: %+v", d)
	}
	if _, err := export.VerifyPackage(filepath.Join(e.cfg.StateDir, "exports", d.Package+".zip")); err != nil {
		t.Error(err)
	}
	if !e.keys.Unlocked() {
		t.Fatal("the job's end wiped the key of a keeper still logged in")
	}
	if code := c.do("DELETE", "/api/v1/session", nil, nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if !e.keys.Wiped() {
		t.Fatal("key still in memory after the last keeper logged out and the job ended")
	}
	if k := e.auditKinds(); k["keys.keep"] != 1 || k["keys.release"] != 1 || k["job.done"] != 1 {
		t.Errorf("audit: %v", k)
	}
}

// TestExportJobProgress: an ordinary (not redacted) export job reports
// its progress as it copies: the values are non-decreasing, some lie
// strictly between 0 and 1, the last is 1, and the done job shows 100 %.
func TestExportJobProgress(t *testing.T) {
	e := newEnv(t, 8, nil)
	var mu sync.Mutex
	var seen []float64
	e.runner.Observe = func(_ int64, p float64) {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
	}
	j, err := e.runner.SubmitExport(context.Background(), registry.AdHocExport{Cameras: []string{"yard"}, From: base,
		To: base.Add(24 * time.Second), Reason: "poliisin pyyntö", CaseRef: "POL-9"}, "keeper", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e.start()
	d := e.waitRow(j.ID, rowEnded)
	if d.State != registry.JobDone || d.Progress != 1 {
		t.Fatalf("job: %+v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	mid := 0
	for i, p := range seen {
		if i > 0 && p < seen[i-1] {
			t.Fatalf("progress went back: %v", seen)
		}
		if p > 0 && p < 1 {
			mid++
		}
	}
	if len(seen) == 0 || seen[len(seen)-1] != 1 || mid == 0 {
		t.Fatalf("progress values: %v", seen)
	}
}
