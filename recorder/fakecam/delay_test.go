package fakecam

import (
	"strings"
	"testing"
	"time"
)

func TestVideoDelayBounds(t *testing.T) {
	for _, d := range []time.Duration{-time.Millisecond, maxVideoDelay + time.Millisecond} {
		cfg := Config{Listen: "127.0.0.1:0", Audio: "g711", VideoDelay: d}
		if err := cfg.normalise(); err == nil || !strings.Contains(err.Error(), "video delay") {
			t.Errorf("VideoDelay %s: error %v, want a video delay error", d, err)
		}
	}
	cfg := Config{Listen: "127.0.0.1:0", Audio: "g711", VideoDelay: 300 * time.Millisecond}
	if err := cfg.normalise(); err != nil {
		t.Errorf("VideoDelay 300ms: %v", err)
	}
}
