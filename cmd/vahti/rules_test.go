package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

const rulesDir = "../../configs/prometheus"

func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool missing under CI (Debian package prometheus; scripts/install-deps.sh)")
		}
		t.Skip("promtool not installed")
	}
	return p
}

// The shipped alert rules pass promtool's checks and their unit tests.
func TestPrometheusRules(t *testing.T) {
	promtool := needPromtool(t)
	for _, args := range [][]string{{"check", "rules", "vahti-rules.yml"}, {"test", "rules", "vahti-rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Every metric and alarm kind the rules use is one Vahti exports, so a
// renamed metric cannot leave an alert that never fires.
func TestRulesUseExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(rulesDir, "vahti-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	ch := make(chan *prometheus.Desc, 100)
	go func() {
		s := &service{}
		for _, c := range []prometheus.Collector{newVahtiCollector(s), readyCollector{s}, alarmCollector{s}, backupCollector{s}} {
			c.Describe(ch)
		}
		close(ch)
	}()
	name := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range ch {
		if m := name.FindStringSubmatch(d.String()); m != nil {
			exported[m[1]] = true
		}
	}
	used := regexp.MustCompile(`\bvahti_[a-z_]+`).FindAllString(string(b), -1)
	if len(used) < 10 {
		t.Fatalf("only %d metric uses found in the rules", len(used))
	}
	for _, m := range used {
		if !exported[m] {
			t.Errorf("the rules use %s, which Vahti does not export", m)
		}
	}
	kinds := map[string]bool{}
	for _, k := range alarmKinds {
		kinds[k] = true
	}
	for _, m := range regexp.MustCompile(`kind="([a-z-]+)"`).FindAllStringSubmatch(string(b), -1) {
		if !kinds[m[1]] {
			t.Errorf("the rules use alarm kind %q, which Vahti does not raise", m[1])
		}
	}
}
