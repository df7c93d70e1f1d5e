package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"vahti/registry"
)

type apiRequestEvent struct {
	State  string    `json:"state"`
	Actor  string    `json:"actor"`
	Source string    `json:"source"`
	Time   time.Time `json:"time"`
	Note   string    `json:"note,omitempty"`
}

type apiDisclosure struct {
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
}

func disclosureJSON(d registry.Disclosure) apiDisclosure {
	return apiDisclosure{ID: d.ID, RequestID: d.RequestID, PackageID: d.PackageID, PackageSHA256: d.PackageSHA256,
		Recipient: d.Recipient, RecipientAuthority: d.RecipientAuthority, Basis: d.Basis, Channel: d.Channel,
		HandedBy: d.HandedBy, Acknowledged: d.Acknowledged, AckNote: d.AckNote, At: d.At.UTC(), RecordedBy: d.RecordedBy,
		Recorded: d.Recorded.UTC(), Corrects: d.Corrects, Note: d.Note,
		Receipt: "/requests/" + strconv.FormatInt(d.RequestID, 10) + "/receipt/" + strconv.FormatInt(d.ID, 10)}
}

type apiRequest struct {
	ID          int64             `json:"id"`
	Kind        string            `json:"kind"`
	Status      string            `json:"status"`
	State       string            `json:"state"`
	Cameras     []string          `json:"cameras"`
	From        time.Time         `json:"from"`
	To          time.Time         `json:"to"`
	Reference   string            `json:"reference"`
	BasisCode   string            `json:"basis_code"`
	Basis       string            `json:"basis"`
	Authority   string            `json:"authority"`
	Officer     string            `json:"officer"`
	Contact     string            `json:"contact"`
	Requester   string            `json:"requester"`
	Identity    string            `json:"identity,omitempty"`
	Description string            `json:"description,omitempty"`
	Handler     string            `json:"handler"`
	Notes       string            `json:"notes,omitempty"`
	Received    time.Time         `json:"received"`
	Deadline    *time.Time        `json:"deadline"`
	Overdue     bool              `json:"overdue"`
	CreatedBy   string            `json:"created_by"`
	Created     time.Time         `json:"created"`
	HoldID      int64             `json:"hold"`
	Outcome     string            `json:"outcome,omitempty"`
	Ground      string            `json:"ground,omitempty"`
	ClosedBy    string            `json:"closed_by,omitempty"`
	Closed      *time.Time        `json:"closed,omitempty"`
	CloseReason string            `json:"close_reason,omitempty"`
	History     []apiRequestEvent `json:"history,omitempty"`
	Packages    []apiExport       `json:"packages,omitempty"`
	Disclosures []apiDisclosure   `json:"disclosures,omitempty"`
}

func optUTC(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func requestJSON(q registry.Request, now time.Time) apiRequest {
	return apiRequest{ID: q.ID, Kind: q.Kind, Status: q.Status, State: q.State, Cameras: q.Cameras, From: q.From.UTC(), To: q.To.UTC(),
		Reference: q.Reference, BasisCode: q.BasisCode, Basis: q.Basis, Authority: q.Authority, Officer: q.Officer,
		Contact: q.Contact, Requester: q.Requester, Identity: q.Identity, Description: q.Description, Handler: q.Handler,
		Notes: q.Notes, Received: q.Received.UTC(), Deadline: optUTC(q.Deadline), Overdue: deadlineOverdue(q, now),
		CreatedBy: q.CreatedBy, Created: q.Created.UTC(), HoldID: q.HoldID, Outcome: q.Outcome, Ground: q.Ground,
		ClosedBy: q.ClosedBy, Closed: optUTC(q.Closed), CloseReason: q.CloseReason}
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
	out := make([]apiRequest, 0, len(qs))
	for _, q := range qs {
		out = append(out, requestJSON(q, now))
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
	v := requestJSON(d.Request, s.now())
	for _, ev := range d.Events {
		v.History = append(v.History, apiRequestEvent{State: ev.State, Actor: ev.Actor, Source: ev.Source, Time: ev.Time.UTC(), Note: ev.Note})
	}
	for _, e := range d.Packages {
		v.Packages = append(v.Packages, exportJSON(e))
	}
	for _, x := range d.Disclosures {
		v.Disclosures = append(v.Disclosures, disclosureJSON(x))
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
	c.JSON(http.StatusCreated, gin.H{"request": requestJSON(q, s.now()), "hold": holdJSON(h)})
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
	c.JSON(http.StatusCreated, exportJSON(e))
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
	c.JSON(http.StatusCreated, disclosureJSON(d))
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
	out := gin.H{"request": requestJSON(q, s.now()), "released_hold": nil}
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
	out := make([]apiDisclosure, 0, len(rp.Disclosures))
	for _, d := range rp.Disclosures {
		out = append(out, disclosureJSON(d))
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
	c.JSON(http.StatusOK, requestJSON(q, s.now()))
}
