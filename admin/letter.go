package admin

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"vahti/configs"
	"vahti/registry"
)

// The refusal letter (issue 11): a refused request answered in writing
// with the reasons, the legal basis and the right to complain to the Data
// Protection Ombudsman, one A4 page in Finnish or English, rendered the
// same for /requests/:id/letter and `vahti request letter`.

// Ombudsman is the supervisory authority named in every refusal letter
// (checked against tietosuoja.fi/yhteystiedot, 2026-12).
var Ombudsman = struct{ NameFI, NameEN, Post, Visit, Email, Phone, Web string }{
	NameFI: "Tietosuojavaltuutetun toimisto", NameEN: "Office of the Data Protection Ombudsman",
	Post: "PL 800, 00531 Helsinki", Visit: "Lintulahdenkuja 4, 00530 Helsinki",
	Email: "tietosuoja@om.fi", Phone: "029 566 6700", Web: "www.tietosuoja.fi",
}

// ErrNotRefused: only a refused request has a refusal letter.
// The letter is written to a data subject (it names the Ombudsman as the
// place to complain); an authority's refusal is answered in its own case.
var ErrNotRefused = errors.New("only a refused access request has a refusal letter (the request is not refused, or is an authority's)")

// LetterOptions says how a letter is written.
type LetterOptions struct {
	Lang    string         // "fi" (default) or "en"
	Loc     *time.Location // local time of the dates (nil: UTC)
	Printed time.Time      // the letter's date
	// PrintButton makes the admin page: the on-screen print button, the
	// style linked from /static. Without it the page stands alone.
	PrintButton bool
}

type letterData struct {
	L           string
	Q           registry.Request
	C           configs.Controller
	O           any
	Ground      string
	Date        string
	Received    string
	From, To    string
	Closed      string
	Cameras     string
	Reasons     []string
	PrintButton bool
	InlineCSS   template.CSS // standalone (the CLI); else linked from /static
}

const letterFile = "templates/letter.html"

var letterTemplate = template.Must(template.New(path.Base(letterFile)).Funcs(template.FuncMap{"t": tr, "tf": trf}).
	ParseFS(templateFS, letterFile))

// WriteRefusalLetter writes the refusal letter of q, a refused request, as
// one standalone HTML page (its CSS inline, A4 print layout). The
// controller's details come from the config's controller block.
func WriteRefusalLetter(w io.Writer, cfg *configs.Config, q registry.Request, opt LetterOptions) error {
	if q.Outcome != registry.OutcomeRefused || q.Kind != registry.RequestAccess {
		return fmt.Errorf("request %d: %w", q.ID, ErrNotRefused)
	}
	if !cfg.Controller.Configured() {
		return ErrNoController
	}
	lang := opt.Lang
	if lang != "en" {
		lang = "fi"
	}
	loc := opt.Loc
	if loc == nil {
		loc = time.UTC
	}
	day := func(t time.Time) string {
		if lang == "en" {
			return t.In(loc).Format("2 January 2006")
		}
		return t.In(loc).Format("2.1.2006")
	}
	clock := func(t time.Time) string {
		if lang == "en" {
			return t.In(loc).Format("2 Jan 2006 15:04")
		}
		return t.In(loc).Format("2.1.2006 klo 15.04")
	}
	ground := q.Ground
	if ground == "" {
		ground = "other"
	}
	printed := opt.Printed
	if printed.IsZero() {
		printed = q.Closed
	}
	d := letterData{L: lang, Q: q, C: cfg.Controller, O: Ombudsman, Ground: ground,
		Date: day(printed), Received: day(q.Received), From: clock(q.From), To: clock(q.To), Closed: day(q.Closed),
		Cameras: strings.Join(q.Cameras, ", "), PrintButton: opt.PrintButton}
	if !opt.PrintButton {
		css, err := staticFS.ReadFile("static/letter.css")
		if err != nil {
			return err
		}
		d.InlineCSS = template.CSS(css)
	}
	for _, l := range strings.Split(q.CloseReason, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			d.Reasons = append(d.Reasons, l)
		}
	}
	var buf bytes.Buffer
	if err := letterTemplate.Execute(&buf, d); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// pageLetter serves the refusal letter (?lang=fi|en, default the user's
// language), audited as "request.letter": it holds the requester's name.
func (s *Server) pageLetter(c *gin.Context) {
	p := authOf(c)
	id, ok := s.requestID(c)
	if !ok {
		return
	}
	lang := c.Query("lang")
	if lang != "fi" && lang != "en" {
		lang = p.lang()
	}
	var q registry.Request
	err := s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
		var err error
		q, err = tx.Request(id)
		return err
	})
	if errors.Is(err, registry.ErrNotFound) {
		s.renderError(c, http.StatusNotFound, "req.err.none")
		return
	}
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	var buf bytes.Buffer
	err = WriteRefusalLetter(&buf, s.cfg.Cfg, q, LetterOptions{Lang: lang, Loc: s.loc, Printed: s.now(), PrintButton: true})
	switch {
	case errors.Is(err, ErrNotRefused):
		s.renderError(c, http.StatusConflict, "letter.notrefused")
		return
	case errors.Is(err, ErrNoController):
		s.renderError(c, http.StatusConflict, "sign.nocontroller")
		return
	case err != nil:
		s.cfg.Log.Error("admin: letter", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	if err := s.auditPrint(c.Request.Context(), p, c.ClientIP(), "request.letter", fmt.Sprintf("request:%d", id),
		map[string]any{"lang": lang, "ground": q.Ground, "format": "page"}); err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}
