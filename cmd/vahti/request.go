package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"vahti/admin"
	"vahti/admin/export"
	"vahti/registry"
	"vahti/retention"
)

// runRequest: vahti request add|list|show|close|export|deliver|extend|view|letter.
func runRequest(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "request", args,
		subcommand{"add", requestAdd},
		subcommand{"list", requestList},
		subcommand{"show", requestShow},
		subcommand{"close", requestClose},
		subcommand{"export", requestExport},
		subcommand{"deliver", requestDeliver},
		subcommand{"extend", requestExtend},
		subcommand{"view", requestViewOnSite},
		subcommand{"letter", requestLetter},
	)
}

func requestAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request add")
	path, asJSON := fs.configFlags("print the request and its hold as JSON")
	kind := fs.String("kind", "", "police or access")
	cams := fs.String("camera", "", "camera id(s), comma-separated, or all")
	from := fs.String("from", "", "start of the footage asked for (RFC 3339)")
	to := fs.String("to", "", "end of the footage asked for (RFC 3339)")
	ref := fs.String("reference", "", "the request's reference (e.g. police case number)")
	basis := fs.String("basis", "", "legal basis: "+strings.Join(registry.BasisCodes[:4], ", ")+", or free text")
	authority := fs.String("authority", "", "requesting authority")
	officer := fs.String("officer", "", "the authority's officer in charge")
	contact := fs.String("contact", "", "how to reach the officer or requester")
	requester := fs.String("requester", "", "person who asked")
	identity := fs.String("identity", "", "how a data subject's identity was verified")
	verifiedBy := fs.String("verified-by", "", "the account that verified the data subject's identity")
	subjectKey := fs.String("subject-key", "", "what identifies the requester (e.g. name and date of birth): only a keyed hash is stored, to tell whether this is their free request of the year")
	description := fs.String("description", "", "what is asked for")
	handler := fs.String("handler", "", "the registry keeper handling it (an account name)")
	notes := fs.String("notes", "", "notes")
	received := fs.String("received", "", "when the request arrived (RFC 3339; default now; never in the future)")
	deadline := fs.String("deadline", "", "answer due by (RFC 3339; an access request defaults to one month after received)")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := required("config", *path, "kind", *kind, "camera", *cams, "from", *from, "to", *to,
		"reference", *ref, "basis", *basis); err != nil {
		return err
	}
	if *kind != registry.RequestPolice && *kind != registry.RequestAccess {
		return usageErr("--kind: must be police or access, got %q", *kind)
	}
	f, t, err := rangeFlags(*from, *to)
	if err != nil {
		return err
	}
	q := registry.Request{Kind: *kind, From: f, To: t, Reference: strings.TrimSpace(*ref), Authority: strings.TrimSpace(*authority),
		Officer: strings.TrimSpace(*officer), Contact: strings.TrimSpace(*contact), Requester: strings.TrimSpace(*requester),
		Identity: strings.TrimSpace(*identity), Description: strings.TrimSpace(*description), Handler: strings.TrimSpace(*handler),
		Notes: strings.TrimSpace(*notes), VerifiedBy: strings.TrimSpace(*verifiedBy)}
	q.BasisCode, q.Basis = basisFlag(*basis)
	if q.Received, err = optTime("received", *received); err != nil {
		return err
	}
	if q.Deadline, err = optTime("deadline", *deadline); err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	if q.Cameras, err = parseCameras(*cams, ce.cameras()); err != nil {
		return err
	}
	q.Calendar = ce.cfg.Location()
	if strings.TrimSpace(*subjectKey) != "" {
		secret, err := registry.LoadOrCreateSubjectSecret(ce.cfg.StateDir)
		if err != nil {
			return err
		}
		q.SubjectHash = registry.SubjectHash(secret, *subjectKey)
	}
	h, err := retention.OpenRequest(ctx, ce.db, &q, ce.actor, cliSource)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, struct {
			Request admin.RequestJSON `json:"request"`
			Hold    holdView          `json:"hold"`
		}{admin.NewRequestJSON(q, e.now()), viewHold(h)})
	}
	fmt.Fprintf(e.stdout, "request %d\nhold %d\n", q.ID, h.ID)
	return nil
}

// basisFlag reads --basis: a pick-list code (esitutkintalaki, poliisilaki,
// court-order, gdpr-15) stands for its canonical text; anything else is
// free text with code "other".
func basisFlag(v string) (code, text string) {
	v = strings.TrimSpace(v)
	if label, ok := registry.BasisLabels[strings.ToLower(v)]; ok {
		return strings.ToLower(v), label
	}
	return registry.BasisOther, v
}

func requestList(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request list")
	path, asJSON := fs.configFlags("print JSON")
	status := fs.String("status", "", "open or closed")
	kind := fs.String("kind", "", "police or access")
	state := fs.String("state", "", "one of "+strings.Join(registry.RequestStates, ", "))
	text := fs.String("search", "", "text in the reference, authority, officer, requester or handler")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if *status != "" && *status != "open" && *status != "closed" {
		return usageErr("--status: must be open or closed, got %q", *status)
	}
	if *kind != "" && *kind != registry.RequestPolice && *kind != registry.RequestAccess {
		return usageErr("--kind: must be police or access, got %q", *kind)
	}
	if *state != "" && !contains(registry.RequestStates, *state) {
		return usageErr("--state: must be one of %s, got %q", strings.Join(registry.RequestStates, ", "), *state)
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	var qs []registry.Request
	if err := ce.db.View(ctx, func(tx *registry.Tx) error {
		qs, err = tx.RequestsWhere(registry.RequestFilter{Status: *status, Kind: *kind, State: *state, Text: *text})
		return err
	}); err != nil {
		return err
	}
	if *asJSON {
		out := make([]admin.RequestJSON, 0, len(qs))
		for _, q := range qs {
			out = append(out, admin.NewRequestJSON(q, e.now()))
		}
		return printJSON(e, out)
	}
	if len(qs) == 0 {
		fmt.Fprintln(e.stdout, "no requests")
		return nil
	}
	fmt.Fprintf(e.stdout, "%-5s %-7s %-7s %-10s %-6s %-20s %-20s %-20s %s\n", "ID", "KIND", "STATUS", "STATE", "HOLD", "DEADLINE",
		"FROM", "TO", "REFERENCE")
	for _, q := range qs {
		dl := "-"
		if !q.Deadline.IsZero() {
			dl = q.Deadline.Format(time.RFC3339)
		}
		fmt.Fprintf(e.stdout, "%-5d %-7s %-7s %-10s %-6d %-20s %-20s %-20s %s\n", q.ID, q.Kind, q.Status, q.State, q.HoldID, dl,
			q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), q.Reference)
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// viewRequestFull is what `request show --json` prints: the same object as
// GET /api/v1/requests/:id.
func viewRequestFull(e *env) func(f registry.RequestRecord) any {
	return func(f registry.RequestRecord) any {
		v := admin.NewRequestJSON(f.Request, e.now())
		if f.Earlier >= 0 {
			n, free := f.Earlier, f.Earlier == 0
			v.Earlier, v.Free = &n, &free
		}
		for _, ev := range f.Events {
			v.History = append(v.History, admin.RequestEventJSON{State: ev.State, Actor: ev.Actor, Source: ev.Source, Time: ev.Time.UTC(), Note: ev.Note})
		}
		for _, p := range f.Packages {
			v.Packages = append(v.Packages, admin.NewExportJSON(p))
		}
		for _, d := range f.Disclosures {
			v.Disclosures = append(v.Disclosures, admin.NewDisclosureJSON(d))
		}
		return v
	}
}

func requestShow(ctx context.Context, e *env, args []string) error {
	return showByID(ctx, e, args, "request", (*registry.Tx).RequestRecord, viewRequestFull(e), printRequest)
}

func printRequest(e *env, f registry.RequestRecord) {
	w, q := e.stdout, f.Request
	fmt.Fprintf(w, "request %d (%s, %s, %s)\n  cameras:   %s\n  from:      %s\n  to:        %s\n  reference: %s\n  basis:     %s\n",
		q.ID, q.Kind, q.Status, q.State, strings.Join(q.Cameras, ","), q.From.Format(time.RFC3339), q.To.Format(time.RFC3339),
		q.Reference, q.Basis)
	for _, l := range []struct{ k, v string }{{"authority", q.Authority}, {"officer", q.Officer}, {"contact", q.Contact},
		{"requester", q.Requester}, {"identity", q.Identity}, {"verified by", q.VerifiedBy}, {"asked for", q.Description},
		{"handler", q.Handler}, {"notes", q.Notes}} {
		if l.v != "" {
			fmt.Fprintf(w, "  %-10s %s\n", l.k+":", l.v)
		}
	}
	fmt.Fprintf(w, "  received:  %s\n", q.Received.Format(time.RFC3339))
	if !q.Deadline.IsZero() {
		fmt.Fprintf(w, "  deadline:  %s\n", q.Deadline.Format(time.RFC3339))
	}
	if q.ExtensionMonths > 0 {
		fmt.Fprintf(w, "  extended:  +%d month(s): %s\n", q.ExtensionMonths, strings.ReplaceAll(q.ExtensionReason, "\n", "; "))
	}
	if q.Kind == registry.RequestAccess {
		switch {
		case f.Earlier < 0:
			fmt.Fprintln(w, "  free:      unknown (no identifying key recorded)")
		case f.Earlier == 0:
			fmt.Fprintln(w, "  free:      yes (the requester's first request in 12 months)")
		default:
			fmt.Fprintf(w, "  free:      no (%d earlier request(s) in the last 12 months; a reasonable fee may be charged)\n", f.Earlier)
		}
	}
	fmt.Fprintf(w, "  hold:      %d\n  created:   %s by %s\n", q.HoldID, q.Created.Format(time.RFC3339), q.CreatedBy)
	if q.Status == "closed" {
		fmt.Fprintf(w, "  closed:    %s by %s: %s (%s)\n", q.Closed.Format(time.RFC3339), q.ClosedBy, q.Outcome, q.CloseReason)
		if q.Ground != "" {
			fmt.Fprintf(w, "  ground:    %s\n", q.Ground)
		}
	}
	fmt.Fprintln(w, "  history:")
	for _, ev := range f.Events {
		fmt.Fprintf(w, "    %s  %-10s %s (%s)  %s\n", ev.Time.Format(time.RFC3339), ev.State, ev.Actor, ev.Source, ev.Note)
	}
	for _, p := range f.Packages {
		fmt.Fprintf(w, "  package:   %s sha256 %s (%d bytes)\n", p.ID, p.SHA256, p.Bytes)
	}
	for _, d := range f.Disclosures {
		fmt.Fprintf(w, "  delivered: #%d %s to %s (%s) via %s, package %s\n", d.ID, d.At.Format(time.RFC3339), d.Recipient,
			d.RecipientAuthority, d.Channel, d.PackageID)
	}
}

func requestClose(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request close")
	path, asJSON := fs.configFlags("print JSON")
	outcome := fs.String("outcome", "", "delivered, viewed-on-site, refused or withdrawn")
	reason := fs.String("reason", "", "why the request is closed (and why its hold goes or stays)")
	release := fs.Bool("release-hold", false, "also release the request's legal hold (without it the hold stays, e.g. when the police asked for preservation)")
	ground := fs.String("ground", "", "a refusal's ground: "+strings.Join(registry.RefusalGrounds, ", ")+" (default other)")
	id, err := fs.parseID(args, "request")
	if err != nil {
		return err
	}
	if err := required("config", *path, "outcome", *outcome, "reason", *reason); err != nil {
		return err
	}
	switch *outcome {
	case registry.OutcomeDelivered, registry.OutcomeViewed, registry.OutcomeRefused, registry.OutcomeWithdrawn:
	default:
		return usageErr("--outcome: must be delivered, refused or withdrawn (or viewed-on-site), got %q", *outcome)
	}
	if *ground != "" && *outcome != registry.OutcomeRefused {
		return usageErr("--ground: only with --outcome refused")
	}
	if *ground != "" && !contains(registry.RefusalGrounds, *ground) {
		return usageErr("--ground: must be one of %s, got %q", strings.Join(registry.RefusalGrounds, ", "), *ground)
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	q, h, err := retention.CloseRequestWith(ctx, ce.db, id, retention.CloseInput{Outcome: *outcome, Reason: *reason,
		ReleaseHold: *release, Ground: *ground}, ce.actor, cliSource)
	if err != nil {
		return noRequest(id, err)
	}
	if *asJSON {
		out := struct {
			Request      admin.RequestJSON `json:"request"`
			ReleasedHold *holdView         `json:"released_hold"`
		}{Request: admin.NewRequestJSON(q, e.now())}
		if h != nil {
			v := viewHold(*h)
			out.ReleasedHold = &v
		}
		return printJSON(e, out)
	}
	fmt.Fprintf(e.stdout, "request %d closed (%s)\n", q.ID, q.Outcome)
	if h != nil {
		fmt.Fprintf(e.stdout, "hold %d released\n", h.ID)
	} else if q.HoldID != 0 {
		fmt.Fprintf(e.stdout, "hold %d stays in force (release it later with `vahti hold release %d --reason …`)\n", q.HoldID, q.HoldID)
	}
	return nil
}

// requestExport makes the request's package: its cameras and range, the
// manifest naming the request. The request moves to exported.
func requestExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request export")
	path, asJSON := fs.configFlags("print the result as JSON")
	out := fs.String("out", "", "where to write the package (.zip)")
	redactPath := fs.String("redact", "", "regions file (JSON, see the README's Redaction section): make a redacted package")
	keepAudio := fs.Bool("keep-audio", false, "with --redact: keep the audio (re-encoded to AAC); default: none")
	keys := fs.keyFlags()
	passFile := passphraseFlag(fs)
	id, err := fs.parseID(args, "request")
	if err != nil {
		return err
	}
	if err := required("config", *path, "out", *out); err != nil {
		return err
	}
	if *keepAudio && *redactPath == "" {
		return usageErr("--keep-audio: only with --redact (an ordinary package always has the recorded audio)")
	}
	if err := keys.check(); err != nil {
		return err
	}
	pass, err := readPassphrase(*passFile)
	if err != nil {
		return err
	}
	defer clear(pass)
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	ex := ce.exporter()
	wipe, err := ce.requestFootageKeys(ctx, ex, keys, id)
	if err != nil {
		return err
	}
	defer wipe()
	dst := *out
	if pass != nil {
		ex.Encryption, dst = export.EncryptionAgeScrypt, ""
	}
	var res *export.Result
	if *redactPath != "" {
		res, err = redactedForRequest(ctx, e, ce, ex, id, *redactPath, *keepAudio, dst)
	} else {
		res, err = exportForRequest(ctx, ex, id, ce.actor, cliSource, dst)
	}
	if err == nil {
		var enc *encrypted
		if enc, err = ce.encryptPackage(ctx, res, pass, *out); err == nil {
			return printRequestExport(e, id, res, *out, enc, *asJSON)
		}
	}
	if errors.Is(err, export.ErrBadRequest) {
		return usageErr("%v", err)
	}
	return noRequest(id, err)
}

// printRequestExport reports request export's package.
func printRequestExport(e *env, id int64, res *export.Result, out string, enc *encrypted, asJSON bool) error {
	if asJSON {
		m := res.Manifest
		v := map[string]any{"request": id, "id": res.Export.ID, "path": res.Path, "out": out,
			"sha256": res.Export.SHA256, "bytes": res.Export.Bytes, "clips": m.Clips, "gaps": m.Gaps, "warnings": m.Warnings,
			"redacted": m.Redacted}
		enc.addTo(v)
		return printJSON(e, v)
	}
	if enc != nil {
		fmt.Fprintf(e.stdout, "request %d: ", id)
		enc.print(e)
		fmt.Fprintf(e.stdout, "stored as %s\n", res.Path)
	} else {
		fmt.Fprintf(e.stdout, "request %d: export %s written to %s (%d bytes, sha256 %s)\nstored as %s\n", id, res.Export.ID, out,
			res.Export.Bytes, res.Export.SHA256, res.Path)
	}
	for _, w := range res.Manifest.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	if n := countTampered(res.Manifest); n > 0 {
		fmt.Fprintf(e.stderr, "WARNING: %d source segment(s) failed their SHA-256 check and were excluded; see manifest.json and the audit log\n", n)
	}
	return nil
}

// exportForRequest builds the package of an open request and links it.
// The transition is checked before the (long) build and again after it.
func exportForRequest(ctx context.Context, ex *export.Exporter, id int64, actor, source, out string) (*export.Result, error) {
	var q registry.Request
	if err := ex.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		if q, err = tx.Request(id); err != nil {
			return err
		}
		return registry.CheckTransition(q, registry.StateExported)
	}); err != nil {
		return nil, err
	}
	cams := q.Cameras
	if len(cams) == 1 && cams[0] == registry.AllCameras {
		cams = ex.Cameras
	}
	res, err := ex.Build(ctx, export.Request{Cameras: cams, From: q.From, To: q.To,
		Reason: fmt.Sprintf("%s request %d: %s", q.Kind, q.ID, q.Reference), CaseRef: q.Reference,
		Actor: actor, Source: source, Request: q.Ref()}, out)
	if err != nil {
		return nil, err
	}
	if err := ex.DB.Update(ctx, func(tx *registry.Tx) error {
		return tx.RequestExported(id, res.Export, actor, source)
	}); err != nil {
		return res, fmt.Errorf("package %s was written but not linked to request %d: %w", res.Export.ID, id, err)
	}
	return res, nil
}

func requestDeliver(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request deliver")
	path, asJSON := fs.configFlags("print the entry as JSON")
	pkg := fs.String("package", "", "the package id (made with `vahti request export`)")
	recipient := fs.String("recipient", "", "who received it (name)")
	authority := fs.String("authority", "", "the recipient's authority (default: the request's)")
	channel := fs.String("channel", "", "usb, in-person, secure-email, post or other")
	at := fs.String("at", "", "when it was handed over (RFC 3339; default now; never in the future)")
	handedBy := fs.String("handed-by", "", "who handed it over (default: you)")
	basis := fs.String("basis", "", "legal basis of the disclosure (default: the request's)")
	ack := fs.Bool("acknowledged", false, "the recipient acknowledged receipt (signed the receipt)")
	ackNote := fs.String("ack-note", "", "about the acknowledgement (e.g. where the signed receipt is filed)")
	corrects := fs.Int64("corrects", 0, "id of a disclosure-log entry this one corrects")
	note := fs.String("note", "", "note (required for a correction: what was wrong)")
	id, err := fs.parseID(args, "request")
	if err != nil {
		return err
	}
	if err := required("config", *path, "package", *pkg, "recipient", *recipient, "channel", *channel); err != nil {
		return err
	}
	if !contains(registry.DisclosureChannels, *channel) {
		return usageErr("--channel: must be one of %s, got %q", strings.Join(registry.DisclosureChannels, ", "), *channel)
	}
	d := registry.Disclosure{RequestID: id, PackageID: *pkg, Recipient: *recipient, RecipientAuthority: strings.TrimSpace(*authority),
		Channel: *channel, HandedBy: *handedBy, Basis: strings.TrimSpace(*basis), Acknowledged: *ack, AckNote: strings.TrimSpace(*ackNote),
		Corrects: *corrects, Note: strings.TrimSpace(*note)}
	if d.At, err = optTime("at", *at); err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	if err := ce.db.Update(ctx, func(tx *registry.Tx) error { return tx.RecordDelivery(&d, ce.actor, cliSource) }); err != nil {
		return noRequest(id, err)
	}
	if *asJSON {
		return printJSON(e, admin.NewDisclosureJSON(d))
	}
	fmt.Fprintf(e.stdout, "disclosure %d: package %s (sha256 %s) to %s via %s\n", d.ID, d.PackageID, d.PackageSHA256, d.Recipient, d.Channel)
	return nil
}
