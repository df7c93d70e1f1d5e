package admin

import (
	"regexp"
	"strings"
)

// Messages from retention, the exporter and the registry are English,
// for logs, the CLI and the API. A page shows them in the user's
// language: each known message is matched here and rendered from the
// catalog, its values (times, ids, names) carried over. The catalog test
// produces every message from the real code and fails on one that is not
// matched, so a new message cannot reach a Finnish page in English.

type msgPattern struct {
	re  *regexp.Regexp
	key string
}

func mp(re, key string) msgPattern { return msgPattern{regexp.MustCompile("^" + re + "$"), key} }

var messagePatterns = []msgPattern{
	// admin/export: refused export requests.
	mp(`a reason is required`, "msg.reason"),
	mp(`the exporting person \(actor\) is required`, "msg.actor"),
	mp(`no camera given`, "msg.nocamera"),
	mp(`from and to are required`, "msg.norange"),
	mp(`to \((\S+)\) must be after from \((\S+)\)`, "msg.toafterfrom"),
	mp(`range (\S+) is longer than (\S+); make several packages`, "msg.rangetoolong"),
	mp(`unknown camera "(.*)" \(configured: (.*)\)`, "msg.unknowncamera"),
	mp(`invalid camera id "(.*)"`, "msg.invalidcamera"),
	mp(`no footage of (.+) between (\S+) and (\S+)`, "msg.nofootage"),
	mp(`unusable segments: (.+)`, "msg.unusable"),
	// retention: holds and requests.
	mp(`at least one camera \(or all\) is required`, "msg.nocamera"),
	mp(`a reason is required to release`, "msg.releasereason"),
	mp(`already released (\S+) by (.*)`, "msg.released"),
	mp(`a reason is required to close`, "msg.closereason"),
	mp(`outcome must be delivered, viewed-on-site, refused or withdrawn, got "(.*)"`, "msg.outcome"),
	mp(`a ground is given only for a refusal`, "msg.groundonly"),
	mp(`ground must be one of (.*), got "(.*)"`, "msg.ground"),
	mp(`already closed \((.*)\)`, "msg.alreadyclosed"),
	mp(`handler "(.*)" is not an active registry keeper`, "msg.handler"),
	// registry: the register and the disclosure log.
	mp(`kind must be police or access, got "(.*)"`, "msg.kind"),
	mp(`a reference is required`, "msg.reference"),
	mp(`basis code must be one of (.*), got "(.*)"`, "msg.basiscode"),
	mp(`a basis is required`, "msg.basis"),
	mp(`received \((\S+)\) is in the future`, "msg.receivedfuture"),
	mp(`the deadline \((\S+)\) must be after received \((\S+)\)`, "msg.deadline"),
	mp(`the recipient is required`, "msg.recipient"),
	mp(`channel must be one of (.*), got "(.*)"`, "msg.channel"),
	mp(`the handover time \((\S+)\) is in the future`, "msg.atfuture"),
	mp(`a note or the basis is longer than 4000 characters`, "msg.notetoolong"),
	mp(`disclosure (\d+) \(to correct\) does not exist`, "msg.nocorrected"),
	mp(`disclosure (\d+) belongs to request (\d+), not (\d+)`, "msg.otherrequest"),
	mp(`a correction needs a note saying what was wrong`, "msg.correctionnote"),
	mp(`the package is required`, "msg.package"),
	mp(`package (\S+) was not made for request (\d+) \(export it from the request first\)`, "msg.foreignpackage"),
	mp(`package (\S+) has been deleted`, "msg.packagedeleted"),
	mp(`([a-z ]+) is longer than (\d+) characters`, "msg.toolong"), // last: the specific ones above first
}

// prefixRe strips the context prefixes of the English messages ("bad
// export request: ", "request 3: delivery: ", "hold 7: ").
var prefixRe = regexp.MustCompile(`^(?:bad export request: |request(?: \d+)?: |delivery: |hold(?: \d+)?: )`)

// translateMessage renders an English message of retention, the exporter
// or the registry from the catalog; ok is false if any part is unknown.
func translateMessage(lang, msg string) (string, bool) {
	for {
		m := prefixRe.FindString(msg)
		if m == "" {
			break
		}
		msg = msg[len(m):]
	}
	if t, ok := translatePart(lang, strings.TrimSpace(msg)); ok {
		return t, true
	}
	var out []string
	for _, part := range strings.Split(msg, "; ") {
		t, ok := translatePart(lang, strings.TrimSpace(part))
		if !ok {
			return "", false
		}
		out = append(out, t)
	}
	return strings.Join(out, " "), len(out) > 0
}

func translatePart(lang, part string) (string, bool) {
	for _, p := range messagePatterns {
		m := p.re.FindStringSubmatch(part)
		if m == nil {
			continue
		}
		args := make([]any, 0, len(m)-1)
		for _, a := range m[1:] {
			args = append(args, a)
		}
		return trf(lang, p.key, args...), true
	}
	return "", false
}

// alarmView is one retention alarm on the dashboard: the catalog's text
// for its kind, and retention's own message as the technical detail.
type alarmView struct {
	Key    string
	Detail string
}

// alarmKeys maps retention's alarm kinds to catalog keys.
var alarmKeys = map[string]string{
	"clock-jump":       "alarm.clockjump",
	"clock-backwards":  "alarm.clockbackwards",
	"delete-fraction":  "alarm.deletefraction",
	"catalog-mismatch": "alarm.catalogmismatch",
	"disk-low":         "alarm.disklow",
	"disk-full-held":   "alarm.diskfullheld",
	"hold-review":      "alarm.holdreview",
	"error":            "alarm.error",
}

func alarmViews(kinds, msgs []string) []alarmView {
	out := make([]alarmView, 0, len(msgs))
	for i, m := range msgs {
		key := "alarm.other"
		if i < len(kinds) {
			if k, ok := alarmKeys[kinds[i]]; ok {
				key = k
			}
		}
		out = append(out, alarmView{Key: key, Detail: m})
	}
	return out
}
