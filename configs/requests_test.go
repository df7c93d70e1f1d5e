package configs

import (
	"strings"
	"testing"
	"time"
)

// requests.retention: three years by default, never under the year the
// free-once-a-year check looks back over, never over ten years.
func TestRequestRetention(t *testing.T) {
	c, err := Parse(base(""), nil)
	if err != nil || c.Requests.Retention.D() != 1095*24*time.Hour {
		t.Fatalf("default: %v %v", c, err)
	}
	if c, err := Parse(base("requests: {retention: 730d}\n"), nil); err != nil || c.Requests.Retention.D() != 730*24*time.Hour {
		t.Fatalf("730d: %v", err)
	}
	for _, v := range []string{"364d", "0s", "3651d"} {
		if p := problems(t, base("requests: {retention: "+v+"}\n")); !strings.Contains(p, "requests.retention") {
			t.Errorf("%s accepted: %q", v, p)
		}
	}
}
