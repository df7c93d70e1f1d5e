package registry

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Queries used by the retention package. They select only candidates
// (end_ns <= cutoff via segments_end, or a camera's oldest via
// segments_camera_start), so a sweep costs what expires, not what is kept.

// ExpiryCandidates lists segments in state ok whose end is at or before
// cutoff, oldest end first, at most limit rows (0: all). A day of 32
// cameras is 46 000 rows, so they carry only what the gate, the unlinker
// and the report read: id, camera, times, path, bytes and state (no
// codecs, parameter sets or hash).
func (tx *Tx) ExpiryCandidates(cutoff time.Time, limit int) ([]Segment, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := tx.tx.Query(`SELECT id, camera, start_ns, end_ns, path, bytes, state FROM segments
		WHERE end_ns <= ? AND state = 'ok' ORDER BY end_ns LIMIT ?`, ns(cutoff), limit)
	if err != nil {
		return nil, fmt.Errorf("expiry candidates: %w", err)
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		var s Segment
		var start, end int64
		if err := rows.Scan(&s.ID, &s.Camera, &start, &end, &s.Path, &s.Bytes, &s.State); err != nil {
			return nil, fmt.Errorf("expiry candidates: %w", err)
		}
		s.Start, s.End = fromNS(start), fromNS(end)
		out = append(out, s)
	}
	return out, rows.Err()
}

// OldestOfCamera lists up to limit of a camera's segments in state ok whose
// start is after `after` (zero: from the beginning), oldest first.
func (tx *Tx) OldestOfCamera(camera string, after time.Time, limit int) ([]Segment, error) {
	a := int64(-1 << 62)
	if !after.IsZero() {
		a = ns(after)
	}
	return tx.querySegments(`SELECT `+segCols+` FROM segments
		WHERE camera = ? AND start_ns > ? AND state = 'ok' ORDER BY start_ns LIMIT ?`, camera, a, limit)
}

// SegmentCameras lists every camera with catalogued segments in any state.
func (tx *Tx) SegmentCameras() ([]string, error) {
	// A recursive skip-scan over segments_camera_start: one index probe per
	// camera instead of reading every row.
	rows, err := tx.tx.Query(`WITH RECURSIVE c(camera) AS (
			SELECT MIN(camera) FROM segments
			UNION ALL
			SELECT (SELECT MIN(camera) FROM segments WHERE camera > c.camera) FROM c WHERE c.camera IS NOT NULL
		) SELECT camera FROM c WHERE camera IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("segment cameras: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("segment cameras: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CountByState counts segments and their bytes per state.
func (tx *Tx) CountByState() (count map[string]int64, bytes map[string]int64, err error) {
	rows, err := tx.tx.Query(`SELECT state, COUNT(*), COALESCE(SUM(bytes), 0) FROM segments GROUP BY state`)
	if err != nil {
		return nil, nil, fmt.Errorf("segment counts: %w", err)
	}
	defer rows.Close()
	count, bytes = map[string]int64{}, map[string]int64{}
	for rows.Next() {
		var st string
		var n, b int64
		if err := rows.Scan(&st, &n, &b); err != nil {
			return nil, nil, fmt.Errorf("segment counts: %w", err)
		}
		count[st], bytes[st] = n, b
	}
	return count, bytes, rows.Err()
}

// HasSegments reports whether any segment row exists (any state).
func (tx *Tx) HasSegments() (bool, error) {
	var one int
	err := tx.tx.QueryRow(`SELECT COUNT(*) FROM (SELECT 1 FROM segments LIMIT 1)`).Scan(&one)
	return one > 0, err
}

// DoomSegments moves the given segments from state ok to doomed and returns
// the ids actually changed (a row already doomed, missing or gone is left
// alone, so two deleters never both claim a segment).
func (tx *Tx) DoomSegments(ids []int64) ([]int64, error) {
	return tx.idsReturning(`UPDATE segments SET state = 'doomed' WHERE state = 'ok' AND %s RETURNING id`, ids)
}

// UndoomSegments moves doomed segments back to ok (a hold arrived, or the
// unlink failed and the file is still there).
func (tx *Tx) UndoomSegments(ids []int64) ([]int64, error) {
	return tx.idsReturning(`UPDATE segments SET state = 'ok' WHERE state = 'doomed' AND %s RETURNING id`, ids)
}

// DeleteDoomedRows deletes rows that are still doomed and returns the ids
// deleted, so only the process that removed a row audits it.
func (tx *Tx) DeleteDoomedRows(ids []int64) ([]int64, error) {
	return tx.idsReturning(`DELETE FROM segments WHERE state = 'doomed' AND %s RETURNING id`, ids)
}

// CountOK counts segments in state ok: all rows (a covering scan of the
// smallest index, tens of ns per row) minus the few in other states (the
// partial index).
func (tx *Tx) CountOK() (int64, error) {
	var all, other int64
	if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM segments`).Scan(&all); err != nil {
		return 0, fmt.Errorf("segment count: %w", err)
	}
	if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM segments WHERE state != 'ok'`).Scan(&other); err != nil {
		return 0, fmt.Errorf("segment count: %w", err)
	}
	return all - other, nil
}

// idsReturning runs q, whose %s is the condition on id, for ids and
// returns the ids it touched. A run of consecutive ids (a day of footage
// was catalogued in a row) goes as one "id BETWEEN" range, walked in rowid
// order; the others go in lists of up to 500.
func (tx *Tx) idsReturning(q string, ids []int64) ([]int64, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var out, loose []int64
	var between *sql.Stmt
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && ids[j] == ids[j-1]+1 {
			j++
		}
		if j-i < minIDRun {
			loose = append(loose, ids[i:j]...)
			i = j
			continue
		}
		if between == nil {
			var err error
			if between, err = tx.tx.Prepare(fmt.Sprintf(q, "id BETWEEN ? AND ?")); err != nil {
				return out, fmt.Errorf("segments: %w", err)
			}
			defer between.Close()
		}
		rows, err := between.Query(ids[i], ids[j-1])
		if out, err = scanInts(rows, err, out); err != nil {
			return out, fmt.Errorf("segments: %w", err)
		}
		i = j
	}
	for len(loose) > 0 {
		chunk := loose[:min(len(loose), 500)]
		loose = loose[len(chunk):]
		rows, err := tx.tx.Query(fmt.Sprintf(q, "id IN ("+placeholders(len(chunk))+")"), int64Args(chunk)...)
		if out, err = scanInts(rows, err, out); err != nil {
			return out, fmt.Errorf("segments: %w", err)
		}
	}
	return out, nil
}

// minIDRun is the shortest run of consecutive ids sent as one range.
const minIDRun = 16

// scanInts appends the one int64 column rows returns (err: the query's)
// to out.
func scanInts(rows *sql.Rows, err error, out []int64) ([]int64, error) {
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func int64Args(ids []int64) []any {
	a := make([]any, len(ids))
	for i, id := range ids {
		a[i] = id
	}
	return a
}

// HoldsDueForReview lists active holds whose review date is at or before t.
func (tx *Tx) HoldsDueForReview(t time.Time) ([]Hold, error) {
	hs, err := tx.Holds(true)
	if err != nil {
		return nil, err
	}
	var out []Hold
	for _, h := range hs {
		if !h.Review.IsZero() && !h.Review.After(t) {
			out = append(out, h)
		}
	}
	return out, nil
}

// AddSegments catalogues many segments with one prepared statement (bulk
// imports, benchmarks); it sets each ID.
func (tx *Tx) AddSegments(segs []Segment) error {
	st, err := tx.tx.Prepare(`INSERT INTO segments(camera, start_ns, end_ns, path, bytes, codecs, params, sha256, state, added_ns)
		VALUES (?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("segments: %w", err)
	}
	defer st.Close()
	added := ns(tx.Now())
	for i := range segs {
		s := &segs[i]
		if s.State == "" {
			s.State = SegmentOK
		}
		if !s.End.After(s.Start) {
			return fmt.Errorf("segment %s: end %s not after start %s", s.Path, s.End, s.Start)
		}
		res, err := st.Exec(s.Camera, ns(s.Start), ns(s.End), s.Path, s.Bytes, s.Codecs, s.Params, s.SHA256, s.State, added)
		if err != nil {
			return fmt.Errorf("segment %s: %w", s.Path, err)
		}
		if s.ID, err = res.LastInsertId(); err != nil {
			return err
		}
	}
	return nil
}
