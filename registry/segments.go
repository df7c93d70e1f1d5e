package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Segment states. The file on disk is the truth about existence; the state
// records what Vahti knows or has decided about it.
const (
	SegmentOK      = "ok"      // file present and catalogued
	SegmentMissing = "missing" // file vanished behind Vahti's back
	SegmentDoomed  = "doomed"  // chosen for deletion; unlink pending (finished at startup after a crash)
)

// Segment is one finished recording file.
type Segment struct {
	ID     int64
	Camera string
	Start  time.Time // UTC wall-clock time of the first frame
	End    time.Time // Start plus the duration of the samples in the file
	Path   string    // relative to storage.root, slash-separated
	Bytes  int64
	Codecs string // e.g. "h264,aac"
	Params string // hash of the parameter sets; segments join only if equal
	SHA256 string // hex, computed when the segment was finished
	State  string
	Added  time.Time
}

// Overlaps reports whether the segment overlaps the half-open range [from, to).
func (s Segment) Overlaps(from, to time.Time) bool {
	return s.Start.Before(to) && s.End.After(from)
}

const segCols = `id, camera, start_ns, end_ns, path, bytes, codecs, params, sha256, state, added_ns`

func scanSegment(r interface{ Scan(...any) error }) (Segment, error) {
	var s Segment
	var start, end, added int64
	err := r.Scan(&s.ID, &s.Camera, &start, &end, &s.Path, &s.Bytes, &s.Codecs, &s.Params, &s.SHA256, &s.State, &added)
	s.Start, s.End, s.Added = fromNS(start), fromNS(end), fromNS(added)
	return s, err
}

func (tx *Tx) querySegments(q string, args ...any) ([]Segment, error) {
	rows, err := tx.tx.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		s, err := scanSegment(rows)
		if err != nil {
			return nil, fmt.Errorf("segments: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// AddSegment catalogues a finished segment and sets s.ID.
func (tx *Tx) AddSegment(s *Segment) error {
	if s.State == "" {
		s.State = SegmentOK
	}
	if !s.End.After(s.Start) {
		return fmt.Errorf("segment %s: end %s not after start %s", s.Path, s.End, s.Start)
	}
	res, err := tx.tx.Exec(`INSERT INTO segments(camera, start_ns, end_ns, path, bytes, codecs, params, sha256, state, added_ns)
		VALUES (?,?,?,?,?,?,?,?,?,?)`,
		s.Camera, ns(s.Start), ns(s.End), s.Path, s.Bytes, s.Codecs, s.Params, s.SHA256, s.State, ns(tx.Now()))
	if err != nil {
		return fmt.Errorf("segment %s: %w", s.Path, err)
	}
	s.ID, err = res.LastInsertId()
	return err
}

// Segment returns one segment by id.
func (tx *Tx) Segment(id int64) (Segment, error) {
	s, err := scanSegment(tx.tx.QueryRow(`SELECT `+segCols+` FROM segments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("segment %d: %w", id, ErrNotFound)
	}
	return s, err
}

// SegmentByPath returns the segment catalogued at a path.
func (tx *Tx) SegmentByPath(path string) (Segment, error) {
	s, err := scanSegment(tx.tx.QueryRow(`SELECT `+segCols+` FROM segments WHERE path = ?`, path))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("segment %s: %w", path, ErrNotFound)
	}
	return s, err
}

// SegmentsIn lists a camera's segments in state ok overlapping [from, to),
// ordered by start. The index on (camera, start) keeps this fast at
// millions of rows: a segment never spans more than maxSpan, so the scan
// starts at from - maxSpan.
func (tx *Tx) SegmentsIn(camera string, from, to time.Time) ([]Segment, error) {
	const maxSpan = 2 * time.Hour
	return tx.querySegments(`SELECT `+segCols+` FROM segments
		WHERE camera = ? AND start_ns >= ? AND start_ns < ? AND end_ns > ? AND state = 'ok'
		ORDER BY start_ns`, camera, ns(from.Add(-maxSpan)), ns(to), ns(from))
}

// SegmentsEndingBefore lists segments (any state but missing) whose end is
// at or before t, oldest end first, at most limit rows (0: all).
func (tx *Tx) SegmentsEndingBefore(t time.Time, limit int) ([]Segment, error) {
	if limit <= 0 {
		limit = -1
	}
	return tx.querySegments(`SELECT `+segCols+` FROM segments
		WHERE end_ns <= ? AND state != 'missing' ORDER BY end_ns LIMIT ?`, ns(t), limit)
}

// OldestSegments lists up to limit segments per camera in state ok, oldest
// start first across all cameras (for the disk guard).
func (tx *Tx) OldestSegments(limit int) ([]Segment, error) {
	return tx.querySegments(`SELECT `+segCols+` FROM segments WHERE state = 'ok' ORDER BY start_ns LIMIT ?`, limit)
}

// SegmentsInState lists every segment in a state (e.g. doomed after a crash).
func (tx *Tx) SegmentsInState(state string) ([]Segment, error) {
	return tx.querySegments(`SELECT `+segCols+` FROM segments WHERE state = ? ORDER BY id`, state)
}

// EachSegment calls fn for every catalogued segment, in path order.
func (tx *Tx) EachSegment(fn func(Segment) error) error {
	rows, err := tx.tx.Query(`SELECT ` + segCols + ` FROM segments ORDER BY path`)
	if err != nil {
		return fmt.Errorf("segments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		s, err := scanSegment(rows)
		if err != nil {
			return fmt.Errorf("segments: %w", err)
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SetSegmentState changes a segment's state.
func (tx *Tx) SetSegmentState(id int64, state string) error {
	_, err := tx.tx.Exec(`UPDATE segments SET state = ? WHERE id = ?`, state, id)
	if err != nil {
		return fmt.Errorf("segment %d: %w", id, err)
	}
	return nil
}

// DeleteSegmentRow removes a segment's row. Only the retention gate's
// deletion path, after the file is gone, and reconcile of missing files
// call this.
func (tx *Tx) DeleteSegmentRow(id int64) error {
	_, err := tx.tx.Exec(`DELETE FROM segments WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("segment %d: %w", id, err)
	}
	return nil
}

// CameraSummary is what the catalog knows about one camera's footage.
type CameraSummary struct {
	Camera   string
	Segments int64
	Bytes    int64
	Oldest   time.Time // start of the oldest segment
	Newest   time.Time // end of the newest segment
}

// Summaries returns per-camera totals of segments in state ok.
func (tx *Tx) Summaries() (map[string]CameraSummary, error) {
	rows, err := tx.tx.Query(`SELECT camera, COUNT(*), SUM(bytes), MIN(start_ns), MAX(end_ns)
		FROM segments WHERE state = 'ok' GROUP BY camera`)
	if err != nil {
		return nil, fmt.Errorf("summaries: %w", err)
	}
	defer rows.Close()
	out := map[string]CameraSummary{}
	for rows.Next() {
		var c CameraSummary
		var oldest, newest int64
		if err := rows.Scan(&c.Camera, &c.Segments, &c.Bytes, &oldest, &newest); err != nil {
			return nil, fmt.Errorf("summaries: %w", err)
		}
		c.Oldest, c.Newest = fromNS(oldest), fromNS(newest)
		out[c.Camera] = c
	}
	return out, rows.Err()
}

// CountSegments counts segments in state ok and their bytes.
func (tx *Tx) CountSegments() (n, bytes int64, err error) {
	err = tx.tx.QueryRow(`SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM segments WHERE state = 'ok'`).Scan(&n, &bytes)
	return n, bytes, err
}
