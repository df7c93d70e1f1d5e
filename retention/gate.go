package retention

import (
	"path"
	"strings"
	"time"

	"vahti/registry"
)

// Why names the reason the gate gave. It is recorded in audit entries and
// dry-run listings, so it is a short stable word, not prose.
type Why string

const (
	WhyDeletable Why = "deletable"    // old enough and not held
	WhyTooYoung  Why = "too-young"    // end is after now - max_age
	WhyHeld      Why = "held"         // an active legal hold covers it
	WhyFuture    Why = "future"       // ends after now: the clock or the row is wrong
	WhyBadRow    Why = "bad-row"      // times or path do not describe a segment
	WhyNotOnDisk Why = "not-on-disk"  // row marked missing: nothing to unlink
	WhyDeleted   Why = "already-gone" // export already deleted
)

// Deletable is THE deletion gate: may this segment be destroyed at now?
//
// Modelled on Prometheus tsdb's BeyondTimeRetention, age is judged by the
// segment's END, so no frame younger than maxAge is ever destroyed: the
// segment may go once end <= now - maxAge. Any active hold covering the
// segment (registry.Hold.Covers, edges inclusive) forbids it. A segment that
// ends after now is never deletable whatever maxAge is, which keeps a clock
// stepped backwards or a corrupt row from destroying fresh footage. The disk
// guard calls the gate with maxAge 0: anything finished and unheld may go.
//
// holds may contain every hold or only those naming the camera; released
// holds are ignored.
func Deletable(seg registry.Segment, now time.Time, maxAge time.Duration, holds []registry.Hold) (bool, Why) {
	switch seg.State {
	case registry.SegmentOK, registry.SegmentDoomed:
	case registry.SegmentMissing:
		return false, WhyNotOnDisk
	default:
		return false, WhyBadRow
	}
	if seg.Start.IsZero() || seg.End.IsZero() || seg.End.Before(seg.Start) || maxAge < 0 {
		return false, WhyBadRow
	}
	// The file to unlink must be a segment of this camera, so a corrupt
	// row can never point the unlinker at anything else.
	// Its path also carries the true start (to the microsecond): a row
	// whose times disagree with its file name is not trusted.
	// (Fast path: the canonical name of this camera and start; the full
	// parse is only needed for unfinished names, i.e. strays.)
	if seg.Camera == "" || seg.Camera == "." || seg.Camera == ".." || strings.ContainsAny(seg.Camera, "/\\") {
		return false, WhyBadRow
	}
	if seg.Path != registry.SegmentPath(seg.Camera, seg.Start) {
		cam, pathStart, _, err := registry.ParseSegmentPath(seg.Path)
		if err != nil || cam != seg.Camera || seg.Path != path.Clean(seg.Path) || strings.HasPrefix(seg.Path, "/") ||
			!seg.Start.Truncate(time.Microsecond).Equal(pathStart) {
			return false, WhyBadRow
		}
	}
	if seg.End.After(now) {
		return false, WhyFuture
	}
	if seg.End.After(now.Add(-maxAge)) {
		return false, WhyTooYoung
	}
	for _, h := range holds {
		if h.Active() && h.Covers(seg.Camera, seg.Start, seg.End) {
			return false, WhyHeld
		}
	}
	return true, WhyDeletable
}

// DeletableExport is the gate for an export package: it is personal data
// like the footage inside, so it expires when that footage would have
// (FootageEnd, or To if unknown, older than maxAge) unless an active hold
// covers any of its cameras over its range.
func DeletableExport(e registry.Export, now time.Time, maxAge time.Duration, holds []registry.Hold) (bool, Why) {
	if !e.Deleted.IsZero() {
		return false, WhyDeleted
	}
	end := e.FootageEnd
	if end.IsZero() {
		end = e.To
	}
	p := path.Clean(e.Path)
	if end.IsZero() || e.From.IsZero() || maxAge < 0 || p != e.Path || !strings.HasPrefix(p, "exports/") ||
		!strings.HasSuffix(p, ".zip") || strings.Contains(p, "..") {
		return false, WhyBadRow
	}
	if end.After(now) {
		return false, WhyFuture
	}
	if end.After(now.Add(-maxAge)) {
		return false, WhyTooYoung
	}
	for _, h := range holds {
		if !h.Active() {
			continue
		}
		for _, c := range e.Cameras {
			if h.Covers(c, e.From, end) {
				return false, WhyHeld
			}
		}
	}
	return true, WhyDeletable
}

// holdIndex groups active holds by camera so the gate is asked about a few
// holds per segment, not all of them: at 1000 holds and 46k expiring
// segments that is the difference between 46M and ~1M Covers calls.
type holdIndex struct {
	all      []registry.Hold
	byCamera map[string][]registry.Hold
	merged   map[string][]registry.Hold
}

func newHoldIndex(holds []registry.Hold) *holdIndex {
	ix := &holdIndex{all: holds, byCamera: map[string][]registry.Hold{}, merged: map[string][]registry.Hold{}}
	var every []registry.Hold
	for _, h := range holds {
		if !h.Active() {
			continue
		}
		for _, c := range h.Cameras {
			if c == registry.AllCameras {
				every = append(every, h)
				break
			}
		}
	}
	for _, h := range holds {
		if !h.Active() {
			continue
		}
		seen := map[string]bool{}
		for _, c := range h.Cameras {
			if c != registry.AllCameras && !seen[c] {
				seen[c] = true
				ix.byCamera[c] = append(ix.byCamera[c], h)
			}
		}
	}
	if len(every) > 0 {
		ix.byCamera[registry.AllCameras] = every
	}
	return ix
}

// For returns the active holds that may cover the camera's footage.
func (ix *holdIndex) For(camera string) []registry.Hold {
	every := ix.byCamera[registry.AllCameras]
	own := ix.byCamera[camera]
	if len(every) == 0 {
		return own
	}
	if len(own) == 0 {
		return every
	}
	if m, ok := ix.merged[camera]; ok {
		return m
	}
	m := append(append(make([]registry.Hold, 0, len(own)+len(every)), own...), every...)
	ix.merged[camera] = m
	return m
}

// WhyOpen: a request still being handled never expires.
const WhyOpen Why = "open"

// DeletableRequest is the gate for an entry of the request register: a
// closed request may leave the register once it has been closed for keep
// (requests.retention), unless its own hold is still in force (a hold
// kept at closing, e.g. for the police's preservation, keeps the request
// that explains it).
func DeletableRequest(q registry.Request, now time.Time, keep time.Duration, holds []registry.Hold) (bool, Why) {
	if q.Open() {
		return false, WhyOpen
	}
	if q.Closed.IsZero() || keep <= 0 || q.ID <= 0 {
		return false, WhyBadRow
	}
	if q.Closed.After(now) {
		return false, WhyFuture
	}
	if q.Closed.After(now.Add(-keep)) {
		return false, WhyTooYoung
	}
	for _, h := range holds {
		if h.Active() && (h.ID == q.HoldID || h.RequestID == q.ID) {
			return false, WhyHeld
		}
	}
	return true, WhyDeletable
}

// DeletableBackup is the gate for a nightly registry backup taken at
// taken: it holds sealed keys, so it goes once the newest footage it can
// open has expired, max_age plus a day after it was taken.
func DeletableBackup(taken, now time.Time, maxAge time.Duration) (bool, Why) {
	const day = 24 * time.Hour
	if taken.IsZero() || maxAge <= 0 {
		return false, WhyBadRow
	}
	if taken.After(now) {
		return false, WhyFuture
	}
	if taken.Add(maxAge + day).After(now) {
		return false, WhyTooYoung
	}
	return true, WhyDeletable
}

// Background job rows (admin/jobs) say who exported which cameras over
// which range, when and why, and link to access requests: personal data,
// so they expire through this gate and remove.go like everything else.
// The audit log keeps its own job.* entries.

// Why words of the job gate.
const (
	WhyActive      Why = "active"       // queued or running: never deleted
	WhyPackageKept Why = "package-kept" // an ad-hoc job's package is still kept
	WhyRequestKept Why = "request-kept" // a request's job stays while its request does
)

// DeletableJob is the gate for a background job's row at now. A queued or
// running job never goes. A request's job goes with its request, when the
// request gate lets the request leave the register (requestGoes). An
// ad-hoc export's job (no request) goes once the package it made has
// expired (pkg, its exports row, marked deleted by the export gate's
// removal). One without a package (failed, cancelled, or whose package row
// is unknown) goes maxAge (retention.max_age) after it ended: it never
// made anything to expire with, the footage it named is past its own
// retention by then (it had been recorded before the job ended), and the
// audit log keeps the attempt.
func DeletableJob(j registry.Job, now time.Time, maxAge time.Duration, pkg *registry.Export, requestGoes bool) (bool, Why) {
	if !j.Ended() {
		return false, WhyActive
	}
	if j.ID <= 0 || j.Finished.IsZero() || maxAge < 0 {
		return false, WhyBadRow
	}
	if j.Finished.After(now) {
		return false, WhyFuture
	}
	if j.RequestID != 0 {
		if !requestGoes {
			return false, WhyRequestKept
		}
		return true, WhyDeletable
	}
	if pkg != nil {
		if pkg.ID != j.Package {
			return false, WhyBadRow
		}
		if pkg.Deleted.IsZero() {
			return false, WhyPackageKept
		}
		return true, WhyDeletable
	}
	if j.Finished.After(now.Add(-maxAge)) {
		return false, WhyTooYoung
	}
	return true, WhyDeletable
}
