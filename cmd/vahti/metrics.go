package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"vahti/recorder"
	"vahti/registry"
)

// serveMetrics exposes Prometheus text-format metrics on metrics.listen. It
// carries only counts and times, never footage, names of people or secrets.
func (s *service) serveMetrics(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", s.metricsHandler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

func (s *service) metricsHandler(w http.ResponseWriter, r *http.Request) {
	var sums map[string]registry.CameraSummary
	err := s.db.View(r.Context(), func(tx *registry.Tx) error {
		var err error
		sums, err = tx.Summaries()
		return err
	})
	if err != nil {
		http.Error(w, "registry unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	now := s.now()
	fmt.Fprintln(w, "# HELP vahti_camera_recording 1 if the camera is recording.")
	fmt.Fprintln(w, "# TYPE vahti_camera_recording gauge")
	st := s.rec.Status()
	for _, c := range st {
		v := 0
		if c.State == recorder.StateRecording {
			v = 1
		}
		fmt.Fprintf(w, "vahti_camera_recording{camera=%q} %d\n", c.ID, v)
	}
	fmt.Fprintln(w, "# HELP vahti_camera_reconnects_total Connection attempts after the first.")
	fmt.Fprintln(w, "# TYPE vahti_camera_reconnects_total counter")
	for _, c := range st {
		fmt.Fprintf(w, "vahti_camera_reconnects_total{camera=%q} %d\n", c.ID, c.Reconnects)
	}
	fmt.Fprintln(w, "# HELP vahti_camera_bitrate_bits_per_second Recent incoming bitrate.")
	fmt.Fprintln(w, "# TYPE vahti_camera_bitrate_bits_per_second gauge")
	for _, c := range st {
		fmt.Fprintf(w, "vahti_camera_bitrate_bits_per_second{camera=%q} %g\n", c.ID, c.BitrateBps)
	}
	fmt.Fprintln(w, "# HELP vahti_footage_bytes Bytes of catalogued footage.")
	fmt.Fprintln(w, "# TYPE vahti_footage_bytes gauge")
	for _, c := range s.cfg.Cameras {
		fmt.Fprintf(w, "vahti_footage_bytes{camera=%q} %d\n", c.ID, sums[c.ID].Bytes)
	}
	fmt.Fprintln(w, "# HELP vahti_footage_oldest_age_seconds Age of the oldest catalogued footage (its start).")
	fmt.Fprintln(w, "# TYPE vahti_footage_oldest_age_seconds gauge")
	for _, c := range s.cfg.Cameras {
		if o := sums[c.ID].Oldest; !o.IsZero() {
			fmt.Fprintf(w, "vahti_footage_oldest_age_seconds{camera=%q} %.0f\n", c.ID, now.Sub(o).Seconds())
		}
	}
}
