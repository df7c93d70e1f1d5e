// Package registry is Vahti's database: the segment catalog, legal holds,
// requests, users and the audit chain. It is the only package with SQL.
//
// Every read and write happens inside View or Update, so a decision and the
// audit entry that records it commit together, and the retention gate can
// decide and mark in one transaction while the CLI adds holds concurrently
// from another process.
package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // pure Go: the box build needs no cgo
)

// FileName is the database file inside the state dir.
const FileName = "registry.db"

// DB is an open registry.
type DB struct {
	sql  *sql.DB
	path string
	now  func() time.Time
}

// ErrNotFound is returned when a row asked for by id does not exist.
var ErrNotFound = errors.New("not found")

// busyTimeoutMS is how long (ms) a statement waits for a lock another
// connection holds before it fails with SQLITE_BUSY.
const busyTimeoutMS = 15000

// Open opens (creating and migrating) the registry in stateDir.
func Open(stateDir string, now func() time.Time) (*DB, error) {
	if err := os.MkdirAll(stateDir, StateDirMode); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return OpenFile(filepath.Join(stateDir, FileName), now)
}

// OpenFile opens the registry at an explicit path.
func OpenFile(path string, now func() time.Time) (*DB, error) {
	if now == nil {
		now = time.Now
	}
	// SQLite creates the database with 0644 less the umask and gives the
	// -wal and -shm files the database's mode: make the file 0600 first.
	if err := privateFile(path, true); err != nil {
		return nil, fmt.Errorf("registry %s: %w", path, err)
	}
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(" + strconv.Itoa(busyTimeoutMS) + ")&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)" +
		// Deleted rows are zeroed, not just unlinked: key material (seal_*)
		// must not survive its deletion in the file's free space.
		"&_pragma=secure_delete(ON)"
	s, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", path, err)
	}
	db := &DB{sql: s, path: path, now: now}
	if err := db.migrate(); err != nil {
		s.Close()
		return nil, fmt.Errorf("registry %s: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := privateFile(path+suffix, false); err != nil {
			s.Close()
			return nil, fmt.Errorf("registry %s: %w", path, err)
		}
	}
	return db, nil
}

// privateFile makes path mode 0600, creating it empty when create is set
// (an empty file is an empty SQLite database). A file that does not exist
// is left alone otherwise.
func privateFile(path string, create bool) error {
	if create {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, PrivateFileMode)
		if err != nil {
			return err
		}
		f.Close()
	}
	err := os.Chmod(path, PrivateFileMode)
	if !create && errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// Tx is a transaction; all registry reads and writes are methods on it.
type Tx struct {
	tx  *sql.Tx
	now func() time.Time
}

// Update runs fn in a write transaction (taking the write lock at once,
// so read-then-write decisions cannot race another process).
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	return db.run(ctx, false, fn)
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(*Tx) error) error {
	return db.run(ctx, true, fn)
}

func (db *DB) run(ctx context.Context, ro bool, fn func(*Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: ro})
	if err != nil {
		return fmt.Errorf("registry: begin: %w", err)
	}
	if err := fn(&Tx{tx: tx, now: db.now}); err != nil {
		tx.Rollback()
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			// database/sql rolled the transaction back because ctx ended,
			// and whatever the statement under way then said (ErrTxDone,
			// "Rows are closed" mid-scan) is a consequence: say so, so
			// that callers see a cancellation, not a failure. Nothing of
			// the transaction was committed.
			return fmt.Errorf("registry: transaction interrupted (%v): %w", err, ctx.Err())
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("registry: transaction interrupted: %w", ctx.Err())
		}
		return fmt.Errorf("registry: commit: %w", err)
	}
	return nil
}

// Now is the registry's clock, for rows stamped with a creation time.
func (tx *Tx) Now() time.Time { return tx.now().UTC() }

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func nullNS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromNS(v.Int64)
}

func optNS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}
