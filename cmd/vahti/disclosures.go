package main

import (
	"context"
	"fmt"
	"time"

	"vahti/admin"
	"vahti/registry"
)

// runDisclosures: vahti disclosures list.
func runDisclosures(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "disclosures", args, subcommand{"list", disclosuresList})
}

func disclosuresList(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "disclosures list")
	path, asJSON := fs.configFlags("print JSON")
	from := fs.String("from", "", "handed over at or after (RFC 3339)")
	to := fs.String("to", "", "handed over before (RFC 3339)")
	asCSV := fs.Bool("csv", false, "print CSV")
	err := fs.parseNone(args)
	if err != nil {
		return err
	}
	if *asJSON && *asCSV {
		return usageErr("disclosures list: --json and --csv exclude each other")
	}
	var f registry.DisclosureFilter
	if f.From, err = optTime("from", *from); err != nil {
		return err
	}
	if f.To, err = optTime("to", *to); err != nil {
		return err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return usageErr("--to must be after --from")
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	var ds []registry.Disclosure
	refs := map[int64]string{}
	if err := ce.db.View(ctx, func(tx *registry.Tx) error {
		if ds, err = tx.Disclosures(f); err != nil {
			return err
		}
		for _, d := range ds {
			if d.RequestID == 0 {
				continue // expired from the register
			}
			if _, ok := refs[d.RequestID]; !ok {
				q, err := tx.Request(d.RequestID)
				if err != nil {
					return err
				}
				refs[d.RequestID] = q.Reference
			}
		}
		return nil
	}); err != nil {
		return err
	}
	// Reading the log is itself a use of personal data: audited.
	format := "text"
	if *asJSON {
		format = "json"
	} else if *asCSV {
		format = "csv"
	}
	if err := ce.audit(ctx, "disclosures.report", "disclosures", map[string]any{"from": f.From, "to": f.To,
		"entries": len(ds), "format": format}); err != nil {
		return err
	}
	switch {
	case *asJSON:
		out := make([]admin.DisclosureJSON, 0, len(ds))
		for _, d := range ds {
			out = append(out, admin.NewDisclosureJSON(d))
		}
		return printJSON(e, out)
	case *asCSV:
		return admin.WriteDisclosuresCSV(e.stdout, ds, refs)
	}
	if len(ds) == 0 {
		fmt.Fprintln(e.stdout, "no disclosures")
		return nil
	}
	for _, d := range ds {
		if !d.Expired.IsZero() {
			fmt.Fprintf(e.stdout, "#%d  %s  %s  (request expired %s, ref hash %s)  via %s  package %s sha256 %s  by %s\n", d.ID,
				d.At.Format(time.RFC3339), d.Kind(), d.Expired.Format(time.RFC3339), d.RequestRefHash, d.Channel,
				d.PackageID, d.PackageSHA256, d.HandedBy)
			continue
		}
		fmt.Fprintf(e.stdout, "#%d  %s  %s  request %d (%s)  to %s (%s)  via %s  package %s sha256 %s  by %s\n", d.ID,
			d.At.Format(time.RFC3339), d.Kind(), d.RequestID, refs[d.RequestID], d.Recipient, d.RecipientAuthority, d.Channel,
			d.PackageID, d.PackageSHA256, d.HandedBy)
		if d.Corrects != 0 {
			fmt.Fprintf(e.stdout, "     corrects #%d: %s\n", d.Corrects, d.Note)
		}
	}
	return nil
}
