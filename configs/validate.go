package configs

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Problem is one thing wrong with a config, named by its key.
type Problem struct {
	Key string
	Msg string
}

// Problems is every problem found in a config at once.
type Problems []Problem

func (p *Problems) add(key, format string, args ...any) {
	*p = append(*p, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *Problems) Error() string {
	lines := make([]string, 0, len(*p))
	for _, pr := range *p {
		if pr.Key == "" {
			lines = append(lines, pr.Msg)
		} else {
			lines = append(lines, pr.Key+": "+pr.Msg)
		}
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

var cameraIDRe = regexp.MustCompile(`^[a-z0-9-]+$`)

func (c *Config) validate(p *Problems) {
	if c.StateDir == "" {
		p.add("state_dir", "required")
	}
	s := c.Storage
	if s.Root == "" {
		p.add("storage.root", "required")
	}
	if s.SegmentDuration.D() < time.Second || s.SegmentDuration.D() > time.Hour {
		p.add("storage.segment_duration", "must be between 1s and 1h, got %s", s.SegmentDuration)
	}
	if s.PartDuration.D() < 100*time.Millisecond || s.PartDuration.D() > s.SegmentDuration.D() {
		p.add("storage.part_duration", "must be between 100ms and segment_duration, got %s", s.PartDuration)
	}
	if s.FsyncInterval.D() <= 0 || s.FsyncInterval.D() > time.Minute {
		p.add("storage.fsync_interval", "must be between 1ms and 1m, got %s", s.FsyncInterval)
	}
	switch s.Encryption {
	case EncryptionSealed, EncryptionOff, EncryptionAuto:
	default:
		p.add("storage.encryption", "must be sealed or off (or left out: sealed once vahti keys init has run), got %q", s.Encryption)
	}

	r := c.Retention
	switch {
	case r.MaxAge.D() > MaxRetention:
		p.add("retention.max_age", "%s is longer than 28d, the maximum the privacy notice promises; footage that must be kept longer is kept with a legal hold", r.MaxAge)
	case r.MaxAge.D() < time.Minute:
		p.add("retention.max_age", "must be at least 1m, got %s", r.MaxAge)
	}
	if r.SweepInterval.D() < time.Second || r.SweepInterval.D() > time.Hour {
		p.add("retention.sweep_interval", "must be between 1s and 1h, got %s", r.SweepInterval)
	}
	if _, err := ParseClock(r.NightlyPurgeAt); err != nil {
		p.add("retention.nightly_purge_at", "%v", err)
	}
	if r.Timezone == "" {
		p.add("retention.timezone", "required (e.g. Europe/Helsinki)")
	} else if _, err := time.LoadLocation(r.Timezone); err != nil {
		p.add("retention.timezone", "unknown time zone %q", r.Timezone)
	}
	if r.MaxDeleteFraction <= 0 || r.MaxDeleteFraction > 1 {
		p.add("retention.max_delete_fraction", "must be in (0, 1], got %v", r.MaxDeleteFraction)
	}

	if len(c.Cameras) == 0 {
		p.add("cameras", "at least one camera is required")
	}
	seen := map[string]bool{}
	for i, cam := range c.Cameras {
		k := fmt.Sprintf("cameras[%d]", i)
		switch {
		case cam.ID == "":
			p.add(k+".id", "required")
		case !cameraIDRe.MatchString(cam.ID) || len(cam.ID) > 64:
			p.add(k+".id", "%q must be 1-64 characters of a-z, 0-9 and -", cam.ID)
		case seen[cam.ID]:
			p.add(k+".id", "duplicate camera id %q", cam.ID)
		}
		seen[cam.ID] = true
		if strings.TrimSpace(cam.Purpose) == "" {
			p.add(k+".purpose", "required: say why this camera records (the privacy notice names each purpose)")
		}
		if cam.URL == "" {
			p.add(k+".url", "required")
		} else if u, err := url.Parse(cam.URL); err != nil {
			p.add(k+".url", "not a URL: %v", redactErr(err, cam.URL))
		} else if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
			p.add(k+".url", "must be an rtsp:// or rtsps:// URL, got scheme %q", u.Scheme)
		} else if u.Host == "" {
			p.add(k+".url", "has no host")
		}
		switch cam.Transport {
		case "":
			// TCP: interleaved RTP rides the one (authenticated) RTSP
			// connection; UDP packets from the LAN are trivially spoofed.
			c.Cameras[i].Transport = "tcp"
		case "auto", "tcp", "udp":
		default:
			p.add(k+".transport", "must be auto, tcp or udp, got %q", cam.Transport)
		}
		if cam.MaxAge != 0 && cam.MaxAge > r.MaxAge {
			p.add(k+".max_age", "%s may only be shorter than retention.max_age (%s)", cam.MaxAge, r.MaxAge)
		}
	}

	a := c.Admin
	if a.Listen != "" {
		if _, _, err := net.SplitHostPort(a.Listen); err != nil {
			p.add("admin.listen", "must be host:port, got %q", a.Listen)
		}
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		p.add("admin.tls_cert", "tls_cert and tls_key must be given together")
	}
	if a.SessionIdle.D() < time.Minute {
		p.add("admin.session_idle", "must be at least 1m")
	}
	if a.SessionMaxAge < a.SessionIdle {
		p.add("admin.session_max_age", "must be at least session_idle")
	}
	if a.LoginFailLimit < 1 {
		p.add("admin.login_fail_limit", "must be at least 1")
	}
	if a.LockoutPeriod.D() < time.Minute {
		// Shorter, and the lockout no longer slows a guesser down.
		p.add("admin.lockout", "must be at least 1m, got %s", a.LockoutPeriod.D())
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			p.add("metrics.listen", "must be host:port, got %q", c.Metrics.Listen)
		}
	}
	al := c.Alarms
	if al.CameraOffline.D() < time.Second {
		p.add("alarms.camera_offline", "must be at least 1s")
	}
	if len(al.Command) > 0 && !filepath.IsAbs(al.Command[0]) {
		p.add("alarms.command", "the program must be an absolute path, got %q", al.Command[0])
	}
	if al.CommandTimeout.D() < time.Second || al.CommandTimeout.D() > 10*time.Minute {
		p.add("alarms.command_timeout", "must be between 1s and 10m")
	}
	if al.AuditCheckEvery.D() < time.Minute {
		p.add("alarms.audit_check_every", "must be at least 1m")
	}
	if al.CertWarn.D() < 24*time.Hour {
		p.add("alarms.cert_warn", "must be at least 1d")
	}
	if b := c.Backup; b.Path != "" && !filepath.IsAbs(b.Path) {
		p.add("backup.path", "must be an absolute path, got %q", b.Path)
	}
	c.Controller.validate(p)
	if rr := c.Requests.Retention.D(); rr < MinRequestRetention || rr > 10*MinRequestRetention {
		p.add("requests.retention", "must be between 365d (the free-once-a-year check looks a year back) and 3650d, got %s", c.Requests.Retention)
	}
	if c.Backup.Keep < 1 || c.Backup.Keep > 365 {
		p.add("backup.keep", "must be between 1 and 365")
	}
}

// ParseClock parses "HH:MM" as minutes after local midnight.
func ParseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("must be HH:MM, got %q", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// redactErr keeps a URL parse error from echoing the password.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	if i := strings.Index(raw, "@"); i > 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			msg = strings.ReplaceAll(msg, raw[j+3:i], "xxxxx")
		}
	}
	return msg
}
