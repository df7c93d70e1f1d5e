package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"

	"vahti/admin"
	"vahti/registry"
)

// Health timings. The heartbeat asks the recorder for its status (which
// takes every camera session's lock, so a stuck session stops it) and
// probes the registry with a small write.
const (
	heartbeatEvery  = time.Second
	recorderStale   = 5 * time.Second  // readyz: the recorder answered within this
	registryEvery   = 10 * time.Second // how often the registry write probe runs
	registryStale   = 30 * time.Second // readyz: the last write probe succeeded within this
	registryTimeout = 5 * time.Second
)

// metaHealthProbe is the meta key the registry write probe updates.
const metaHealthProbe = "health_probe"

// health is the service's liveness and readiness as its heartbeat last
// saw it. /readyz and the systemd watchdog read it; neither does any work
// on the request path.
type health struct {
	mu           sync.Mutex
	recorderBeat time.Time // the recorder answered (and had started)
	registryOK   time.Time // the last registry write probe succeeded
	registryErr  string
	notifiedUp   bool
}

// opsParts are the operations parts of the service: the metrics listener
// (optional), the heartbeat and the systemd notifications.
type opsParts struct {
	s  *service
	ln net.Listener // nil: metrics.listen is empty
	// notify sends a systemd notification (daemon.SdNotify; tests replace it).
	notify func(state string) (bool, error)
}

// initOps makes the metrics registry and the alarms, before the admin UI
// (which shows and counts them) is built.
func (s *service) initOps(getenv func(string) string) {
	s.alarms = newAlarms(s.cfg.Alarms)
	s.metrics = s.newMetricsRegistry()
	s.reloader = s.newReloader(getenv)
}

// adminAlarms are the alarms for the dashboard.
func (s *service) adminAlarms() []admin.Alarm {
	var out []admin.Alarm
	for _, a := range s.alarms.Active() {
		al := admin.Alarm{Kind: a.Kind, Subject: a.Subject, Since: a.Since}
		if a.Kind == AlarmConfigInvalid {
			al.Detail = a.Message // the problems by key, so the fix can be made from the dashboard's words
		}
		out = append(out, al)
	}
	return out
}

// openOps opens metrics.listen (if set) so a port in use fails the start.
func (s *service) openOps() (*opsParts, error) {
	o := &opsParts{s: s, notify: func(st string) (bool, error) { return daemon.SdNotify(false, st) }}
	s.alarms.certNotAfter = s.adm.CertNotAfter
	if s.cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", s.cfg.Metrics.Listen)
		if err != nil {
			return nil, fmt.Errorf("metrics.listen: %w", err)
		}
		o.ln = ln
		s.metricsURL = "http://" + ln.Addr().String()
	}
	return o, nil
}

// close releases what openOps and initOps took (the listener, the SIGHUP
// registration, the config watch) when the service ends, or fails before
// run.
func (o *opsParts) close() {
	if o.ln != nil {
		o.ln.Close()
	}
	o.s.reloader.close()
}

// run serves metrics and runs the heartbeat until ctx ends.
func (o *opsParts) run(ctx context.Context) error {
	errc := make(chan error, 1)
	if o.ln != nil {
		go func() { errc <- o.s.serveMetrics(ctx, o.ln) }()
	} else {
		errc <- nil
	}
	alarmsDone, reloadDone, backupDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { defer close(alarmsDone); o.s.runAlarms(ctx) }()
	go func() { defer close(reloadDone); o.s.reloader.run(ctx) }()
	go func() { defer close(backupDone); o.s.runBackups(ctx) }()
	o.heartbeat(ctx)
	o.notify(daemon.SdNotifyStopping)
	<-alarmsDone
	<-reloadDone
	<-backupDone
	return <-errc
}

func (o *opsParts) heartbeat(ctx context.Context) {
	s := o.s
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	var lastProbe time.Time
	for {
		now := time.Now() // monotonic: the heartbeat measures intervals, not dates
		if s.rec.Started() {
			s.rec.Status()
			s.health.mu.Lock()
			s.health.recorderBeat = now
			s.health.mu.Unlock()
		}
		if now.Sub(lastProbe) >= registryEvery {
			lastProbe = now
			err := s.probeRegistry(ctx)
			s.health.mu.Lock()
			if err == nil {
				s.health.registryOK, s.health.registryErr = time.Now(), ""
			} else if ctx.Err() == nil {
				s.health.registryErr = err.Error()
				s.log.Warn("registry write probe failed", "err", err)
			}
			s.health.mu.Unlock()
		}
		if live, _ := s.live(); live {
			// READY once, then WATCHDOG on every beat: only while the
			// recorder and the registry are healthy, so systemd restarts a
			// service whose recorder hangs or whose registry is stuck.
			s.health.mu.Lock()
			first := !s.health.notifiedUp
			s.health.notifiedUp = true
			s.health.mu.Unlock()
			if first {
				o.notify(daemon.SdNotifyReady)
			}
			o.notify(daemon.SdNotifyWatchdog)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probeRegistry makes one small write, so a read-only or locked registry
// (a full disk, a stuck writer) shows.
func (s *service) probeRegistry(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	return s.db.Update(ctx, func(tx *registry.Tx) error {
		return tx.SetMeta(metaHealthProbe, s.now().UTC().Format(time.RFC3339))
	})
}

// live reports whether the recorder and the registry are healthy: the
// condition for the systemd watchdog. The reason is short and carries no
// data.
func (s *service) live() (bool, string) {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	now := time.Now()
	switch {
	case s.health.recorderBeat.IsZero():
		return false, "recorder starting"
	case now.Sub(s.health.recorderBeat) > recorderStale:
		return false, "recorder not responding"
	case s.health.registryOK.IsZero() && s.health.registryErr == "":
		return false, "registry not yet checked"
	case now.Sub(s.health.registryOK) > registryStale:
		return false, "registry not writable"
	}
	return true, ""
}

// ready adds the disk to live: below the floor the box needs a person even
// though restarting would not help.
func (s *service) ready() (bool, string) {
	if ok, why := s.live(); !ok {
		return false, why
	}
	st := s.ret.Status()
	if st.Disk.Total == 0 {
		return false, "disk not yet checked"
	}
	if st.Disk.Free < st.FloorBytes || !st.WritingAllowed {
		return false, "disk below the floor"
	}
	return true, ""
}

// healthz: the process lives and serves HTTP.
func (s *service) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

// readyz: 200 "ok" or 503 "not ready: <reason>"; no data.
func (s *service) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if ok, why := s.ready(); !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready:", why)
		return
	}
	fmt.Fprintln(w, "ok")
}

// healthMetrics exposes readiness as a gauge too.
var descReady = desc("vahti_ready", "1 if /readyz answers ok.")

type readyCollector struct{ s *service }

func (c readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descReady }
func (c readyCollector) Collect(ch chan<- prometheus.Metric) {
	ok, _ := c.s.ready()
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, b2f(ok))
}
