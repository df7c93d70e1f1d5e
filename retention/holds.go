package retention

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"vahti/registry"
)

// HoldDetail is the detail of "hold.add" audit entries.
type HoldDetail struct {
	Cameras   []string   `json:"cameras"`
	From      time.Time  `json:"from"`
	To        time.Time  `json:"to"`
	Reason    string     `json:"reason"`
	CaseRef   string     `json:"case,omitempty"`
	Basis     string     `json:"basis,omitempty"`
	Review    *time.Time `json:"review,omitempty"`
	RequestID int64      `json:"request,omitempty"`
}

func holdDetail(h registry.Hold) HoldDetail {
	d := HoldDetail{Cameras: h.Cameras, From: h.From, To: h.To, Reason: h.Reason, CaseRef: h.CaseRef,
		Basis: h.Basis, RequestID: h.RequestID}
	if !h.Review.IsZero() {
		r := h.Review
		d.Review = &r
	}
	return d
}

// ValidateHold checks a hold as a user entered it.
func ValidateHold(h *registry.Hold) error {
	var probs []string
	if len(h.Cameras) == 0 {
		probs = append(probs, "at least one camera (or all) is required")
	}
	for _, c := range h.Cameras {
		if strings.TrimSpace(c) == "" || strings.Contains(c, ",") {
			probs = append(probs, fmt.Sprintf("invalid camera id %q", c))
		}
	}
	if strings.TrimSpace(h.Reason) == "" {
		probs = append(probs, "a reason is required")
	}
	if h.From.IsZero() || h.To.IsZero() {
		probs = append(probs, "from and to are required")
	} else if !h.To.After(h.From) {
		probs = append(probs, fmt.Sprintf("to (%s) must be after from (%s)", h.To.Format(time.RFC3339), h.From.Format(time.RFC3339)))
	}
	if len(probs) > 0 {
		return fmt.Errorf("hold: %s", strings.Join(probs, "; "))
	}
	return nil
}

// AddHold validates and stores a legal hold and audits "hold.add" in the
// same transaction. The hold protects footage from the moment it commits:
// every deletion re-reads holds inside the transaction that claims rows.
// To may lie in the future (footage not yet recorded is held as it comes).
func AddHold(ctx context.Context, db *registry.DB, h *registry.Hold, actor, source string) error {
	if err := ValidateHold(h); err != nil {
		return err
	}
	h.From, h.To, h.Review = h.From.UTC(), h.To.UTC(), h.Review.UTC()
	if h.CreatedBy == "" {
		h.CreatedBy = actor
	}
	return db.Update(ctx, func(tx *registry.Tx) error {
		return addHoldTx(tx, h, actor, source)
	})
}

func addHoldTx(tx *registry.Tx, h *registry.Hold, actor, source string) error {
	if err := tx.AddHold(h); err != nil {
		return err
	}
	_, err := tx.Audit(actor, source, "hold.add", fmt.Sprintf("hold:%d", h.ID), holdDetail(*h))
	return err
}

// ReleaseHold ends a hold (a reason is required) and audits
// "hold.release". Footage it alone kept that is older than max_age goes at
// the next sweep.
func ReleaseHold(ctx context.Context, db *registry.DB, id int64, actor, source, reason string) (registry.Hold, error) {
	var h registry.Hold
	err := db.Update(ctx, func(tx *registry.Tx) error {
		var err error
		h, err = releaseHoldTx(tx, id, actor, source, reason)
		return err
	})
	return h, err
}

func releaseHoldTx(tx *registry.Tx, id int64, actor, source, reason string) (registry.Hold, error) {
	if strings.TrimSpace(reason) == "" {
		return registry.Hold{}, fmt.Errorf("hold %d: a reason is required to release", id)
	}
	h, err := tx.ReleaseHold(id, actor, reason)
	if err != nil {
		return h, err
	}
	_, err = tx.Audit(actor, source, "hold.release", fmt.Sprintf("hold:%d", id), map[string]any{
		"reason": reason, "cameras": h.Cameras, "from": h.From, "to": h.To})
	return h, err
}

// Request kinds and outcomes accepted by OpenRequest and CloseRequest.
var (
	requestKinds    = []string{registry.RequestPolice, registry.RequestAccess}
	requestOutcomes = []string{registry.OutcomeDelivered, registry.OutcomeViewed, registry.OutcomeRefused, registry.OutcomeWithdrawn}
)

// OpenRequest registers a police or access request and places its legal
// hold in one transaction (both audited), so footage asked for is safe
// from the moment the request exists. It sets q.ID and q.HoldID and
// returns the hold. The history shows received, then held.
func OpenRequest(ctx context.Context, db *registry.DB, q *registry.Request, actor, source string) (registry.Hold, error) {
	var h registry.Hold
	err := db.Update(ctx, func(tx *registry.Tx) error {
		// Validated against the registry's clock: received is never in the future.
		var probs []string
		if err := registry.ValidateRequest(q, tx.Now()); err != nil {
			probs = append(probs, strings.TrimPrefix(err.Error(), "request: "))
		}
		h = registry.Hold{Cameras: q.Cameras, From: q.From.UTC(), To: q.To.UTC(),
			Reason: fmt.Sprintf("%s request %s", q.Kind, q.Reference), CaseRef: q.Reference, Basis: q.Basis, CreatedBy: actor}
		if err := ValidateHold(&h); err != nil {
			probs = append(probs, strings.TrimPrefix(err.Error(), "hold: "))
		}
		if len(probs) > 0 {
			return fmt.Errorf("request: %s", strings.Join(probs, "; "))
		}
		q.From, q.To, q.CreatedBy = h.From, h.To, actor
		if q.Handler != "" {
			u, err := tx.UserByName(q.Handler)
			if err != nil || !u.Has(registry.RoleKeeper) || u.Disabled {
				return fmt.Errorf("request: handler %q is not an active registry keeper", q.Handler)
			}
		}
		if err := tx.AddRequest(q, source); err != nil {
			return err
		}
		h.RequestID = q.ID
		if err := addHoldTx(tx, &h, actor, source); err != nil {
			return err
		}
		if err := tx.SetRequestHold(q.ID, h.ID); err != nil {
			return fmt.Errorf("request %d: %w", q.ID, err)
		}
		q.HoldID = h.ID
		requester := q.Requester
		if q.Kind == registry.RequestAccess {
			// The audit chain is kept for good; a data subject's name must
			// not outlive the request in the register (requests.retention).
			requester = "(data subject)"
		}
		if _, err := tx.Audit(actor, source, "request.add", fmt.Sprintf("request:%d", q.ID), map[string]any{
			"kind": q.Kind, "cameras": q.Cameras, "from": q.From, "to": q.To, "reference": q.Reference,
			"basis_code": q.BasisCode, "basis": q.Basis, "authority": q.Authority, "officer": q.Officer,
			"requester": requester, "verified_by": q.VerifiedBy, "received": q.Received, "deadline": optTime(q.Deadline),
			"handler": q.Handler, "hold": h.ID}); err != nil {
			return err
		}
		got, err := tx.TransitionRequest(q.ID, registry.StateHeld, actor, source, fmt.Sprintf("#%d", h.ID))
		q.State = got.State
		return err
	})
	return h, err
}

func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// CloseInput is how a request is closed: the outcome, the reason (always
// required, whether the hold goes or stays), whether to release the hold,
// and a refusal's ground.
type CloseInput struct {
	Outcome     string
	Reason      string
	ReleaseHold bool
	Ground      string // refused only; default "other"
}

// CloseRequest closes a request with an outcome and a reason, audited as
// "request.close"; with releaseHold its hold is released in the same
// transaction (if still active). This is the only way an open request's
// hold ends.
func CloseRequest(ctx context.Context, db *registry.DB, id int64, outcome, reason string, releaseHold bool,
	actor, source string) (registry.Request, *registry.Hold, error) {
	return CloseRequestWith(ctx, db, id, CloseInput{Outcome: outcome, Reason: reason, ReleaseHold: releaseHold}, actor, source)
}

// CloseRequestWith is CloseRequest with every choice of CloseInput.
func CloseRequestWith(ctx context.Context, db *registry.DB, id int64, in CloseInput, actor, source string) (registry.Request, *registry.Hold, error) {
	outcome, reason := in.Outcome, strings.TrimSpace(in.Reason)
	if !oneOf(outcome, requestOutcomes) {
		return registry.Request{}, nil, fmt.Errorf("request %d: outcome must be delivered, viewed-on-site, refused or withdrawn, got %q", id, outcome)
	}
	if reason == "" {
		return registry.Request{}, nil, fmt.Errorf("request %d: a reason is required to close", id)
	}
	ground := in.Ground
	if outcome == registry.OutcomeRefused && ground == "" {
		ground = "other"
	}
	if ground != "" && outcome != registry.OutcomeRefused {
		return registry.Request{}, nil, fmt.Errorf("request %d: a ground is given only for a refusal", id)
	}
	if ground != "" && !oneOf(ground, registry.RefusalGrounds) {
		return registry.Request{}, nil, fmt.Errorf("request %d: ground must be one of %s, got %q", id,
			strings.Join(registry.RefusalGrounds, ", "), ground)
	}
	var q registry.Request
	var released *registry.Hold
	err := db.Update(ctx, func(tx *registry.Tx) error {
		var err error
		if q, err = tx.CloseRequest(id, outcome, actor, source, reason, ground); err != nil {
			return err
		}
		detail := map[string]any{"outcome": outcome, "reason": reason, "release_hold": in.ReleaseHold}
		if ground != "" {
			detail["ground"] = ground
		}
		if _, err := tx.Audit(actor, source, "request.close", fmt.Sprintf("request:%d", id), detail); err != nil {
			return err
		}
		if !in.ReleaseHold || q.HoldID == 0 {
			return nil
		}
		h, err := tx.Hold(q.HoldID)
		if err != nil {
			return err
		}
		if !h.Active() {
			return nil
		}
		h, err = releaseHoldTx(tx, q.HoldID, actor, source, fmt.Sprintf("request %d closed (%s): %s", id, outcome, reason))
		if err != nil {
			return err
		}
		released = &h
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return q, nil, fmt.Errorf("request %d: %w", id, err)
	}
	return q, released, err
}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}
