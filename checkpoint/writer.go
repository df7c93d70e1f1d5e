package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"vahti/admin/export"
	"vahti/registry"
)

// DefaultInterval is how often the running service signs the head.
const DefaultInterval = time.Hour

// Writer signs the chain head into the checkpoint folder.
type Writer struct {
	DB       *registry.DB
	StateDir string
	Signer   ssh.Signer // the box's key (export.LoadOrCreateKey)
	Now      func() time.Time
	Log      *slog.Logger
	Interval time.Duration // Run's period (default DefaultInterval)

	mu   sync.Mutex
	last registry.Head // the head of the newest checkpoint this process knows
}

// Write signs the current head, unless the chain is empty or the newest
// checkpoint already holds this head. It reports whether it wrote one.
func (w *Writer) Write(ctx context.Context, reason string) (Checkpoint, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	var head registry.Head
	if err := w.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		head, err = tx.AuditHead()
		return err
	}); err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint: %w", err)
	}
	dir := Dir(w.StateDir)
	if w.last.Seq == 0 {
		if c, ok, err := Latest(dir, w.Signer.PublicKey()); ok && err == nil {
			w.last = registry.Head{Seq: c.Seq, Hash: c.Hash}
		}
	}
	if head.Seq == 0 || (head.Seq == w.last.Seq && head.Hash == w.last.Hash) {
		return Checkpoint{}, false, nil
	}
	t := now().UTC()
	c := Checkpoint{File: fileName(head.Seq, t), Seq: head.Seq, Hash: head.Hash, HeadTime: head.Time, Time: t,
		Reason: reason, Key: ssh.FingerprintSHA256(w.Signer.PublicKey())}
	text := c.text()
	sig, err := export.SignSSHSIG(w.Signer, Namespace, text)
	if err != nil {
		return c, false, fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c, false, fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return c, false, fmt.Errorf("checkpoint: %w", err)
	}
	allowed := []byte(fmt.Sprintf("%s namespaces=%q %s", export.SignerID, Namespace, ssh.MarshalAuthorizedKey(w.Signer.PublicKey())))
	if old, err := os.ReadFile(filepath.Join(dir, AllowedSignersName)); err != nil || !bytes.Equal(old, allowed) {
		if err := writeNew(dir, AllowedSignersName, allowed, true); err != nil {
			return c, false, fmt.Errorf("checkpoint: %w", err)
		}
	}
	// The signature first: a text file present means its signature is too.
	if err := writeNew(dir, c.File+SigSuffix, sig, false); err != nil {
		return c, false, fmt.Errorf("checkpoint: %w", err)
	}
	if err := writeNew(dir, c.File, text, false); err != nil {
		return c, false, fmt.Errorf("checkpoint: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	w.last = head
	return c, true, nil
}

// writeNew writes a file atomically with mode 0600 (set explicitly: the
// process umask does not decide). Without replace an existing file is an
// error: a checkpoint is never overwritten.
func writeNew(dir, name string, b []byte, replace bool) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // deletion-gate: the temp file of a checkpoint being written, linked into place or discarded
	if err = tmp.Chmod(0o600); err == nil {
		if _, err = tmp.Write(b); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, name)
	if replace {
		return os.Rename(tmp.Name(), dst)
	}
	if err := os.Link(tmp.Name(), dst); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: exists; a checkpoint is never overwritten", dst)
		}
		return err
	}
	return nil
}

// Run signs the head every Interval until ctx ends (the service signs one
// itself at start and at stop). A failure is logged, not fatal: recording
// must go on, and the next tick retries.
func (w *Writer) Run(ctx context.Context) error {
	iv := w.Interval
	if iv <= 0 {
		iv = DefaultInterval
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.logged(ctx, "hourly")
		}
	}
}

// WriteLogged is Write for the service's own start and stop: a failure is
// logged, never fatal.
func (w *Writer) WriteLogged(ctx context.Context, reason string) { w.logged(ctx, reason) }

func (w *Writer) logged(ctx context.Context, reason string) {
	c, wrote, err := w.Write(ctx, reason)
	log := w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case err != nil && ctx.Err() == nil:
		log.Error("audit checkpoint not written", "reason", reason, "err", err)
	case wrote:
		log.Info("audit checkpoint written", "file", c.File, "seq", c.Seq, "reason", reason)
	}
}
