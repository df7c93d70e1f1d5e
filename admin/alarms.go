package admin

import (
	"crypto/x509"
	"time"
)

// Alarm is a condition that needs a person, shown on the dashboard in the
// user's language: the text is the catalog's "alarm.<Kind>" with Subject
// (a camera id, or empty) filled in.
type Alarm struct {
	Kind    string
	Subject string
	Since   time.Time
	// Detail is shown as it is, after the translated text: the problems
	// of a refused config file, by key (English, like check-config).
	Detail string
}

// CertNotAfter is when the admin UI's TLS certificate expires.
func (s *Server) CertNotAfter() time.Time {
	if s.cert.Leaf != nil {
		return s.cert.Leaf.NotAfter
	}
	if len(s.cert.Certificate) == 0 {
		return time.Time{}
	}
	c, err := x509.ParseCertificate(s.cert.Certificate[0])
	if err != nil {
		return time.Time{}
	}
	return c.NotAfter
}

func (s *Server) alarms() []Alarm {
	if s.cfg.Alarms == nil {
		return nil
	}
	return s.cfg.Alarms()
}
