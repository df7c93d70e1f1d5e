package admin

import (
	"slices"

	"vahti/registry"
)

// The audit page's kind filter: every kind the parts write, grouped for
// staff, each with a label in the reader's language ("kind.<kind>" in the
// catalog, i18n_sealing.go). A kind selects itself and the kinds under it
// (registry.AuditFilter matches a prefix), so "keys" is every key event
// and "keys.unlock" also shows "keys.unlock.fail". An entry of a kind not
// listed here still shows in the list, under its code alone.

// kindGroup is one <optgroup> of the filter.
type kindGroup struct {
	Key   string // "kindgroup.<Key>" is its label
	Kinds []string
}

// auditKindGroups lists the kinds as the service, retention and the
// command line write them (grep tx.Audit, auditLog, cmdEnv.audit).
var auditKindGroups = []kindGroup{
	{"sessions", []string{"login", "login.ok", "login.fail", "logout", "token", "token.create", "token.revoke"}},
	{"footage", []string{"footage.play", "export", "export.create", "export.download", "export.delete", "receipt.print"}},
	// Sealed footage's keys: opening, closing and granting them, and
	// crypto-erase (seal/DESIGN.md).
	{"keys", []string{"keys", "keys.init", "keys.unlock", "keys.unlock.fail", "keys.wipe", "keys.keep", "keys.release", "keys.grant", "keys.rewrap",
		"keys.revoke", "keys.segment.destroy", "keys.epoch.destroy", "hold.keys.seal", "hold.keys.delete",
		"registry.backup.expire", "export.encrypt"}},
	{"holds", []string{"hold", "hold.add", "hold.release"}},
	{"requests", []string{"request", "request.add", "request.update", "request.state", "request.view", "request.export",
		"request.extend", "request.letter", "request.close", "request.expire", "disclosure.add", "disclosures.report",
		"redact.preview", "job", "job.queue", "job.start", "job.done", "job.fail", "job.cancel", "job.resume", "job.wait", "job.expire"}},
	{"retention", []string{"purge.report", "segments.delete", "segments.discard-torn", "segment", "segment.adopt",
		"segment.missing", "segment.return", "segment.tampered", "retention.interlock", "retention.force", "catalog.reindex"}},
	{"service", []string{"service.start", "service.stop", "config.reload", "config.retention", "registry.backup", "registry.restore"}},
	{"users", []string{"user", "user.add", "user.roles", "user.passwd", "user.disable", "user.enable", "user.totp", "user.lang",
		registry.KindKeeperGrant}},
	{"audit", []string{"audit.verify", "audit.export"}},
}

// knownKind reports whether the filter lists kind.
func knownKind(kind string) bool {
	for _, g := range auditKindGroups {
		if slices.Contains(g.Kinds, kind) {
			return true
		}
	}
	return false
}

// kindLabel is kind's label in lang, or "" for a kind the catalog does
// not know (the page then shows the code alone).
func kindLabel(lang, kind string) string {
	c := catalogFI
	if lang == "en" {
		c = catalogEN
	}
	return c["kind."+kind]
}
