package admin

import "testing"

// TestEveryRecorderStateHasAText: each state word the recorder reports
// reaches the dashboard as a translated text, not as "state unknown".
func TestEveryRecorderStateHasAText(t *testing.T) {
	for state, key := range map[string]string{
		"recording": "recording", "connecting": "connecting", "offline": "offline",
		"disabled": "disabled", "auth failed": "authfailed", "paused (disk full)": "paused",
		"error": "error",
	} {
		got := cameraView{State: state}.StateKey()
		if got != key {
			t.Errorf("StateKey(%q) = %q, want %q", state, got, key)
		}
		for _, lang := range []string{"fi", "en"} {
			if txt := tr(lang, "state."+key); txt == "[[state."+key+"]]" {
				t.Errorf("%s: no text for state.%s", lang, key)
			}
		}
	}
}
