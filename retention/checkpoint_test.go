package retention

import (
	"context"
	"testing"

	"golang.org/x/crypto/ssh"

	"vahti/admin/export"
	"vahti/checkpoint"
	"vahti/registry"
)

// The nightly purge signs a checkpoint once its report is in the chain,
// so the report itself is anchored outside the database.
func TestNightlyPurgeReportIsCheckpointed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	signer, err := exportKey(f.cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	w := &checkpoint.Writer{DB: f.db, StateDir: f.cfg.StateDir, Signer: signer, Now: f.clock}
	c := Config{Cfg: f.cfg, DB: f.db, Now: f.clock, Checkpoint: func(ctx context.Context) error {
		_, _, err := w.Write(ctx, "purge-report")
		return err
	}}
	r, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Nightly(ctx); err != nil {
		t.Fatal(err)
	}
	cps, probs, err := checkpoint.ReadAll(checkpoint.Dir(f.cfg.StateDir), signer.PublicKey())
	if err != nil || len(probs) > 0 || len(cps) != 1 {
		t.Fatalf("checkpoints %+v problems %v err %v", cps, probs, err)
	}
	var head registry.Head
	var kind string
	f.db.View(ctx, func(tx *registry.Tx) error {
		head, _ = tx.AuditHead()
		es, _ := tx.AuditEntries(registry.AuditFilter{AfterSeq: head.Seq - 1})
		kind = es[0].Kind
		return nil
	})
	if cps[0].Seq != head.Seq || cps[0].Hash != head.Hash || kind != "purge.report" || cps[0].Reason != "purge-report" {
		t.Fatalf("checkpoint %+v, head %+v (%s)", cps[0], head, kind)
	}
}

func exportKey(stateDir string) (ssh.Signer, error) { return export.LoadOrCreateKey(stateDir) }
