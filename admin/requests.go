package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"vahti/registry"
)

// RequestService registers and closes authority and access requests;
// retention owns the rules (the hold placed in the same transaction, the
// hold released only by closing).
type RequestService interface {
	OpenRequest(ctx context.Context, q *registry.Request, actor, source string) (registry.Hold, error)
	CloseRequest(ctx context.Context, id int64, in RequestClose, actor, source string) (registry.Request, *registry.Hold, error)
}

// RequestClose is how a request is closed. Its fields are exactly
// retention.CloseInput's, so serve.go can convert.
type RequestClose struct {
	Outcome     string
	Reason      string
	ReleaseHold bool
	Ground      string
}

// RequestFuncs adapts two funcs to RequestService.
type RequestFuncs struct {
	Open  func(ctx context.Context, q *registry.Request, actor, source string) (registry.Hold, error)
	Close func(ctx context.Context, id int64, in RequestClose, actor, source string) (registry.Request, *registry.Hold, error)
}

func (f RequestFuncs) OpenRequest(ctx context.Context, q *registry.Request, actor, source string) (registry.Hold, error) {
	return f.Open(ctx, q, actor, source)
}
func (f RequestFuncs) CloseRequest(ctx context.Context, id int64, in RequestClose, actor, source string) (registry.Request, *registry.Hold, error) {
	return f.Close(ctx, id, in, actor, source)
}

// deadlineSoon is how far ahead the dashboard warns of a request's deadline.
const deadlineSoon = 3 * 24 * time.Hour

// requestInput is a request as typed into the form or sent to the API.
type requestInput struct {
	Kind                  string
	Cameras               []string
	From, To              string
	FromPick, ToPick      string
	Reference             string
	BasisCode, Basis      string
	Authority, Officer    string
	Contact, Requester    string
	Identity, Description string
	Received, Deadline    string
	Handler, Notes        string
	// VerifiedBy is the account that verified an access requester's
	// identity; SubjectKey what identifies them (name and date of birth,
	// say), of which only a keyed hash is stored.
	VerifiedBy, SubjectKey string
}

// requestDetail is one request with everything its page shows.
type requestDetail struct {
	registry.RequestRecord
	Hold registry.Hold
}

// Free reports whether an access request is the requester's free one of
// the last 12 months (GDPR art. 15(3)).
func (d requestDetail) Free() bool { return d.Earlier == 0 }

// NoKey: no identifying key was recorded, so freeness cannot be told.
func (d requestDetail) NoKey() bool { return d.Earlier < 0 }

// Overdue and DueSoon drive the deadline warnings (list, page, dashboard).
func (d requestDetail) Overdue(now time.Time) bool { return deadlineOverdue(d.Request, now) }

func deadlineOverdue(q registry.Request, now time.Time) bool {
	return awaiting(q) && !q.Deadline.IsZero() && now.After(q.Deadline)
}

func deadlineSoonFor(q registry.Request, now time.Time) bool {
	return awaiting(q) && !q.Deadline.IsZero() && !now.After(q.Deadline) && q.Deadline.Sub(now) <= deadlineSoon
}

// awaiting: the requester still waits for an answer.
func awaiting(q registry.Request) bool {
	return q.Open() && q.State != registry.StateDelivered && q.State != registry.StateViewed
}

func (s *Server) requestList(ctx context.Context, f registry.RequestFilter) ([]registry.Request, error) {
	var out []registry.Request
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		out, err = tx.RequestsWhere(f)
		return err
	})
	return out, err
}

func (s *Server) requestDetail(ctx context.Context, id int64) (requestDetail, error) {
	var d requestDetail
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		if d.RequestRecord, err = tx.RequestRecord(id); err != nil || d.HoldID == 0 {
			return err
		}
		d.Hold, err = tx.Hold(d.HoldID)
		return err
	})
	return d, err
}

// keepers are the accounts a request can be handed to.
func (s *Server) keepers(ctx context.Context) ([]string, error) {
	var out []string
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		us, err := tx.Users()
		for _, u := range us {
			if u.Has(registry.RoleKeeper) && !u.Disabled {
				out = append(out, u.Name)
			}
		}
		return err
	})
	return out, err
}

func (s *Server) parseLocal(v string) (time.Time, error) {
	if strings.TrimSpace(v) == "" {
		return time.Time{}, nil
	}
	return parseWhen(v, s.loc, "")
}

func (s *Server) registerRequest(ctx context.Context, p *principal, ip string, in requestInput) (registry.Request, registry.Hold, error) {
	if s.cfg.Requests == nil {
		return registry.Request{}, registry.Hold{}, uerr("error.unavailable")
	}
	q := registry.Request{Kind: in.Kind, Reference: strings.TrimSpace(in.Reference), BasisCode: in.BasisCode,
		Basis: strings.TrimSpace(in.Basis), Authority: strings.TrimSpace(in.Authority), Officer: strings.TrimSpace(in.Officer),
		Contact: strings.TrimSpace(in.Contact), Requester: strings.TrimSpace(in.Requester), Identity: strings.TrimSpace(in.Identity),
		Description: strings.TrimSpace(in.Description), Handler: strings.TrimSpace(in.Handler), Notes: strings.TrimSpace(in.Notes),
		VerifiedBy: strings.TrimSpace(in.VerifiedBy), Calendar: s.loc}
	if q.Kind != registry.RequestPolice && q.Kind != registry.RequestAccess {
		return q, registry.Hold{}, uerr("req.err.kind")
	}
	if q.BasisCode == "" {
		q.BasisCode = registry.BasisOther
	}
	if _, ok := registry.BasisLabels[q.BasisCode]; !ok && q.BasisCode != registry.BasisOther {
		return q, registry.Hold{}, uerr("req.err.basis")
	}
	if q.BasisCode == registry.BasisOther && q.Basis == "" {
		return q, registry.Hold{}, uerr("req.err.basis")
	}
	if q.BasisCode != registry.BasisOther {
		label := registry.BasisLabels[q.BasisCode]
		if q.Basis != "" {
			label += ": " + q.Basis // the section or detail typed beside the pick
		}
		q.Basis = label
	}
	if q.Reference == "" {
		return q, registry.Hold{}, uerr("req.err.reference")
	}
	var err error
	if q.Cameras, err = s.parseCameras(in.Cameras, true); err != nil {
		return q, registry.Hold{}, err
	}
	if q.From, q.To, err = s.parseRange(rangeInput{From: in.From, To: in.To, FromPick: in.FromPick, ToPick: in.ToPick}); err != nil {
		return q, registry.Hold{}, err
	}
	if q.Received, err = s.parseLocal(in.Received); err != nil {
		return q, registry.Hold{}, err
	}
	if q.Deadline, err = s.parseLocal(in.Deadline); err != nil {
		return q, registry.Hold{}, err
	}
	now := s.now()
	if q.Received.After(now.Add(time.Minute)) {
		return q, registry.Hold{}, uerr("req.err.received")
	}
	if !q.Deadline.IsZero() && !q.Deadline.After(orNow(q.Received, now)) {
		return q, registry.Hold{}, uerr("req.err.deadline")
	}
	if q.Handler == "" {
		q.Handler = p.user.Name
	}
	if q.VerifiedBy != "" {
		if err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
			u, err := tx.UserByName(q.VerifiedBy)
			if err != nil || u.Disabled {
				return uerr("req.err.verifiedby")
			}
			return nil
		}); err != nil {
			return q, registry.Hold{}, err
		}
	}
	if strings.TrimSpace(in.SubjectKey) != "" {
		secret, err := registry.LoadOrCreateSubjectSecret(s.cfg.StateDir)
		if err != nil {
			return q, registry.Hold{}, err
		}
		q.SubjectHash = registry.SubjectHash(secret, in.SubjectKey)
	}
	h, err := s.cfg.Requests.OpenRequest(ctx, &q, p.user.Name, ip)
	return q, h, err
}

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// exportRequest makes the package of a request: its cameras and range,
// the manifest naming it; the request moves to exported.
func (s *Server) exportRequest(ctx context.Context, p *principal, ip string, id int64) (registry.Export, error) {
	if s.cfg.Export == nil {
		return registry.Export{}, uerr("error.unavailable")
	}
	var q registry.Request
	if err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		if q, err = tx.Request(id); err != nil {
			return err
		}
		return registry.CheckTransition(q, registry.StateExported)
	}); err != nil {
		return registry.Export{}, err
	}
	cams := q.Cameras
	if len(cams) == 1 && cams[0] == registry.AllCameras {
		cams = s.cameraIDs()
	}
	e, err := s.cfg.Export(ctx, ExportRequest{Cameras: cams, From: q.From, To: q.To,
		Reason: fmt.Sprintf("%s request %d: %s", q.Kind, q.ID, q.Reference), CaseRef: q.Reference,
		Actor: p.user.Name, Source: ip, Request: q.Ref()}, "")
	if err != nil {
		return e, err
	}
	err = s.cfg.DB.Update(ctx, func(tx *registry.Tx) error { return tx.RequestExported(id, e, p.user.Name, ip) })
	if err != nil {
		return e, fmt.Errorf("package %s was made but not linked to request %d: %w", e.ID, id, err)
	}
	return e, nil
}

// deliveryInput is a handover as typed into the form or sent to the API.
type deliveryInput struct {
	Package, Recipient, Authority string
	Channel, At, HandedBy, Basis  string
	Acknowledged                  bool
	AckNote, Note                 string
	Corrects                      int64
}

func (s *Server) deliverRequest(ctx context.Context, p *principal, ip string, id int64, in deliveryInput) (registry.Disclosure, error) {
	d := registry.Disclosure{RequestID: id, PackageID: strings.TrimSpace(in.Package), Recipient: strings.TrimSpace(in.Recipient),
		RecipientAuthority: strings.TrimSpace(in.Authority), Channel: in.Channel, HandedBy: strings.TrimSpace(in.HandedBy),
		Basis: strings.TrimSpace(in.Basis), Acknowledged: in.Acknowledged, AckNote: strings.TrimSpace(in.AckNote),
		Note: strings.TrimSpace(in.Note), Corrects: in.Corrects}
	if d.PackageID == "" {
		return d, uerr("req.err.package")
	}
	if d.Recipient == "" {
		return d, uerr("req.err.recipient")
	}
	if !contains(registry.DisclosureChannels, d.Channel) {
		return d, uerr("req.err.channel")
	}
	var err error
	if d.At, err = s.parseLocal(in.At); err != nil {
		return d, err
	}
	if d.At.After(s.now().Add(time.Minute)) {
		return d, uerr("req.err.at")
	}
	if d.Corrects != 0 && d.Note == "" {
		return d, uerr("req.err.correctionnote")
	}
	err = s.cfg.DB.Update(ctx, func(tx *registry.Tx) error { return tx.RecordDelivery(&d, p.user.Name, ip) })
	return d, err
}

// closeRequest closes a request. choice must be "release" or "keep": the
// keeper decides about the hold every time, with a reason either way.
func (s *Server) closeRequest(ctx context.Context, p *principal, ip string, id int64, outcome, choice, reason, ground string) (registry.Request, *registry.Hold, error) {
	if s.cfg.Requests == nil {
		return registry.Request{}, nil, uerr("error.unavailable")
	}
	if !contains([]string{registry.OutcomeDelivered, registry.OutcomeViewed, registry.OutcomeRefused, registry.OutcomeWithdrawn}, outcome) {
		return registry.Request{}, nil, uerr("req.err.outcome")
	}
	if choice != "release" && choice != "keep" {
		return registry.Request{}, nil, uerr("req.err.holdchoice")
	}
	if strings.TrimSpace(reason) == "" {
		return registry.Request{}, nil, uerr("req.err.closereason")
	}
	if outcome != registry.OutcomeRefused {
		ground = ""
	} else if ground != "" && !contains(registry.RefusalGrounds, ground) {
		return registry.Request{}, nil, uerr("req.err.ground")
	} else if ground == "" {
		// A refusal in writing states its ground: an access request's
		// refusal names one from the list (an authority's defaults to other).
		var q registry.Request
		if err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
			var err error
			q, err = tx.Request(id)
			return err
		}); err != nil {
			return q, nil, err
		}
		if q.Kind == registry.RequestAccess {
			return q, nil, uerr("req.err.groundrequired")
		}
	}
	return s.cfg.Requests.CloseRequest(ctx, id, RequestClose{Outcome: outcome, Reason: strings.TrimSpace(reason),
		ReleaseHold: choice == "release", Ground: ground}, p.user.Name, ip)
}

// deadlines are the requests the dashboard warns about: overdue, or due
// within three days, and not yet answered.
type deadlineItem struct {
	registry.Request
	Overdue bool
}

func (s *Server) deadlines(ctx context.Context) ([]deadlineItem, error) {
	qs, err := s.requestList(ctx, registry.RequestFilter{Status: "open"})
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []deadlineItem
	for _, q := range qs {
		if deadlineOverdue(q, now) || deadlineSoonFor(q, now) {
			out = append(out, deadlineItem{Request: q, Overdue: deadlineOverdue(q, now)})
		}
	}
	return out, nil
}

// requestErrorText renders the registry's refusals about requests in
// the user's language.
func requestErrorText(lang string, err error) (string, bool) {
	var te *registry.TransitionError
	if errors.As(err, &te) {
		if te.Closed {
			return trf(lang, "req.err.closed", te.ID, stateText(lang, te.From)), true
		}
		hint := tr(lang, "req.hint.default")
		switch {
		case te.To == registry.StateDelivered && (te.From == registry.StateReceived || te.From == registry.StateHeld):
			hint = tr(lang, "req.hint.export")
		case te.From == registry.StateDelivered:
			hint = tr(lang, "req.hint.delivered")
		}
		return trf(lang, "req.err.transition", te.ID, stateText(lang, te.From), stateText(lang, te.To), hint), true
	}
	var he *registry.HoldOfOpenRequestError
	if errors.As(err, &he) {
		return trf(lang, "holds.ofopenrequest", he.HoldID, he.RequestID), true
	}
	return "", false
}

// auditPrint records that a receipt or report was shown for printing or
// downloaded: who saw which personal data, when.
func (s *Server) auditPrint(ctx context.Context, p *principal, ip, kind, object string, detail map[string]any) error {
	return s.audit(ctx, p, ip, kind, object, detail)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// openRequestIDs are the requests still open, for the holds page.
func (s *Server) openRequestIDs(ctx context.Context) (map[int64]bool, error) {
	qs, err := s.requestList(ctx, registry.RequestFilter{Status: "open"})
	out := map[int64]bool{}
	for _, q := range qs {
		out[q.ID] = true
	}
	return out, err
}

// stateText names a request state in the user's language.
func stateText(lang, state string) string { return tr(lang, "req.state"+"."+state) }

func (s *Server) updateRequest(ctx context.Context, p *principal, ip string, id int64, handler, notes string) (registry.Request, error) {
	var q registry.Request
	err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		var err error
		q, err = tx.SetRequestNotes(id, strings.TrimSpace(handler), strings.TrimSpace(notes), p.user.Name, ip)
		return err
	})
	return q, err
}

// extendRequest extends an access request's deadline (GDPR art. 12(3)).
func (s *Server) extendRequest(ctx context.Context, p *principal, ip string, id int64, months int, reason string) (registry.Request, error) {
	if months < 1 || months > registry.MaxExtensionMonths || strings.TrimSpace(reason) == "" {
		return registry.Request{}, uerr("req.err.extend")
	}
	var q registry.Request
	err := s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		cur, err := tx.Request(id)
		if err != nil {
			return err
		}
		if cur.Kind != registry.RequestAccess || !cur.Open() || cur.ExtensionMonths+months > registry.MaxExtensionMonths {
			return uerr("req.err.extend")
		}
		q, err = tx.ExtendDeadline(id, months, reason, s.loc, p.user.Name, ip)
		return err
	})
	return q, err
}

// viewInput is a viewing on site as typed into the form or sent to the API.
type viewInput struct{ ViewedBy, At, Note string }

// viewRequest records that the requester watched the footage on site.
func (s *Server) viewRequest(ctx context.Context, p *principal, ip string, id int64, in viewInput) (registry.Request, error) {
	at, err := s.parseLocal(in.At)
	if err != nil {
		return registry.Request{}, err
	}
	if at.After(s.now().Add(time.Minute)) {
		return registry.Request{}, uerr("req.err.at")
	}
	var q registry.Request
	err = s.cfg.DB.Update(ctx, func(tx *registry.Tx) error {
		cur, err := tx.Request(id)
		if err != nil {
			return err
		}
		by := strings.TrimSpace(in.ViewedBy)
		if by == "" {
			by = p.user.Name
		}
		u, uerrr := tx.UserByName(by)
		if cur.Kind != registry.RequestAccess || uerrr != nil || !u.Has(registry.RoleKeeper) || u.Disabled {
			return uerr("req.err.view")
		}
		if err := registry.CheckTransition(cur, registry.StateViewed); err != nil {
			return err
		}
		q, err = tx.RecordViewing(id, by, at, in.Note, p.user.Name, ip)
		return err
	})
	return q, err
}
