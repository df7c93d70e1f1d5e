package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"vahti/admin/redact"
)

// blockingPreviews is a JobService whose previews wait until released,
// so the test can hold one in flight.
type blockingPreviews struct {
	JobService
	entered chan struct{}
	release chan struct{}
}

func (b blockingPreviews) Preview(ctx context.Context, id int64, regions json.RawMessage, camera string, at []time.Time, actor, source string) ([]redact.Frame, error) {
	b.entered <- struct{}{}
	<-b.release
	return []redact.Frame{}, nil
}

func (b blockingPreviews) Available(ctx context.Context) (string, error) {
	return "ffmpeg version test", nil
}

// TestOnePreviewAtATime: a redaction preview runs ffmpeg; while one is
// being made, another keeper's (or a second click's) is refused with 429
// at once instead of stacking ffmpeg runs against the recorder's CPU.
func TestOnePreviewAtATime(t *testing.T) {
	fake := blockingPreviews{entered: make(chan struct{}, 4), release: make(chan struct{})}
	h := newHarness(t, func(c *Config) { c.Jobs = fake })
	k := h.login("keeper")
	body := map[string]any{"redact": map[string]any{"cameras": map[string]any{}}, "camera": "yard", "at": []string{"2026-11-22T11:00:00Z"}}
	first := make(chan int, 1)
	go func() {
		res, _ := k.do("POST", "/api/v1/requests/1/redact/preview", body)
		first <- res.StatusCode
	}()
	select {
	case <-fake.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first preview never reached the job service")
	}
	second := make(chan string, 1)
	go func() {
		res, b := k.do("POST", "/api/v1/requests/1/redact/preview", body)
		if res.StatusCode != http.StatusTooManyRequests {
			second <- fmt.Sprintf("%d %s, want 429", res.StatusCode, b)
			return
		}
		second <- ""
	}()
	select {
	case msg := <-second:
		if msg != "" {
			t.Errorf("second preview while one runs: %s", msg)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("second preview while one runs was admitted: it waits in the job service beside the first")
	}
	close(fake.release)
	if code := <-first; code != http.StatusOK {
		t.Errorf("first preview: %d", code)
	}
	if res, b := k.do("POST", "/api/v1/requests/1/redact/preview", body); res.StatusCode != http.StatusOK {
		t.Errorf("a preview after the first ended: %d %s", res.StatusCode, b)
	}
}
