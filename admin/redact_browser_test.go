package admin

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"vahti/admin/export"
	"vahti/admin/jobs"
	"vahti/admin/redact"
	"vahti/configs"
	"vahti/recorder"
	"vahti/recorder/fakecam"
	"vahti/registry"
)

// browserSession is one Chromium tab on a harness, with the steps the
// redaction tests share.
type browserSession struct {
	t     *testing.T
	h     *harness
	ctx   context.Context
	shots string
}

func newBrowserSession(t *testing.T, h *harness) *browserSession {
	ctx := startChromium(t, chromedp.Flag("autoplay-policy", "no-user-gesture-required"), chromedp.Flag("mute-audio", true))
	b := &browserSession{t: t, h: h, ctx: ctx, shots: artifactDir(t)}
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			t.Errorf("JavaScript exception: %s", e.ExceptionDetails.Error())
		}
	})
	return b
}

func (b *browserSession) shot(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var buf []byte
		if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.shots, "redact-"+name+".png"), buf, 0o644)
	})
}

func (b *browserSession) run(step string, actions ...chromedp.Action) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(sctx, actions...); err != nil {
		var loc string
		chromedp.Run(b.ctx, chromedp.Location(&loc), b.shot("failed-"+strings.ReplaceAll(step, " ", "-")))
		b.t.Fatalf("%s (at %s): %v", step, loc, err)
	}
}

func (b *browserSession) login(name string) {
	b.t.Helper()
	b.run("log in as "+name,
		chromedp.Navigate(b.h.ts.URL+"/login"),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#name", name, chromedp.ByQuery),
		chromedp.SendKeys("#password", testPassword, chromedp.ByQuery),
		chromedp.Click("#login-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#logout", chromedp.ByQuery),
	)
}

// eval runs JavaScript in the page and decodes its result into out.
func (b *browserSession) eval(step, js string, out any) {
	b.t.Helper()
	b.run(step, chromedp.Evaluate(js, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
}

// waitFor polls a JavaScript condition until it is true.
func (b *browserSession) waitFor(step, js string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		b.eval(step, "Boolean("+js+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.run(step, b.shot("timeout-"+strings.ReplaceAll(step, " ", "-")))
			b.t.Fatalf("%s: %s still false after %s", step, js, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// seekTo puts the redaction player at sec seconds and waits until it is there.
func (b *browserSession) seekTo(sec float64) {
	b.t.Helper()
	b.eval("seek", fmt.Sprintf(`new Promise(function(ok){var v=document.getElementById("redact-video"); v.pause();
		if (Math.abs(v.currentTime-%[1]g)<0.001) { ok(true); return; }
		v.addEventListener("seeked", function(){ ok(true); }, {once: true}); v.currentTime=%[1]g;})`, sec), nil)
}

// canvasBox is the drawing canvas's position on the page.
type canvasBox struct{ X, Y, W, H float64 }

func (b *browserSession) canvas() canvasBox {
	var c canvasBox
	b.run("scroll to the canvas", chromedp.ScrollIntoView("#redact-stage", chromedp.ByQuery))
	b.eval("canvas box", `(function(){var r=document.getElementById("redact-canvas").getBoundingClientRect(); return {X:r.left,Y:r.top,W:r.width,H:r.height};})()`, &c)
	if c.W < 100 || c.H < 50 {
		b.t.Fatalf("canvas is %gx%g", c.W, c.H)
	}
	return c
}

// drag presses the left button at fraction (x0, y0) of the canvas, moves
// in steps to (x1, y1) and releases: real mouse events from the browser's
// input pipeline, as a keeper's mouse sends them.
func (b *browserSession) drag(c canvasBox, x0, y0, x1, y1 float64) {
	b.t.Helper()
	px := func(fx, fy float64) (float64, float64) { return c.X + fx*c.W, c.Y + fy*c.H }
	sx, sy := px(x0, y0)
	acts := []chromedp.Action{
		input.DispatchMouseEvent(input.MouseMoved, sx, sy),
		input.DispatchMouseEvent(input.MousePressed, sx, sy).WithButton(input.Left).WithButtons(1).WithClickCount(1),
	}
	for i := 1; i <= 8; i++ {
		f := float64(i) / 8
		mx, my := px(x0+(x1-x0)*f, y0+(y1-y0)*f)
		acts = append(acts, input.DispatchMouseEvent(input.MouseMoved, mx, my).WithButton(input.Left).WithButtons(1))
	}
	ex, ey := px(x1, y1)
	acts = append(acts, input.DispatchMouseEvent(input.MouseReleased, ex, ey).WithButton(input.Left).WithButtons(0).WithClickCount(1))
	b.run("drag on the canvas", acts...)
}

// touchDrag draws with a finger: touch events, as a tablet sends them.
func (b *browserSession) touchDrag(c canvasBox, x0, y0, x1, y1 float64) {
	b.t.Helper()
	pt := func(fx, fy float64) []*input.TouchPoint {
		return []*input.TouchPoint{{X: c.X + fx*c.W, Y: c.Y + fy*c.H, ID: 1}}
	}
	acts := []chromedp.Action{emulation.SetTouchEmulationEnabled(true).WithMaxTouchPoints(1),
		input.DispatchTouchEvent(input.TouchStart, pt(x0, y0))}
	for i := 1; i <= 8; i++ {
		f := float64(i) / 8
		acts = append(acts, input.DispatchTouchEvent(input.TouchMove, pt(x0+(x1-x0)*f, y0+(y1-y0)*f)))
	}
	acts = append(acts, input.DispatchTouchEvent(input.TouchEnd, []*input.TouchPoint{}), emulation.SetTouchEmulationEnabled(false))
	b.run("touch drag on the canvas", acts...)
}

// shadeAt is the alpha of the canvas overlay at fraction (x, y) of the
// picture: in "keep only" mode, 0 inside a rectangle, shaded outside.
func (b *browserSession) shadeAt(x, y float64) int {
	var a int
	b.eval("canvas pixel", fmt.Sprintf(`(function(){var c=document.getElementById("redact-canvas");
		return c.getContext("2d").getImageData(Math.round(c.width*%g), Math.round(c.height*%g), 1, 1).data[3];})()`, x, y), &a)
	return a
}

// regionsFile is the interface.md "Redaction regions" JSON.
type regionsFile struct {
	Cameras map[string]struct {
		Mode   string `json:"mode"`
		Tracks []struct {
			Keyframes []struct {
				At         time.Time `json:"at"`
				X, Y, W, H float64
			} `json:"keyframes"`
		} `json:"tracks"`
	} `json:"cameras"`
}

// downloadedRegions reads what the "Download regions JSON" link holds.
func (b *browserSession) downloadedRegions() (regionsFile, string) {
	b.t.Helper()
	var href string
	b.run("regions link", chromedp.AttributeValue("#redact-json", "href", &href, nil, chromedp.ByQuery))
	const prefix = "data:application/json;charset=utf-8,"
	if !strings.HasPrefix(href, prefix) {
		b.t.Fatalf("regions link: %q", href)
	}
	raw, err := url.PathUnescape(href[len(prefix):])
	if err != nil {
		b.t.Fatal(err)
	}
	var rf regionsFile
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rf); err != nil {
		b.t.Fatalf("regions JSON %q: %v", raw, err)
	}
	return rf, raw
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.012 }

// TestBrowserRedactDrawing drives the drawing part of the redaction page
// in a real Chromium: a keeper draws a rectangle with the mouse, resizes
// it by a corner, moves it
// at a later moment (a second keyframe), adds a third with the button,
// sees the rectangle interpolated in between, undoes, draws a second area
// by touch in blur mode, deletes it with the keyboard, and the regions
// JSON is exactly the interface.md format.
func TestBrowserRedactDrawing(t *testing.T) {
	clip := makeClip(t)
	var h *harness
	h = newHarness(t, withRequests(&h))
	h.setPlayback(func(w http.ResponseWriter, r *http.Request, camera string, from, to time.Time) {
		f, err := os.Open(clip)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		fi, _ := f.Stat()
		http.ServeContent(w, r, "clip.mp4", fi.ModTime(), f)
	})
	h.addSegments("yard", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), 40, 30*time.Second)
	keeper := h.login("keeper")
	res, body := keeper.do("POST", "/api/v1/requests", map[string]any{"kind": "access", "cameras": []string{"yard"},
		"from": "2026-11-22T10:00:00Z", "to": "2026-11-22T10:15:00Z", "reference": "TP-2026-7", "basis_code": "gdpr-15",
		"basis": "GDPR 15 artikla", "requester": "Maija Meikäläinen", "identity": "ajokortti", "description": "punainen takki"})
	if res.StatusCode != 201 {
		t.Fatalf("add request: %d %s", res.StatusCode, body)
	}
	id := decode[struct {
		Request RequestJSON `json:"request"`
	}](t, body).Request.ID
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

	b := newBrowserSession(t, h)
	b.login("keeper")
	b.run("open the redaction page",
		chromedp.Navigate(fmt.Sprintf("%s/requests/%d", h.ts.URL, id)),
		chromedp.WaitVisible("#redact-link", chromedp.ByQuery),
		chromedp.Click("#redact-link", chromedp.ByQuery),
		chromedp.WaitVisible("#redact-canvas", chromedp.ByQuery),
	)
	b.waitFor("video loaded", `document.getElementById("redact-video").readyState >= 2 && Number(document.getElementById("redact-seek").max) > 10`, 30*time.Second)
	var keep bool
	b.eval("default mode", `document.getElementById("redact-mode-keep").checked && !document.getElementById("redact-audio").checked`, &keep)
	if !keep {
		t.Error(`"keep only this area" is not the default, or audio is kept by default`)
	}

	// Draw at 0 s: x 0.10–0.30, y 0.20–0.50.
	c := b.canvas()
	b.seekTo(0)
	b.drag(c, 0.10, 0.20, 0.30, 0.50)
	b.waitFor("one area", `document.querySelectorAll("#redact-tracks li").length === 1`, 5*time.Second)
	// The new area is selected: its lower right corner resizes it to
	// 0.25 x 0.35 (the keyframe at 0 s is replaced, not added).
	b.drag(b.canvas(), 0.30, 0.50, 0.35, 0.55)
	// At 4 s move it right by 0.40: a second keyframe.
	b.seekTo(4)
	b.drag(b.canvas(), 0.20, 0.35, 0.60, 0.35)
	b.waitFor("two keyframes", `document.querySelectorAll("#redact-tracks li button.keyframe").length === 2`, 5*time.Second)
	// At 2 s the rectangle is half-way: x 0.30–0.50.
	b.seekTo(2)
	if in, out := b.shadeAt(0.40, 0.35), b.shadeAt(0.15, 0.35); in != 0 || out == 0 {
		t.Errorf("at 2 s: overlay alpha %d inside the interpolated rectangle (want 0), %d where it was at 0 s (want shaded)", in, out)
	}
	b.seekTo(0)
	if in := b.shadeAt(0.15, 0.35); in != 0 {
		t.Errorf("at 0 s: overlay alpha %d inside the first keyframe's rectangle", in)
	}
	// At 8 s the keeper pins the position with the button: a third keyframe.
	b.seekTo(8)
	b.run("add keyframe", chromedp.Click("#redact-keyframe", chromedp.ByQuery), b.shot("1-drawn"))
	b.waitFor("three keyframes", `document.querySelectorAll("#redact-tracks li button.keyframe").length === 3`, 5*time.Second)

	rf, raw := b.downloadedRegions()
	cam, ok := rf.Cameras["yard"]
	if len(rf.Cameras) != 1 || !ok || cam.Mode != "keep" || len(cam.Tracks) != 1 || len(cam.Tracks[0].Keyframes) != 3 {
		t.Fatalf("regions: %s", raw)
	}
	kf := cam.Tracks[0].Keyframes
	for i, want := range []struct {
		at         time.Duration
		x, y, w, h float64
	}{{0, 0.10, 0.20, 0.25, 0.35}, {4 * time.Second, 0.50, 0.20, 0.25, 0.35}, {8 * time.Second, 0.50, 0.20, 0.25, 0.35}} {
		k := kf[i]
		if d := k.At.Sub(start.Add(want.at)); d < -100*time.Millisecond || d > 100*time.Millisecond || k.At.Location() != time.UTC ||
			!near(k.X, want.x) || !near(k.Y, want.y) || !near(k.W, want.w) || !near(k.H, want.h) {
			t.Errorf("keyframe %d: %+v, want %v after %s at %.2f,%.2f %.2fx%.2f", i, k, want.at, start, want.x, want.y, want.w, want.h)
		}
	}
	if !strings.Contains(raw, `"at": "2026-11-22T10:00:04Z"`) {
		t.Errorf("keyframe times are not RFC 3339 UTC: %s", raw)
	}
	// The link really downloads that file, named regions.json.
	dl := t.TempDir()
	got := make(chan *browser.EventDownloadProgress, 1)
	var name string
	chromedp.ListenTarget(b.ctx, func(ev any) {
		switch e := ev.(type) {
		case *browser.EventDownloadWillBegin:
			name = e.SuggestedFilename
		case *browser.EventDownloadProgress:
			if e.State == browser.DownloadProgressStateCompleted {
				select {
				case got <- e:
				default:
				}
			}
		}
	})
	b.run("download the regions", browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllowAndName).WithDownloadPath(dl).WithEventsEnabled(true),
		chromedp.Click("#redact-json", chromedp.ByQuery))
	select {
	case e := <-got:
		f, err := os.ReadFile(filepath.Join(dl, e.GUID))
		if err != nil || string(f) != raw || name != "regions.json" {
			t.Errorf("downloaded %q (%v): %q, want the link's %q", name, err, f, raw)
		}
	case <-time.After(20 * time.Second):
		t.Error("the regions download did not complete")
	}

	// Undo the last keyframe; the other mode; a second area; Delete removes
	// the selected one.
	b.run("undo", chromedp.Click("#redact-undo", chromedp.ByQuery))
	b.waitFor("undone", `document.querySelectorAll("#redact-tracks li button.keyframe").length === 2`, 5*time.Second)
	b.run("blur mode", chromedp.Click("#redact-mode-blur", chromedp.ByQuery))
	b.touchDrag(b.canvas(), 0.70, 0.60, 0.90, 0.90) // a second area, with a finger
	b.waitFor("two areas", `document.querySelectorAll("#redact-tracks li").length === 2`, 5*time.Second)
	if in, out := b.shadeAt(0.80, 0.75), b.shadeAt(0.05, 0.05); in == 0 || out != 0 {
		t.Errorf("blur mode: overlay alpha %d inside the area (want shaded), %d outside (want 0)", in, out)
	}
	b.run("delete key", input.DispatchKeyEvent(input.KeyRawDown).WithKey("Delete").WithCode("Delete").WithWindowsVirtualKeyCode(46),
		input.DispatchKeyEvent(input.KeyUp).WithKey("Delete").WithCode("Delete").WithWindowsVirtualKeyCode(46))
	b.waitFor("deleted", `document.querySelectorAll("#redact-tracks li").length === 1`, 5*time.Second)
	rf, raw = b.downloadedRegions()
	if cam := rf.Cameras["yard"]; cam.Mode != "blur" || len(cam.Tracks) != 1 || len(cam.Tracks[0].Keyframes) != 2 {
		t.Errorf("after undo, blur mode and delete: %s", raw)
	}
	// By keyboard alone: select the area from the list, focus the picture,
	// nudge it right (a keyframe at 8 s, 0.01 right of where it was).
	// Each step waits for what the keeper would see before the next, so a
	// failure names the step that did not happen.
	b.run("select the area", chromedp.Click("#redact-tracks button.area", chromedp.ByQuery))
	b.waitFor("area selected", `document.querySelector("#redact-tracks li.selected") !== null`, 5*time.Second)
	b.run("focus the picture", chromedp.Focus("#redact-canvas", chromedp.ByQuery))
	b.waitFor("picture focused", `document.activeElement === document.getElementById("redact-canvas")`, 5*time.Second)
	b.run("keyboard nudge", input.DispatchKeyEvent(input.KeyRawDown).WithKey("ArrowRight").WithCode("ArrowRight").WithWindowsVirtualKeyCode(39),
		input.DispatchKeyEvent(input.KeyUp).WithKey("ArrowRight").WithCode("ArrowRight").WithWindowsVirtualKeyCode(39))
	b.waitFor("nudged", `document.querySelectorAll("#redact-tracks li button.keyframe").length === 3`, 5*time.Second)
	rf, raw = b.downloadedRegions()
	if kf := rf.Cameras["yard"].Tracks[0].Keyframes; len(kf) != 3 || math.Abs(kf[2].X-kf[1].X-0.01) > 0.0015 || !kf[2].At.Equal(start.Add(8*time.Second)) {
		t.Errorf("after the arrow key at 8 s: %s", raw)
	}
	// A new area without the mouse, widened with Alt+ArrowRight.
	b.run("new area by keyboard", chromedp.Click("#redact-new", chromedp.ByQuery))
	b.waitFor("new area, picture focused", `document.querySelectorAll("#redact-tracks li").length === 2 && document.activeElement === document.getElementById("redact-canvas")`, 5*time.Second)
	b.run("widen by keyboard", input.DispatchKeyEvent(input.KeyRawDown).WithKey("ArrowRight").WithCode("ArrowRight").WithWindowsVirtualKeyCode(39).WithModifiers(input.ModifierAlt),
		input.DispatchKeyEvent(input.KeyUp).WithKey("ArrowRight").WithCode("ArrowRight").WithWindowsVirtualKeyCode(39).WithModifiers(input.ModifierAlt))
	rf, raw = b.downloadedRegions()
	if tr := rf.Cameras["yard"].Tracks; len(tr) != 2 || len(tr[1].Keyframes) != 1 ||
		math.Abs(tr[1].Keyframes[0].X-0.35) > 0.0015 || math.Abs(tr[1].Keyframes[0].W-0.31) > 0.0015 || math.Abs(tr[1].Keyframes[0].H-0.5) > 0.0015 {
		t.Errorf("a new area widened by keyboard: %s", raw)
	}
	b.run("done", b.shot("2-edited"))

	// A window whose footage comes in two clips (a codec change ends the
	// first at 10:00:05Z): the page offers the next part, asks for it from
	// the first's end, and keyframes on it count from its own start.
	firstEnd := start.Add(5 * time.Second)
	var asked []string
	var mu sync.Mutex
	h.setPlayback(func(w http.ResponseWriter, r *http.Request, camera string, from, to time.Time) {
		mu.Lock()
		asked = append(asked, from.Format(time.RFC3339Nano))
		mu.Unlock()
		cs, ce := from, firstEnd
		if !from.Before(firstEnd) {
			cs, ce = from, to
		}
		w.Header().Set("X-Vahti-Clip-Start", cs.Format(time.RFC3339Nano))
		w.Header().Set("X-Vahti-Clip-End", ce.Format(time.RFC3339Nano))
		f, err := os.Open(clip)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "clip.mp4", time.Time{}, f)
	})
	b.run("reload", chromedp.Reload(), chromedp.WaitVisible("#redact-canvas", chromedp.ByQuery))
	b.waitFor("next part offered", `!document.getElementById("redact-nextclip").hidden && document.getElementById("redact-firstclip").hidden`, 10*time.Second)
	b.run("next part", chromedp.Click("#redact-nextclip", chromedp.ByQuery))
	second := firstEnd.Add(time.Millisecond)
	b.waitFor("second part playing", fmt.Sprintf(`document.getElementById("redact-app").getAttribute("data-clipstart") === "%d" &&
		document.getElementById("redact-video").readyState >= 2 && !document.getElementById("redact-firstclip").hidden`, second.UnixMilli()), 20*time.Second)
	b.seekTo(1)
	b.drag(b.canvas(), 0.10, 0.10, 0.30, 0.30)
	rf, raw = b.downloadedRegions()
	if tr := rf.Cameras["yard"].Tracks; len(tr) != 1 || tr[0].Keyframes[0].At.Sub(second.Add(time.Second)).Abs() > 50*time.Millisecond {
		t.Errorf("a keyframe 1 s into the second part (from %s): %s", second.Format(time.RFC3339Nano), raw)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) == 0 || asked[len(asked)-1] != second.Format(time.RFC3339Nano) {
		t.Errorf("playback windows asked for: %v", asked)
	}
}

// TestRedactPage renders the redaction page without a browser: the
// request's cameras with a playback window audited under the request, in
// Finnish and English, keeper only, windows for a long range, and the
// entry on the request's page.
func TestRedactPage(t *testing.T) {
	var h *harness
	h = newHarness(t, withRequests(&h))
	h.addSegments("yard", time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), 20, 30*time.Second)
	boss := h.login("boss")
	mk := func(from, to string) int64 {
		res, body := boss.do("POST", "/api/v1/requests", map[string]any{"kind": "access", "cameras": []string{"all"},
			"from": from, "to": to, "reference": "TP-1", "basis_code": "gdpr-15", "basis": "x", "requester": "R"})
		if res.StatusCode != 201 {
			t.Fatalf("add: %d %s", res.StatusCode, body)
		}
		return decode[struct {
			Request RequestJSON `json:"request"`
		}](t, body).Request.ID
	}
	short := mk("2026-11-22T00:00:00Z", "2026-11-22T00:15:00Z")
	long := mk("2026-11-21T00:00:00Z", "2026-11-22T10:00:00Z")

	res, body := boss.do("GET", fmt.Sprintf("/requests/%d/redact", short), nil)
	page := string(body)
	if res.StatusCode != 200 {
		t.Fatalf("redaction page: %d %s", res.StatusCode, body)
	}
	for _, want := range []string{`id="redact-canvas"`, `<option value="yard"`, `<option value="lobby"`, `value="keep" id="redact-mode-keep" checked`,
		`<input type="checkbox" id="redact-audio">`, catalogFI["redact.mode.keep"], catalogFI["redact.audiowarning"], `src="/static/redact.js"`,
		`id="redact-unlisted"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Every script comes from /static (the CSP allows no inline script).
	if n, m := strings.Count(page, "<script"), strings.Count(page, `<script src="/static/`); n != m {
		t.Errorf("%d script tags, %d from /static", n, m)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP: %q", csp)
	}
	// The player plays the request's window, audited with the request as the reason.
	i := strings.Index(page, `data-src="`)
	if i < 0 {
		t.Fatal("no playback URL")
	}
	src := page[i+len(`data-src="`):]
	src = html.UnescapeString(src[:strings.Index(src, `"`)])
	u, err := url.Parse(src)
	if err != nil || u.Path != "/api/v1/cameras/yard/playback" || u.Query().Get("from") != "2026-11-22T00:00:00Z" || u.Query().Get("to") != "2026-11-22T00:10:00Z" {
		t.Fatalf("playback URL %q (the window pinned to the footage, 00:00–00:10Z)", src)
	}
	if res, _ := boss.do("GET", src, nil); res.StatusCode != 200 {
		t.Fatalf("playing the window: %d", res.StatusCode)
	}
	plays := h.auditEntries("footage.play")
	if len(plays) != 1 || !strings.Contains(string(plays[0].Detail), fmt.Sprintf("Peittäminen pyyntöön #%d (TP-1)", short)) {
		t.Errorf("playback audit: %+v", plays)
	}

	// English.
	boss.do("PUT", "/api/v1/me/lang", map[string]string{"lang": "en"})
	_, body = boss.do("GET", fmt.Sprintf("/requests/%d/redact", short), nil)
	for _, want := range []string{catalogEN["redact.mode.keep"], catalogEN["redact.audiowarning"], catalogEN["redact.js.ffmpeg"]} {
		if !strings.Contains(string(body), html.EscapeString(want)) {
			t.Errorf("the English page lacks %q", want)
		}
	}
	boss.do("PUT", "/api/v1/me/lang", map[string]string{"lang": "fi"})

	// A range longer than one player window is paged.
	_, body = boss.do("GET", fmt.Sprintf("/requests/%d/redact", long), nil)
	if !strings.Contains(string(body), `id="redact-next"`) || strings.Contains(string(body), `id="redact-prev"`) ||
		!strings.Contains(string(body), url.QueryEscape("2026-11-21T06:00:00Z")) {
		t.Errorf("a 34-hour range: no next window to 06:00Z, or a previous one")
	}
	_, body = boss.do("GET", fmt.Sprintf("/requests/%d/redact?from=2026-11-21T06:00:00Z", long), nil)
	if !strings.Contains(string(body), `id="redact-prev"`) || !strings.Contains(string(body), `data-start="`+fmt.Sprint(time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC).UnixMilli())+`"`) {
		t.Errorf("the second window of the long range")
	}
	_, body = boss.do("GET", fmt.Sprintf("/requests/%d/redact?from=2026-11-25T06:00:00Z", long), nil)
	if !strings.Contains(string(body), `data-start="`+fmt.Sprint(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC).UnixMilli())+`"`) {
		t.Errorf("a window outside the request's range is not shown")
	}

	// The entry on the request's page; keepers only; a closed request says so.
	_, body = boss.do("GET", fmt.Sprintf("/requests/%d", short), nil)
	if !strings.Contains(string(body), fmt.Sprintf(`href="/requests/%d/redact" id="redact-link"`, short)) {
		t.Error("the request's page has no redaction link")
	}
	dpo := h.login("dpo")
	if res, _ := dpo.do("GET", fmt.Sprintf("/requests/%d/redact", short), nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("the DPO opens the redaction page: %d", res.StatusCode)
	}
	if _, body := dpo.do("GET", fmt.Sprintf("/requests/%d", short), nil); strings.Contains(string(body), "redact-link") {
		t.Error("the DPO is offered redaction")
	}
	if res, _ := boss.do("GET", "/requests/999/redact", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown request: %d", res.StatusCode)
	}
	// After the delivery is recorded no package is offered (as for export).
	boss.do("POST", fmt.Sprintf("/api/v1/requests/%d/export", short), nil)
	_, body = boss.do("GET", fmt.Sprintf("/api/v1/requests/%d", short), nil)
	pkgs := decode[RequestJSON](t, body).Packages
	if len(pkgs) != 1 {
		t.Fatalf("packages: %s", body)
	}
	if res, body := boss.do("POST", fmt.Sprintf("/api/v1/requests/%d/deliveries", short), map[string]any{"package": pkgs[0].ID, "recipient": "R", "channel": "usb"}); res.StatusCode != 201 {
		t.Fatalf("deliver: %d %s", res.StatusCode, body)
	}
	if _, body := boss.do("GET", fmt.Sprintf("/requests/%d", short), nil); strings.Contains(string(body), "redact-link") {
		t.Error("a delivered request's page offers redaction")
	}
	if _, body := boss.do("GET", fmt.Sprintf("/requests/%d/redact", short), nil); !strings.Contains(string(body), `id="redact-closed"`) || strings.Contains(string(body), `data-canmake="1"`) {
		t.Error("a delivered request's redaction page offers a package")
	}
	res, body = boss.do("POST", fmt.Sprintf("/api/v1/requests/%d/close", long), map[string]any{"outcome": "withdrawn", "reason": "peruttu", "hold": "release"})
	if res.StatusCode != 200 {
		t.Fatalf("close: %d %s", res.StatusCode, body)
	}
	_, body = boss.do("GET", fmt.Sprintf("/requests/%d/redact", long), nil)
	if !strings.Contains(string(body), `id="redact-closed"`) || strings.Contains(string(body), `data-canmake="1"`) {
		t.Error("a closed request's redaction page offers a package")
	}
}

// redactEnv is a harness with the real chain behind the redaction page:
// footage recorded from a camera (fakecam → recorder → segments), the
// real exporter and playback, the real job runner, and an access request
// over the footage.
type redactEnv struct {
	h          *harness
	runner     *jobs.Runner
	stopRunner func()    // ends the runner: jobs then stay queued
	from       time.Time // the request's range: the recorded footage
	to         time.Time
	id         int64
}

func newRedactEnv(t *testing.T) *redactEnv {
	t.Helper()
	e := &redactEnv{}
	var h *harness
	h = newHarness(t, withRequests(&h), func(c *Config) {
		ex := &export.Exporter{Root: c.Cfg.Storage.Root, StateDir: c.Cfg.StateDir, DB: c.DB, Now: c.Now, Loc: c.Cfg.Location(),
			Version: "test", Cameras: c.Cfg.CameraIDs(), Log: c.Log}
		c.Export = func(ctx context.Context, r ExportRequest, out string) (registry.Export, error) {
			return ex.Export(ctx, export.Request(r), out)
		}
		c.Playback = ex.Playback
		e.runner = &jobs.Runner{DB: c.DB, Exporter: ex, Log: c.Log}
		c.Jobs = e.runner
	})
	e.h = h
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.runner.Run(ctx); close(stopped) }()
	e.stopRunner = func() { cancel(); <-stopped }
	t.Cleanup(e.stopRunner)

	// Record about ten seconds of the yard camera, with sound.
	cam, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{"yard"}, Codec: "h264", Audio: "aac"})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	rec, err := recorder.New(recorder.Config{Root: h.cfg.Storage.Root, StateDir: h.cfg.StateDir,
		Cameras:         []configs.Camera{{ID: "yard", Name: "Piha", URL: cam.URL("yard"), Transport: "tcp"}},
		SegmentDuration: 2 * time.Second, PartDuration: 200 * time.Millisecond, FsyncInterval: time.Second,
		DB: h.db, Now: time.Now, Log: h.srv.cfg.Log})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(rctx) }()
	var segs []registry.Segment
	for deadline := time.Now().Add(40 * time.Second); len(segs) < 5 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		h.db.View(context.Background(), func(tx *registry.Tx) error {
			segs, _ = tx.SegmentsIn("yard", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
			return nil
		})
	}
	rcancel()
	if err := <-done; err != nil {
		t.Fatalf("recorder: %v", err)
	}
	if len(segs) < 5 {
		t.Fatalf("%d segments recorded", len(segs))
	}
	// The box's clock is now: the request arrives after the recording.
	h.clock.mu.Lock()
	h.clock.t = time.Now().UTC()
	h.clock.mu.Unlock()
	e.from = segs[0].Start.Truncate(time.Second).Add(time.Second)
	e.to = segs[len(segs)-1].End.Truncate(time.Second)

	keeper := h.login("keeper")
	res, body := keeper.do("POST", "/api/v1/requests", map[string]any{"kind": "access", "cameras": []string{"yard"},
		"from": e.from.Format(time.RFC3339), "to": e.to.Format(time.RFC3339), "reference": "TP-2026-7", "basis_code": "gdpr-15",
		"basis": "GDPR 15 artikla", "requester": "Maija Meikäläinen", "identity": "ajokortti, tarkisti keeper",
		"description": "punainen takki, pihalla"})
	if res.StatusCode != 201 {
		t.Fatalf("add request: %d %s", res.StatusCode, body)
	}
	e.id = decode[struct {
		Request RequestJSON `json:"request"`
	}](t, body).Request.ID
	return e
}

// openRedaction logs the keeper in and opens the request's redaction
// page from the request's page, waiting for the video.
func (b *browserSession) openRedaction(id int64) {
	b.t.Helper()
	b.login("keeper")
	b.run("open the redaction page",
		chromedp.Navigate(fmt.Sprintf("%s/requests/%d", b.h.ts.URL, id)),
		chromedp.WaitVisible("#redact-link", chromedp.ByQuery),
		chromedp.Click("#redact-link", chromedp.ByQuery),
		chromedp.WaitVisible("#redact-canvas", chromedp.ByQuery),
	)
	b.waitFor("video loaded", `document.getElementById("redact-video").readyState >= 2 && Number(document.getElementById("redact-seek").max) > 4`, 30*time.Second)
}

// TestBrowserRedactPackage is issue 11's browser test: a keeper opens an
// access request, draws the requester's rectangle with the mouse over the
// recorded footage, moves it at a later moment and adds a keyframe,
// previews (original and redacted side by side, measured: the picture
// changes outside the kept area and not inside), makes the redacted
// package and watches the progress bar reach 100 %, finds the package on
// the request's page and records its delivery.
func TestBrowserRedactPackage(t *testing.T) {
	needBinary(t, "ffmpeg")
	needBinary(t, "ffprobe")
	e := newRedactEnv(t)
	h := e.h
	b := newBrowserSession(t, h)
	b.openRedaction(e.id)
	var version string
	b.waitFor("redaction available", `!document.getElementById("redact-make").disabled && !document.getElementById("redact-ffmpeg").hidden`, 10*time.Second)
	b.run("ffmpeg version shown", chromedp.Text("#redact-ffmpeg", &version, chromedp.ByQuery))
	if !strings.Contains(version, "ffmpeg version") {
		t.Errorf("ffmpeg line: %q", version)
	}

	// The video's time 0 is the clip's first frame (the keyframe at or
	// before the request's start), not the start itself: keyframe times
	// must come from the clip's start, or the rectangle is misplaced in time.
	var src string
	b.run("playback URL", chromedp.AttributeValue(`#redact-camera option[value="yard"]`, "data-src", &src, nil, chromedp.ByQuery))
	res, _ := h.login("keeper").do("GET", src, nil)
	clipStart, err := time.Parse(time.RFC3339Nano, res.Header.Get("X-Vahti-Clip-Start"))
	if err != nil {
		t.Fatalf("clip start %q: %v", res.Header.Get("X-Vahti-Clip-Start"), err)
	}
	t.Logf("request from %s, clip starts %s (%s earlier)", e.from.Format(time.RFC3339Nano), clipStart.Format(time.RFC3339Nano), e.from.Sub(clipStart))
	b.waitFor("clip start known", fmt.Sprintf(`document.getElementById("redact-app").getAttribute("data-clipstart") === "%d"`, clipStart.UnixMilli()), 10*time.Second)

	// Keep only the requester: x 0.30–0.70, y 0.20–0.80 at 1 s, moved
	// left by 0.10 at 3 s (a keyframe by dragging), pinned at 4 s (a
	// keyframe by the button).
	b.seekTo(1)
	b.drag(b.canvas(), 0.30, 0.20, 0.70, 0.80)
	b.waitFor("one area", `document.querySelectorAll("#redact-tracks li").length === 1`, 5*time.Second)
	b.seekTo(3)
	b.drag(b.canvas(), 0.50, 0.50, 0.40, 0.50)
	b.seekTo(4)
	b.run("add keyframe", chromedp.Click("#redact-keyframe", chromedp.ByQuery))
	b.waitFor("three keyframes", `document.querySelectorAll("#redact-tracks li button.keyframe").length === 3`, 5*time.Second)
	rf, raw := b.downloadedRegions()
	kf := rf.Cameras["yard"].Tracks[0].Keyframes
	if len(kf) != 3 || rf.Cameras["yard"].Mode != "keep" || !near(kf[0].X, 0.30) || !near(kf[1].X, 0.20) || !near(kf[2].X, 0.20) ||
		kf[0].At.Sub(clipStart.Add(time.Second)).Abs() > 50*time.Millisecond || kf[1].At.Sub(clipStart.Add(3*time.Second)).Abs() > 50*time.Millisecond {
		t.Fatalf("regions after drawing: %s", raw)
	}
	// The downloaded file is what `vahti request export ID --redact` reads.
	if _, err := redact.Parse([]byte(raw), redact.Scope{Cameras: []string{"yard"}, From: e.from, To: e.to}); err != nil {
		t.Errorf("the CLI's parser refuses the downloaded regions: %v\n%s", err, raw)
	}

	// Preview at the keyframes: for each moment the original and the
	// redacted frame, side by side.
	b.run("preview", chromedp.Click("#redact-preview", chromedp.ByQuery))
	b.waitFor("preview shown", `document.querySelectorAll("#redact-frames img.preview-original").length === 3 &&
		document.querySelectorAll("#redact-frames img.preview-redacted").length === 3 &&
		Array.prototype.every.call(document.querySelectorAll("#redact-frames img"), function(i){ return i.complete && i.naturalWidth > 0; })`, 60*time.Second)
	b.run("preview shot", chromedp.ScrollIntoView("#redact-frames", chromedp.ByQuery), b.shot("3-preview"))
	// The first moment's area is x 0.30–0.70, y 0.20–0.80: inside it the
	// redacted frame is the original (up to JPEG), outside it is blurred.
	var d struct{ Inside, Outside float64 }
	b.eval("compare the preview", `(function(){
		var imgs = document.querySelectorAll("#redact-frames .redact-pair")[0].querySelectorAll("img");
		function px(img){ var c=document.createElement("canvas"); c.width=img.naturalWidth; c.height=img.naturalHeight;
			var x=c.getContext("2d"); x.drawImage(img,0,0); return x.getImageData(0,0,c.width,c.height); }
		var a=px(imgs[0]), b=px(imgs[1]);
		function diff(x0,y0,x1,y1){ var s=0,n=0;
			for (var y=Math.floor(y0*a.height); y<Math.floor(y1*a.height); y++) for (var x=Math.floor(x0*a.width); x<Math.floor(x1*a.width); x++) {
				var i=(y*a.width+x)*4; for (var k=0;k<3;k++) { s+=Math.abs(a.data[i+k]-b.data[i+k]); n++; } }
			return s/n; }
		return {Inside: diff(0.34,0.25,0.66,0.75), Outside: (diff(0,0,0.25,1)+diff(0.75,0,1,1))/2};
	})()`, &d)
	t.Logf("preview: mean difference inside the kept area %.1f, outside %.1f (0–255)", d.Inside, d.Outside)
	if d.Inside > 6 || d.Outside < 3*d.Inside+4 {
		t.Errorf("preview: mean difference inside the kept area %.1f (want about 0), outside %.1f (want large)", d.Inside, d.Outside)
	}

	// Make the redacted package; the progress bar follows the job to 100 %.
	var seen []string
	b.run("make", chromedp.Click("#redact-make", chromedp.ByQuery))
	for deadline := time.Now().Add(3 * time.Minute); ; {
		var st struct{ State, Percent string }
		b.eval("job state", `({State: document.getElementById("redact-job").getAttribute("data-state") || "", Percent: document.getElementById("redact-percent").textContent})`, &st)
		if len(seen) == 0 || seen[len(seen)-1] != st.State+" "+st.Percent {
			seen = append(seen, st.State+" "+st.Percent)
		}
		if st.State == "done" || st.State == "failed" || st.State == "cancelled" || time.Now().After(deadline) {
			break
		}
		time.Sleep(150 * time.Millisecond)
	}
	t.Logf("progress seen: %v", seen)
	var progress float64
	var statusText, pkg string
	b.run("done", chromedp.Evaluate(`document.getElementById("redact-progress").value`, &progress),
		chromedp.Text("#redact-make-status", &statusText, chromedp.ByQuery), b.shot("4-done"))
	if last := seen[len(seen)-1]; last != "done 100 %" || progress != 100 {
		t.Fatalf("job ended %q (bar at %v): %s", last, progress, statusText)
	}
	var jobsTable string
	b.run("job list", chromedp.Text("#redact-jobs", &jobsTable, chromedp.ByQuery))
	if !strings.Contains(jobsTable, "peitetty paketti") || !strings.Contains(jobsTable, "valmis") {
		t.Errorf("job list: %q", jobsTable)
	}

	var doneHref string
	b.run("done link", chromedp.AttributeValue("#redact-package", "href", &doneHref, nil, chromedp.ByQuery))
	if !strings.HasPrefix(doneHref, fmt.Sprintf("/requests/%d?package=", e.id)) {
		t.Errorf("the done message links to %q", doneHref)
	}
	// A job that has not started yet (the runner is stopped) is
	// cancelled with the button.
	e.stopRunner()
	var cancelled string
	b.run("make again", chromedp.Evaluate(`window.confirm = function(){ return true; }; true`, nil),
		chromedp.Click("#redact-make", chromedp.ByQuery))
	b.waitFor("queued", `document.getElementById("redact-job").getAttribute("data-state") === "queued" && !document.getElementById("redact-cancel").hidden`, 10*time.Second)
	b.run("cancel", chromedp.Click("#redact-cancel", chromedp.ByQuery))
	b.waitFor("cancelled", `document.getElementById("redact-job").getAttribute("data-state") === "cancelled"`, 10*time.Second)
	b.run("cancelled", chromedp.Text("#redact-jobstate", &cancelled, chromedp.ByQuery))
	if cancelled != "keskeytetty" || len(h.auditEntries("job.cancel")) != 1 {
		t.Errorf("after cancel: %q, %d job.cancel audited", cancelled, len(h.auditEntries("job.cancel")))
	}

	// A reload still lists the finished job with its package.
	var reloaded string
	b.run("reload", chromedp.Reload(), chromedp.WaitVisible("#redact-canvas", chromedp.ByQuery))
	b.waitFor("job list after reload", `document.querySelector("#redact-jobs a.package-link") !== null`, 10*time.Second)
	b.run("job list after reload", chromedp.Text("#redact-jobs", &reloaded, chromedp.ByQuery))
	if !strings.Contains(reloaded, "valmis") || !strings.Contains(reloaded, "100 %") {
		t.Errorf("job list after a reload: %q", reloaded)
	}

	// The package is on the request's page, redacted and without sound.
	b.run("open the package", chromedp.Click("#redact-jobs a.package-link", chromedp.ByQuery), chromedp.WaitVisible("#req-packages tr.new", chromedp.ByQuery))
	b.run("the package", chromedp.Text("#req-packages tr.new td.mono", &pkg, chromedp.ByQuery))
	if !strings.HasSuffix(doneHref, "="+pkg) {
		t.Errorf("the done message links to %q, the request's page highlights %q", doneHref, pkg)
	}
	checkRedactedPackage(t, h, pkg)

	// Record the handover with the existing delivery form.
	var state, disc string
	b.run("deliver",
		chromedp.WaitVisible("#deliver-form", chromedp.ByQuery),
		chromedp.SetValue("#deliver-package", pkg, chromedp.ByQuery),
		chromedp.SetValue("#deliver-recipient", "Maija Meikäläinen", chromedp.ByQuery),
		chromedp.SetValue("#deliver-channel", "in-person", chromedp.ByQuery),
		chromedp.Click("#deliver-ack", chromedp.ByQuery),
		chromedp.Click("#deliver-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#req-disclosures", chromedp.ByQuery),
	)
	b.run("delivered", chromedp.Text("#req-disclosures", &disc, chromedp.ByQuery),
		chromedp.Text("#req-state", &state, chromedp.ByQuery), b.shot("5-delivered"))
	if state != "luovutettu" || !strings.Contains(disc, pkg) || !strings.Contains(disc, "Maija Meikäläinen") {
		t.Fatalf("after delivery: state %q, deliveries %q", state, disc)
	}
	kinds := map[string]int{}
	for _, k := range h.auditKinds() {
		kinds[k]++
	}
	if kinds["redact.preview"] != 1 || kinds["job.queue"] != 2 || kinds["disclosure.add"] != 1 || kinds["footage.play"] < 1 {
		t.Errorf("audit: %v", kinds)
	}
}

// checkRedactedPackage opens the stored package: its manifest says it is
// redacted in keep mode, and its clip plays (ffprobe) with video and no
// audio, although the camera recorded sound.
func checkRedactedPackage(t *testing.T, h *harness, id string) {
	t.Helper()
	var e registry.Export
	if err := h.db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		e, err = tx.Export(id)
		return err
	}); err != nil {
		t.Fatalf("package %q: %v", id, err)
	}
	zr, err := zip.OpenReader(filepath.Join(h.cfg.StateDir, e.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	dir := t.TempDir()
	var manifest struct {
		Redacted  bool            `json:"redacted"`
		Redaction json.RawMessage `json:"redaction"`
	}
	var clips []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		switch {
		case f.Name == "manifest.json":
			json.Unmarshal(b, &manifest)
		case strings.HasSuffix(f.Name, ".mp4"):
			p := filepath.Join(dir, filepath.Base(f.Name))
			os.WriteFile(p, b, 0o600)
			clips = append(clips, p)
		}
	}
	if !manifest.Redacted || !strings.Contains(string(manifest.Redaction), `"keep"`) || len(clips) != 1 {
		t.Fatalf("package %s: redacted %v, redaction %s, clips %v", id, manifest.Redacted, manifest.Redaction, clips)
	}
	out, err := exec.Command(needBinary(t, "ffprobe"), "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", clips[0]).Output()
	if err != nil || strings.TrimSpace(string(out)) != "video" {
		t.Errorf("the redacted clip's streams: %q %v (want video only)", out, err)
	}
}

// TestBrowserRedactNoFFmpeg: with ffmpeg hidden from the server's PATH,
// the redaction page says why it cannot preview or make a package and
// what to install, drawing and the regions file still work, and the
// request's page still makes an ordinary package and records its delivery.
func TestBrowserRedactNoFFmpeg(t *testing.T) {
	e := newRedactEnv(t)
	h := e.h
	b := newBrowserSession(t, h) // Chromium is found before PATH is emptied
	t.Setenv("PATH", t.TempDir())
	b.openRedaction(e.id)
	var why string
	var disabled bool
	b.waitFor("the reason shown", `!document.getElementById("redact-unavailable").hidden`, 10*time.Second)
	b.run("unavailable", chromedp.Text("#redact-unavailable", &why, chromedp.ByQuery),
		chromedp.Evaluate(`["redact-make","redact-preview","redact-preview-now"].every(function(id){ return document.getElementById(id).disabled; })`, &disabled),
		b.shot("6-no-ffmpeg"))
	if !strings.Contains(why, catalogFI["redact.unavailable"]) || !strings.Contains(why, "apt install ffmpeg") {
		t.Errorf("the page's explanation: %q", why)
	}
	if !disabled {
		t.Error("preview or make is enabled without ffmpeg")
	}
	b.drag(b.canvas(), 0.30, 0.20, 0.70, 0.80)
	b.waitFor("one area", `document.querySelectorAll("#redact-tracks li").length === 1`, 5*time.Second)
	if rf, raw := b.downloadedRegions(); len(rf.Cameras["yard"].Tracks) != 1 {
		t.Errorf("regions without ffmpeg: %s", raw)
	}
	// The API refuses too, in the keeper's language.
	var refused struct {
		Status int
		Error  string
	}
	b.eval("forced submit", fmt.Sprintf(`fetch("/api/v1/requests/%d/jobs", {method: "POST", headers: {"Content-Type": "application/json",
		"X-CSRF-Token": document.getElementById("redact-app").getAttribute("data-csrf")},
		body: JSON.stringify({redact: {cameras: {yard: {mode: "keep", tracks: [{keyframes: [{at: %q, x: 0.1, y: 0.1, w: 0.5, h: 0.5}]}]}}}, keep_audio: false})})
		.then(function(r){ return r.json().then(function(j){ return {Status: r.status, Error: j.error}; }); })`, e.id, e.from.Format(time.RFC3339)), &refused)
	if refused.Status != http.StatusConflict || refused.Error != catalogFI["redact.unavailable"] {
		t.Errorf("a package asked for without ffmpeg: %+v", refused)
	}

	// The request's page works: an ordinary package, its delivery.
	var pkg, state, back string
	b.run("back link", chromedp.AttributeValue("#redact-back", "href", &back, nil, chromedp.ByQuery))
	if back != fmt.Sprintf("/requests/%d", e.id) {
		t.Fatalf("the way back to the request: %q", back)
	}
	// Each step waits for its page: a click that navigates would leave a
	// query on the old document.
	b.run("request page", chromedp.Navigate(h.ts.URL+back), chromedp.WaitVisible("#export-submit", chromedp.ByQuery))
	b.run("ordinary export", chromedp.Click("#export-submit", chromedp.ByQuery), chromedp.WaitVisible("#req-packages", chromedp.ByQuery))
	b.run("package", chromedp.Text("#req-packages td.mono", &pkg, chromedp.ByQuery), chromedp.WaitVisible("#deliver-form", chromedp.ByQuery))
	b.run("deliver", chromedp.SetValue("#deliver-recipient", "Maija Meikäläinen", chromedp.ByQuery),
		chromedp.Click("#deliver-submit", chromedp.ByQuery), chromedp.WaitVisible("#req-disclosures", chromedp.ByQuery))
	b.run("delivered", chromedp.Text("#req-state", &state, chromedp.ByQuery), b.shot("7-no-ffmpeg-delivered"))
	if pkg == "" || state != "luovutettu" {
		t.Errorf("without ffmpeg: package %q, state %q", pkg, state)
	}
}
