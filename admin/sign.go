package admin

import (
	"bytes"
	"errors"
	"html/template"
	"io"
	"math"
	"net/http"
	"path"
	"time"

	"github.com/gin-gonic/gin"

	"vahti/configs"
)

// The camera-surveillance sign (kameravalvontakyltti) the law asks to be
// visible where the cameras are: the controller, the purpose per area, the
// retention, whom to ask for access and where the privacy notice is, in
// Finnish, Swedish and English, on one A4 page. It is made from the config
// alone (cameras and the controller block), so `vahti sign` writes the same
// page the admin UI shows at /sign.

// ErrNoController is returned when the config has no controller block.
var ErrNoController = errors.New("the config has no controller block: add controller.name, address, email or phone and privacy_notice (see configs/vahti.example.yaml)")

// SignOptions says how the sign is written.
type SignOptions struct {
	// Standalone inlines the style sheet, so the file opens and prints
	// anywhere (`vahti sign`); otherwise it is linked from /static (the
	// admin UI's CSP allows no inline style) with a print button.
	Standalone bool
	Lang       string    // the print button's language (fi or en)
	Printed    time.Time // zero: no date line
	Loc        *time.Location
}

type signArea struct {
	Name, Purpose string
	Days          int
}

type signData struct {
	C           configs.Controller
	Areas       []signArea
	Days        int // the longest retention of any camera, whole days rounded up
	InlineCSS   template.CSS
	PrintButton bool
	L           string
	Printed     string
}

// retentionDays rounds a retention up to whole days, so "at most N days"
// is never shorter than what is applied.
func retentionDays(d time.Duration) int {
	return int(math.Ceil(d.Hours() / 24))
}

// signFor is the sign's content: every enabled camera (a disabled one
// records nothing) with its purpose and retention.
func signFor(cfg *configs.Config, cams []configs.Camera) (signData, error) {
	if !cfg.Controller.Configured() {
		return signData{}, ErrNoController
	}
	d := signData{C: cfg.Controller}
	for _, c := range cams {
		if c.Disabled {
			continue
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		days := retentionDays(cfg.MaxAgeFor(c.ID))
		d.Areas = append(d.Areas, signArea{Name: name, Purpose: c.Purpose, Days: days})
		d.Days = max(d.Days, days)
	}
	if d.Days == 0 {
		d.Days = retentionDays(cfg.Retention.MaxAge.D())
	}
	return d, nil
}

const signFile = "templates/sign.html"

var signTemplate = template.Must(template.New(path.Base(signFile)).Funcs(template.FuncMap{"t": tr, "tf": trf}).
	ParseFS(templateFS, signFile))

// WriteSign writes the sign for cfg's cameras as one HTML page.
func WriteSign(w io.Writer, cfg *configs.Config, opt SignOptions) error {
	return writeSign(w, cfg, cfg.Cameras, opt)
}

func writeSign(w io.Writer, cfg *configs.Config, cams []configs.Camera, opt SignOptions) error {
	d, err := signFor(cfg, cams)
	if err != nil {
		return err
	}
	d.L = opt.Lang
	if d.L != "en" {
		d.L = "fi"
	}
	if opt.Standalone {
		css, err := staticFS.ReadFile("static/sign.css")
		if err != nil {
			return err
		}
		d.InlineCSS = template.CSS(css)
	} else {
		d.PrintButton = true
	}
	if !opt.Printed.IsZero() {
		loc := opt.Loc
		if loc == nil {
			loc = time.UTC
		}
		d.Printed = "Vahti · " + opt.Printed.In(loc).Format("2.1.2006")
	}
	var buf bytes.Buffer
	if err := signTemplate.Execute(&buf, d); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// pageSign serves the sign to any logged-in user: it holds nothing that
// is not meant to be posted on a wall.
func (s *Server) pageSign(c *gin.Context) {
	p := authOf(c)
	var buf bytes.Buffer
	err := writeSign(&buf, s.cfg.Cfg, s.cameras(), SignOptions{Lang: p.lang(), Printed: s.now(), Loc: s.loc})
	if errors.Is(err, ErrNoController) {
		s.renderError(c, http.StatusConflict, "sign.nocontroller")
		return
	}
	if err != nil {
		s.cfg.Log.Error("admin: sign", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}
