package main

// The whole product in a real browser: a simulated camera feeds the real
// service (recorder, registry, retention, export, admin) started by the
// same wiring as 'vahti serve', and Chromium drives the admin UI as a
// registry keeper and then as the data protection officer would.

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"vahti/configs"
	"vahti/recorder/fakecam"
	"vahti/registry"
)

// fsBuffer collects the service's log lines for a failure message.
type fsBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *fsBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *fsBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fsArtifacts is where the screenshots go: $VAHTI_ARTIFACTS (kept by CI)
// or the test's temp dir.
func fsArtifacts(t *testing.T) string {
	if d := os.Getenv("VAHTI_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "fullstack-browser")
		if err := os.MkdirAll(d, 0o755); err == nil {
			return d
		}
	}
	return t.TempDir()
}

// fsFootage is the catalogued footage of one camera: the first segment's
// start and the recorded seconds.
func fsFootage(t *testing.T, db *registry.DB, cam string) (first time.Time, secs float64) {
	t.Helper()
	err := db.View(context.Background(), func(tx *registry.Tx) error {
		return tx.EachSegment(func(s registry.Segment) error {
			if s.Camera != cam {
				return nil
			}
			if first.IsZero() || s.Start.Before(first) {
				first = s.Start
			}
			secs += s.End.Sub(s.Start).Seconds()
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return first, secs
}

// fsProbe returns the video codec and the duration ffprobe reads from a clip.
func fsProbe(t *testing.T, p string) (codec string, dur float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name:format=duration",
		"-of", "json", p).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", p, err)
	}
	var r struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", p, err, out)
	}
	for _, s := range r.Streams {
		if s.CodecType == "video" {
			codec = s.CodecName
		}
	}
	dur, _ = strconv.ParseFloat(r.Format.Duration, 64)
	return codec, dur
}

// TestFullStackBrowser: log in as a keeper, open the camera's day, play
// (the video's currentTime advances, and again after a seek), export a
// range and download the package (it verifies, its clip is H.264 of the
// requested length), log out; log in as the DPO and find all of it in the
// audit view, and no way to the footage.
func TestFullStackBrowser(t *testing.T) {
	needTool(t, "chromium")
	needTool(t, "ffprobe")
	chrome, _ := exec.LookPath("chromium")
	began := time.Now()
	shots := fsArtifacts(t)

	cam, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{"yard"}, Codec: "h264", Audio: "aac"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cam.Close)

	dir := t.TempDir()
	config := filepath.Join(dir, "vahti.yaml")
	err = os.WriteFile(config, []byte(fmt.Sprintf(`state_dir: %[1]s/state
storage:
  root: %[1]s/rec
  segment_duration: 2s
  part_duration: 200ms
retention:
  max_age: 1h
  min_free: 1MiB
cameras:
  - id: yard
    name: Piha
    purpose: Pihan valvonta
    url: %[2]s
    transport: tcp
admin:
  listen: 127.0.0.1:0
`, dir, cam.URL("yard"))), 0o600)
	if err != nil {
		t.Fatal(err)
	}

	// Personal accounts, made the way an operator makes them.
	c := &cli{t: t, dir: dir, config: config, now: time.Now, envs: map[string]string{}}
	const keeperPW, dpoPW = "kolme iloista kilpikonnaa", "neljä surullista siiliä"
	if _, errs, code := c.run(keeperPW+"\n", "user", "add", "--config", "$CONFIG", "--name", "maija", "--role", "keeper"); code != 0 {
		t.Fatalf("user add maija: %s", errs)
	}
	if _, errs, code := c.run(dpoPW+"\n", "user", "add", "--config", "$CONFIG", "--name", "tuomas", "--role", "dpo", "--lang", "en"); code != 0 {
		t.Fatalf("user add tuomas: %s", errs)
	}

	// The service, wired exactly as 'vahti serve' wires it.
	cfg, err := configs.Load(config, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &fsBuffer{}
	e := &env{stdin: strings.NewReader(""), stdout: logs, stderr: logs, now: time.Now, getenv: func(string) string { return "" }}
	sctx, stop := context.WithCancel(context.Background())
	ready := make(chan *service, 1)
	served := make(chan error, 1)
	go func() {
		served <- runService(sctx, e, cfg, slog.New(slog.NewTextHandler(logs, nil)), func(s *service) { ready <- s })
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("service: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("service did not stop within 15 s of its context ending")
		}
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	var svc *service
	select {
	case svc = <-ready:
	case err := <-served:
		t.Fatalf("service ended before it was ready: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("service not ready after 20 s\n%s", logs.String())
	}
	base := strings.TrimSuffix(svc.adminURL, "/")

	// Wait for ~6 s of catalogued footage.
	var first time.Time
	deadline := time.Now().Add(30 * time.Second)
	for {
		var secs float64
		first, secs = fsFootage(t, svc.db, "yard")
		if secs >= 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %.1f s of footage catalogued after 30 s\n%s", secs, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("footage from %s catalogued after %s", first.Format(time.RFC3339Nano), time.Since(began).Round(time.Millisecond))
	loc := cfg.Location()

	// The browser: Debian's Chromium, headless, nothing from the internet.
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("ignore-certificate-errors", true), // the service's self-signed certificate
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("lang", "fi-FI"),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	quiet := chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Logf("chromedp: %s", msg)
		}
	})
	ctx, cancel := chromedp.NewContext(actx, quiet)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil { // quality 100: PNG
				return err
			}
			p := filepath.Join(shots, name+".png")
			t.Logf("screenshot %s", p)
			return os.WriteFile(p, buf, 0o644)
		})
	}
	shotOf := func(name, sel string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.Screenshot(sel, &buf, chromedp.ByQuery).Do(ctx); err != nil {
				return err
			}
			p := filepath.Join(shots, name+".png")
			t.Logf("screenshot %s", p)
			return os.WriteFile(p, buf, 0o644)
		})
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			var at string
			chromedp.Run(ctx, chromedp.Location(&at), shot("failed-"+strings.ReplaceAll(step, " ", "-")))
			t.Fatalf("%s (at %s): %v", step, at, err)
		}
	}
	login := func(name, pw string) {
		run("log in as "+name,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible("#login-form", chromedp.ByQuery),
			chromedp.SendKeys("#name", name, chromedp.ByQuery),
			chromedp.SendKeys("#password", pw, chromedp.ByQuery),
			chromedp.Click("#login-submit", chromedp.ByQuery),
			chromedp.WaitVisible("#logout", chromedp.ByQuery),
		)
	}
	dl := t.TempDir()
	downloaded := make(chan string, 1)
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			t.Errorf("JavaScript exception: %s", e.ExceptionDetails.Error())
		case *browser.EventDownloadProgress:
			if e.State == browser.DownloadProgressStateCompleted {
				select {
				case downloaded <- e.GUID:
				default:
				}
			}
		}
	})

	// The keeper logs in and opens the yard camera's day from the dashboard.
	login("maija", keeperPW)
	var dash string
	run("dashboard", chromedp.WaitVisible("#cam-yard", chromedp.ByQuery), chromedp.Text("#cam-yard", &dash, chromedp.ByQuery))
	if !strings.Contains(dash, "Tallentaa") {
		t.Errorf("dashboard: the recording camera is not shown recording: %q", dash)
	}
	var spans int
	var dayText string
	run("day view",
		chromedp.Click("#cam-yard h3 a", chromedp.ByQuery),
		chromedp.WaitVisible("figure.timeline svg", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("a.play-link").length`, &spans),
		chromedp.Evaluate(`document.querySelectorAll("#timeline rect.tl-rec").length`, new(int)),
		chromedp.Text("main", &dayText, chromedp.ByQuery),
		shot("1-day"),
	)
	if spans < 1 {
		t.Fatalf("the day view lists no recorded stretch:\n%s", dayText)
	}
	// The Finnish UI writes times of day with dots: 20.35.29.
	if want := first.In(loc).Format("15.04.05"); !strings.Contains(dayText, want) {
		t.Errorf("the day view does not show the footage's start %s:\n%s", want, dayText)
	}

	// Play the recorded footage: the reason is asked first.
	const reason = "Ilkivalta pihalla, tarkistus"
	run("reason for viewing",
		chromedp.Click("a.play-link", chromedp.ByQuery),
		chromedp.WaitVisible("#reason", chromedp.ByQuery),
		chromedp.SendKeys("#reason", reason, chromedp.ByQuery),
		chromedp.Click("#reason-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#player", chromedp.ByQuery),
	)
	currentTime := func(min float64) float64 {
		t.Helper()
		var cur float64
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			run("read currentTime", chromedp.Evaluate(`(function(){var v=document.getElementById("player"); if (v.paused) { v.play().catch(function(){}); } return v.currentTime;})()`, &cur))
			if cur > min {
				return cur
			}
			time.Sleep(200 * time.Millisecond)
		}
		var state string
		chromedp.Run(ctx, chromedp.Evaluate(`(function(){var v=document.getElementById("player"); return "readyState="+v.readyState+" networkState="+v.networkState+" duration="+v.duration+" error="+(v.error&&(v.error.code+" "+v.error.message))})()`, &state))
		t.Fatalf("video currentTime stuck at %.2f (want > %.1f): %s", cur, min, state)
		return 0
	}
	currentTime(1.0)
	var duration float64
	run("duration", chromedp.Evaluate(`document.getElementById("player").duration`, &duration))
	if duration < 5 {
		t.Fatalf("the played video lasts %.2f s, want at least 5 s of the catalogued footage", duration)
	}
	// Seek ahead: the playback answers range requests, and playing goes on.
	target := duration - 2.5
	run("seek", chromedp.Evaluate(fmt.Sprintf(`document.getElementById("player").currentTime = %f`, target), nil))
	if got := currentTime(target + 0.5); got < target {
		t.Errorf("after seeking to %.1f s, currentTime %.2f", target, got)
	}
	var clock string
	run("playing", chromedp.Text("#clock", &clock, chromedp.ByQuery), shot("2-playing"))
	if want := first.In(loc).Format("2.1.2006"); !strings.Contains(clock, want) {
		t.Errorf("wall clock under the video %q, want the footage's date %s", clock, want)
	}

	// Export a range of the catalogued footage through the export form.
	const caseRef = "5500/R/4711/26"
	from := first.Truncate(time.Second).Add(2 * time.Second)
	to := from.Add(4 * time.Second)
	var shown string
	run("export",
		chromedp.Click("#export-this", chromedp.ByQuery),
		chromedp.WaitVisible("#export-form", chromedp.ByQuery),
		chromedp.Evaluate(fmt.Sprintf(`document.getElementById("from").value = %q; document.getElementById("to").value = %q;
			document.querySelector('input[name=camera][value=yard]').checked`,
			from.In(loc).Format("2006-01-02T15:04:05"), to.In(loc).Format("2006-01-02T15:04:05")), new(bool)),
		chromedp.SendKeys("#export-reason", "Poliisin virka-apupyyntö", chromedp.ByQuery),
		chromedp.SendKeys("#export-case", caseRef, chromedp.ByQuery),
		chromedp.Click("#export-submit", chromedp.ByQuery),
		chromedp.WaitVisible("a.download", chromedp.ByQuery),
		chromedp.Text("table.exports tr.sub", &shown, chromedp.ByQuery),
		shot("3-exports"),
		shotOf("3b-export-row", "table.exports"),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllowAndName).WithDownloadPath(dl).WithEventsEnabled(true),
		chromedp.Click("a.download", chromedp.ByQuery),
	)
	var pkg string
	select {
	case guid := <-downloaded:
		pkg = filepath.Join(dl, "package.zip")
		if err := os.Rename(filepath.Join(dl, guid), pkg); err != nil {
			t.Fatalf("downloaded package: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the download did not complete")
	}
	// The downloaded file is the one whose SHA-256 the exports page shows,
	// and it verifies.
	if sum := fileHash(t, pkg); !strings.Contains(shown, sum) {
		t.Errorf("downloaded package SHA-256 %s is not the one the page shows: %q", sum, shown)
	}
	if out, errs, code := c.run("", "verify-export", pkg); code != 0 {
		t.Errorf("vahti verify-export of the downloaded package: exit %d\n%s%s", code, out, errs)
	}
	zr, err := zip.OpenReader(pkg)
	if err != nil {
		t.Fatal(err)
	}
	clips := 0
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".mp4") {
			continue
		}
		clips++
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), filepath.Base(f.Name))
		b, _ := io.ReadAll(rc)
		rc.Close()
		os.WriteFile(p, b, 0o600)
		// The clip starts at the keyframe at or before the start (one per
		// second from the camera) and ends at the requested end.
		codec, d := fsProbe(t, p)
		want := to.Sub(from).Seconds()
		if codec != "h264" || d < want-0.3 || d > want+1.3 {
			t.Errorf("%s: codec %q, %.2f s; want h264, about %.0f s", f.Name, codec, d, want)
		}
	}
	zr.Close()
	if clips != 1 {
		t.Errorf("the package holds %d clips, want 1 (no gap in 4 s of footage)", clips)
	}

	// Log out: the session is gone.
	var after string
	run("logout",
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.Navigate(base+"/exports"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.Location(&after),
	)
	if !strings.Contains(after, "/login") {
		t.Errorf("after logout /exports shows %s", after)
	}

	// The DPO logs in and finds the keeper's day in the audit view.
	login("tuomas", dpoPW)
	var links int
	run("dpo dashboard", chromedp.WaitVisible("#cam-yard", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('a[href^="/cameras/"], a[href^="/exports"]').length`, &links))
	if links != 0 {
		t.Errorf("the DPO's dashboard links to footage or exports (%d links)", links)
	}
	var audit, verify string
	run("audit view",
		chromedp.Navigate(base+"/audit?actor=maija"),
		chromedp.WaitVisible("table.audit", chromedp.ByQuery),
		chromedp.Text("table.audit", &audit, chromedp.ByQuery),
		shot("4-audit"),
		chromedp.Click("#verify", chromedp.ByQuery),
		chromedp.WaitVisible("#verify-result", chromedp.ByQuery),
		chromedp.Text("#verify-result", &verify, chromedp.ByQuery),
	)
	for _, want := range []string{"login.ok", "footage.play", reason, "export.create", caseRef, "export.download", "logout"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit view (actor maija) lacks %q:\n%s", want, audit)
		}
	}
	// One entry per viewing, not one per range request of the <video>.
	if n := strings.Count(audit, "footage.play"); n != 1 {
		t.Errorf("the audit view has %d footage.play entries for one viewing, want 1", n)
	}
	if !strings.Contains(strings.ToLower(verify), "intact") {
		t.Errorf("audit chain verification: %q", verify)
	}
	// Footage is closed to the DPO: pages and API answer 403.
	var id string
	svc.db.View(context.Background(), func(tx *registry.Tx) error {
		ex, err := tx.Exports()
		if err == nil && len(ex) > 0 {
			id = ex[0].ID
		}
		return err
	})
	if id == "" {
		t.Fatal("no export in the registry")
	}
	q := "from=" + first.UTC().Format(time.RFC3339) + "&to=" + first.Add(time.Minute).UTC().Format(time.RFC3339)
	for _, path := range []string{"/cameras/yard", "/cameras/yard/play?" + q, "/exports", "/exports/" + id + "/download",
		"/api/v1/cameras/yard/day", "/api/v1/cameras/yard/playback?" + q, "/api/v1/exports", "/api/v1/exports/" + id + "/download"} {
		var status int
		run("dpo fetch "+path, chromedp.Evaluate(fmt.Sprintf(`fetch(%q, {redirect: "manual"}).then(function(r){return r.status})`, path), &status,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
		if status != 403 {
			t.Errorf("DPO GET %s: %d, want 403", path, status)
		}
	}
	var denied string
	run("dpo footage page", chromedp.Navigate(base+"/cameras/yard"), chromedp.Text("main", &denied, chromedp.ByQuery))
	t.Logf("DPO on a camera page sees: %q", strings.TrimSpace(denied))
	t.Logf("screenshots in %s; the test took %s", shots, time.Since(began).Round(time.Millisecond))
}
