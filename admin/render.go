package admin

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

//go:embed templates
var templateFS embed.FS

// page is what every template gets; D holds the page's own data.
type page struct {
	L       string // "fi" or "en"
	Title   string // catalog key
	Name    string // template name, for the nav
	User    string
	CSRF    string
	Flash   string
	Error   string
	Keeper  bool
	DPO     bool
	Admin   bool
	Version string
	TZ      string
	D       any
}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"t":  tr,
		"tf": trf,
		// lt formats an instant as Finnish wall-clock time.
		"lt": func(lang string, t time.Time) string {
			if t.IsZero() {
				return "–"
			}
			if lang == "en" {
				return t.In(s.loc).Format("2 Jan 2006 15:04:05")
			}
			return t.In(s.loc).Format("2.1.2006 klo 15.04.05")
		},
		// hm is a time of day; Finnish writes it with dots (20.34.22).
		"hm": func(lang string, t time.Time) string {
			if lang == "en" {
				return t.In(s.loc).Format("15:04:05")
			}
			return t.In(s.loc).Format("15.04.05")
		},
		"day": func(lang string, t time.Time) string {
			if lang == "en" {
				return t.In(s.loc).Format("Monday 2 January 2006")
			}
			return weekdayFI[t.In(s.loc).Weekday()] + " " + t.In(s.loc).Format("2.1.2006")
		},
		"rfc":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"input":    func(t time.Time) string { return t.In(s.loc).Format("2006-01-02T15:04") },
		"inputsec": func(t time.Time) string { return t.In(s.loc).Format("2006-01-02T15:04:05") },
		"bytes":    humanBytes,
		"dur":      humanDur,
		"pct":      func(f float64) string { return fmt.Sprintf("%.0f %%", f) },
		"kbps":     func(f float64) string { return fmt.Sprintf("%.0f kbit/s", f) },
		"join":     strings.Join,
		"has": func(list []string, v string) bool {
			for _, x := range list {
				if x == v {
					return true
				}
			}
			return false
		},
		"days": func(f float64) string { return fmt.Sprintf("%.1f", f) },
		"list": func(v ...string) []string { return v },
		// kindlabel is an audit kind's label (audit_kinds.go), "" if none.
		"kindlabel": kindLabel,
	}
}

var weekdayFI = [...]string{"sunnuntai", "maanantai", "tiistai", "keskiviikko", "torstai", "perjantai", "lauantai"}

func humanBytes(n any) string {
	var v float64
	switch x := n.(type) {
	case int64:
		v = float64(x)
	case uint64:
		v = float64(x)
	case int:
		v = float64(x)
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

func humanDur(d time.Duration) string {
	if d > 0 && d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	}
	d = d.Round(time.Minute)
	days := int(d / (24 * time.Hour))
	h := int(d % (24 * time.Hour) / time.Hour)
	m := int(d % time.Hour / time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%d d %d h", days, h)
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d min", m)
}

// parseTemplates parses layout.html with each page template.
func (s *Server) parseTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(s.funcs()).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("admin templates: %w", err)
		}
		out[base] = t
	}
	return out, nil
}

// render writes a page; p may be nil (login, errors before login).
func (s *Server) render(c *gin.Context, status int, name, title string, p *principal, d any, errMsg string) {
	pg := page{L: p.lang(), Title: title, Name: name, Error: errMsg, Version: s.cfg.Version, TZ: s.loc.String(), D: d}
	if p == nil {
		l := c.Query("lang")
		if c.Request.Method == http.MethodPost {
			l = c.PostForm("lang")
		}
		if l == "en" || l == "fi" {
			pg.L = l
		}
	} else {
		pg.User = p.user.Name
		pg.Keeper, pg.DPO, pg.Admin = p.user.Has("keeper"), p.user.Has("dpo"), p.user.Has("admin")
		if p.sess != nil {
			pg.CSRF = p.sess.csrf
			pg.Flash = s.sessions.takeFlash(c.Request.Context(), p.sess)
		}
	}
	t, ok := s.pages[name]
	if !ok {
		c.String(http.StatusInternalServerError, "no template %s", name)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", pg); err != nil {
		s.cfg.Log.Error("admin: render", "page", name, "err", err)
		c.String(http.StatusInternalServerError, "page could not be shown")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (s *Server) renderError(c *gin.Context, status int, key string) {
	p := authOf(c)
	s.render(c, status, "error", "error.title", p, nil, tr(p.lang(), key))
	c.Abort()
}

// flashRedirect shows msg on the next page (post/redirect/get).
func (s *Server) flashRedirect(c *gin.Context, to, msg string) {
	if p := authOf(c); p != nil && p.sess != nil && msg != "" {
		if err := s.sessions.setFlash(c.Request.Context(), p.sess, msg); err != nil {
			s.cfg.Log.Warn("admin: storing a page message", "err", err)
		}
	}
	c.Redirect(http.StatusSeeOther, to)
}
