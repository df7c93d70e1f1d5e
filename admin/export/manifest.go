package export

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"vahti/registry"
)

// ManifestFormat names the manifest layout; bump it when fields change meaning.
const ManifestFormat = "vahti-export/1"

// Manifest is manifest.json: everything a court or a data subject needs to
// know about what the package holds and where it came from. It is signed
// (manifest.json.sig); the clips are bound to it by their SHA-256.
type Manifest struct {
	Format       string       `json:"format"`
	PackageID    string       `json:"package_id"`
	Created      Instant      `json:"created"`
	VahtiVersion string       `json:"vahti_version"`
	Exporter     string       `json:"exporter"`        // the person (account) who made the package
	Source       string       `json:"exporter_source"` // "cli" or the admin client's address
	Reason       string       `json:"reason"`
	CaseRef      string       `json:"case_ref"`
	TimeZone     string       `json:"time_zone"`
	Cameras      []string     `json:"cameras"`
	Requested    Range        `json:"requested"`
	Actual       []CamRange   `json:"actual"` // per camera: first and last frame in the clips
	Clips        []ClipInfo   `json:"clips"`
	Sources      []SourceInfo `json:"sources"`
	Gaps         []Gap        `json:"gaps"`
	Warnings     []string     `json:"warnings"`
	Notes        []string     `json:"notes"`
	// AuditHead is the audit chain's newest entry when the package was
	// made: signed with the manifest, it anchors the chain outside the box.
	AuditHead *AuditHead `json:"audit_head,omitempty"`
	// Request names the register entry (id, reference, authority, basis)
	// the package was made for; absent for a package made on its own.
	Request *registry.RequestRef `json:"request,omitempty"`
	// Redacted: the clips are re-encoded copies with regions hidden
	// (admin/redact); Redaction says how (mode, regions, ffmpeg, filters).
	Redacted  bool            `json:"redacted,omitempty"`
	Redaction json.RawMessage `json:"redaction,omitempty"`
	// Encryption: "age-scrypt" when the package travels as PACKAGE.zip.age (age.go).
	Encryption string `json:"encryption,omitempty"`
}

// AuditHead is the head of the audit chain (see `vahti audit verify`).
type AuditHead struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// auditHead reads the chain head for the manifest.
func (e *Exporter) auditHead(ctx context.Context) (*AuditHead, error) {
	var h registry.Head
	err := e.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		h, err = tx.AuditHead()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("export: audit head: %w", err)
	}
	return &AuditHead{Seq: h.Seq, Hash: h.Hash, Time: h.Time}, nil
}

// Instant is one time in UTC and in the box's local time zone.
type Instant struct {
	UTC   time.Time `json:"utc"`
	Local string    `json:"local"`
}

// Range is a half-open time range [from, to) in UTC and local time.
type Range struct {
	FromUTC   time.Time `json:"from_utc"`
	ToUTC     time.Time `json:"to_utc"`
	FromLocal string    `json:"from_local"`
	ToLocal   string    `json:"to_local"`
}

// CamRange is the footage actually delivered for one camera.
type CamRange struct {
	Camera string `json:"camera"`
	Range
}

// ClipInfo is one MP4 file in the package.
type ClipInfo struct {
	File    string   `json:"file"`
	Camera  string   `json:"camera"`
	Range            // wall clock of the first frame and the end of the last
	Codecs  string   `json:"codecs"`
	Bytes   int64    `json:"bytes"`
	SHA256  string   `json:"sha256"`
	Sources []string `json:"sources"` // segment paths stitched into it, in order
}

// SourceInfo is one catalogued segment overlapping the requested range.
type SourceInfo struct {
	Camera string `json:"camera"`
	Path   string `json:"path"` // relative to storage.root
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	Range
	Status string `json:"status"` // ok | damaged | tampered | unused
	Detail string `json:"detail,omitempty"`
	Clip   string `json:"clip,omitempty"`
}

// Gap is a stretch of the requested range with no footage in the package.
type Gap struct {
	Camera string `json:"camera"`
	Range
	Cause    string   `json:"cause"` // no-recording | damaged-segment | tampered-segment | recording-in-progress
	Segments []string `json:"segments,omitempty"`
}

var helsinki = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Helsinki"); err == nil {
		return l
	}
	return time.UTC
}()

// mkRangeIn is a range with its *_local fields in loc.
func mkRangeIn(a, b time.Time, loc *time.Location) Range {
	return Range{FromUTC: a.UTC(), ToUTC: b.UTC(), FromLocal: a.In(loc).Format(time.RFC3339Nano), ToLocal: b.In(loc).Format(time.RFC3339Nano)}
}

// mkRange is a range in Helsinki time; manifests re-localise it to the
// exporter's zone.
func mkRange(a, b time.Time) Range { return mkRangeIn(a, b, helsinki) }

func mkInstant(t time.Time, loc *time.Location) Instant {
	return Instant{UTC: t.UTC(), Local: t.In(loc).Format(time.RFC3339Nano)}
}
