package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Export is an evidence package kept in the state dir. It is personal data
// too: it expires like the footage it holds (by FootageEnd) unless a hold
// covers that footage.
type Export struct {
	ID         string
	Path       string // relative to state_dir
	Cameras    []string
	From, To   time.Time
	FootageEnd time.Time // end of the newest footage inside
	SHA256     string    // of the zip
	Bytes      int64
	Reason     string
	CaseRef    string
	CreatedBy  string
	Created    time.Time
	Deleted    time.Time
}

const exportCols = `id, path, cameras, from_ns, to_ns, footage_end_ns, sha256, bytes, reason, case_ref, created_by, created_ns, deleted_ns`

func scanExport(r interface{ Scan(...any) error }) (Export, error) {
	var e Export
	var cams string
	var from, to, fend, created int64
	var deleted sql.NullInt64
	err := r.Scan(&e.ID, &e.Path, &cams, &from, &to, &fend, &e.SHA256, &e.Bytes, &e.Reason, &e.CaseRef, &e.CreatedBy, &created, &deleted)
	e.Cameras = strings.Split(cams, ",")
	e.From, e.To, e.FootageEnd, e.Created, e.Deleted = fromNS(from), fromNS(to), fromNS(fend), fromNS(created), nullNS(deleted)
	return e, err
}

// AddExport records a written package.
func (tx *Tx) AddExport(e *Export) error {
	if e.Created.IsZero() {
		e.Created = tx.Now()
	}
	_, err := tx.tx.Exec(`INSERT INTO exports(id, path, cameras, from_ns, to_ns, footage_end_ns, sha256, bytes, reason, case_ref,
		created_by, created_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`, e.ID, e.Path, strings.Join(e.Cameras, ","), ns(e.From), ns(e.To),
		ns(e.FootageEnd), e.SHA256, e.Bytes, e.Reason, e.CaseRef, e.CreatedBy, ns(e.Created))
	if err != nil {
		return fmt.Errorf("export %s: %w", e.ID, err)
	}
	return nil
}

// Export returns one package by id.
func (tx *Tx) Export(id string) (Export, error) {
	e, err := scanExport(tx.tx.QueryRow(`SELECT `+exportCols+` FROM exports WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("export %s: %w", id, ErrNotFound)
	}
	return e, err
}

// Exports lists packages not yet deleted, newest first.
func (tx *Tx) Exports() ([]Export, error) {
	rows, err := tx.tx.Query(`SELECT ` + exportCols + ` FROM exports WHERE deleted_ns IS NULL ORDER BY created_ns DESC`)
	if err != nil {
		return nil, fmt.Errorf("exports: %w", err)
	}
	defer rows.Close()
	var out []Export
	for rows.Next() {
		e, err := scanExport(rows)
		if err != nil {
			return nil, fmt.Errorf("exports: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// MarkExportDeleted records that a package's file is gone.
func (tx *Tx) MarkExportDeleted(id string) error {
	_, err := tx.tx.Exec(`UPDATE exports SET deleted_ns = ? WHERE id = ?`, ns(tx.Now()), id)
	return err
}

// Meta reads a small key/value setting ("" if unset).
func (tx *Tx) Meta(key string) (string, error) {
	var v string
	err := tx.tx.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetMeta writes a small key/value setting.
func (tx *Tx) SetMeta(key, value string) error {
	_, err := tx.tx.Exec(`INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}
