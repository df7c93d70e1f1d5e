package admin

import (
	"strings"
	"testing"
	"time"
)

// The service's alarms appear on the dashboard in the user's language.
func TestDashboardShowsAlarmsInBothLanguages(t *testing.T) {
	since := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	h := newHarness(t, func(c *Config) {
		c.Alarms = func() []Alarm {
			return []Alarm{{Kind: "camera-offline", Subject: "yard", Since: since}, {Kind: "audit-chain-broken", Since: since},
				{Kind: "config-invalid", Since: since, Detail: "alarms.camera_offline: invalid duration <b>"}}
		}
	})
	k := h.login("keeper")
	_, body := k.do("GET", "/", nil)
	for _, want := range []string{"Hälytys: kamera yard ei tallenna.", "Hälytys: lokiketjun tarkistus epäonnistui."} {
		if !strings.Contains(string(body), want) {
			t.Errorf("Finnish dashboard lacks %q", want)
		}
	}
	if res, _ := k.do("PUT", "/api/v1/me/lang", map[string]string{"lang": "en"}); res.StatusCode != 200 {
		t.Fatalf("set lang: %d", res.StatusCode)
	}
	_, body = k.do("GET", "/", nil)
	for _, want := range []string{"Alarm: camera yard is not recording.", "Alarm: the audit chain check failed.",
		"alarms.camera_offline: invalid duration &lt;b&gt;"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("English dashboard lacks %q", want)
		}
	}
	if strings.Contains(string(body), "[[") || strings.Contains(string(body), "%!") {
		t.Error("an untranslated or badly formatted alarm text")
	}
}

func TestCertNotAfter(t *testing.T) {
	h := newHarness(t)
	if na := h.srv.CertNotAfter(); na.Before(time.Now().AddDate(9, 0, 0)) {
		t.Errorf("self-signed certificate expires %s, want about 10 years out", na)
	}
}
