package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"vahti/registry"
	"vahti/retention"
)

// runPurge: one retention pass now, or with --dry-run what would go now or
// at --at. An interlock refusal exits 1 and names the interlock; --force
// is the operator's confirmation and is audited.
func runPurge(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "purge")
	path, asJSON := fs.configFlags("print the report as JSON")
	dry := fs.Bool("dry-run", false, "list what would be deleted; delete nothing")
	at := fs.String("at", "", "with --dry-run: judge this RFC 3339 time instead of now")
	force := fs.Bool("force", false, "override the interlocks (clock jump, too large a pass, catalog mismatch)")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	var when time.Time
	if *at != "" {
		if !*dry {
			return usageErr("--at is only allowed with --dry-run (a real pass always judges now)")
		}
		t, err := parseTime("at", *at)
		if err != nil {
			return err
		}
		when = t
	}
	if *force && *dry {
		return usageErr("--force and --dry-run together make no sense: a dry run deletes nothing")
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	r, err := retention.New(retention.Config{Cfg: ce.cfg, DB: ce.db, Now: e.now, Actor: ce.actor, Source: cliSource})
	if err != nil {
		return err
	}
	// Without a running service (the state-dir lock is free), finish
	// deletions a crash interrupted, as the service does at start. With
	// one running, its deletions in flight are its own business.
	if !*dry {
		if unlock, err := registry.LockStateDir(ce.cfg.StateDir); err == nil {
			defer unlock()
			if n, err := r.Recover(ctx); err != nil {
				return fmt.Errorf("purge: finishing interrupted deletions: %w", err)
			} else if n > 0 {
				fmt.Fprintf(e.stderr, "finished %d deletion(s) interrupted by a crash\n", n)
			}
		}
	}
	rep, err := r.PurgeWith(ctx, retention.PurgeOptions{DryRun: *dry, At: when, Force: *force})
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	if rep.Segments == nil {
		rep.Segments = []retention.Item{}
	}
	if rep.Exports == nil {
		rep.Exports = []retention.ExportItem{}
	}
	if rep.Cameras == nil {
		rep.Cameras = []retention.CameraTotal{}
	}
	if rep.Refused == nil {
		rep.Refused = []string{}
	}
	if rep.KeysDestroyed == nil {
		rep.KeysDestroyed = []retention.KeyErasure{}
	}
	if rep.EpochsDestroyed == nil {
		rep.EpochsDestroyed = []string{}
	}
	if rep.HoldKeyFilesRemoved == nil {
		rep.HoldKeyFilesRemoved = []int64{}
	}
	if rep.BackupsExpired == nil {
		rep.BackupsExpired = []string{}
	}
	if *asJSON {
		if err := printJSON(e, rep); err != nil {
			return err
		}
	} else {
		printPurge(e, rep)
	}
	if len(rep.Refused) > 0 && !*dry {
		return fmt.Errorf("refused by interlock(s): %s (nothing deleted; see the messages above; confirm with --force once the cause is understood)",
			strings.Join(rep.Refused, ", "))
	}
	return nil
}

func printPurge(e *env, rep retention.Report) {
	verb := "deleted"
	if rep.DryRun {
		verb = "would delete"
		fmt.Fprintf(e.stdout, "dry run judged at %s\n", rep.At.Format(time.RFC3339))
	}
	for _, it := range rep.Segments {
		fmt.Fprintf(e.stdout, "%s  %s  %s..%s  %d bytes\n", verb, it.Path, it.Start.Format(time.RFC3339), it.End.Format(time.RFC3339), it.Bytes)
	}
	for _, x := range rep.Exports {
		fmt.Fprintf(e.stdout, "%s  export %s (%s, footage ended %s)\n", verb, x.ID, x.Path, x.FootageEnd.Format(time.RFC3339))
	}
	for _, c := range rep.Cameras {
		fmt.Fprintf(e.stdout, "camera %s: %s %d segment(s), %d bytes\n", c.Camera, verb, c.Count, c.Bytes)
	}
	fmt.Fprintf(e.stdout, "%s %d segment(s) and %d export package(s); %d expired segment(s) and %d package(s) kept by legal holds\n",
		verb, len(rep.Segments), len(rep.Exports), rep.HeldKept, rep.HeldExports)
	keys, backup := "keys destroyed", "removed"
	if rep.DryRun {
		keys, backup = "keys that would be destroyed", "would be removed"
	}
	for _, k := range rep.KeysDestroyed {
		fmt.Fprintf(e.stdout, "camera %s, day %s: %s: %d segment key(s)\n", k.Camera, k.Day, keys, k.SegmentKeys)
	}
	for _, d := range rep.EpochsDestroyed {
		fmt.Fprintf(e.stdout, "day %s: keys destroyed: epoch key (no footage of the day can be opened any more, except held footage)\n", d)
	}
	for _, h := range rep.HoldKeyFilesRemoved {
		fmt.Fprintf(e.stdout, "hold %d (released): key file removed\n", h)
	}
	for _, b := range rep.BackupsExpired {
		fmt.Fprintf(e.stdout, "registry backup %s expired (older than max_age + 1 day): %s\n", b, backup)
	}
	if rep.JobsExpired > 0 {
		fmt.Fprintf(e.stdout, "%s %d ended export job row(s) (their packages gone, or none made)\n", verb, rep.JobsExpired)
	}
	for _, k := range rep.Refused {
		fmt.Fprintf(e.stdout, "INTERLOCK %s: %s\n", k, rep.Messages[k])
	}
}
