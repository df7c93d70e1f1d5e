package redact

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"vahti/admin/export"
)

// TestRedactedClipPlaysInChromium: a redacted clip plays in Debian's
// Chromium (the browser a keeper or a requester opens it in): it loads,
// has the picture's size, and its time advances.
func TestRedactedClipPlaysInChromium(t *testing.T) {
	var chrome string
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			chrome = p
			break
		}
	}
	if chrome == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not installed (required under CI)")
		}
		t.Skip("chromium not installed")
	}
	e := newEnv(t, "yard")
	ctx := context.Background()
	tool, err := Find(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := export.Request{Cameras: []string{"yard"}, From: testBase, To: testBase.Add(6 * time.Second), Reason: "test", Actor: "maija", Source: "cli"}
	res, err := Build(ctx, e.ex, req, quadrantRegions(t, ModeKeep), Options{Tool: tool}, "")
	if err != nil {
		t.Fatal(err)
	}
	clip := unzipClip(t, res.Path, "yard.mp4", t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!doctype html><video id="v" src="/clip.mp4" muted playsinline></video>`))
	})
	mux.HandleFunc("/clip.mp4", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, clip) })
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	profile, err := os.MkdirTemp("", "vahti-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 30 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0], chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	// cdproto lags Chromium's protocol; events it cannot decode are noise here.
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Logf("chromedp: %s", msg)
		}
	}))
	defer cancel()
	bctx, cancelT := context.WithTimeout(bctx, 90*time.Second)
	defer cancelT()
	if err := chromedp.Run(bctx, chromedp.Navigate("http://"+ln.Addr().String()+"/")); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Ready, Width, Height int
		Err                  int
		Time, Duration       float64
	}
	const js = `(function(){var v=document.getElementById("v"); if(v.paused&&v.readyState>=2){v.play()};
		return {Ready:v.readyState, Width:v.videoWidth, Height:v.videoHeight, Err:v.error?v.error.code:0, Time:v.currentTime, Duration:v.duration||0}})()`
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if err := chromedp.Run(bctx, chromedp.Evaluate(js, &st)); err != nil {
			t.Fatal(err)
		}
		if st.Err != 0 || st.Time > 0.5 {
			break
		}
	}
	if st.Err != 0 || st.Width != 640 || st.Height != 480 || st.Time <= 0.5 || st.Duration < 5 {
		t.Fatalf("chromium: %+v", st)
	}
	t.Logf("chromium plays the redacted clip: %+v", st)
}
