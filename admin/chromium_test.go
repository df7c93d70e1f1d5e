package admin

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startChromium starts Debian's headless Chromium for a browser test and
// returns a context whose tab lives until the test ends. The flags keep it
// off the (closed) network; the profile is removed forgivingly, because
// Chromium's helper processes may still write to it for a moment after the
// browser is gone (t.TempDir would fail the test on that).
func startChromium(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	chrome := needBinary(t, "chromium", "chromium-browser", "google-chrome")
	profile, err := os.MkdirTemp("", "vahti-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 30 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "fi-FI"), // date inputs as a Finnish keeper sees them
	)
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	// cdproto lags Chromium's protocol; events it cannot decode are noise here.
	quiet := chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Logf("chromedp: %s", msg)
		}
	})
	ctx, cancel := chromedp.NewContext(actx, quiet)
	ctx, cancelT := context.WithTimeout(ctx, 120*time.Second)
	// Cleanups run last-in first-out: the tab, the browser, then the profile.
	t.Cleanup(cancelA)
	t.Cleanup(cancel)
	t.Cleanup(cancelT)
	// Start the browser on the long-lived context; steps then run with
	// their own timeouts without closing the tab when a step's ends.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	return ctx
}
