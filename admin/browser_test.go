package admin

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// needBinary finds a tool the browser test needs: missing is a failure
// under CI=true, a skip elsewhere.
func needBinary(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not installed (required under CI)", names[0])
	}
	t.Skipf("%s not installed", names[0])
	return ""
}

func artifactDir(t *testing.T) string {
	if d := os.Getenv("VAHTI_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "admin-browser")
		if err := os.MkdirAll(d, 0o755); err == nil {
			return d
		}
	}
	return t.TempDir()
}

// makeClip encodes a 12-second H.264 test picture as a progressive MP4,
// the format the real playback endpoint serves.
func makeClip(t *testing.T) string {
	ffmpeg := needBinary(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-t", "12", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-movflags", "+faststart", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// TestBrowserKeeperAndDPO drives a real Chromium through the keeper's
// day: log in, open a camera's day, play (the video really advances and
// seeks), export and download the package, log out; then the DPO finds
// all of it in the audit view and verifies the chain.
func TestBrowserKeeperAndDPO(t *testing.T) {
	clip := makeClip(t)
	shots := artifactDir(t)

	h := newHarness(t)
	// Like the real playback, the fake names the clip's first frame: a
	// keyframe 2.5 s before the asked start. The clock under the video
	// must count from it, not from the window's start.
	var clipStartMu sync.Mutex
	var clipStart time.Time
	h.setPlayback(func(w http.ResponseWriter, r *http.Request, camera string, from, to time.Time) {
		clipStartMu.Lock()
		clipStart = from.Add(-2500 * time.Millisecond)
		w.Header().Set("X-Vahti-Clip-Start", clipStart.Format(time.RFC3339Nano))
		clipStartMu.Unlock()
		f, err := os.Open(clip)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		fi, _ := f.Stat()
		http.ServeContent(w, r, "clip.mp4", fi.ModTime(), f)
	})
	h.addSegments("yard", time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), 20, 30*time.Second)
	h.addSegments("yard", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), 40, 30*time.Second)

	ctx := startChromium(t,
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
	)
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
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			var loc string
			chromedp.Run(ctx, chromedp.Location(&loc), shot("failed-"+strings.ReplaceAll(step, " ", "-")))
			t.Fatalf("%s (at %s): %v", step, loc, err)
		}
	}
	login := func(name string) {
		run("log in as "+name,
			chromedp.Navigate(h.ts.URL+"/login"),
			chromedp.WaitVisible("#login-form", chromedp.ByQuery),
			chromedp.SendKeys("#name", name, chromedp.ByQuery),
			chromedp.SendKeys("#password", testPassword, chromedp.ByQuery),
			chromedp.Click("#login-submit", chromedp.ByQuery),
			chromedp.WaitVisible("#logout", chromedp.ByQuery),
		)
	}

	// The keeper logs in and sees the dashboard.
	login("keeper")
	var dash string
	run("dashboard", chromedp.WaitVisible("#cam-yard", chromedp.ByQuery), chromedp.Text("main", &dash, chromedp.ByQuery), shot("1-dashboard"))
	if !strings.Contains(dash, "Tallentaa") || !strings.Contains(dash, "Piha") {
		t.Errorf("dashboard text: %q", dash)
	}
	// No site keys here: the sealing panel says what that means.
	if !strings.Contains(dash, "Tallenteiden salaus") || !strings.Contains(dash, "varastetulta levyltä näkyvät kaikki tallenteet") {
		t.Errorf("the dashboard's sealing panel is missing or silent: %q", dash)
	}

	// Open the camera's day.
	var spans int
	run("day view",
		chromedp.Click("#cam-yard h3 a", chromedp.ByQuery),
		chromedp.WaitVisible("figure.timeline svg", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("a.play-link").length`, &spans),
		shot("2-day"),
	)
	if spans != 2 {
		t.Errorf("day view lists %d recorded stretches, want 2", spans)
	}

	dl := t.TempDir()
	done := make(chan string, 1)
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			t.Errorf("JavaScript exception: %s", e.ExceptionDetails.Error())
		}
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			select {
			case done <- e.GUID:
			default:
			}
		}
	})
	// A click in the middle of the 10:00–10:20Z stretch on the timeline
	// plays from about 10:10Z, not from the stretch's start.
	var tlLoc, dayURL string
	run("timeline click",
		chromedp.Location(&dayURL),
		chromedp.Click(`#timeline a:nth-of-type(2) rect`, chromedp.ByQuery),
		chromedp.WaitVisible("#reason", chromedp.ByQuery),
		chromedp.Location(&tlLoc),
		chromedp.ActionFunc(func(ctx context.Context) error { return chromedp.Navigate(dayURL).Do(ctx) }),
		chromedp.WaitVisible("figure.timeline svg", chromedp.ByQuery),
	)
	if !strings.Contains(tlLoc, "from=2026-11-22T10%3A09") && !strings.Contains(tlLoc, "from=2026-11-22T10%3A10") {
		t.Errorf("timeline click went to %s, want about 10:10Z", tlLoc)
	}

	// Play: the reason is asked first, then the video runs.
	run("reason for viewing",
		chromedp.Click("a.play-link", chromedp.ByQuery),
		chromedp.WaitVisible("#reason", chromedp.ByQuery),
		chromedp.SendKeys("#reason", "Ilkivalta pihalla 22.11.", chromedp.ByQuery),
		chromedp.Click("#reason-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#player", chromedp.ByQuery),
	)
	waitTime := func(min float64) float64 {
		t.Helper()
		var cur float64
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			run("read currentTime", chromedp.Evaluate(`(function(){var v=document.getElementById("player"); if (v.paused) { v.play().catch(function(){}); } return v.currentTime;})()`, &cur))
			if cur > min {
				return cur
			}
			time.Sleep(200 * time.Millisecond)
		}
		var state string
		chromedp.Run(ctx, chromedp.Evaluate(`(function(){var v=document.getElementById("player"); return "readyState="+v.readyState+" networkState="+v.networkState+" error="+(v.error&&v.error.code)})()`, &state))
		t.Fatalf("video currentTime stuck at %.2f (want > %.1f): %s", cur, min, state)
		return 0
	}
	waitTime(1.0)
	// Seek forward: the server answers range requests, so this works.
	run("seek", chromedp.Evaluate(`document.getElementById("player").currentTime = 7`, nil))
	if got := waitTime(7.2); got < 7 {
		t.Errorf("after seeking to 7 s, currentTime %.2f", got)
	}
	var clock string
	run("play page", chromedp.Text("#clock", &clock, chromedp.ByQuery), shot("3-play"))
	if !strings.Contains(clock, "22.11.2026") {
		t.Errorf("wall clock under the video: %q", clock)
	}
	// The clock is the clip's first frame plus the position, in Helsinki
	// time: paused, so the two are read at the same moment.
	var at struct {
		Cur   float64 `json:"cur"`
		Clock string  `json:"clock"`
	}
	run("paused clock", chromedp.Evaluate(`(async function(){var v=document.getElementById("player"); v.pause();
		v.currentTime = 5; await new Promise(function(r){ v.addEventListener("seeked", r, {once: true}); });
		await new Promise(function(r){ setTimeout(r, 100); });
		return {cur: v.currentTime, clock: document.getElementById("clock").textContent};})()`, &at,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	clipStartMu.Lock()
	wantClock := clipStart.Add(time.Duration(at.Cur * float64(time.Second))).In(mustHelsinki(t)).Format("15.04.05")
	clipStartMu.Unlock()
	if !strings.Contains(at.Clock, wantClock) {
		t.Errorf("clock at %.2f s into the clip: %q, want %s (the clip's first frame plus the position)", at.Cur, at.Clock, wantClock)
	}

	// A window without footage (the fake answers 404 like the real
	// playback) shows a message instead of a black box.
	h.mu.Lock()
	realPlayback := h.playback
	h.mu.Unlock()
	h.setPlayback(func(w http.ResponseWriter, r *http.Request, camera string, from, to time.Time) {
		http.Error(w, "no footage in this window", http.StatusNotFound)
	})
	var errShown bool
	run("no footage",
		chromedp.Navigate(h.ts.URL+"/cameras/yard/play?from=2026-11-22T03:00:00Z"),
		chromedp.WaitVisible("#player-error", chromedp.ByQuery),
		chromedp.Evaluate(`!document.getElementById("player-error").hidden`, &errShown),
		chromedp.Navigate(h.ts.URL+"/cameras/yard/play?from=2026-11-22T10:00:00Z"),
		chromedp.WaitVisible("#player", chromedp.ByQuery),
	)
	h.setPlayback(realPlayback)
	if !errShown {
		t.Error("no message for a window without footage")
	}

	// Export this stretch and download the package.
	run("export",
		chromedp.Click("#export-this", chromedp.ByQuery),
		chromedp.WaitVisible("#export-form", chromedp.ByQuery),
		chromedp.SendKeys("#export-reason", "Poliisin virka-apupyyntö", chromedp.ByQuery),
		chromedp.SendKeys("#export-case", "5500/R/4711/26", chromedp.ByQuery),
		shot("4-export-form"),
		chromedp.Click("#export-submit", chromedp.ByQuery),
		chromedp.WaitVisible("a.download", chromedp.ByQuery),
		shot("5-exports"),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllowAndName).WithDownloadPath(dl).WithEventsEnabled(true),
		chromedp.Click("a.download", chromedp.ByQuery),
	)
	select {
	case guid := <-done:
		b, err := os.ReadFile(filepath.Join(dl, guid))
		if err != nil || len(b) < 4 || string(b[:2]) != "PK" {
			t.Errorf("downloaded package: %v, %d bytes", err, len(b))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("download did not complete")
	}

	// Log out: the session is gone.
	run("logout", chromedp.Click("#logout", chromedp.ByQuery), chromedp.WaitVisible("#login-form", chromedp.ByQuery))
	var loc string
	run("after logout", chromedp.Navigate(h.ts.URL+"/exports"), chromedp.WaitVisible("#login-form", chromedp.ByQuery), chromedp.Location(&loc))
	if !strings.Contains(loc, "/login") {
		t.Errorf("after logout /exports shows %s", loc)
	}

	// The DPO sees all of it in the audit view, and the chain verifies.
	login("dpo")
	var audit, verify string
	run("audit view",
		chromedp.Navigate(h.ts.URL+"/audit"),
		chromedp.WaitVisible("table.audit", chromedp.ByQuery),
		chromedp.Text("table.audit", &audit, chromedp.ByQuery),
		chromedp.Click("#verify", chromedp.ByQuery),
		chromedp.WaitVisible("#verify-result", chromedp.ByQuery),
		chromedp.Text("#verify-result", &verify, chromedp.ByQuery),
		shot("6-audit"),
	)
	for _, want := range []string{"login.ok", "footage.play", "Ilkivalta pihalla 22.11.", "export.create", "export.download", "5500/R/4711/26", "logout"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit view lacks %q", want)
		}
	}
	if !strings.Contains(verify, "ehjä") {
		t.Errorf("verify result: %q", verify)
	}
	// The DPO cannot reach footage.
	var body string
	run("dpo footage", chromedp.Navigate(h.ts.URL+"/cameras/yard"), chromedp.Text("main", &body, chromedp.ByQuery))
	if !strings.Contains(body, "Roolisi ei salli") {
		t.Errorf("dpo on a camera page: %q", body)
	}
	fmt.Fprintln(os.Stderr, "browser test screenshots:", shots)
}

func mustHelsinki(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
