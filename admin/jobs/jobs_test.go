package jobs

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/admin/export"
	"vahti/admin/redact"
	"vahti/registry"
)

func keepQuadrant() map[string]any {
	return map[string]any{"cameras": map[string]any{"yard": map[string]any{"mode": "keep", "tracks": []any{
		map[string]any{"keyframes": []any{map[string]any{"at": base.Add(time.Second).Format(time.RFC3339), "x": 0, "y": 0, "w": 0.5, "h": 0.5}}}}}}}
}

func (e *env) request() registry.Request {
	var q registry.Request
	e.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		q, err = tx.Request(1)
		return err
	})
	return q
}

// TestRedactionJobAPI drives the keeper's API: availability, a refused
// regions object naming its field, a redacted package made as a job
// (verified, manifest redacted, request exported, all audited), the job
// list, a preview of two moments, and no cancel of a finished job.
func TestRedactionJobAPI(t *testing.T) {
	e := newEnv(t, 2, nil)
	e.start()
	c := e.login()
	var av struct {
		Available bool   `json:"available"`
		FFmpeg    string `json:"ffmpeg"`
	}
	if code := c.do("GET", "/api/v1/redaction", nil, &av); code != 200 || !av.Available || !strings.HasPrefix(av.FFmpeg, "ffmpeg version") {
		t.Fatalf("redaction: %d %+v", code, av)
	}
	bad := keepQuadrant()
	bad["cameras"].(map[string]any)["yard"].(map[string]any)["tracks"].([]any)[0].(map[string]any)["keyframes"].([]any)[0].(map[string]any)["x"] = 1.5
	var fe struct{ Error, Field string }
	if code := c.do("POST", "/api/v1/requests/1/jobs", map[string]any{"redact": bad}, &fe); code != 400 ||
		fe.Field != "cameras.yard.tracks[0].keyframes[0].x" || !strings.Contains(fe.Error, "outside 0–1") {
		t.Fatalf("bad regions: %d %+v", code, fe)
	}
	var sub struct{ Job jobView }
	if code := c.do("POST", "/api/v1/requests/1/jobs", map[string]any{"redact": keepQuadrant(), "keep_audio": false}, &sub); code != 202 ||
		sub.Job.Kind != "redact" || sub.Job.Request != 1 {
		t.Fatalf("submit: %d %+v", code, sub)
	}
	j := c.wait(sub.Job.ID, func(j jobView) bool { return j.State == registry.JobDone || j.State == registry.JobFailed })
	if j.State != registry.JobDone || j.Package == "" || j.Progress != 1 {
		t.Fatalf("job: %+v", j)
	}
	zipPath := filepath.Join(e.cfg.StateDir, "exports", j.Package+".zip")
	vr, err := export.VerifyPackage(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	var rm redact.Manifest
	if !vr.Manifest.Redacted || json.Unmarshal(vr.Manifest.Redaction, &rm) != nil || rm.Mode != "keep" || vr.Manifest.Request == nil || vr.Manifest.Request.ID != 1 {
		t.Fatalf("manifest: redacted %v %s request %+v", vr.Manifest.Redacted, vr.Manifest.Redaction, vr.Manifest.Request)
	}
	if q := e.request(); q.State != registry.StateExported {
		t.Fatalf("request state %s", q.State)
	}
	kinds := e.auditKinds()
	for _, k := range []string{"job.queue", "job.start", "job.done", "export.create", "request.export"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in the audit log (%v)", k, kinds)
		}
	}
	var list struct{ Jobs []jobView }
	if code := c.do("GET", "/api/v1/jobs?request=1", nil, &list); code != 200 || len(list.Jobs) != 1 || list.Jobs[0].ID != j.ID {
		t.Fatalf("list: %d %+v", code, list)
	}
	if code := c.do("DELETE", fmt.Sprintf("/api/v1/jobs/%d", j.ID), nil, nil); code != 409 {
		t.Errorf("cancel of a finished job: %d, want 409", code)
	}

	var pv struct {
		Frames []struct{ At, Shown, Original, Redacted string }
	}
	at := []string{base.Add(1500 * time.Millisecond).Format(time.RFC3339Nano), base.Add(4 * time.Second).Format(time.RFC3339Nano)}
	if code := c.do("POST", "/api/v1/requests/1/redact/preview", map[string]any{"redact": keepQuadrant(), "camera": "yard", "at": at}, &pv); code != 200 || len(pv.Frames) != 2 {
		t.Fatalf("preview: %d %d frames", code, len(pv.Frames))
	}
	for _, f := range pv.Frames {
		o, r := jpeg(t, f.Original), jpeg(t, f.Redacted)
		if bytes.Equal(o, r) {
			t.Errorf("preview at %s: redacted frame equals the original", f.At)
		}
	}
	if e.auditKinds()["redact.preview"] != 1 {
		t.Errorf("preview not audited")
	}
	if code := c.do("POST", "/api/v1/requests/1/redact/preview", map[string]any{"redact": keepQuadrant(), "camera": "yard",
		"at": []string{base.Add(-time.Hour).Format(time.RFC3339)}}, &fe); code != 400 || fe.Field != "at[0]" {
		t.Errorf("preview outside the range: %d %+v", code, fe)
	}
	blur := map[string]any{"cameras": map[string]any{"yard": map[string]any{"mode": "blur", "tracks": []any{
		map[string]any{"keyframes": []any{map[string]any{"at": base.Add(time.Second).Format(time.RFC3339), "x": 0, "y": 0, "w": 0.5, "h": 0.5}}}}}}}
	if code := c.do("POST", "/api/v1/requests/1/redact/preview", map[string]any{"redact": blur, "camera": "lobby",
		"at": []string{base.Add(time.Second).Format(time.RFC3339)}}, &fe); code != 400 || fe.Field != "camera" {
		t.Errorf("preview of a camera not in the request: %d %+v", code, fe)
	}
	if left := e.leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func jpeg(t *testing.T, uri string) []byte {
	t.Helper()
	b64, ok := strings.CutPrefix(uri, "data:image/jpeg;base64,")
	b, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(b) < 1000 || b[0] != 0xFF || b[1] != 0xD8 {
		t.Fatalf("not a JPEG data URI: %.60s… (%v)", uri, err)
	}
	return b
}

// TestCancelKillsFFmpeg cancels a redaction while ffmpeg runs: the job
// ends cancelled, no ffmpeg process of it is left, no work file or
// package either.
func TestCancelKillsFFmpeg(t *testing.T) {
	e := newEnv(t, 12, nil)
	e.start()
	c := e.login()
	var sub struct{ Job jobView }
	if code := c.do("POST", "/api/v1/requests/1/jobs", map[string]any{"redact": keepQuadrant()}, &sub); code != 202 {
		t.Fatalf("submit: %d", code)
	}
	t.Logf("submitted %s", time.Now().Format("15:04:05.000"))
	var seen []string
	c.wait(sub.Job.ID, func(j jobView) bool {
		seen = ffmpegsUnder(e.cfg.StateDir)
		return j.State == registry.JobRunning && len(seen) > 0 || j.State == registry.JobDone
	})
	t.Logf("seen %s", time.Now().Format("15:04:05.000"))
	if len(seen) == 0 {
		t.Fatal("the job finished before ffmpeg was seen running; make the footage longer")
	}
	var j jobView
	if code := c.do("DELETE", fmt.Sprintf("/api/v1/jobs/%d", sub.Job.ID), nil, &j); code != 200 || j.State != registry.JobCancelled {
		t.Fatalf("cancel: %d %+v", code, j)
	}
	t.Logf("cancelled %s", time.Now().Format("15:04:05.000"))
	if left := ffmpegsUnder(e.cfg.StateDir); len(left) > 0 {
		t.Errorf("ffmpeg still running after cancel: %v", left)
	}
	if left := e.leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	var exports []registry.Export
	e.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		exports, err = tx.Exports()
		return err
	})
	if len(exports) != 0 {
		t.Errorf("a cancelled job made a package: %+v", exports)
	}
	if k := e.auditKinds(); k["job.cancel"] != 1 || k["job.fail"] != 0 || k["job.done"] != 0 {
		t.Errorf("audit: %v", k)
	}
	if q := e.request(); q.State != registry.StateHeld {
		t.Errorf("request state %s, want held", q.State)
	}
}

// TestResumeAfterRestart: a job that was running when the service
// stopped (its work dir still there) is queued again at start, its
// leftovers removed, and runs to the end.
func TestResumeAfterRestart(t *testing.T) {
	e := newEnv(t, 2, nil)
	c := e.login()
	var sub struct{ Job jobView }
	if code := c.do("POST", "/api/v1/requests/1/jobs", map[string]any{"redact": keepQuadrant()}, &sub); code != 202 {
		t.Fatalf("submit: %d", code)
	}
	// The crash: running, half a work dir on disk.
	if err := e.db.Update(context.Background(), func(tx *registry.Tx) error { return tx.StartJob(sub.Job.ID) }); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(e.cfg.StateDir, "exports", redact.WorkPrefix+"crashed")
	os.MkdirAll(stale, 0o700)
	os.WriteFile(filepath.Join(stale, "yard.mp4"), []byte("unredacted footage"), 0o600)
	e.start()
	j := c.wait(sub.Job.ID, func(j jobView) bool { return j.State == registry.JobDone || j.State == registry.JobFailed })
	if j.State != registry.JobDone {
		t.Fatalf("job: %+v", j)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the interrupted work dir is still there (%v)", err)
	}
	var rj registry.Job
	e.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		rj, err = tx.Job(sub.Job.ID)
		return err
	})
	if rj.Attempts != 2 {
		t.Errorf("attempts %d, want 2", rj.Attempts)
	}
	if k := e.auditKinds(); k["job.resume"] != 1 || k["job.start"] != 1 || k["job.done"] != 1 {
		t.Errorf("audit: %v", k)
	}
	if _, err := export.VerifyPackage(filepath.Join(e.cfg.StateDir, "exports", j.Package+".zip")); err != nil {
		t.Error(err)
	}
}

// TestWithoutFFmpeg hides ffmpeg from PATH: redaction says why it is
// unavailable (409 on a job or preview), and an ordinary package is made
// as a job all the same, unredacted and verified.
func TestWithoutFFmpeg(t *testing.T) {
	e := newEnv(t, 2, nil)
	t.Setenv("PATH", t.TempDir())
	e.start()
	c := e.login()
	var av struct {
		Available bool   `json:"available"`
		Reason    string `json:"reason"`
	}
	if code := c.do("GET", "/api/v1/redaction", nil, &av); code != 200 || av.Available || !strings.Contains(av.Reason, "apt install ffmpeg") {
		t.Fatalf("redaction: %d %+v", code, av)
	}
	var er struct{ Error string }
	if code := c.do("POST", "/api/v1/requests/1/jobs", map[string]any{"redact": keepQuadrant()}, &er); code != 409 || !strings.Contains(er.Error, "ffmpeg") {
		t.Fatalf("redact without ffmpeg: %d %+v", code, er)
	}
	if code := c.do("POST", "/api/v1/requests/1/redact/preview", map[string]any{"redact": keepQuadrant(), "camera": "yard",
		"at": []string{base.Add(time.Second).Format(time.RFC3339)}}, nil); code != 409 {
		t.Fatalf("preview without ffmpeg: %d", code)
	}
	var sub struct{ Job jobView }
	if code := c.do("POST", "/api/v1/requests/1/jobs", map[string]any{"redact": nil}, &sub); code != 202 || sub.Job.Kind != "export" {
		t.Fatalf("ordinary job: %d %+v", code, sub)
	}
	j := c.wait(sub.Job.ID, func(j jobView) bool { return j.State == registry.JobDone || j.State == registry.JobFailed })
	if j.State != registry.JobDone {
		t.Fatalf("ordinary job without ffmpeg: %+v", j)
	}
	zr, err := zip.OpenReader(filepath.Join(e.cfg.StateDir, "exports", j.Package+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	zr.Close()
	vr, err := export.VerifyPackage(filepath.Join(e.cfg.StateDir, "exports", j.Package+".zip"))
	if err != nil || vr.Manifest.Redacted {
		t.Fatalf("ordinary package: %v redacted=%v", err, vr.Manifest != nil && vr.Manifest.Redacted)
	}
}

// TestJobFailsAndQueuedCancel: a job that cannot be made ends failed with
// the reason, audited; a queued job cancelled before it starts never runs.
func TestJobFailsAndQueuedCancel(t *testing.T) {
	e := newEnv(t, 2, nil)
	q := registry.Request{Kind: "access", Cameras: []string{"yard"}, From: base.Add(time.Hour), To: base.Add(time.Hour + time.Minute),
		Reference: "SAR-2", Basis: "GDPR 15", Requester: "Toinen", Received: base}
	if _, err := retentionOpen(e, &q); err != nil {
		t.Fatal(err)
	}
	c := e.login()
	var a, b struct{ Job jobView }
	if code := c.do("POST", fmt.Sprintf("/api/v1/requests/%d/jobs", q.ID), map[string]any{"redact": nil}, &a); code != 202 {
		t.Fatalf("submit a: %d", code)
	}
	if code := c.do("POST", "/api/v1/requests/1/jobs", map[string]any{"redact": keepQuadrant()}, &b); code != 202 {
		t.Fatalf("submit b: %d", code)
	}
	var cj jobView
	if code := c.do("DELETE", fmt.Sprintf("/api/v1/jobs/%d", b.Job.ID), nil, &cj); code != 200 || cj.State != registry.JobCancelled {
		t.Fatalf("cancel queued: %d %+v", code, cj)
	}
	e.start()
	j := c.wait(a.Job.ID, func(j jobView) bool { return j.State == registry.JobDone || j.State == registry.JobFailed })
	if j.State != registry.JobFailed || !strings.Contains(strings.ToLower(j.Error), "no footage") {
		t.Fatalf("job a: %+v", j)
	}
	time.Sleep(200 * time.Millisecond)
	if got := c.wait(b.Job.ID, func(jobView) bool { return true }); got.State != registry.JobCancelled {
		t.Fatalf("job b: %+v", got)
	}
	if k := e.auditKinds(); k["job.fail"] != 1 || k["job.cancel"] != 1 || k["job.start"] != 1 || k["job.done"] != 0 {
		t.Errorf("audit: %v", k)
	}
}

// TestLongExportBecomesJob: POST /requests/:id/export with more than
// admin.JobThreshold of catalogued footage answers 202 with a job; a short
// one is made at once (here: no exporter wired, so 503, not a job).
func TestLongExportBecomesJob(t *testing.T) {
	e := newEnv(t, 2, nil)
	from := base.Add(2 * time.Hour)
	if err := e.db.Update(context.Background(), func(tx *registry.Tx) error {
		for k := 0; k < 205; k++ { // 10 min 15 s of catalogue (the files do not matter here)
			st := from.Add(time.Duration(3*k) * time.Second)
			s := registry.Segment{Camera: "yard", Start: st, End: st.Add(3 * time.Second), Path: registry.SegmentPath("yard", st),
				Bytes: 1, Codecs: "h264", Params: "test", SHA256: strings.Repeat("0", 64)}
			if err := tx.AddSegment(&s); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	q := registry.Request{Kind: "police", Cameras: []string{"yard"}, From: from, To: from.Add(11 * time.Minute),
		Reference: "POL-1", Basis: "esitutkintalaki", Received: base}
	if _, err := retentionOpen(e, &q); err != nil {
		t.Fatal(err)
	}
	c := e.login()
	var sub struct{ Job jobView }
	if code := c.do("POST", fmt.Sprintf("/api/v1/requests/%d/export", q.ID), nil, &sub); code != 202 || sub.Job.Kind != "export" || sub.Job.Request != q.ID {
		t.Fatalf("long export: %d %+v", code, sub)
	}
	if code := c.do("POST", "/api/v1/requests/1/export", nil, nil); code == 202 {
		t.Fatalf("a 6 s export became a job")
	}
}
