package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"vahti/admin"
)

func TestRequestCommands(t *testing.T) {
	c := newCLI(t)
	c.envs["SUDO_USER"] = "keeper2"
	out := c.ok("request", "add", "--config", "$CONFIG", "--kind", "police", "--camera", "yard", "--from", "2026-11-01T10:00:00Z",
		"--to", "2026-11-01T11:00:00Z", "--reference", "POL-2026-1", "--basis", "Poliisilaki 4:2", "--authority", "Sisä-Suomen poliisi",
		"--requester", "Inspector")
	if !strings.Contains(out, "request 1") || !strings.Contains(out, "hold 1") {
		t.Fatalf("request add: %s", out)
	}
	var added struct {
		Request admin.RequestJSON `json:"request"`
		Hold    holdView          `json:"hold"`
	}
	out = c.ok("request", "add", "--json", "--config", "$CONFIG", "--kind", "access", "--camera", "all", "--from", "2026-11-03T10:00:00Z",
		"--to", "2026-11-03T10:30:00Z", "--reference", "SAR-9", "--basis", "GDPR art. 15")
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.Request.HoldID != added.Hold.ID || added.Hold.RequestID != added.Request.ID ||
		!added.Hold.Active || added.Request.Status != "open" {
		t.Fatalf("request add --json: %v %s", err, out)
	}
	var list []admin.RequestJSON
	if err := json.Unmarshal([]byte(c.ok("request", "list", "--config", "$CONFIG", "--json")), &list); err != nil || len(list) != 2 {
		t.Fatalf("request list: %v %+v", err, list)
	}
	if out := c.ok("request", "show", "1", "--config", "$CONFIG"); !strings.Contains(out, "POL-2026-1") || !strings.Contains(out, "Sisä-Suomen poliisi") {
		t.Fatalf("request show: %s", out)
	}
	// Close without releasing: the hold stays.
	out = c.ok("request", "close", "1", "--config", "$CONFIG", "--outcome", "refused", "--reason", "no legal basis given")
	if !strings.Contains(out, "hold 1 stays") {
		t.Fatalf("close: %s", out)
	}
	var h holdView
	json.Unmarshal([]byte(c.ok("hold", "show", "1", "--config", "$CONFIG", "--json")), &h)
	if !h.Active {
		t.Fatal("hold released without --release-hold")
	}
	// Close with --release-hold.
	id := strconv.FormatInt(added.Request.ID, 10)
	out = c.ok("request", "close", "--outcome", "withdrawn", "--reason", "subject withdrew", "--release-hold", id, "--config", "$CONFIG")
	if !strings.Contains(out, "released") {
		t.Fatalf("close --release-hold: %s", out)
	}
	json.Unmarshal([]byte(c.ok("hold", "show", strconv.FormatInt(added.Hold.ID, 10), "--config", "$CONFIG", "--json")), &h)
	if h.Active {
		t.Fatal("hold still active after --release-hold")
	}
	if e := c.fail("request", "close", "1", "--config", "$CONFIG", "--outcome", "refused", "--reason", "x"); !strings.Contains(e, "already closed") {
		t.Fatalf("double close: %s", e)
	}
	db := registryOf(t, c)
	kinds := map[string]int{}
	for _, e := range auditKinds(t, db, "") {
		kinds[e.Kind]++
		if e.Actor != "keeper2" || e.Source != "cli" {
			t.Errorf("audit entry by %s/%s", e.Actor, e.Source)
		}
	}
	if kinds["request.add"] != 2 || kinds["hold.add"] != 2 || kinds["request.close"] != 2 || kinds["hold.release"] != 1 {
		t.Fatalf("audit kinds: %v", kinds)
	}
}

func TestRequestCommandsRefuseBadInput(t *testing.T) {
	c := newCLI(t)
	base := []string{"request", "add", "--config", "$CONFIG", "--camera", "yard", "--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z",
		"--reference", "R", "--basis", "B"}
	cases := []struct {
		args []string
		want string
	}{
		{append(base, "--kind", "curiosity"), "police or access"},
		{base, "--kind"},
		{append(append([]string{}, base[:len(base)-2]...), "--kind", "police"), "--basis"},
		{[]string{"request", "close", "1", "--config", "$CONFIG", "--outcome", "lost", "--reason", "x"}, "delivered, refused or withdrawn"},
		{[]string{"request", "close", "1", "--config", "$CONFIG", "--outcome", "delivered"}, "--reason"},
		{[]string{"request", "close", "7", "--config", "$CONFIG", "--outcome", "delivered", "--reason", "x"}, "no request with id 7"},
		{[]string{"request", "show", "7", "--config", "$CONFIG"}, "no request with id 7"},
		{[]string{"request", "extend", "7", "--config", "$CONFIG", "--months", "1", "--reason", "x"}, "no request with id 7"},
		{[]string{"request", "view", "7", "--config", "$CONFIG"}, "no request with id 7"},
		{[]string{"request", "letter", "7", "--config", "$CONFIG", "--out", "l.html"}, "no request with id 7"},
		{[]string{"request", "export", "7", "--config", "$CONFIG", "--out", "p.zip"}, "no request with id 7"},
		{[]string{"request", "deliver", "7", "--config", "$CONFIG", "--package", "p", "--recipient", "r", "--channel", "in-person"}, "no request with id 7"},
		{[]string{"request", "view", "x7", "--config", "$CONFIG"}, `"x7" is not a request id`},
		{[]string{"request", "view", "--config", "$CONFIG"}, "expected request id"},
		{[]string{"request", "view", "7", "--config", "$CONFIG", "--at", "yesterday"}, `--at: "yesterday" is not an RFC 3339 time`},
		{append(append([]string{}, base...), "--kind", "police", "--received", "monday"), `--received: "monday" is not an RFC 3339 time`},
		{[]string{"request"}, "subcommand"},
	}
	for _, tc := range cases {
		if e := c.fail(tc.args...); !strings.Contains(e, tc.want) {
			t.Errorf("%v: stderr %q does not mention %q", tc.args, e, tc.want)
		}
	}
}
