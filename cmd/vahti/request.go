package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"vahti/registry"
	"vahti/retention"
)

// runRequest: vahti request add|list|show|close.
func runRequest(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "request", args,
		subcommand{"add", requestAdd},
		subcommand{"list", requestList},
		subcommand{"show", requestShow},
		subcommand{"close", requestClose},
	)
}

// requestView is a request as the CLI prints it in JSON.
type requestView struct {
	ID          int64      `json:"id"`
	Kind        string     `json:"kind"`
	Status      string     `json:"status"`
	Cameras     []string   `json:"cameras"`
	From        time.Time  `json:"from"`
	To          time.Time  `json:"to"`
	Reference   string     `json:"reference"`
	Basis       string     `json:"basis"`
	Authority   string     `json:"authority"`
	Requester   string     `json:"requester"`
	CreatedBy   string     `json:"created_by"`
	Created     time.Time  `json:"created"`
	HoldID      int64      `json:"hold"`
	Outcome     string     `json:"outcome,omitempty"`
	ClosedBy    string     `json:"closed_by,omitempty"`
	Closed      *time.Time `json:"closed,omitempty"`
	CloseReason string     `json:"close_reason,omitempty"`
}

func viewRequest(q registry.Request) requestView {
	v := requestView{ID: q.ID, Kind: q.Kind, Status: q.Status, Cameras: q.Cameras, From: q.From, To: q.To,
		Reference: q.Reference, Basis: q.Basis, Authority: q.Authority, Requester: q.Requester, CreatedBy: q.CreatedBy,
		Created: q.Created, HoldID: q.HoldID, Outcome: q.Outcome, ClosedBy: q.ClosedBy, CloseReason: q.CloseReason}
	if !q.Closed.IsZero() {
		t := q.Closed
		v.Closed = &t
	}
	return v
}

func requestAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request add")
	path := fs.String("config", "", "config file")
	kind := fs.String("kind", "", "police or access")
	cams := fs.String("camera", "", "camera id(s), comma-separated, or all")
	from := fs.String("from", "", "start of the footage asked for (RFC 3339)")
	to := fs.String("to", "", "end of the footage asked for (RFC 3339)")
	ref := fs.String("reference", "", "the request's reference (e.g. police case number)")
	basis := fs.String("basis", "", "legal basis of the request")
	authority := fs.String("authority", "", "requesting authority")
	requester := fs.String("requester", "", "person who asked")
	asJSON := fs.Bool("json", false, "print the request and its hold as JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.need(pos, 0, "no arguments"); err != nil {
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
	db, known, err := openWithConfig(e, *path)
	if err != nil {
		return err
	}
	defer db.Close()
	q := registry.Request{Kind: *kind, From: f, To: t, Reference: strings.TrimSpace(*ref), Basis: strings.TrimSpace(*basis),
		Authority: *authority, Requester: *requester}
	if q.Cameras, err = parseCameras(*cams, known); err != nil {
		return err
	}
	h, err := retention.OpenRequest(ctx, db, &q, cliActor(e), cliSource)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, struct {
			Request requestView `json:"request"`
			Hold    holdView    `json:"hold"`
		}{viewRequest(q), viewHold(h)})
	}
	fmt.Fprintf(e.stdout, "request %d\nhold %d\n", q.ID, h.ID)
	return nil
}

func requestList(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request list")
	path := fs.String("config", "", "config file")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.need(pos, 0, "no arguments"); err != nil {
		return err
	}
	db, _, err := openWithConfig(e, *path)
	if err != nil {
		return err
	}
	defer db.Close()
	var qs []registry.Request
	if err := db.View(ctx, func(tx *registry.Tx) error {
		qs, err = tx.Requests()
		return err
	}); err != nil {
		return err
	}
	if *asJSON {
		out := make([]requestView, 0, len(qs))
		for _, q := range qs {
			out = append(out, viewRequest(q))
		}
		return printJSON(e, out)
	}
	if len(qs) == 0 {
		fmt.Fprintln(e.stdout, "no requests")
		return nil
	}
	fmt.Fprintf(e.stdout, "%-5s %-7s %-7s %-6s %-20s %-20s %s\n", "ID", "KIND", "STATUS", "HOLD", "FROM", "TO", "REFERENCE")
	for _, q := range qs {
		fmt.Fprintf(e.stdout, "%-5d %-7s %-7s %-6d %-20s %-20s %s\n", q.ID, q.Kind, q.Status, q.HoldID,
			q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), q.Reference)
	}
	return nil
}

func requestShow(ctx context.Context, e *env, args []string) error {
	return showByID(ctx, e, args, "request", (*registry.Tx).Request,
		func(q registry.Request) any { return viewRequest(q) }, printRequest)
}

func printRequest(e *env, q registry.Request) {
	w := e.stdout
	fmt.Fprintf(w, "request %d (%s, %s)\n  cameras:   %s\n  from:      %s\n  to:        %s\n  reference: %s\n  basis:     %s\n",
		q.ID, q.Kind, q.Status, strings.Join(q.Cameras, ","), q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), q.Reference, q.Basis)
	if q.Authority != "" {
		fmt.Fprintf(w, "  authority: %s\n", q.Authority)
	}
	if q.Requester != "" {
		fmt.Fprintf(w, "  requester: %s\n", q.Requester)
	}
	fmt.Fprintf(w, "  hold:      %d\n  created:   %s by %s\n", q.HoldID, q.Created.Format(time.RFC3339), q.CreatedBy)
	if q.Status == "closed" {
		fmt.Fprintf(w, "  closed:    %s by %s: %s (%s)\n", q.Closed.Format(time.RFC3339), q.ClosedBy, q.Outcome, q.CloseReason)
	}
}

func requestClose(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "request close")
	path := fs.String("config", "", "config file")
	outcome := fs.String("outcome", "", "delivered, refused or withdrawn")
	reason := fs.String("reason", "", "why the request is closed")
	release := fs.Bool("release-hold", false, "also release the request's legal hold")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	id, err := idArg(fs, pos, "request")
	if err != nil {
		return err
	}
	if err := required("config", *path, "outcome", *outcome, "reason", *reason); err != nil {
		return err
	}
	switch *outcome {
	case registry.OutcomeDelivered, registry.OutcomeRefused, registry.OutcomeWithdrawn:
	default:
		return usageErr("--outcome: must be delivered, refused or withdrawn, got %q", *outcome)
	}
	db, _, err := openWithConfig(e, *path)
	if err != nil {
		return err
	}
	defer db.Close()
	q, h, err := retention.CloseRequest(ctx, db, id, *outcome, strings.TrimSpace(*reason), *release, cliActor(e), cliSource)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("no request with id %d", id)
		}
		return err
	}
	if *asJSON {
		out := struct {
			Request      requestView `json:"request"`
			ReleasedHold *holdView   `json:"released_hold"`
		}{Request: viewRequest(q)}
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
		fmt.Fprintf(e.stdout, "hold %d stays in force (release it with --release-hold or `vahti hold release`)\n", q.HoldID)
	}
	return nil
}
