package admin

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"vahti/registry"
)

// requestsPage is the register: filters, the list, the new-request form.
type requestsPage struct {
	Requests  []registry.Request
	Now       time.Time
	Status    string
	Kind      string
	State     string
	Text      string
	In        requestInput
	AllCams   []cameraOpt
	Keepers   []string
	Bases     []string
	States    []string
	ShowForm  bool
	CanChange bool
	Accounts  []string // who may have verified an access requester's identity
}

// Overdue and Soon are for the list's deadline column.
func (requestsPage) Overdue(q registry.Request, now time.Time) bool { return deadlineOverdue(q, now) }
func (requestsPage) Soon(q registry.Request, now time.Time) bool    { return deadlineSoonFor(q, now) }

func (s *Server) pageRequests(c *gin.Context) {
	rp := requestsPage{Status: c.Query("status"), Kind: c.Query("kind"), State: c.Query("state"), Text: c.Query("q")}
	if !c.Request.URL.Query().Has("status") {
		rp.Status = "open" // the register opens on what still needs work
	}
	rp.In = requestInput{Kind: registry.RequestPolice, BasisCode: registry.BasisCriminalInvestigation, Received: s.now().In(s.loc).Format("2006-01-02T15:04")}
	s.showRequests(c, http.StatusOK, rp, "")
}

func (s *Server) showRequests(c *gin.Context, status int, rp requestsPage, errMsg string) {
	p := authOf(c)
	if rp.Status == "all" {
		rp.Status = ""
	}
	var err error
	rp.Requests, err = s.requestList(c.Request.Context(), registry.RequestFilter{Status: rp.Status, Kind: rp.Kind, State: rp.State, Text: rp.Text})
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	if rp.Status == "" {
		rp.Status = "all"
	}
	rp.Now, rp.AllCams, rp.Bases, rp.States = s.now(), s.cameraOpts(), registry.BasisCodes, registry.RequestStates
	rp.CanChange = p.user.Has(registry.RoleKeeper)
	if rp.CanChange {
		if rp.Accounts, err = s.accounts(c.Request.Context()); err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
	}
	if rp.In.Handler == "" {
		rp.In.Handler = p.user.Name
	}
	if rp.CanChange {
		if rp.Keepers, err = s.keepers(c.Request.Context()); err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
	}
	s.render(c, status, "requests", "req.title", p, rp, errMsg)
}

func formRequest(c *gin.Context) requestInput {
	return requestInput{Kind: c.PostForm("kind"), Cameras: c.PostFormArray("camera"), From: c.PostForm("from"), To: c.PostForm("to"),
		FromPick: c.PostForm("from_dst"), ToPick: c.PostForm("to_dst"), Reference: c.PostForm("reference"),
		BasisCode: c.PostForm("basis_code"), Basis: c.PostForm("basis"), Authority: c.PostForm("authority"),
		Officer: c.PostForm("officer"), Contact: c.PostForm("contact"), Requester: c.PostForm("requester"),
		Identity: c.PostForm("identity"), Description: c.PostForm("description"), Received: c.PostForm("received"),
		Deadline: c.PostForm("deadline"), Handler: c.PostForm("handler"), Notes: c.PostForm("notes"),
		VerifiedBy: c.PostForm("verified_by"), SubjectKey: c.PostForm("subject_key")}
}

func (s *Server) pageAddRequest(c *gin.Context) {
	p := authOf(c)
	in := formRequest(c)
	q, h, err := s.registerRequest(c.Request.Context(), p, c.ClientIP(), in)
	if err != nil {
		s.showRequests(c, http.StatusBadRequest, requestsPage{Status: "open", In: in, ShowForm: true}, errorText(p.lang(), err))
		return
	}
	s.flashRedirect(c, fmt.Sprintf("/requests/%d", q.ID), trf(p.lang(), "req.added", q.ID, h.ID))
}

// requestPage is one request's page.
type requestPage struct {
	requestDetail
	Now          time.Time
	CanChange    bool
	Channels     []string
	Grounds      []string
	NewPackage   string
	Deliver      deliveryInput
	DeliverOpen  bool
	Keepers      []string
	Accounts     []string      // who may have verified an identity
	MaxExtend    int           // months the deadline may still be extended by
	JobThreshold time.Duration // exports with more footage run as jobs
	Jobs         []jobRow      // the request's background jobs (jobs_api.go jobRows)
}

func (s *Server) requestID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		s.renderError(c, http.StatusNotFound, "req.err.none")
		return 0, false
	}
	return id, true
}

func (s *Server) pageRequest(c *gin.Context) {
	id, ok := s.requestID(c)
	if !ok {
		return
	}
	s.showRequest(c, http.StatusOK, id, requestPage{NewPackage: c.Query("package")}, "")
}

func (s *Server) showRequest(c *gin.Context, status int, id int64, rp requestPage, errMsg string) {
	p := authOf(c)
	d, err := s.requestDetail(c.Request.Context(), id)
	if errors.Is(err, registry.ErrNotFound) {
		s.renderError(c, http.StatusNotFound, "req.err.none")
		return
	}
	if err != nil {
		s.cfg.Log.Error("admin: request page", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	rp.requestDetail, rp.Now, rp.Channels, rp.Grounds = d, s.now(), registry.DisclosureChannels, registry.RefusalGrounds
	rp.CanChange = p.user.Has(registry.RoleKeeper)
	if rp.CanChange {
		if rp.Keepers, err = s.keepers(c.Request.Context()); err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
	}
	if s.cfg.Jobs != nil { // the request's jobs, with progress and cancel
		var js []registry.Job
		if err := s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
			var err error
			js, err = tx.Jobs(id)
			return err
		}); err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		rp.Jobs = jobRows(p.lang(), js, s.now())
	}
	rp.MaxExtend, rp.JobThreshold = registry.MaxExtensionMonths-d.ExtensionMonths, JobThreshold
	if rp.Deliver.Channel == "" {
		rp.Deliver.Channel = "usb"
		rp.Deliver.Authority = d.Authority
		rp.Deliver.Recipient = d.Officer
		if len(d.Packages) > 0 {
			rp.Deliver.Package = d.Packages[0].ID
		}
	}
	s.render(c, status, "request", "req.one", p, rp, errMsg)
}

func (s *Server) pageExportRequest(c *gin.Context) {
	p := authOf(c)
	id, ok := s.requestID(c)
	if !ok {
		return
	}
	// Over JobThreshold of footage: a background job, shown on the request
	// page with its progress (jobs_api.go); otherwise made now.
	j, queued, err := s.requestExportJob(c.Request.Context(), p, c.ClientIP(), id)
	if queued {
		if err != nil {
			s.showRequest(c, http.StatusBadRequest, id, requestPage{}, errorText(p.lang(), err))
			return
		}
		s.flashRedirect(c, fmt.Sprintf("/requests/%d", id), trf(p.lang(), "jobs.queued", j.ID))
		return
	}
	e, err := s.exportRequest(c.Request.Context(), p, c.ClientIP(), id)
	if err != nil {
		s.showRequest(c, http.StatusBadRequest, id, requestPage{}, errorText(p.lang(), err))
		return
	}
	s.flashRedirect(c, fmt.Sprintf("/requests/%d", id), trf(p.lang(), "exports.done", e.ID))
}

func (s *Server) pageDeliverRequest(c *gin.Context) {
	p := authOf(c)
	id, ok := s.requestID(c)
	if !ok {
		return
	}
	in := deliveryInput{Package: c.PostForm("package"), Recipient: c.PostForm("recipient"), Authority: c.PostForm("authority"),
		Channel: c.PostForm("channel"), At: c.PostForm("at"), HandedBy: c.PostForm("handed_by"), Basis: c.PostForm("basis"),
		Acknowledged: c.PostForm("acknowledged") != "", AckNote: c.PostForm("ack_note"), Note: c.PostForm("note")}
	if v := c.PostForm("corrects"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			s.showRequest(c, http.StatusBadRequest, id, requestPage{Deliver: in, DeliverOpen: true}, trf(p.lang(), "error.badnumber", "corrects"))
			return
		}
		in.Corrects = n
	}
	d, err := s.deliverRequest(c.Request.Context(), p, c.ClientIP(), id, in)
	if err != nil {
		s.showRequest(c, http.StatusBadRequest, id, requestPage{Deliver: in, DeliverOpen: true}, errorText(p.lang(), err))
		return
	}
	s.flashRedirect(c, fmt.Sprintf("/requests/%d", id), trf(p.lang(), "req.delivered", d.ID))
}

func (s *Server) pageCloseRequest(c *gin.Context) {
	p := authOf(c)
	id, ok := s.requestID(c)
	if !ok {
		return
	}
	q, h, err := s.closeRequest(c.Request.Context(), p, c.ClientIP(), id, c.PostForm("outcome"), c.PostForm("hold"),
		c.PostForm("reason"), c.PostForm("ground"))
	if err != nil {
		s.showRequest(c, http.StatusBadRequest, id, requestPage{}, errorText(p.lang(), err))
		return
	}
	msg := trf(p.lang(), "req.closed", q.ID)
	if h != nil {
		msg += " " + trf(p.lang(), "holds.released", h.ID)
	} else if q.HoldID != 0 {
		msg += " " + trf(p.lang(), "req.holdkept", q.HoldID)
	}
	s.flashRedirect(c, fmt.Sprintf("/requests/%d", id), msg)
}

// receiptPage is the printable handover receipt (luovutuskuitti), in
// Finnish and English on one sheet.
type receiptPage struct {
	Request    registry.Request
	Disclosure registry.Disclosure
	Package    registry.Export
	Corrected  *registry.Disclosure
	Printed    time.Time
}

func (s *Server) pageReceipt(c *gin.Context) {
	p := authOf(c)
	id, ok := s.requestID(c)
	if !ok {
		return
	}
	did, err := strconv.ParseInt(c.Param("did"), 10, 64)
	if err != nil || did <= 0 {
		s.renderError(c, http.StatusNotFound, "req.err.nodisclosure")
		return
	}
	var rp receiptPage
	err = s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
		var err error
		if rp.Disclosure, err = tx.Disclosure(did); err != nil {
			return err
		}
		if rp.Disclosure.RequestID != id {
			return registry.ErrNotFound
		}
		if rp.Request, err = tx.Request(id); err != nil {
			return err
		}
		if rp.Disclosure.Corrects != 0 {
			old, err := tx.Disclosure(rp.Disclosure.Corrects)
			if err != nil {
				return err
			}
			rp.Corrected = &old
		}
		rp.Package, err = tx.Export(rp.Disclosure.PackageID)
		return err
	})
	if errors.Is(err, registry.ErrNotFound) {
		s.renderError(c, http.StatusNotFound, "req.err.nodisclosure")
		return
	}
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	rp.Printed = s.now()
	if err := s.auditPrint(c.Request.Context(), p, c.ClientIP(), "receipt.print", fmt.Sprintf("disclosure:%d", did),
		map[string]any{"request": id, "package": rp.Disclosure.PackageID}); err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, http.StatusOK, "receipt", "receipt.title", p, rp, "")
}

// reportPage is the DPO's printable register and disclosure log.
type reportPage struct {
	From, To    string // YYYY-MM-DD, local
	Requests    []registry.Request
	Disclosures []registry.Disclosure
	Refs        map[int64]string
	Printed     time.Time
	Query       string
}

// reportRange reads from/to (local dates, to inclusive) into a UTC
// half-open range.
func (s *Server) reportRange(c *gin.Context) (from, to time.Time, fs, ts string, err error) {
	fs, ts = c.Query("from"), c.Query("to")
	if fs != "" {
		d, e := time.ParseInLocation("2006-01-02", fs, s.loc)
		if e != nil {
			return from, to, fs, ts, uerr("error.baddate")
		}
		from = d.UTC()
	}
	if ts != "" {
		d, e := time.ParseInLocation("2006-01-02", ts, s.loc)
		if e != nil {
			return from, to, fs, ts, uerr("error.baddate")
		}
		to = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, s.loc).UTC()
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return from, to, fs, ts, uerr("error.toafterfrom")
	}
	return from, to, fs, ts, nil
}

func (s *Server) report(c *gin.Context) (reportPage, error) {
	from, to, fs, ts, err := s.reportRange(c)
	rp := reportPage{From: fs, To: ts, Refs: map[int64]string{}, Printed: s.now(), Query: c.Request.URL.RawQuery}
	if err != nil {
		return rp, err
	}
	err = s.cfg.DB.View(c.Request.Context(), func(tx *registry.Tx) error {
		var err error
		if rp.Requests, err = tx.RequestsWhere(registry.RequestFilter{From: from, To: to}); err != nil {
			return err
		}
		if rp.Disclosures, err = tx.Disclosures(registry.DisclosureFilter{From: from, To: to}); err != nil {
			return err
		}
		for _, d := range rp.Disclosures {
			if d.RequestID == 0 {
				continue // expired: its request left the register (request_ref_hash stands in)
			}
			if _, ok := rp.Refs[d.RequestID]; !ok {
				q, err := tx.Request(d.RequestID)
				if err != nil {
					return err
				}
				rp.Refs[d.RequestID] = q.Reference
			}
		}
		return nil
	})
	return rp, err
}

func (s *Server) pageDisclosures(c *gin.Context) {
	p := authOf(c)
	rp, err := s.report(c)
	if err != nil {
		s.render(c, http.StatusBadRequest, "disclosures", "disc.title", p, rp, errorText(p.lang(), err))
		return
	}
	if err := s.auditPrint(c.Request.Context(), p, c.ClientIP(), "disclosures.report", "disclosures",
		map[string]any{"from": rp.From, "to": rp.To, "format": "page", "requests": len(rp.Requests), "entries": len(rp.Disclosures)}); err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, http.StatusOK, "disclosures", "disc.title", p, rp, "")
}

// disclosureCSVHeader is the CSV layout of the disclosure log; the CLI's
// `vahti disclosures list --csv` writes the same (WriteDisclosuresCSV).
var disclosureCSVHeader = []string{"id", "request", "reference", "at_utc", "recipient", "authority", "basis", "channel",
	"package", "sha256", "handed_by", "acknowledged", "ack_note", "corrects", "note", "recorded_by", "recorded_utc",
	"kind", "subject", "expired_utc", "request_ref_hash"}

func disclosureCSVRow(d registry.Disclosure, ref string) []string {
	corr, expired := "", ""
	if d.Corrects != 0 {
		corr = strconv.FormatInt(d.Corrects, 10)
	}
	if !d.Expired.IsZero() {
		expired = d.Expired.UTC().Format(time.RFC3339)
	}
	return []string{strconv.FormatInt(d.ID, 10), strconv.FormatInt(d.RequestID, 10), ref, d.At.UTC().Format(time.RFC3339),
		d.Recipient, d.RecipientAuthority, d.Basis, d.Channel, d.PackageID, d.PackageSHA256, d.HandedBy,
		strconv.FormatBool(d.Acknowledged), d.AckNote, corr, d.Note, d.RecordedBy, d.Recorded.UTC().Format(time.RFC3339),
		d.Kind(), strconv.FormatBool(d.Subject), expired, d.RequestRefHash}
}

// WriteDisclosuresCSV writes the disclosure log as CSV (a header, one row
// per entry; refs maps request ids to their references), with cells that
// a spreadsheet would run as formulas defused.
func WriteDisclosuresCSV(w io.Writer, ds []registry.Disclosure, refs map[int64]string) error {
	cw := csv.NewWriter(w)
	cw.Write(disclosureCSVHeader)
	for _, d := range ds {
		cw.Write(csvSafe(disclosureCSVRow(d, refs[d.RequestID])))
	}
	cw.Flush()
	return cw.Error()
}

var requestCSVHeader = []string{"id", "kind", "status", "state", "reference", "authority", "officer", "basis", "cameras",
	"from_utc", "to_utc", "received_utc", "deadline_utc", "handler", "hold", "outcome", "ground", "closed_utc", "close_reason",
	"verified_by", "subject_key", "extension_months"}

func requestCSVRow(q registry.Request) []string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	cams := ""
	for i, c := range q.Cameras {
		if i > 0 {
			cams += " "
		}
		cams += c
	}
	return []string{strconv.FormatInt(q.ID, 10), q.Kind, q.Status, q.State, q.Reference, q.Authority, q.Officer, q.Basis, cams,
		ts(q.From), ts(q.To), ts(q.Received), ts(q.Deadline), q.Handler, strconv.FormatInt(q.HoldID, 10), q.Outcome, q.Ground,
		ts(q.Closed), q.CloseReason, q.VerifiedBy, strconv.FormatBool(q.SubjectHash != ""), strconv.Itoa(q.ExtensionMonths)}
}

// csvSafe keeps a spreadsheet from running a cell as a formula (a
// recipient named "=HYPERLINK(…)" typed into the form).
func csvSafe(row []string) []string {
	for i, v := range row {
		if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r') {
			row[i] = "'" + v
		}
	}
	return row
}

// serveReportCSV writes the disclosure log ("log") or the register
// ("register") of the date range as CSV, audited.
func (s *Server) serveReportCSV(c *gin.Context, which string, api bool) {
	p := authOf(c)
	rp, err := s.report(c)
	if err != nil {
		if api {
			s.apiFail(c, err)
		} else {
			s.render(c, http.StatusBadRequest, "disclosures", "disc.title", p, rp, errorText(p.lang(), err))
		}
		return
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff") // so spreadsheet programs read UTF-8 (ä, ö)
	n := 0
	if which == "register" {
		w := csv.NewWriter(&buf)
		w.Write(requestCSVHeader)
		for _, q := range rp.Requests {
			w.Write(csvSafe(requestCSVRow(q)))
		}
		w.Flush()
		n = len(rp.Requests)
	} else {
		WriteDisclosuresCSV(&buf, rp.Disclosures, rp.Refs)
		n = len(rp.Disclosures)
	}
	if err := s.auditPrint(c.Request.Context(), p, c.ClientIP(), "disclosures.report", "disclosures",
		map[string]any{"from": rp.From, "to": rp.To, "format": "csv", "table": which, "rows": n}); err != nil {
		if api {
			s.apiFail(c, err)
		} else {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
		}
		return
	}
	name := "vahti-disclosures"
	if which == "register" {
		name = "vahti-requests"
	}
	if rp.From != "" {
		name += "-" + rp.From
	}
	if rp.To != "" {
		name += "-" + rp.To
	}
	c.Header("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	c.Data(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

func (s *Server) pageDisclosuresCSV(c *gin.Context) { s.serveReportCSV(c, "log", false) }
func (s *Server) pageRegisterCSV(c *gin.Context)    { s.serveReportCSV(c, "register", false) }

func (s *Server) pageUpdateRequest(c *gin.Context) {
	p := authOf(c)
	id, ok := s.requestID(c)
	if !ok {
		return
	}
	if _, err := s.updateRequest(c.Request.Context(), p, c.ClientIP(), id, c.PostForm("handler"), c.PostForm("notes")); err != nil {
		s.showRequest(c, http.StatusBadRequest, id, requestPage{}, errorText(p.lang(), err))
		return
	}
	s.flashRedirect(c, fmt.Sprintf("/requests/%d", id), tr(p.lang(), "users.saved"))
}

func (s *Server) pageExtendRequest(c *gin.Context) {
	p := authOf(c)
	id, ok := s.requestID(c)
	if !ok {
		return
	}
	months, _ := strconv.Atoi(c.PostForm("months"))
	q, err := s.extendRequest(c.Request.Context(), p, c.ClientIP(), id, months, c.PostForm("reason"))
	if err != nil {
		s.showRequest(c, http.StatusBadRequest, id, requestPage{}, errorText(p.lang(), err))
		return
	}
	s.flashRedirect(c, fmt.Sprintf("/requests/%d", id), trf(p.lang(), "req.extended", s.requestTime(p.lang(), q.Deadline)))
}

func (s *Server) pageViewRequest(c *gin.Context) {
	p := authOf(c)
	id, ok := s.requestID(c)
	if !ok {
		return
	}
	_, err := s.viewRequest(c.Request.Context(), p, c.ClientIP(), id,
		viewInput{ViewedBy: c.PostForm("viewed_by"), At: c.PostForm("at"), Note: c.PostForm("note")})
	if err != nil {
		s.showRequest(c, http.StatusBadRequest, id, requestPage{}, errorText(p.lang(), err))
		return
	}
	s.flashRedirect(c, fmt.Sprintf("/requests/%d", id), tr(p.lang(), "req.viewed"))
}

// requestTime is a time as the pages show it (the "lt" template function).
func (s *Server) requestTime(lang string, t time.Time) string {
	return s.funcs()["lt"].(func(string, time.Time) string)(lang, t)
}

// accounts are the active accounts, for "identity verified by".
func (s *Server) accounts(ctx context.Context) ([]string, error) {
	var out []string
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		us, err := tx.Users()
		for _, u := range us {
			if !u.Disabled {
				out = append(out, u.Name)
			}
		}
		return err
	})
	return out, err
}
