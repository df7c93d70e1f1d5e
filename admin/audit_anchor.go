package admin

import (
	"context"
	"errors"
	"fmt"

	"vahti/checkpoint"
	"vahti/registry"
)

// auditAnchor is the audit page's block on the chain's anchor outside the
// database: the head the DPO can compare with a printed checkpoint, and
// whether the latest signed checkpoint still matches the chain.
type auditAnchor struct {
	Head       registry.Head
	Checkpoint checkpoint.Checkpoint
	HasCP      bool
	Problem    string // the latest checkpoint cannot be trusted: why
	Matches    bool   // the chain holds the checkpoint's hash at its seq
}

func (s *Server) auditAnchor(ctx context.Context) (auditAnchor, error) {
	var a auditAnchor
	dir := checkpoint.Dir(s.cfg.StateDir)
	key, kerr := checkpoint.BoxKey(s.cfg.StateDir)
	cp, ok, err := checkpoint.Latest(dir, key)
	var prob checkpoint.Problem
	switch {
	case errors.As(err, &prob):
		a.HasCP, a.Problem = true, prob.Error()
		if kerr != nil {
			a.Problem += " (" + kerr.Error() + ")"
		}
	case err != nil:
		return a, err
	default:
		a.HasCP, a.Checkpoint = ok, cp
	}
	err = s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		if a.Head, err = tx.AuditHead(); err != nil {
			return err
		}
		if a.HasCP && a.Problem == "" {
			h, err := tx.AuditHashAt(a.Checkpoint.Seq)
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				return err
			}
			a.Matches = err == nil && h == a.Checkpoint.Hash
		}
		return nil
	})
	return a, err
}

// checkpointAnchors reads every checkpoint for a verification; a
// checkpoint that cannot be trusted is an error of the verification.
func (s *Server) checkpointAnchors() ([]registry.Anchor, error) {
	key, _ := checkpoint.BoxKey(s.cfg.StateDir)
	cps, probs, err := checkpoint.ReadAll(checkpoint.Dir(s.cfg.StateDir), key)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return checkpoint.Anchors(cps), fmt.Errorf("%d checkpoint file(s) cannot be trusted: %w", len(probs), probs[0])
	}
	return checkpoint.Anchors(cps), nil
}
