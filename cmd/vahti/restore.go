package main

import (
	"context"
	"fmt"
	"path/filepath"

	"vahti/checkpoint"
	"vahti/registry"
	"vahti/retention"
)

func runRestore(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "restore")
	path := fs.configFlag()
	from := fs.String("from", "", "backup file made by 'vahti backup'")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	if err := required("config", *path, "from", *from); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	unlock, err := registry.LockStateDir(cfg.StateDir)
	if err != nil {
		return fmt.Errorf("%w (stop the service before restoring)", err)
	}
	defer unlock()
	if err := registry.Restore(*from, filepath.Join(cfg.StateDir, registry.FileName)); err != nil {
		return err
	}
	ce, err := envFor(e, cfg)
	if err != nil {
		return err
	}
	defer ce.Close()
	// Checkpoints made after the backup no longer match the restored
	// chain: set them aside (kept) and say so in the restore's entry.
	key, _ := checkpoint.BoxKey(cfg.StateDir)
	gone, err := checkpoint.Supersede(ctx, ce.db, cfg.StateDir, e.now(), key)
	if err != nil {
		return err
	}
	detail := map[string]any{"file": *from}
	if len(gone) > 0 {
		names := make([]string, 0, len(gone))
		for _, c := range gone {
			names = append(names, c.File)
		}
		last := gone[len(gone)-1]
		detail["superseded_checkpoints"] = names
		detail["rolled_back_head"] = map[string]any{"seq": last.Seq, "hash": last.Hash}
	}
	if err := ce.audit(ctx, "registry.restore", "registry", detail); err != nil {
		return err
	}
	// Holds placed after the backup was made are not in it: nothing is
	// deleted until someone who knows has confirmed.
	if err := retention.Pause(ctx, ce.db, "the registry was restored from "+*from+
		": legal holds placed after that backup are not in it. Re-enter them, then confirm (vahti purge --force, or the DPO on the dashboard)"); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "registry restored from %s; deletion is paused until confirmed (vahti purge --force); the next start reconciles it with the files on disk\n", *from)
	return nil
}
