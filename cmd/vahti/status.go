package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"vahti/recorder"
	"vahti/registry"
	"vahti/retention"
)

// statusStale is how old status.json may be before the service is taken
// to be not running (it is rewritten every 2 s).
const statusStale = 15 * time.Second

// cameraReport is one camera's line in 'vahti status'.
type cameraReport struct {
	recorder.CameraStatus
	CatalogSegments int64     `json:"catalog_segments"`
	Bytes           int64     `json:"bytes"`
	Oldest          time.Time `json:"oldest_footage,omitzero"`
	Newest          time.Time `json:"newest_footage,omitzero"`
}

type statusReport struct {
	ServiceRunning bool              `json:"service_running"`
	StatusWritten  time.Time         `json:"status_written,omitzero"`
	AdminURL       string            `json:"admin_url,omitempty"`
	TLSSHA256      string            `json:"admin_tls_sha256,omitempty"`
	Cameras        []cameraReport    `json:"cameras"`
	Retention      *retention.Status `json:"retention,omitempty"`
	ActiveHolds    int               `json:"active_holds"`
	Alarms         []Alarm           `json:"alarms"`
}

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "status")
	path, asJSON := fs.configFlags("print one JSON document")
	if err := fs.parseNone(args); err != nil {
		return err
	}
	ce, err := openEnv(e, *path)
	if err != nil {
		return err
	}
	defer ce.Close()
	var sums map[string]registry.CameraSummary
	var holds []registry.Hold
	if err := ce.db.View(ctx, func(tx *registry.Tx) error {
		if sums, err = tx.Summaries(); err != nil {
			return err
		}
		holds, err = tx.Holds(true)
		return err
	}); err != nil {
		return err
	}

	var live liveStatus
	rep := statusReport{Cameras: []cameraReport{}, ActiveHolds: len(holds)}
	b, err := os.ReadFile(filepath.Join(ce.cfg.StateDir, statusFileName))
	if err == nil && json.Unmarshal(b, &live) == nil {
		rep.StatusWritten = live.Written
		rep.ServiceRunning = e.now().Sub(live.Written) < statusStale
		if rep.ServiceRunning {
			rep.AdminURL, rep.TLSSHA256, rep.Retention = live.AdminURL, live.TLSSHA256, &live.Retention
			rep.Alarms = live.Alarms
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("status: %w", err)
	}
	byID := map[string]recorder.CameraStatus{}
	for _, c := range live.Cameras {
		byID[c.ID] = c
	}
	for _, cam := range ce.cfg.Cameras {
		cs, ok := byID[cam.ID]
		if !ok || !rep.ServiceRunning {
			cs = recorder.CameraStatus{ID: cam.ID, Name: cam.Name, State: "not running"}
			if cam.Disabled {
				cs.State = recorder.StateDisabled
			}
		}
		s := sums[cam.ID]
		rep.Cameras = append(rep.Cameras, cameraReport{CameraStatus: cs, CatalogSegments: s.Segments, Bytes: s.Bytes,
			Oldest: s.Oldest, Newest: s.Newest})
	}
	if *asJSON {
		return printJSON(e, rep)
	}
	loc := ce.cfg.Location()
	if rep.ServiceRunning {
		fmt.Fprintf(e.stdout, "service running (status of %s)\n\n", rep.StatusWritten.In(loc).Format(time.DateTime))
	} else {
		fmt.Fprintln(e.stdout, "service NOT running (no fresh status.json)")
		fmt.Fprintln(e.stdout)
	}
	if rep.ServiceRunning {
		fmt.Fprintf(e.stdout, "admin UI %s (certificate SHA-256 %s)\n", rep.AdminURL, rep.TLSSHA256)
		r := rep.Retention
		fmt.Fprintf(e.stdout, "retention: max_age %s, next nightly purge %s, writing allowed: %v\n",
			ce.cfg.Retention.MaxAge, fmtLocal(r.NextNightly, loc), r.WritingAllowed)
		for _, a := range r.Alarms {
			fmt.Fprintf(e.stdout, "ALARM %s since %s: %s\n", a.Kind, fmtLocal(a.Since, loc), a.Message)
		}
		for _, a := range rep.Alarms {
			fmt.Fprintf(e.stdout, "ALARM %s since %s: %s\n", a.Kind, fmtLocal(a.Since, loc), a.Message)
		}
	}
	fmt.Fprintf(e.stdout, "active legal holds: %d\n\n", rep.ActiveHolds)
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CAMERA\tSTATE\tLAST FRAME\tSEGMENTS\tRECONNECTS\tDROPPED\tOLDEST\tNEWEST\tERROR")
	for _, c := range rep.Cameras {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", c.ID, c.State, fmtLocal(c.LastFrame, loc),
			c.CatalogSegments, c.Reconnects, fmtDropped(c.Dropped), fmtLocal(c.Oldest, loc), fmtLocal(c.Newest, loc), c.Error)
	}
	return tw.Flush()
}

// fmtDropped names the non-zero drop counters: a camera that misbehaves
// shows here ("-" when none).
func fmtDropped(d recorder.DropCounts) string {
	var parts []string
	for _, c := range []struct {
		name string
		n    int64
	}{{"bad_rtp", d.BadRTP}, {"oversize", d.Oversize}, {"time_jumps", d.TimeJumps},
		{"param_churn", d.ParamChurn}, {"panics", d.Panics}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", c.name, c.n))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func fmtLocal(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}
