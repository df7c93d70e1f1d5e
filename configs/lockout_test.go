package configs

import (
	"strings"
	"testing"
)

// TestLockoutAtLeastAMinute: a lockout shorter than a minute lets a guesser
// through at nearly full speed, so it is a config error naming the key.
func TestLockoutAtLeastAMinute(t *testing.T) {
	for _, bad := range []string{"0s", "59s", "500ms"} {
		msg := problems(t, base("admin: {lockout: "+bad+"}\n"))
		if !strings.Contains(msg, "admin.lockout:") || !strings.Contains(msg, "at least 1m") {
			t.Errorf("lockout %s: %s", bad, msg)
		}
	}
	for _, ok := range []string{"1m", "15m", "1d"} {
		if _, err := Parse(base("admin: {lockout: "+ok+"}\n"), nil); err != nil {
			t.Errorf("lockout %s refused: %v", ok, err)
		}
	}
}
