package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
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
// in a real Chromium: a keeper draws a rectangle with the mouse, moves it
// at a later moment (a second keyframe), adds a third with the button,
// sees the rectangle interpolated in between, undoes, deletes with the
// keyboard, and the regions JSON is exactly the interface.md format.
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
		Request apiRequest `json:"request"`
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
	}{{0, 0.10, 0.20, 0.20, 0.30}, {4 * time.Second, 0.50, 0.20, 0.20, 0.30}, {8 * time.Second, 0.50, 0.20, 0.20, 0.30}} {
		k := kf[i]
		if d := k.At.Sub(start.Add(want.at)); d < -100*time.Millisecond || d > 100*time.Millisecond || k.At.Location() != time.UTC ||
			!near(k.X, want.x) || !near(k.Y, want.y) || !near(k.W, want.w) || !near(k.H, want.h) {
			t.Errorf("keyframe %d: %+v, want %v after %s at %.2f,%.2f %.2fx%.2f", i, k, want.at, start, want.x, want.y, want.w, want.h)
		}
	}
	if !strings.Contains(raw, `"at": "2026-11-22T10:00:04Z"`) {
		t.Errorf("keyframe times are not RFC 3339 UTC: %s", raw)
	}

	// Undo the last keyframe; the other mode; a second area; Delete removes
	// the selected one.
	b.run("undo", chromedp.Click("#redact-undo", chromedp.ByQuery))
	b.waitFor("undone", `document.querySelectorAll("#redact-tracks li button.keyframe").length === 2`, 5*time.Second)
	b.run("blur mode", chromedp.Click("#redact-mode-blur", chromedp.ByQuery))
	b.drag(b.canvas(), 0.70, 0.60, 0.90, 0.90)
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
	b.run("done", b.shot("2-edited"))
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
			Request apiRequest `json:"request"`
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
	res, body = boss.do("POST", fmt.Sprintf("/api/v1/requests/%d/close", long), map[string]any{"outcome": "withdrawn", "reason": "peruttu", "hold": "release"})
	if res.StatusCode != 200 {
		t.Fatalf("close: %d %s", res.StatusCode, body)
	}
	_, body = boss.do("GET", fmt.Sprintf("/requests/%d/redact", long), nil)
	if !strings.Contains(string(body), `id="redact-closed"`) || strings.Contains(string(body), `data-canmake="1"`) {
		t.Error("a closed request's redaction page offers a package")
	}
}
