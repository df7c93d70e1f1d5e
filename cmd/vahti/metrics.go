package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vahti/checkpoint"
	"vahti/recorder"
	"vahti/registry"
	"vahti/retention"
)

// newMetricsRegistry is the service's own Prometheus registry (never the
// global default one): Go runtime and process metrics plus Vahti's
// collector. The admin UI adds its HTTP counters to it.
func (s *service) newMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newVahtiCollector(s),
		readyCollector{s},
		alarmCollector{s},
		backupCollector{s},
	)
	return reg
}

// serveMetrics exposes the metrics (and the health endpoints) on
// metrics.listen. It carries only counts and times, never footage, names of
// people or secrets, and needs no login: keep it on loopback or a
// monitoring network.
func (s *service) serveMetrics(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.metricsMux(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

func (s *service) metricsMux() *http.ServeMux {
	mux := http.NewServeMux()
	// ContinueOnError: a registry that cannot be read still leaves the
	// camera and disk metrics (and vahti_registry_up 0) in the scrape.
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, Timeout: 10 * time.Second}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	return mux
}

// vahtiCollector reads the live state on every scrape: the recorder's and
// retention's status from memory, the rest from the registry in one
// read-only transaction.
type vahtiCollector struct {
	s *service

	// The audit chain is read incrementally: deletions are counted from the
	// "segments.delete" and "export.delete" entries after seq, so a scrape
	// reads only what is new (the first one reads the whole chain once).
	mu       sync.Mutex
	auditSeq int64
	deleted  map[string]*deletion // by path
}

type deletion struct{ count, bytes float64 }

// Purge paths, from the reason the audit entry records. The age sweep and
// the nightly purge both delete for the age rule ("expired") and are one
// path; the nightly purge's strays and the crash recovery are their own.
var purgePaths = map[string]string{
	"expired":   "expiry",
	"disk-full": "disk_guard",
	"stray":     "nightly_stray",
	"recovered": "crash_recovery",
	"missing":   "missing_file",
}

const pathExportExpiry = "export_expiry"

var (
	descBuild         = desc("vahti_build_info", "Vahti's version (always 1).", "version")
	descRegistryUp    = desc("vahti_registry_up", "1 if the registry could be read for this scrape.")
	descCamUp         = desc("vahti_camera_up", "1 if the camera is recording now.", "camera")
	descCamBitrate    = desc("vahti_camera_bitrate_bits_per_second", "Recent incoming bitrate.", "camera")
	descCamReconnects = desc("vahti_camera_reconnects_total", "Connection attempts after the first, since start.", "camera")
	descCamSegments   = desc("vahti_camera_segments_written_total", "Segments finished since start.", "camera")
	descCamFrames     = desc("vahti_camera_frames_total", "Video frames recorded into segments since start.", "camera")
	descCamRTPGaps    = desc("vahti_camera_rtp_gaps_total",
		"Times the camera's video packets skipped sequence numbers since start (each drops the frames up to the next keyframe).", "camera")
	descCamDropped = desc("vahti_camera_dropped_total",
		"Input the recorder refused since start, by reason (bad_rtp, oversize, time_jumps, param_churn, panics).", "camera", "reason")
	descCamLastFrame = desc("vahti_camera_last_frame_timestamp_seconds", "Wall-clock time of the last video frame.", "camera")
	descCamBytes     = desc("vahti_camera_footage_bytes", "Bytes of catalogued footage on disk.", "camera")
	descCamMaxAge    = desc("vahti_retention_max_age_seconds", "The camera's retention limit.", "camera")
	descCamOldest    = desc("vahti_footage_oldest_unheld_age_seconds",
		"Age of the oldest footage no active hold covers (its start); absent when there is none.", "camera")
	descPurgeSegs = desc("vahti_purge_deleted_segments_total",
		"Segments (or export packages, path export_expiry) deleted, by path, from the audit chain.", "path")
	descPurgeBytes   = desc("vahti_purge_deleted_bytes_total", "Bytes deleted, by path, from the audit chain.", "path")
	descHolds        = desc("vahti_holds_active", "Active legal holds.")
	descHeldBytes    = desc("vahti_held_bytes", "Bytes of catalogued footage an active hold covers.")
	descRequestsOpen = desc("vahti_requests_open", "Open police and access requests.")
	descRequestsLate = desc("vahti_requests_overdue", "Open requests whose deadline has passed.")
	descAuditLen     = desc("vahti_audit_chain_length", "Entries in the audit chain (the last sequence number).")
	descCheckpoint   = desc("vahti_audit_checkpoint_age_seconds",
		"Time since the newest audit checkpoint file was written; absent when there is none.")
	descDiskFree       = desc("vahti_disk_free_bytes", "Free bytes on the storage.root filesystem.")
	descDiskTotal      = desc("vahti_disk_total_bytes", "Size of the storage.root filesystem.")
	descDiskFloor      = desc("vahti_disk_floor_bytes", "retention.min_free in bytes: the disk guard acts below it.")
	descWriting        = desc("vahti_recording_allowed", "0 while the disk guard stops recording (disk full of held footage).")
	descPaused         = desc("vahti_retention_paused", "1 while a retention interlock refuses deletions.")
	descRetentionAlarm = desc("vahti_retention_alarm", "1 for each retention alarm raised.", "kind")
	descLastNightly    = desc("vahti_nightly_purge_last_timestamp_seconds", "When the nightly purge last ran; absent before the first.")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

func newVahtiCollector(s *service) *vahtiCollector {
	return &vahtiCollector{s: s, deleted: map[string]*deletion{}}
}

// Describe lists every metric up front (Collect needs the running parts,
// so it cannot stand in for Describe at registration).
func (c *vahtiCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBuild, descRegistryUp, descCamUp, descCamBitrate, descCamReconnects, descCamSegments, descCamFrames, descCamDropped, descCamLastFrame, descCamBytes, descCamMaxAge, descCamOldest, descPurgeSegs, descPurgeBytes, descHolds, descHeldBytes, descRequestsOpen, descRequestsLate, descAuditLen, descCheckpoint, descDiskFree, descDiskTotal, descDiskFloor, descWriting, descPaused, descRetentionAlarm, descLastNightly} {
		ch <- d
	}
}

func (c *vahtiCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	now := s.now()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	gauge(descBuild, 1, version)

	for _, cs := range s.rec.Status() {
		gauge(descCamUp, b2f(cs.State == recorder.StateRecording), cs.ID)
		gauge(descCamBitrate, cs.BitrateBps, cs.ID)
		counter(descCamReconnects, float64(cs.Reconnects), cs.ID)
		counter(descCamSegments, float64(cs.Segments), cs.ID)
		counter(descCamFrames, float64(cs.Frames), cs.ID)
		counter(descCamRTPGaps, float64(cs.RTPGaps), cs.ID)
		for _, d := range dropReasons(cs.Dropped) {
			counter(descCamDropped, float64(d.n), cs.ID, d.reason)
		}
		if !cs.LastFrame.IsZero() {
			gauge(descCamLastFrame, unixSeconds(cs.LastFrame), cs.ID)
		}
	}
	cams := s.cameraIDsNow()
	for _, id := range cams {
		gauge(descCamMaxAge, s.cfg.MaxAgeFor(id).Seconds(), id)
	}

	rs := s.ret.Status()
	gauge(descDiskFree, float64(rs.Disk.Free))
	gauge(descDiskTotal, float64(rs.Disk.Total))
	gauge(descDiskFloor, float64(rs.FloorBytes))
	gauge(descWriting, b2f(rs.WritingAllowed))
	gauge(descPaused, b2f(rs.Paused))
	for _, a := range rs.Alarms {
		gauge(descRetentionAlarm, 1, a.Kind)
	}
	if !rs.LastNightly.IsZero() {
		gauge(descLastNightly, unixSeconds(rs.LastNightly))
	}
	if t, ok := s.newestCheckpoint(); ok {
		gauge(descCheckpoint, now.Sub(t).Seconds())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := c.fromRegistry(ctx, now)
	if err != nil {
		s.log.Warn("metrics: registry not read", "err", err)
		gauge(descRegistryUp, 0)
		ch <- prometheus.NewInvalidMetric(descRegistryUp, err)
		return
	}
	gauge(descRegistryUp, 1)
	for _, id := range cams {
		gauge(descCamBytes, float64(db.bytes[id]), id)
		if o, ok := db.oldestUnheld[id]; ok {
			gauge(descCamOldest, now.Sub(o).Seconds(), id)
		}
	}
	gauge(descHolds, float64(db.holds))
	gauge(descHeldBytes, float64(db.heldBytes))
	gauge(descRequestsOpen, float64(db.openRequests))
	gauge(descRequestsLate, float64(db.overdueRequests))
	gauge(descAuditLen, float64(db.auditLen))
	for _, p := range append(sortedValues(purgePaths), pathExportExpiry) {
		d := db.deleted[p]
		counter(descPurgeSegs, d.count, p)
		counter(descPurgeBytes, d.bytes, p)
	}
}

// registryFacts is what one scrape reads from the registry.
type registryFacts struct {
	bytes        map[string]int64
	oldestUnheld map[string]time.Time
	holds        int
	heldBytes    int64
	openRequests int
	// overdueRequests are open past their deadline (an access request's
	// is one month after receipt, GDPR art. 12(3)).
	overdueRequests int
	auditLen        int64
	deleted         map[string]deletion
}

func (c *vahtiCollector) fromRegistry(ctx context.Context, now time.Time) (registryFacts, error) {
	f := registryFacts{oldestUnheld: map[string]time.Time{}, deleted: map[string]deletion{}}
	// One scrape at a time walks the audit chain forward.
	c.mu.Lock()
	defer c.mu.Unlock()
	seq := c.auditSeq
	newDeleted := map[string]deletion{}
	err := c.s.db.View(ctx, func(tx *registry.Tx) error {
		sums, err := tx.Summaries()
		if err != nil {
			return err
		}
		f.bytes = map[string]int64{}
		for id, sum := range sums {
			f.bytes[id] = sum.Bytes
		}
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		f.holds = len(holds)
		if f.heldBytes, err = heldBytes(tx, holds, c.s.cameraIDsNow()); err != nil {
			return err
		}
		reqs, err := tx.Requests()
		if err != nil {
			return err
		}
		for _, q := range reqs {
			if q.Open() {
				f.openRequests++
				if !q.Deadline.IsZero() && now.After(q.Deadline) {
					f.overdueRequests++
				}
			}
		}
		for {
			es, err := tx.AuditEntries(registry.AuditFilter{AfterSeq: seq, Limit: 5000})
			if err != nil {
				return err
			}
			for _, e := range es {
				seq = e.Seq
				countDeletion(newDeleted, e)
			}
			if len(es) < 5000 {
				return nil
			}
		}
	})
	if err != nil {
		return f, err
	}
	if f.oldestUnheld, err = c.s.oldestUnheldByCamera(ctx); err != nil {
		return f, err
	}
	c.auditSeq = seq
	for p, d := range newDeleted {
		acc := c.deleted[p]
		if acc == nil {
			acc = &deletion{}
			c.deleted[p] = acc
		}
		acc.count += d.count
		acc.bytes += d.bytes
	}
	for p, d := range c.deleted {
		f.deleted[p] = *d
	}
	f.auditLen = seq
	return f, nil
}

// countDeletion adds a deletion audit entry to the totals by path.
func countDeletion(into map[string]deletion, e registry.Entry) {
	switch e.Kind {
	case "segments.delete":
		var d retention.DeletionDetail
		if json.Unmarshal(e.Detail, &d) != nil {
			return
		}
		p, ok := purgePaths[d.Reason]
		if !ok {
			p = "other"
		}
		acc := into[p]
		acc.count += float64(d.Count)
		acc.bytes += float64(d.Bytes)
		into[p] = acc
	case "export.delete":
		var d struct {
			Bytes int64 `json:"bytes"`
		}
		json.Unmarshal(e.Detail, &d)
		acc := into[pathExportExpiry]
		acc.count++
		acc.bytes += float64(d.Bytes)
		into[pathExportExpiry] = acc
	}
}

// heldBytes sums the catalogued footage some active hold covers, each
// segment once.
func heldBytes(tx *registry.Tx, holds []registry.Hold, cameras []string) (int64, error) {
	seen := map[int64]bool{}
	var n int64
	for _, h := range holds {
		for _, cam := range cameras {
			if !h.Covers(cam, h.From, h.To) {
				continue
			}
			// SegmentsIn's range is half-open; widened by a nanosecond
			// each side it also finds the segments touching the hold's
			// edges, which Covers (the gate's rule, edges inclusive) keeps.
			segs, err := tx.SegmentsIn(cam, h.From.Add(-time.Nanosecond), h.To.Add(time.Nanosecond))
			if err != nil {
				return 0, err
			}
			for _, sg := range segs {
				if !seen[sg.ID] && sg.State == registry.SegmentOK && h.Covers(cam, sg.Start, sg.End) {
					seen[sg.ID] = true
					n += sg.Bytes
				}
			}
		}
	}
	return n, nil
}

// unheldCacheFor is how long the oldest unheld footage is reused: finding
// it pages through every held segment before it, and both the alarms
// (every 2 s) and each scrape ask.
const unheldCacheFor = 30 * time.Second

type unheldCache struct {
	mu sync.Mutex
	at time.Time // monotonic
	v  map[string]time.Time
}

// oldestUnheldByCamera is oldestUnheld for every configured camera, reused
// for unheldCacheFor.
func (s *service) oldestUnheldByCamera(ctx context.Context) (map[string]time.Time, error) {
	c := &s.unheld
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v != nil && time.Since(c.at) < unheldCacheFor {
		return c.v, nil
	}
	out := map[string]time.Time{}
	err := s.db.View(ctx, func(tx *registry.Tx) error {
		holds, err := tx.Holds(true)
		if err != nil {
			return err
		}
		for _, cam := range s.cameraIDsNow() {
			if t, ok, err := oldestUnheld(tx, cam, holds); err != nil {
				return err
			} else if ok {
				out[cam] = t
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.v, c.at = out, time.Now()
	return out, nil
}

// oldestUnheld is the start of the camera's oldest catalogued segment no
// active hold covers: what the 28-day promise is about.
func oldestUnheld(tx *registry.Tx, camera string, holds []registry.Hold) (time.Time, bool, error) {
	var after time.Time
	for {
		segs, err := tx.OldestOfCamera(camera, after, 500)
		if err != nil {
			return time.Time{}, false, err
		}
	next:
		for _, sg := range segs {
			for _, h := range holds {
				if h.Active() && h.Covers(camera, sg.Start, sg.End) {
					continue next
				}
			}
			return sg.Start, true, nil
		}
		if len(segs) < 500 {
			return time.Time{}, false, nil
		}
		after = segs[len(segs)-1].Start
	}
}

// newestCheckpoint is when the newest audit checkpoint was signed, read
// from the checkpoint itself (its signature checked with the box key), so
// a file merely touched or copied in does not make the anchor look fresh.
func (s *service) newestCheckpoint() (time.Time, bool) {
	c, ok := s.latestCheckpoint()
	return c.Time, ok
}

// latestCheckpoint is the newest checkpoint whose signature holds, checked
// with the public half of the key the service signs with (loaded once at
// start: a scrape does not read the private key file).
func (s *service) latestCheckpoint() (checkpoint.Checkpoint, bool) {
	if s.cp == nil || s.cp.Signer == nil {
		return checkpoint.Checkpoint{}, false
	}
	c, ok, err := checkpoint.Latest(checkpoint.Dir(s.cfg.StateDir), s.cp.Signer.PublicKey())
	return c, ok && err == nil
}

// cameraIDsNow is the cameras of the config the service started with and
// those the recorder runs now (a reload may have added some), in that order.
// (MaxAgeFor gives a camera the start-up config does not name the global
// max_age, which is what retention applies to it.)
func (s *service) cameraIDsNow() []string {
	ids := s.cfg.CameraIDs()
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	if s.rec != nil {
		for _, st := range s.rec.Status() {
			if !seen[st.ID] {
				seen[st.ID] = true
				ids = append(ids, st.ID)
			}
		}
	}
	return ids
}

// dropReasons names the recorder's drop counters with the label values
// the metric uses (the status JSON's keys), every one always present so a
// rate() over them starts from zero.
func dropReasons(d recorder.DropCounts) []struct {
	reason string
	n      int64
} {
	return []struct {
		reason string
		n      int64
	}{{"bad_rtp", d.BadRTP}, {"oversize", d.Oversize}, {"time_jumps", d.TimeJumps}, {"param_churn", d.ParamChurn}, {"panics", d.Panics}}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
