package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"vahti/registry"
	"vahti/retention"
)

// runHold: vahti hold add|list|show|release.
func runHold(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "hold", args,
		subcommand{"add", holdAdd},
		subcommand{"list", holdList},
		subcommand{"show", holdShow},
		subcommand{"release", holdRelease},
	)
}

// holdView is a hold as the CLI prints it in JSON.
type holdView struct {
	ID            int64      `json:"id"`
	Active        bool       `json:"active"`
	Cameras       []string   `json:"cameras"`
	From          time.Time  `json:"from"`
	To            time.Time  `json:"to"`
	Reason        string     `json:"reason"`
	CaseRef       string     `json:"case"`
	Basis         string     `json:"basis"`
	CreatedBy     string     `json:"created_by"`
	Created       time.Time  `json:"created"`
	Review        *time.Time `json:"review"`
	ReleasedBy    string     `json:"released_by,omitempty"`
	Released      *time.Time `json:"released,omitempty"`
	ReleaseReason string     `json:"release_reason,omitempty"`
	RequestID     int64      `json:"request,omitempty"`
}

func viewHold(h registry.Hold) holdView {
	v := holdView{ID: h.ID, Active: h.Active(), Cameras: h.Cameras, From: h.From, To: h.To, Reason: h.Reason,
		CaseRef: h.CaseRef, Basis: h.Basis, CreatedBy: h.CreatedBy, Created: h.Created, ReleasedBy: h.ReleasedBy,
		ReleaseReason: h.ReleaseReason, RequestID: h.RequestID}
	if !h.Review.IsZero() {
		t := h.Review
		v.Review = &t
	}
	if !h.Released.IsZero() {
		t := h.Released
		v.Released = &t
	}
	return v
}

// parseID parses the flags of a command that acts on one registry row and
// its single positional id (show, release, close, …).
func (fs *flagSet) parseID(args []string, what string) (int64, error) {
	pos, err := fs.parse(args)
	if err != nil {
		return 0, err
	}
	if err := fs.need(pos, 1, what+" id"); err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErr("%s: %q is not a %s id (a positive number)", fs.Name(), pos[0], what)
	}
	return id, nil
}

func holdAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "hold add")
	path, asJSON := fs.configFlags("print the hold as JSON")
	cams := fs.String("camera", "", "camera id(s), comma-separated, or all")
	from := fs.String("from", "", "start of the held footage (RFC 3339)")
	to := fs.String("to", "", "end of the held footage (RFC 3339; may be in the future)")
	reason := fs.String("reason", "", "why the footage is held")
	caseRef := fs.String("case", "", "case or reference number")
	basis := fs.String("basis", "", "legal basis")
	review := fs.String("review", "", "review date (RFC 3339)")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := required("config", *path, "camera", *cams, "from", *from, "to", *to, "reason", *reason); err != nil {
		return err
	}
	f, t, err := rangeFlags(*from, *to)
	if err != nil {
		return err
	}
	h := registry.Hold{From: f, To: t, Reason: strings.TrimSpace(*reason), CaseRef: *caseRef, Basis: *basis}
	if h.Review, err = optTime("review", *review); err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	if h.Cameras, err = parseCameras(*cams, ce.cameras()); err != nil {
		return err
	}
	if err := retention.AddHold(ctx, ce.db, &h, ce.actor, cliSource); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, viewHold(h))
	}
	fmt.Fprintln(e.stdout, h.ID)
	return nil
}

func holdList(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "hold list")
	path, asJSON := fs.configFlags("print JSON")
	active := fs.Bool("active", false, "only active holds")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	var hs []registry.Hold
	if err := ce.db.View(ctx, func(tx *registry.Tx) error {
		hs, err = tx.Holds(*active)
		return err
	}); err != nil {
		return err
	}
	if *asJSON {
		out := make([]holdView, 0, len(hs))
		for _, h := range hs {
			out = append(out, viewHold(h))
		}
		return printJSON(e, out)
	}
	if len(hs) == 0 {
		fmt.Fprintln(e.stdout, "no holds")
		return nil
	}
	fmt.Fprintf(e.stdout, "%-5s %-8s %-20s %-20s %-20s %s\n", "ID", "STATE", "CAMERAS", "FROM", "TO", "REASON")
	for _, h := range hs {
		st := "active"
		if !h.Active() {
			st = "released"
		}
		fmt.Fprintf(e.stdout, "%-5d %-8s %-20s %-20s %-20s %s\n", h.ID, st, strings.Join(h.Cameras, ","),
			h.From.Format(time.RFC3339), h.To.Format(time.RFC3339), h.Reason)
	}
	return nil
}

func holdShow(ctx context.Context, e *env, args []string) error {
	return showByID(ctx, e, args, "hold", (*registry.Tx).Hold,
		func(h registry.Hold) any { return viewHold(h) }, printHold)
}

// showByID is "vahti X show ID [--json]" for any registry row with an id.
func showByID[T any](ctx context.Context, e *env, args []string, what string, get func(*registry.Tx, int64) (T, error),
	view func(T) any, print func(*env, T)) error {
	fs := newFlags(e, what+" show")
	path, asJSON := fs.configFlags("print JSON")
	id, err := fs.parseID(args, what)
	if err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	var row T
	if err := ce.db.View(ctx, func(tx *registry.Tx) error {
		row, err = get(tx, id)
		return err
	}); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("no %s with id %d", what, id)
		}
		return err
	}
	if *asJSON {
		return printJSON(e, view(row))
	}
	print(e, row)
	return nil
}

func printHold(e *env, h registry.Hold) {
	w := e.stdout
	st := "active"
	if !h.Active() {
		st = "released"
	}
	fmt.Fprintf(w, "hold %d (%s)\n", h.ID, st)
	fmt.Fprintf(w, "  cameras: %s\n  from:    %s\n  to:      %s\n  reason:  %s\n", strings.Join(h.Cameras, ","),
		h.From.Format(time.RFC3339), h.To.Format(time.RFC3339), h.Reason)
	if h.CaseRef != "" {
		fmt.Fprintf(w, "  case:    %s\n", h.CaseRef)
	}
	if h.Basis != "" {
		fmt.Fprintf(w, "  basis:   %s\n", h.Basis)
	}
	if h.RequestID != 0 {
		fmt.Fprintf(w, "  request: %d\n", h.RequestID)
	}
	if !h.Review.IsZero() {
		fmt.Fprintf(w, "  review:  %s\n", h.Review.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "  created: %s by %s\n", h.Created.Format(time.RFC3339), h.CreatedBy)
	if !h.Active() {
		fmt.Fprintf(w, "  released: %s by %s: %s\n", h.Released.Format(time.RFC3339), h.ReleasedBy, h.ReleaseReason)
	}
}

func holdRelease(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "hold release")
	path, asJSON := fs.configFlags("print the released hold as JSON")
	reason := fs.String("reason", "", "why the hold ends")
	id, err := fs.parseID(args, "hold")
	if err != nil {
		return err
	}
	if err := required("config", *path, "reason", *reason); err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	h, err := retention.ReleaseHold(ctx, ce.db, id, ce.actor, cliSource, strings.TrimSpace(*reason))
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("no hold with id %d", id)
		}
		return err
	}
	if *asJSON {
		return printJSON(e, viewHold(h))
	}
	fmt.Fprintf(e.stdout, "hold %d released; footage it alone kept that is past retention goes at the next sweep\n", h.ID)
	return nil
}
