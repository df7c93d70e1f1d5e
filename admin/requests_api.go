package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"vahti/registry"
)

// RequestEventJSON is one step of a request's history, as the API and the
// CLI print it.
type RequestEventJSON struct {
	State  string    `json:"state"`
	Actor  string    `json:"actor"`
	Source string    `json:"source"`
	Time   time.Time `json:"time"`
	Note   string    `json:"note,omitempty"`
}

// DisclosureJSON is a disclosure-log entry as the API and the CLI print it.
type DisclosureJSON struct {
	ID                 int64     `json:"id"`
	RequestID          int64     `json:"request"`
	PackageID          string    `json:"package"`
	PackageSHA256      string    `json:"sha256"`
	Recipient          string    `json:"recipient"`
	RecipientAuthority string    `json:"authority"`
	Basis              string    `json:"basis"`
	Channel            string    `json:"channel"`
	HandedBy           string    `json:"handed_by"`
	Acknowledged       bool      `json:"acknowledged"`
	AckNote            string    `json:"ack_note,omitempty"`
	At                 time.Time `json:"at"`
	RecordedBy         string    `json:"recorded_by"`
	Recorded           time.Time `json:"recorded"`
	Corrects           int64     `json:"corrects,omitempty"`
	Note               string    `json:"note,omitempty"`
	Receipt            string    `json:"receipt"`
	// Subject marks a data-subject disclosure (kind "access"); an entry
	// whose request expired keeps only counts and hashes.
	Subject        bool       `json:"subject"`
	Kind           string     `json:"kind"`
	Expired        *time.Time `json:"expired,omitempty"`
	RequestRefHash string     `json:"request_ref_hash,omitempty"`
}

// NewDisclosureJSON is d as the API and the CLI print it.
func NewDisclosureJSON(d registry.Disclosure) DisclosureJSON {
	return DisclosureJSON{ID: d.ID, RequestID: d.RequestID, PackageID: d.PackageID, PackageSHA256: d.PackageSHA256,
		Recipient: d.Recipient, RecipientAuthority: d.RecipientAuthority, Basis: d.Basis, Channel: d.Channel,
		HandedBy: d.HandedBy, Acknowledged: d.Acknowledged, AckNote: d.AckNote, At: d.At.UTC(), RecordedBy: d.RecordedBy,
		Recorded: d.Recorded.UTC(), Corrects: d.Corrects, Note: d.Note,
		Receipt: "/requests/" + strconv.FormatInt(d.RequestID, 10) + "/receipt/" + strconv.FormatInt(d.ID, 10),
		Subject: d.Subject, Kind: d.Kind(), Expired: optUTC(d.Expired), RequestRefHash: d.RequestRefHash}
}

// RequestJSON is a request of the register as the API and the CLI print it
// (`request show --json` and GET /api/v1/requests/:id are the same object).
type RequestJSON struct {
	ID         int64     `json:"id"`
	Kind       string    `json:"kind"`
	Status     string    `json:"status"`
	State      string    `json:"state"`
	Cameras    []string  `json:"cameras"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Reference  string    `json:"reference"`
	BasisCode  string    `json:"basis_code"`
	Basis      string    `json:"basis"`
	Authority  string    `json:"authority"`
	Officer    string    `json:"officer"`
	Contact    string    `json:"contact"`
	Requester  string    `json:"requester"`
	Identity   string    `json:"identity,omitempty"`
	VerifiedBy string    `json:"verified_by,omitempty"`
	// SubjectKey says whether an identifying key was recorded (its hash
	// is never shown); Earlier and Free are on one request's view only.
	SubjectKey      bool               `json:"subject_key"`
	Earlier         *int               `json:"earlier_requests_12m,omitempty"`
	Free            *bool              `json:"free,omitempty"`
	ExtensionMonths int                `json:"extension_months"`
	ExtensionReason string             `json:"extension_reason,omitempty"`
	Description     string             `json:"description,omitempty"`
	Handler         string             `json:"handler"`
	Notes           string             `json:"notes,omitempty"`
	Received        time.Time          `json:"received"`
	Deadline        *time.Time         `json:"deadline"`
	Overdue         bool               `json:"overdue"`
	CreatedBy       string             `json:"created_by"`
	Created         time.Time          `json:"created"`
	HoldID          int64              `json:"hold"`
	Outcome         string             `json:"outcome,omitempty"`
	Ground          string             `json:"ground,omitempty"`
	ClosedBy        string             `json:"closed_by,omitempty"`
	Closed          *time.Time         `json:"closed,omitempty"`
	CloseReason     string             `json:"close_reason,omitempty"`
	History         []RequestEventJSON `json:"history,omitempty"`
	Packages        []ExportJSON       `json:"packages,omitempty"`
	Disclosures     []DisclosureJSON   `json:"disclosures,omitempty"`
}

func optUTC(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// NewRequestJSON is q as the API and the CLI print it; now decides overdue.
func NewRequestJSON(q registry.Request, now time.Time) RequestJSON {
	return RequestJSON{ID: q.ID, Kind: q.Kind, Status: q.Status, State: q.State, Cameras: q.Cameras, From: q.From.UTC(), To: q.To.UTC(),
		Reference: q.Reference, BasisCode: q.BasisCode, Basis: q.Basis, Authority: q.Authority, Officer: q.Officer,
		Contact: q.Contact, Requester: q.Requester, Identity: q.Identity, Description: q.Description, Handler: q.Handler,
		Notes: q.Notes, Received: q.Received.UTC(), Deadline: optUTC(q.Deadline), Overdue: deadlineOverdue(q, now),
		CreatedBy: q.CreatedBy, Created: q.Created.UTC(), HoldID: q.HoldID, Outcome: q.Outcome, Ground: q.Ground,
		ClosedBy: q.ClosedBy, Closed: optUTC(q.Closed), CloseReason: q.CloseReason, VerifiedBy: q.VerifiedBy,
		SubjectKey: q.SubjectHash != "", ExtensionMonths: q.ExtensionMonths, ExtensionReason: q.ExtensionReason}
}

func (s *Server) apiRequestID(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		jsonError(c, http.StatusNotFound, "no such request")
		return 0, false
	}
	return id, true
}

func (s *Server) apiRequests(c *gin.Context) {
	f := registry.RequestFilter{Status: c.Query("status"), Kind: c.Query("kind"), State: c.Query("state"), Text: c.Query("q")}
	qs, err := s.requestList(c.Request.Context(), f)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	now := s.now()
	out := make([]RequestJSON, 0, len(qs))
	for _, q := range qs {
		out = append(out, NewRequestJSON(q, now))
	}
	c.JSON(http.StatusOK, gin.H{"requests": out})
}

func (s *Server) apiRequest(c *gin.Context) {
	id, ok := s.apiRequestID(c)
	if !ok {
		return
	}
	d, err := s.requestDetail(c.Request.Context(), id)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	v := NewRequestJSON(d.Request, s.now())
	if d.Earlier >= 0 {
		n, free := d.Earlier, d.Free()
		v.Earlier, v.Free = &n, &free
	}
	for _, ev := range d.Events {
		v.History = append(v.History, RequestEventJSON{State: ev.State, Actor: ev.Actor, Source: ev.Source, Time: ev.Time.UTC(), Note: ev.Note})
	}
	for _, e := range d.Packages {
		v.Packages = append(v.Packages, NewExportJSON(e))
	}
	for _, x := range d.Disclosures {
		v.Disclosures = append(v.Disclosures, NewDisclosureJSON(x))
	}
	c.JSON(http.StatusOK, v)
}

type apiRequestIn struct {
	Kind        string   `json:"kind"`
	Cameras     []string `json:"cameras"`
	From        string   `json:"from"`
	To          string   `json:"to"`
	FromPick    string   `json:"from_dst"`
	ToPick      string   `json:"to_dst"`
	Reference   string   `json:"reference"`
	BasisCode   string   `json:"basis_code"`
	Basis       string   `json:"basis"`
	Authority   string   `json:"authority"`
	Officer     string   `json:"officer"`
	Contact     string   `json:"contact"`
	Requester   string   `json:"requester"`
	Identity    string   `json:"identity"`
	Description string   `json:"description"`
	Received    string   `json:"received"`
	Deadline    string   `json:"deadline"`
	Handler     string   `json:"handler"`
	Notes       string   `json:"notes"`
	VerifiedBy  string   `json:"verified_by"`
	SubjectKey  string   `json:"subject_key"`
}

func (s *Server) apiAddRequest(c *gin.Context) {
	var in apiRequestIn
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, "expected JSON {kind, cameras, from, to, reference, basis_code, basis, …}")
		return
	}
	q, h, err := s.registerRequest(c.Request.Context(), authOf(c), c.ClientIP(), requestInput(in))
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"request": NewRequestJSON(q, s.now()), "hold": holdJSON(h)})
}

func (s *Server) apiExportRequest(c *gin.Context) {
	id, ok := s.apiRequestID(c)
	if !ok {
		return
	}
	if s.exportAsJob(c, id) { // jobs_api.go: long exports run in the background
		return
	}
	e, err := s.exportRequest(c.Request.Context(), authOf(c), c.ClientIP(), id)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusCreated, NewExportJSON(e))
}

func (s *Server) apiDeliverRequest(c *gin.Context) {
	id, ok := s.apiRequestID(c)
	if !ok {
		return
	}
	var in struct {
		Package      string `json:"package"`
		Recipient    string `json:"recipient"`
		Authority    string `json:"authority"`
		Channel      string `json:"channel"`
		At           string `json:"at"`
		HandedBy     string `json:"handed_by"`
		Basis        string `json:"basis"`
		Acknowledged bool   `json:"acknowledged"`
		AckNote      string `json:"ack_note"`
		Note         string `json:"note"`
		Corrects     int64  `json:"corrects"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, "expected JSON {package, recipient, channel[, authority, at, handed_by, basis, acknowledged, ack_note, corrects, note]}")
		return
	}
	d, err := s.deliverRequest(c.Request.Context(), authOf(c), c.ClientIP(), id, deliveryInput(in))
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusCreated, NewDisclosureJSON(d))
}

func (s *Server) apiCloseRequest(c *gin.Context) {
	id, ok := s.apiRequestID(c)
	if !ok {
		return
	}
	var in struct {
		Outcome string `json:"outcome"`
		Hold    string `json:"hold"` // "release" or "keep"
		Reason  string `json:"reason"`
		Ground  string `json:"ground"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, `expected JSON {"outcome", "hold": "release"|"keep", "reason"[, "ground"]}`)
		return
	}
	q, h, err := s.closeRequest(c.Request.Context(), authOf(c), c.ClientIP(), id, in.Outcome, in.Hold, in.Reason, in.Ground)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	out := gin.H{"request": NewRequestJSON(q, s.now()), "released_hold": nil}
	if h != nil {
		out["released_hold"] = holdJSON(*h)
	}
	c.JSON(http.StatusOK, out)
}

// apiDisclosures is the disclosure log of a date range, as JSON or (with
// format=csv) CSV; audited like the printable report.
func (s *Server) apiDisclosures(c *gin.Context) {
	if c.Query("format") == "csv" {
		s.serveReportCSV(c, "log", true)
		return
	}
	rp, err := s.report(c)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	if err := s.audit(c.Request.Context(), authOf(c), c.ClientIP(), "disclosures.report", "disclosures",
		map[string]any{"from": rp.From, "to": rp.To, "format": "json", "entries": len(rp.Disclosures)}); err != nil {
		s.apiFail(c, err)
		return
	}
	out := make([]DisclosureJSON, 0, len(rp.Disclosures))
	for _, d := range rp.Disclosures {
		out = append(out, NewDisclosureJSON(d))
	}
	c.JSON(http.StatusOK, gin.H{"disclosures": out})
}

func (s *Server) apiUpdateRequest(c *gin.Context) {
	id, ok := s.apiRequestID(c)
	if !ok {
		return
	}
	var in struct {
		Handler string `json:"handler"`
		Notes   string `json:"notes"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, `expected JSON {"handler", "notes"}`)
		return
	}
	q, err := s.updateRequest(c.Request.Context(), authOf(c), c.ClientIP(), id, in.Handler, in.Notes)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, NewRequestJSON(q, s.now()))
}

func (s *Server) apiExtendRequest(c *gin.Context) {
	id, ok := s.apiRequestID(c)
	if !ok {
		return
	}
	var in struct {
		Months int    `json:"months"`
		Reason string `json:"reason"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, `expected JSON {"months": 1|2, "reason"}`)
		return
	}
	q, err := s.extendRequest(c.Request.Context(), authOf(c), c.ClientIP(), id, in.Months, in.Reason)
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, NewRequestJSON(q, s.now()))
}

func (s *Server) apiViewRequest(c *gin.Context) {
	id, ok := s.apiRequestID(c)
	if !ok {
		return
	}
	var in struct {
		ViewedBy string `json:"viewed_by"`
		At       string `json:"at"`
		Note     string `json:"note"`
	}
	if c.ShouldBindJSON(&in) != nil {
		jsonError(c, http.StatusBadRequest, `expected JSON {"viewed_by"?, "at"?, "note"?}`)
		return
	}
	q, err := s.viewRequest(c.Request.Context(), authOf(c), c.ClientIP(), id, viewInput(in))
	if err != nil {
		s.apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, NewRequestJSON(q, s.now()))
}
