package recorder

import (
	"sync"
	"time"
)

// statusBox is a session's CameraStatus behind a lock: the session writes
// it from its goroutines, Status reads it from anywhere.
type statusBox struct {
	mu sync.Mutex
	s  CameraStatus
	// bitrate window
	winStart time.Time
	winBytes int64
}

func (b *statusBox) get() CameraStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.s
	s.Codecs = append([]string(nil), s.Codecs...)
	s.Unsupported = append([]string(nil), s.Unsupported...)
	return s
}

func (b *statusBox) update(fn func(s *CameraStatus)) {
	b.mu.Lock()
	fn(&b.s)
	b.mu.Unlock()
}

// setState changes the state, keeping Since when it does not change.
func (b *statusBox) setState(state string, now time.Time, errText string) {
	b.mu.Lock()
	if b.s.State != state {
		b.s.State = state
		b.s.Since = now
	}
	b.s.Error = errText
	b.mu.Unlock()
}

// frame records a received video frame for LastFrame and the bitrate,
// averaged over windows of about two seconds, and counts it when the
// writer took it into a segment.
func (b *statusBox) frame(now time.Time, bytes int, written bool) {
	b.mu.Lock()
	b.s.LastFrame = now
	if written {
		b.s.Frames++
	}
	if b.winStart.IsZero() {
		b.winStart = now
	}
	b.winBytes += int64(bytes)
	if d := now.Sub(b.winStart); d >= 2*time.Second {
		b.s.BitrateBps = float64(b.winBytes*8) / d.Seconds()
		b.winStart, b.winBytes = now, 0
	}
	b.mu.Unlock()
}
