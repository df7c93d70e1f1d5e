package configs

import (
	"net/mail"
	"net/url"
	"strings"
	"unicode"
)

// Controller is the registry controller (rekisterinpitäjä) named on the
// camera-surveillance sign: who runs the cameras, whom to ask for access to
// one's footage and where the privacy notice is. Optional; without it
// `vahti sign` and the /sign page refuse.
type Controller struct {
	Name    string `yaml:"name"`    // the organisation, e.g. "Ensikoti Esimerkki ry"
	Address string `yaml:"address"` // postal address
	// Contact is the person or office that handles access requests
	// (optional; the email and phone are the channel).
	Contact string `yaml:"contact"`
	Email   string `yaml:"email"`
	Phone   string `yaml:"phone"`
	// PrivacyNotice is where the privacy notice (tietosuojaseloste) is: an
	// https:// URL or a place on the premises ("toimiston ilmoitustaulu").
	PrivacyNotice string `yaml:"privacy_notice"`
}

// Configured reports whether the controller block is filled in at all.
func (c Controller) Configured() bool { return c != Controller{} }

// maxControllerField bounds each field: the sign is one A4 page.
const maxControllerField = 200

func (c Controller) validate(p *Problems) {
	if !c.Configured() {
		return
	}
	fields := []struct {
		key, v   string
		required bool
	}{
		{"controller.name", c.Name, true},
		{"controller.address", c.Address, true},
		{"controller.contact", c.Contact, false},
		{"controller.email", c.Email, false},
		{"controller.phone", c.Phone, false},
		{"controller.privacy_notice", c.PrivacyNotice, true},
	}
	for _, f := range fields {
		switch {
		case strings.TrimSpace(f.v) == "" && f.required:
			p.add(f.key, "required: the camera sign names it")
		case len([]rune(f.v)) > maxControllerField:
			p.add(f.key, "is longer than %d characters (the sign is one A4 page)", maxControllerField)
		case strings.ContainsFunc(f.v, unicode.IsControl):
			p.add(f.key, "must be one line without control characters")
		}
	}
	if strings.TrimSpace(c.Email) == "" && strings.TrimSpace(c.Phone) == "" {
		p.add("controller.email", "an email or a phone (controller.phone) for access requests is required")
	}
	if c.Email != "" {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
			p.add("controller.email", "must be a plain address like tietosuoja@example.fi, got %q", c.Email)
		}
	}
	if c.Phone != "" {
		digits := 0
		for _, r := range c.Phone {
			switch {
			case r >= '0' && r <= '9':
				digits++
			case strings.ContainsRune("+ -()", r):
			default:
				p.add("controller.phone", "may hold only digits, spaces and + - ( ), got %q", c.Phone)
				return
			}
		}
		if digits < 5 {
			p.add("controller.phone", "has too few digits: %q", c.Phone)
		}
	}
	if n := c.PrivacyNotice; strings.Contains(n, "://") {
		if u, err := url.Parse(n); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add("controller.privacy_notice", "a URL must be http(s)://host/…, got %q", n)
		}
	}
}
