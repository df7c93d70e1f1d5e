package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"vahti/configs"
	"vahti/recorder"
	"vahti/registry"
	"vahti/retention"
)

// Alarm kinds: stable words, used in the alarm JSON, the metrics
// (vahti_alarm{kind}), the translation catalog (alarm.<kind>) and the
// Prometheus rules.
const (
	AlarmCameraOffline  = "camera-offline"       // subject: camera id
	AlarmDiskGuard      = "disk-guard"           // below min_free: deleting unheld footage or not recording
	AlarmInterlock      = "retention-interlock"  // deletions paused by an interlock
	AlarmFootageOverdue = "footage-overdue"      // subject: camera id; unheld footage past max_age
	AlarmClockUnsync    = "clock-unsynchronised" // the kernel says the clock is not synchronised
	AlarmClockStepped   = "clock-stepped"        // the clock jumped forwards or backwards
	AlarmAuditBroken    = "audit-chain-broken"
	AlarmCertExpiring   = "tls-cert-expiring"
	AlarmCommandFailed  = "alarm-command-failed"
	AlarmConfigInvalid  = "config-invalid" // a changed config file was refused
)

// alarmKinds lists every kind, so the metrics show each as 0 or 1.
var alarmKinds = []string{AlarmCameraOffline, AlarmDiskGuard, AlarmInterlock, AlarmFootageOverdue, AlarmClockUnsync,
	AlarmClockStepped, AlarmAuditBroken, AlarmCertExpiring, AlarmCommandFailed, AlarmConfigInvalid, AlarmBackup}

// alarmEvery is how often the alarms are evaluated.
const alarmEvery = 2 * time.Second

// Alarm is one condition that needs a person. Messages are English, for
// logs and the site's tools; the dashboard translates by Kind.
type Alarm struct {
	Kind    string    `json:"kind"`
	Subject string    `json:"subject,omitempty"`
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
}

func (a Alarm) key() string { return a.Kind + "/" + a.Subject }

// alarmChange is what alarms.command reads on stdin.
type alarmChange struct {
	Time    time.Time `json:"time"`
	Host    string    `json:"host"`
	Raised  []Alarm   `json:"raised"`
	Cleared []Alarm   `json:"cleared"`
	Active  []Alarm   `json:"active"`
}

// alarms is the alarm evaluator's state.
type alarms struct {
	mu     sync.Mutex
	active map[string]Alarm
	// lastUp is when each camera was last seen recording (or the start).
	lastUp map[string]time.Time
	// auditErr is the last periodic audit verification's failure ("": ok).
	auditErr     string
	auditChecked time.Time
	// commandErr is the last alarms.command failure ("": ok).
	commandErr string
	// configErr is the last refused config reload ("": none).
	configErr string

	// adjtimex reads the kernel clock status (unix.Adjtimex; tests
	// replace it).
	adjtimex func() (synced bool, err error)
	// certNotAfter is the admin certificate's expiry (zero: unknown).
	certNotAfter func() time.Time
	// commands receives changes for alarms.command, latest wins.
	commands chan alarmChange
	// conf is the alarms config: it changes on a config reload.
	conf atomic.Pointer[configs.Alarms]
}

func newAlarms(conf configs.Alarms) *alarms {
	a := &alarms{active: map[string]Alarm{}, lastUp: map[string]time.Time{}, adjtimex: kernelClockSynced,
		commands: make(chan alarmChange, 1)}
	a.setConfig(conf)
	return a
}

// setConfig applies alarms.* (at start and on a reload).
func (a *alarms) setConfig(c configs.Alarms) {
	c.Command = append([]string(nil), c.Command...)
	a.conf.Store(&c)
}

// kernelClockSynced asks the kernel (adjtimex with no modes: read only)
// whether NTP has the clock synchronised.
func kernelClockSynced() (bool, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, fmt.Errorf("adjtimex: %w", err)
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0, nil
}

// Active returns the alarms, sorted by kind and subject.
func (a *alarms) Active() []Alarm {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Alarm, 0, len(a.active))
	for _, al := range a.active {
		out = append(out, al)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

func (a *alarms) setConfigError(msg string) {
	a.mu.Lock()
	a.configErr = msg
	a.mu.Unlock()
}

// evaluate finds the alarms that hold now from the running parts.
func (s *service) evaluateAlarms(ctx context.Context, now time.Time) []Alarm {
	a, cfg := s.alarms, s.cfg
	conf := a.conf.Load()
	var out []Alarm
	add := func(kind, subject, format string, args ...any) {
		out = append(out, Alarm{Kind: kind, Subject: subject, Message: fmt.Sprintf(format, args...), Since: now})
	}

	a.mu.Lock()
	for _, cs := range s.rec.Status() {
		if cs.State == recorder.StateRecording || cs.State == recorder.StateDisabled {
			a.lastUp[cs.ID] = now
			continue
		}
		up, ok := a.lastUp[cs.ID]
		if !ok {
			up = now
			a.lastUp[cs.ID] = now
		}
		if away := now.Sub(up); away >= conf.CameraOffline.D() {
			add(AlarmCameraOffline, cs.ID, "camera %s not recording for %s (%s)", cs.ID, away.Round(time.Second), cs.State)
		}
	}
	auditErr, cmdErr, cfgErr := a.auditErr, a.commandErr, a.configErr
	a.mu.Unlock()

	rs := s.ret.Status()
	var guard, stepped, interlock []string
	for _, ra := range rs.Alarms {
		switch ra.Kind {
		case retention.AlarmDiskLow, retention.AlarmDiskFullHeld:
			guard = append(guard, ra.Message)
		case retention.AlarmClockJump, retention.AlarmClockBackwards:
			stepped = append(stepped, ra.Message)
		}
		if ra.Kind == retention.AlarmClockJump || ra.Kind == retention.AlarmDeleteFraction || ra.Kind == retention.AlarmCatalogMismatch {
			interlock = append(interlock, ra.Kind)
		}
	}
	if !rs.WritingAllowed && len(guard) == 0 {
		guard = append(guard, "recording stopped: disk below the floor")
	}
	if len(guard) > 0 {
		add(AlarmDiskGuard, "", "disk guard active: %s", strings.Join(guard, "; "))
	}
	if rs.Paused {
		add(AlarmInterlock, "", "retention interlock tripped (%s): deletions paused until confirmed", strings.Join(interlock, ", "))
	}
	if len(stepped) > 0 {
		add(AlarmClockStepped, "", "clock stepped: %s", strings.Join(stepped, "; "))
	}
	a.mu.Lock()
	adjtimex := a.adjtimex
	a.mu.Unlock()
	if synced, err := adjtimex(); err != nil {
		add(AlarmClockUnsync, "", "clock state unknown: %v", err)
	} else if !synced {
		add(AlarmClockUnsync, "", "the kernel reports the clock is not synchronised (NTP)")
	}

	// Footage past max_age that no hold keeps: allow one segment and one
	// sweep, as the gate deletes by segment end.
	grace := cfg.Storage.SegmentDuration.D() + cfg.Retention.SweepInterval.D()
	oldest, err := s.oldestUnheldByCamera(ctx)
	for _, cam := range s.cameraIDsNow() {
		if o, ok := oldest[cam]; ok && now.Sub(o) > cfg.MaxAgeFor(cam)+grace {
			add(AlarmFootageOverdue, cam, "camera %s keeps unheld footage from %s, older than max_age %s",
				cam, o.UTC().Format(time.RFC3339), cfg.MaxAgeFor(cam))
		}
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("alarms: registry not read", "err", err)
	}

	if auditErr != "" {
		add(AlarmAuditBroken, "", "audit chain verification failed: %s", auditErr)
	}
	if a.certNotAfter != nil {
		if na := a.certNotAfter(); !na.IsZero() && na.Sub(now) < conf.CertWarn.D() {
			add(AlarmCertExpiring, "", "admin TLS certificate expires %s", na.UTC().Format(time.RFC3339))
		}
	}
	if msg := s.backupAlarm(now); msg != "" {
		add(AlarmBackup, "", "%s", msg)
	}
	if cmdErr != "" {
		add(AlarmCommandFailed, "", "alarms.command failed: %s", cmdErr)
	}
	if cfgErr != "" {
		add(AlarmConfigInvalid, "", "config file refused, the running config stays: %s", cfgErr)
	}
	return out
}

// updateAlarms evaluates and records the alarms; on a change it logs and
// queues alarms.command. A change of only alarm-command-failed does not
// run the command again (it would fail again, in a loop).
func (s *service) updateAlarms(ctx context.Context) {
	now := s.now().UTC()
	cur := s.evaluateAlarms(ctx, now)
	a := s.alarms
	a.mu.Lock()
	next := map[string]Alarm{}
	var raised, cleared []Alarm
	for _, al := range cur {
		if old, ok := a.active[al.key()]; ok {
			al.Since = old.Since
		} else {
			raised = append(raised, al)
		}
		next[al.key()] = al
	}
	for k, old := range a.active {
		if _, ok := next[k]; !ok {
			cleared = append(cleared, old)
		}
	}
	a.active = next
	a.mu.Unlock()
	notify := false
	for _, al := range raised {
		s.log.Warn("alarm raised", "kind", al.Kind, "subject", al.Subject, "message", al.Message)
		notify = notify || al.Kind != AlarmCommandFailed
	}
	for _, al := range cleared {
		s.log.Info("alarm cleared", "kind", al.Kind, "subject", al.Subject)
		notify = notify || al.Kind != AlarmCommandFailed
	}
	if !notify || len(a.conf.Load().Command) == 0 {
		return
	}
	host, _ := os.Hostname()
	ch := alarmChange{Time: now, Host: host, Raised: raised, Cleared: cleared, Active: a.Active()}
	// Latest wins: an unread older change is replaced (Active is complete).
	select {
	case <-a.commands:
	default:
	}
	a.commands <- ch
}

// runAlarms evaluates the alarms, verifies the audit chain periodically and
// runs alarms.command, until ctx ends.
func (s *service) runAlarms(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(2)
	go func() { defer wg.Done(); s.runAlarmCommands(ctx) }()
	go func() { defer wg.Done(); s.checkAuditPeriodically(ctx) }()
	t := time.NewTicker(alarmEvery)
	defer t.Stop()
	for {
		s.updateAlarms(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *service) checkAuditPeriodically(ctx context.Context) {
	for {
		var n int
		err := s.db.View(ctx, func(tx *registry.Tx) error {
			var err error
			n, err = tx.VerifyAudit()
			return err
		})
		if ctx.Err() != nil {
			return
		}
		s.alarms.mu.Lock()
		s.alarms.auditChecked = s.now()
		s.alarms.auditErr = ""
		if err != nil {
			s.alarms.auditErr = err.Error()
		}
		s.alarms.mu.Unlock()
		if err != nil {
			s.log.Error("audit chain verification failed", "err", err)
		} else {
			s.log.Debug("audit chain verified", "entries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.alarms.conf.Load().AuditCheckEvery.D()):
		}
	}
}

func (s *service) runAlarmCommands(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ch := <-s.alarms.commands:
			err := s.runAlarmCommand(ctx, ch)
			s.alarms.mu.Lock()
			s.alarms.commandErr = ""
			if err != nil {
				s.alarms.commandErr = err.Error()
			}
			s.alarms.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				s.log.Error("alarms.command failed", "err", err)
			}
		}
	}
}

// runAlarmCommand runs alarms.command once with the change on stdin.
func (s *service) runAlarmCommand(ctx context.Context, ch alarmChange) error {
	conf := s.alarms.conf.Load()
	argv := conf.Command
	if len(argv) == 0 {
		return nil // removed by a reload since the change was queued
	}
	ctx, cancel := context.WithTimeout(ctx, conf.CommandTimeout.D())
	defer cancel()
	b, _ := json.MarshalIndent(ch, "", "  ")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(b)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s: timed out after %s", argv[0], conf.CommandTimeout)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if msg != "" {
			return fmt.Errorf("%s: %v: %s", argv[0], err, msg)
		}
		return fmt.Errorf("%s: %v", argv[0], err)
	}
	return nil
}

// limitedBuffer keeps the first 1 KiB of a command's output for the error.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 1024 - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}

var (
	descAlarm        = desc("vahti_alarm", "1 while the alarm is raised, by kind and subject (camera id or empty).", "kind", "subject")
	descAlarmsActive = desc("vahti_alarms_active", "Alarms raised now.")
	descClockSynced  = desc("vahti_clock_synchronised", "1 if the kernel reports the clock synchronised (adjtimex).")
	descCertExpiry   = desc("vahti_tls_cert_expiry_timestamp_seconds", "When the admin UI's TLS certificate expires.")
	descAuditChecked = desc("vahti_audit_verified_timestamp_seconds", "When the audit chain was last verified.")
	descAuditOK      = desc("vahti_audit_chain_ok", "1 if the last periodic audit chain verification passed.")
)

type alarmCollector struct{ s *service }

func (c alarmCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAlarm, descAlarmsActive, descClockSynced, descCertExpiry, descAuditChecked, descAuditOK} {
		ch <- d
	}
}

func (c alarmCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.s.alarms
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	act := a.Active()
	g(descAlarmsActive, float64(len(act)))
	seen := map[string]bool{}
	for _, al := range act {
		g(descAlarm, 1, al.Kind, al.Subject)
		seen[al.Kind] = true
	}
	// Every kind without a subject that is not raised shows as 0, so a rule
	// can tell "no alarm" from "no data".
	for _, k := range alarmKinds {
		if !seen[k] {
			g(descAlarm, 0, k, "")
		}
	}
	a.mu.Lock()
	adjtimex := a.adjtimex
	a.mu.Unlock()
	if synced, err := adjtimex(); err == nil {
		g(descClockSynced, b2f(synced))
	}
	if a.certNotAfter != nil {
		if na := a.certNotAfter(); !na.IsZero() {
			g(descCertExpiry, unixSeconds(na))
		}
	}
	a.mu.Lock()
	checked, auditErr := a.auditChecked, a.auditErr
	a.mu.Unlock()
	if !checked.IsZero() {
		g(descAuditChecked, unixSeconds(checked))
		g(descAuditOK, b2f(auditErr == ""))
	}
}
