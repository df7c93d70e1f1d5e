package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Job states.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobDone      = "done"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
)

// ErrJobEnded: the job has already ended (it cannot be cancelled).
var ErrJobEnded = errors.New("the job has already ended")

// Job kinds.
const (
	JobExport = "export" // an ordinary package: a request's, or ad hoc (RequestID 0)
	JobRedact = "redact" // a request's redacted package
)

// AdHocExport is what an ad-hoc export job (the Exports page, POST
// /api/v1/exports; no request) packages, in the job's params.
type AdHocExport struct {
	Cameras []string  `json:"cameras"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Reason  string    `json:"reason"`
	CaseRef string    `json:"case_ref"`
}

// Job is one background job (admin/jobs runs them).
type Job struct {
	ID        int64
	Kind      string
	RequestID int64  // 0: an ad-hoc export, not tied to a request
	Params    string // JSON: the redaction regions and options; an ad-hoc export's cameras, range, reason
	State     string
	Progress  float64 // 0–1
	Package   string  // export id, when done
	Error     string  // why it failed; while queued, why it waits (SetJobWaiting)
	CreatedBy string
	Source    string // the client address (or "cli")
	Created   time.Time
	Started   time.Time
	Finished  time.Time
	Attempts  int // starts (a restart re-runs a job that was running)
}

// Ended reports whether the job has ended (done, failed or cancelled).
func (j Job) Ended() bool {
	return j.State == JobDone || j.State == JobFailed || j.State == JobCancelled
}

const jobCols = `id, kind, request_id, params, state, progress, package, error, created_by, source, created_ns, started_ns, finished_ns, attempts`

func scanJob(r interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var created int64
	var started, finished, request sql.NullInt64
	err := r.Scan(&j.ID, &j.Kind, &request, &j.Params, &j.State, &j.Progress, &j.Package, &j.Error, &j.CreatedBy, &j.Source,
		&created, &started, &finished, &j.Attempts)
	j.Created, j.Started, j.Finished = fromNS(created), nullNS(started), nullNS(finished)
	j.RequestID = request.Int64 // NULL: 0, an ad-hoc export
	return j, err
}

// AddJob queues a job; it sets ID, State and Created.
func (tx *Tx) AddJob(j *Job) error {
	if j.Kind != JobExport && j.Kind != JobRedact {
		return fmt.Errorf("job: kind %q", j.Kind)
	}
	if j.RequestID == 0 && j.Kind != JobExport {
		return fmt.Errorf("job: a %s job needs a request", j.Kind)
	}
	if j.Params == "" {
		j.Params = "{}"
	}
	var request any // NULL for an ad-hoc export
	if j.RequestID != 0 {
		request = j.RequestID
	}
	j.State, j.Created = JobQueued, tx.Now()
	res, err := tx.tx.Exec(`INSERT INTO jobs (kind, request_id, params, state, created_by, source, created_ns) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		j.Kind, request, j.Params, j.State, j.CreatedBy, j.Source, ns(j.Created))
	if err != nil {
		return fmt.Errorf("job: %w", err)
	}
	j.ID, err = res.LastInsertId()
	return err
}

// Job reads one job.
func (tx *Tx) Job(id int64) (Job, error) {
	j, err := scanJob(tx.tx.QueryRow(`SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, ErrNotFound
	}
	if err != nil {
		return j, fmt.Errorf("job %d: %w", id, err)
	}
	return j, nil
}

// Jobs lists a request's jobs (requestID 0: every job), newest first, at
// most 200.
func (tx *Tx) Jobs(requestID int64) ([]Job, error) {
	q := `SELECT ` + jobCols + ` FROM jobs`
	var args []any
	if requestID != 0 {
		q += ` WHERE request_id = ?`
		args = append(args, requestID)
	}
	return tx.jobs(q+` ORDER BY id DESC LIMIT 200`, args...)
}

// AdHocJobs lists the ad-hoc export jobs (no request), newest first, at
// most 200.
func (tx *Tx) AdHocJobs() ([]Job, error) {
	return tx.jobs(`SELECT ` + jobCols + ` FROM jobs WHERE request_id IS NULL ORDER BY id DESC LIMIT 200`)
}

func (tx *Tx) jobs(q string, args ...any) ([]Job, error) {
	rows, err := tx.tx.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// QueuedJobs lists the queued jobs, oldest first, at most 200.
func (tx *Tx) QueuedJobs() ([]Job, error) {
	return tx.jobs(`SELECT ` + jobCols + ` FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 200`)
}

// SetJobWaiting records why a queued job does not start yet (shown where
// a failure's reason is); "" clears it. It reports whether the text
// changed, so a caller audits the start of a wait once.
func (tx *Tx) SetJobWaiting(id int64, why string) (bool, error) {
	res, err := tx.tx.Exec(`UPDATE jobs SET error = ? WHERE id = ? AND state = 'queued' AND error != ?`, why, id, why)
	if err != nil {
		return false, fmt.Errorf("job %d: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// StartJob moves a queued job to running (and clears why it waited).
func (tx *Tx) StartJob(id int64) error {
	res, err := tx.tx.Exec(`UPDATE jobs SET state = 'running', progress = 0, error = '', started_ns = ?, attempts = attempts + 1 WHERE id = ? AND state = 'queued'`,
		ns(tx.Now()), id)
	if err != nil {
		return fmt.Errorf("job %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("job %d: not queued", id)
	}
	return nil
}

// SetJobProgress records a running job's progress (0–1).
func (tx *Tx) SetJobProgress(id int64, p float64) error {
	_, err := tx.tx.Exec(`UPDATE jobs SET progress = ? WHERE id = ? AND state = 'running'`, p, id)
	if err != nil {
		return fmt.Errorf("job %d: %w", id, err)
	}
	return nil
}

// EndJob ends a queued or running job as done, failed or cancelled. It
// reports false if the job had already ended (e.g. cancelled meanwhile).
func (tx *Tx) EndJob(id int64, state, pkg, errText string) (bool, error) {
	if state != JobDone && state != JobFailed && state != JobCancelled {
		return false, fmt.Errorf("job %d: end state %q", id, state)
	}
	progress := `progress`
	if state == JobDone {
		progress = `1`
	}
	res, err := tx.tx.Exec(`UPDATE jobs SET state = ?, package = ?, error = ?, progress = `+progress+`, finished_ns = ?
		WHERE id = ? AND state IN ('queued', 'running')`, state, pkg, errText, ns(tx.Now()), id)
	if err != nil {
		return false, fmt.Errorf("job %d: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RequeueRunningJobs puts jobs that were running when the service stopped
// back in the queue (they start again from the beginning).
func (tx *Tx) RequeueRunningJobs() ([]int64, error) {
	rows, err := tx.tx.Query(`SELECT id FROM jobs WHERE state = 'running' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if _, err := tx.tx.Exec(`UPDATE jobs SET state = 'queued', progress = 0 WHERE state = 'running'`); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return ids, nil
}

// EndedAdHocJobsBefore lists ad-hoc export jobs (no request) that ended
// (done, failed, cancelled) before t, oldest first, at most limit: the
// candidates of job-row expiry (retention; a request's jobs go with it).
func (tx *Tx) EndedAdHocJobsBefore(t time.Time, limit int) ([]Job, error) {
	return tx.jobs(`SELECT `+jobCols+` FROM jobs WHERE request_id IS NULL AND state IN ('done', 'failed', 'cancelled') AND finished_ns < ?
		ORDER BY finished_ns, id LIMIT ?`, ns(t), limit)
}

// JobsOfRequest lists every job of a request (no limit), oldest first.
func (tx *Tx) JobsOfRequest(requestID int64) ([]Job, error) {
	return tx.jobs(`SELECT `+jobCols+` FROM jobs WHERE request_id = ? ORDER BY id`, requestID)
}

// DeleteJob removes an ended job's row; a queued or running job is never
// removed (false). Only retention calls it, after its gate
// (retention.DeletableJob).
func (tx *Tx) DeleteJob(id int64) (bool, error) {
	res, err := tx.tx.Exec(`DELETE FROM jobs WHERE id = ? AND state IN ('done', 'failed', 'cancelled')`, id)
	if err != nil {
		return false, fmt.Errorf("job %d: delete: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
