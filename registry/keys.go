package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sealed footage's key storage (seal/DESIGN.md). The registry stores only
// public keys and sealed or wrapped blobs; the cryptography is package
// seal's. Every row holding key material is removed with DELETE (the
// database runs with secure_delete, so SQLite zeroes the freed bytes);
// none is updated in place.

// ErrKeysExist: the site keys were already made (vahti keys init ran).
var ErrKeysExist = errors.New("the site keys already exist")

// ErrNoKeys: vahti keys init has not run.
var ErrNoKeys = errors.New("no site keys (run vahti keys init)")

// SealSite is the site public key row.
type SealSite struct {
	PublicKey []byte
	// RecoveryPublicKey seals what must open with the recovery key alone
	// (held segments' keys in the file beside a hold).
	RecoveryPublicKey []byte
	Created           time.Time
	CreatedBy         string
}

// InitSealSite stores the site public key, the recovery public key and the
// recovery wrap of the site private key; it refuses when site keys exist
// (one site key per registry: a second would orphan every epoch sealed to
// the first).
func (tx *Tx) InitSealSite(s SealSite, recoveryWrap []byte) error {
	if len(s.PublicKey) == 0 || len(s.RecoveryPublicKey) == 0 || len(recoveryWrap) == 0 {
		return errors.New("seal site: public key, recovery public key and recovery wrap are required")
	}
	by := s.CreatedBy
	var n int
	if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM seal_site`).Scan(&n); err != nil {
		return fmt.Errorf("seal site: %w", err)
	}
	if n > 0 {
		return ErrKeysExist
	}
	now := ns(tx.Now())
	if _, err := tx.tx.Exec(`INSERT INTO seal_site(id, public_key, recovery_public_key, created_ns, created_by) VALUES (1, ?, ?, ?, ?)`,
		s.PublicKey, s.RecoveryPublicKey, now, by); err != nil {
		return fmt.Errorf("seal site: %w", err)
	}
	if _, err := tx.tx.Exec(`INSERT INTO seal_wraps(kind, wrap, created_ns, created_by) VALUES ('recovery', ?, ?, ?)`, recoveryWrap, now, by); err != nil {
		return fmt.Errorf("seal site: recovery wrap: %w", err)
	}
	return nil
}

// SealSiteKey is the site public key row, or ErrNoKeys.
func (tx *Tx) SealSiteKey() (SealSite, error) {
	var s SealSite
	var created int64
	err := tx.tx.QueryRow(`SELECT public_key, recovery_public_key, created_ns, created_by FROM seal_site WHERE id = 1`).
		Scan(&s.PublicKey, &s.RecoveryPublicKey, &created, &s.CreatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return SealSite{}, ErrNoKeys
	}
	if err != nil {
		return SealSite{}, fmt.Errorf("seal site: %w", err)
	}
	s.Created = fromNS(created)
	return s, nil
}

// SealWrap is one wrap of the site private key.
type SealWrap struct {
	Kind      string // "keeper" or "recovery"
	UserID    int64  // keeper wraps
	UserName  string // keeper wraps
	Wrap      []byte
	Created   time.Time
	CreatedBy string
}

// PutKeeperWrap stores a keeper's wrap, replacing any earlier one (a
// password change re-wraps): the old row is deleted, so secure_delete
// zeroes it, and the new one inserted.
func (tx *Tx) PutKeeperWrap(userID int64, wrap []byte, by string) error {
	if len(wrap) == 0 {
		return errors.New("keeper wrap: empty")
	}
	if _, err := tx.DeleteKeeperWrap(userID); err != nil {
		return err
	}
	if _, err := tx.tx.Exec(`INSERT INTO seal_wraps(kind, user_id, wrap, created_ns, created_by) VALUES ('keeper', ?, ?, ?, ?)`,
		userID, wrap, ns(tx.Now()), by); err != nil {
		return fmt.Errorf("keeper wrap of user %d: %w", userID, err)
	}
	return nil
}

// DeleteKeeperWrap removes a keeper's wrap (user disabled, keeper role
// taken away); it reports whether there was one.
func (tx *Tx) DeleteKeeperWrap(userID int64) (bool, error) {
	res, err := tx.tx.Exec(`DELETE FROM seal_wraps WHERE kind = 'keeper' AND user_id = ?`, userID)
	if err != nil {
		return false, fmt.Errorf("keeper wrap of user %d: %w", userID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// KeeperWrap is a keeper's wrap, or ErrNotFound when they have none (no
// grant yet: the account exists but opens no footage).
func (tx *Tx) KeeperWrap(userID int64) ([]byte, error) {
	var w []byte
	err := tx.tx.QueryRow(`SELECT wrap FROM seal_wraps WHERE kind = 'keeper' AND user_id = ?`, userID).Scan(&w)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("keeper wrap of user %d: %w", userID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("keeper wrap of user %d: %w", userID, err)
	}
	return w, nil
}

// RecoveryWrap is the site key's recovery wrap, or ErrNoKeys.
func (tx *Tx) RecoveryWrap() ([]byte, error) {
	var w []byte
	err := tx.tx.QueryRow(`SELECT wrap FROM seal_wraps WHERE kind = 'recovery'`).Scan(&w)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoKeys
	}
	if err != nil {
		return nil, fmt.Errorf("recovery wrap: %w", err)
	}
	return w, nil
}

// SealWraps lists the wraps without their bytes, keepers by name, for
// vahti keys status.
func (tx *Tx) SealWraps() ([]SealWrap, error) {
	rows, err := tx.tx.Query(`SELECT w.kind, COALESCE(w.user_id, 0), COALESCE(u.name, ''), w.created_ns, w.created_by
		FROM seal_wraps w LEFT JOIN users u ON u.id = w.user_id ORDER BY w.kind DESC, u.name`)
	if err != nil {
		return nil, fmt.Errorf("seal wraps: %w", err)
	}
	defer rows.Close()
	var out []SealWrap
	for rows.Next() {
		var w SealWrap
		var created int64
		if err := rows.Scan(&w.Kind, &w.UserID, &w.UserName, &created, &w.CreatedBy); err != nil {
			return nil, fmt.Errorf("seal wraps: %w", err)
		}
		w.Created = fromNS(created)
		out = append(out, w)
	}
	return out, rows.Err()
}

// SealEpoch is one epoch key row.
type SealEpoch struct {
	Day           int64 // seal.EpochID: days since 1970-01-01 UTC
	PublicKey     []byte
	SealedPrivate []byte
	Created       time.Time
}

// AddEpoch stores an epoch's public key and its private key sealed to the
// site. An epoch's day is never reused: one that was destroyed is refused.
func (tx *Tx) AddEpoch(day int64, pub, sealedPrivate []byte) error {
	if len(pub) == 0 || len(sealedPrivate) == 0 {
		return fmt.Errorf("epoch %d: public key and sealed private key are required", day)
	}
	var gone int
	if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM seal_epochs_destroyed WHERE day = ?`, day).Scan(&gone); err != nil {
		return fmt.Errorf("epoch %d: %w", day, err)
	}
	if gone > 0 {
		return fmt.Errorf("epoch %d was destroyed; its day cannot get a new key", day)
	}
	if _, err := tx.tx.Exec(`INSERT INTO seal_epochs(day, public_key, sealed_private, created_ns) VALUES (?, ?, ?, ?)`,
		day, pub, sealedPrivate, ns(tx.Now())); err != nil {
		return fmt.Errorf("epoch %d: %w", day, err)
	}
	return nil
}

// Epoch is one live epoch, or ErrNotFound (never made, or destroyed).
func (tx *Tx) Epoch(day int64) (SealEpoch, error) {
	return scanEpoch(tx.tx.QueryRow(`SELECT day, public_key, sealed_private, created_ns FROM seal_epochs WHERE day = ?`, day), day)
}

// LatestEpoch is the live epoch with the greatest day, or ErrNotFound.
func (tx *Tx) LatestEpoch() (SealEpoch, error) {
	return scanEpoch(tx.tx.QueryRow(`SELECT day, public_key, sealed_private, created_ns FROM seal_epochs ORDER BY day DESC LIMIT 1`), -1)
}

func scanEpoch(r *sql.Row, day int64) (SealEpoch, error) {
	var e SealEpoch
	var created int64
	err := r.Scan(&e.Day, &e.PublicKey, &e.SealedPrivate, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return SealEpoch{}, fmt.Errorf("epoch %d: %w", day, ErrNotFound)
	}
	if err != nil {
		return SealEpoch{}, fmt.Errorf("epoch %d: %w", day, err)
	}
	e.Created = fromNS(created)
	return e, nil
}

// EpochCounts is how many epochs are live and how many were destroyed.
func (tx *Tx) EpochCounts() (live, destroyed int, err error) {
	err = tx.tx.QueryRow(`SELECT (SELECT COUNT(*) FROM seal_epochs), (SELECT COUNT(*) FROM seal_epochs_destroyed)`).Scan(&live, &destroyed)
	if err != nil {
		err = fmt.Errorf("epochs: %w", err)
	}
	return live, destroyed, err
}

// IdleEpochs is the days of live epochs before day (exclusive) that no
// segment key is sealed to any more: what retention may destroy after a
// purge. Retention passes the day before yesterday or earlier, so an epoch
// a recorder may still seal to is never offered (and PutSegmentKey to a
// destroyed epoch fails on its foreign key, so a race loses no footage:
// the recorder retries with the current epoch).
func (tx *Tx) IdleEpochs(before int64) ([]int64, error) {
	rows, err := tx.tx.Query(`SELECT e.day FROM seal_epochs e WHERE e.day < ?
		AND NOT EXISTS (SELECT 1 FROM seal_segment_keys k WHERE k.epoch_day = e.day) ORDER BY e.day`, before)
	if err != nil {
		return nil, fmt.Errorf("idle epochs: %w", err)
	}
	defer rows.Close()
	var days []int64
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("idle epochs: %w", err)
		}
		days = append(days, d)
	}
	return days, rows.Err()
}

// DestroyEpoch deletes an epoch's keys and records that its day is gone.
// It refuses while any segment key is still sealed to the epoch: those
// segments (unexpired or held) would become unreadable. Retention calls it
// through its gate once the day's last unheld segment is purged and held
// ones were re-sealed out of it.
func (tx *Tx) DestroyEpoch(day int64, by string) error {
	var n int
	if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM seal_segment_keys WHERE epoch_day = ?`, day).Scan(&n); err != nil {
		return fmt.Errorf("destroy epoch %d: %w", day, err)
	}
	if n > 0 {
		return fmt.Errorf("destroy epoch %d: %d segment keys are still sealed to it", day, n)
	}
	res, err := tx.tx.Exec(`DELETE FROM seal_epochs WHERE day = ?`, day)
	if err != nil {
		return fmt.Errorf("destroy epoch %d: %w", day, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("destroy epoch %d: %w", day, ErrNotFound)
	}
	if _, err := tx.tx.Exec(`INSERT INTO seal_epochs_destroyed(day, destroyed_ns, destroyed_by) VALUES (?, ?, ?)`, day, ns(tx.Now()), by); err != nil {
		return fmt.Errorf("destroy epoch %d: %w", day, err)
	}
	return nil
}

// SegmentKey is one segment's data key, sealed to its epoch.
type SegmentKey struct {
	KeyID     []byte // seal.KeyID, also in the segment file's header
	Camera    string
	Start     time.Time
	EpochDay  int64
	SealedKey []byte
	Created   time.Time
}

// PutSegmentKey stores a segment's sealed data key. The recorder calls it
// when it opens the segment, before the first record is written.
func (tx *Tx) PutSegmentKey(k SegmentKey) error {
	if len(k.KeyID) != 16 || k.Camera == "" || k.Start.IsZero() || len(k.SealedKey) == 0 {
		return errors.New("segment key: key id (16 bytes), camera, start and sealed key are required")
	}
	if _, err := tx.tx.Exec(`INSERT INTO seal_segment_keys(key_id, camera, start_ns, epoch_day, sealed_key, created_ns) VALUES (?, ?, ?, ?, ?, ?)`,
		k.KeyID, k.Camera, ns(k.Start), k.EpochDay, k.SealedKey, ns(tx.Now())); err != nil {
		return fmt.Errorf("segment key %s %s: %w", k.Camera, k.Start.Format(time.RFC3339Nano), err)
	}
	return nil
}

// SegmentKeyByID is the sealed data key named by a segment header's key
// id (how vahti cat finds the key of any copy of a file), or ErrNotFound.
func (tx *Tx) SegmentKeyByID(keyID []byte) (SegmentKey, error) {
	var k SegmentKey
	var start, created int64
	err := tx.tx.QueryRow(`SELECT key_id, camera, start_ns, epoch_day, sealed_key, created_ns FROM seal_segment_keys WHERE key_id = ?`, keyID).
		Scan(&k.KeyID, &k.Camera, &start, &k.EpochDay, &k.SealedKey, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return SegmentKey{}, fmt.Errorf("segment key %x: %w", keyID, ErrNotFound)
	}
	if err != nil {
		return SegmentKey{}, fmt.Errorf("segment key %x: %w", keyID, err)
	}
	k.Start, k.Created = fromNS(start), fromNS(created)
	return k, nil
}

// DeleteSegmentKey destroys the data key of segment id (its camera and
// start). It must run in the same transaction that drops the segment's
// row, inside the retention gate: from that commit on, a leftover copy of
// the file opens with nothing the registry holds. It reports whether there
// was a key (a segment recorded with sealing off has none).
func (tx *Tx) DeleteSegmentKey(id int64) (bool, error) {
	var camera string
	var start int64
	err := tx.tx.QueryRow(`SELECT camera, start_ns FROM segments WHERE id = ?`, id).Scan(&camera, &start)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("segment key of segment %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("segment key of segment %d: %w", id, err)
	}
	return tx.DeleteSegmentKeyAt(camera, fromNS(start))
}

// DeleteSegmentKeyAt destroys the data key of camera's segment starting
// at start (for a file with no catalog row, such as a torn .tmp the
// recorder's recovery discards), and its held copy if it has one
// (heldkeys.go): the footage goes, so every key that opens it goes.
func (tx *Tx) DeleteSegmentKeyAt(camera string, start time.Time) (bool, error) {
	had, err := tx.DeleteSegmentKeysAt([]SegmentAt{{Camera: camera, Start: start}})
	if err != nil {
		return false, err
	}
	return had[0], nil
}

// SegmentAt names a segment as its data key is stored: camera and start.
type SegmentAt struct {
	Camera string
	Start  time.Time
}

// DeleteSegmentKeysAt is DeleteSegmentKeyAt for many segments: had[i]
// reports whether segs[i] had a key (or a held copy). A retention pass
// destroys a day of keys at once, so the deletes go a camera and
// keyBatch segments per statement: one by one, each statement parsed
// anew, they were a third of expiring a day at 1.3 M catalogued segments
// (BenchmarkExpireOneDay).
func (tx *Tx) DeleteSegmentKeysAt(segs []SegmentAt) ([]bool, error) {
	return tx.segmentKeysAt(segs, `DELETE FROM %s WHERE camera = ? AND start_ns IN (%s) RETURNING start_ns`,
		"seal_segment_keys", "seal_held_keys")
}

// HasSegmentKeysAt reports, for each of segs, whether a data key is
// stored for it (a purge dry run counts the keys it would destroy).
func (tx *Tx) HasSegmentKeysAt(segs []SegmentAt) ([]bool, error) {
	return tx.segmentKeysAt(segs, `SELECT start_ns FROM %s WHERE camera = ? AND start_ns IN (%s)`, "seal_segment_keys")
}

// keyBatch is how many segments of one camera a key statement names.
const keyBatch = 500

// segmentKeysAt runs q (a format of the table and the start_ns
// placeholders, returning the start_ns of each row it touched) over each
// table for segs, a camera and keyBatch segments at a time, and marks
// the segments whose start came back.
func (tx *Tx) segmentKeysAt(segs []SegmentAt, q string, tables ...string) ([]bool, error) {
	had := make([]bool, len(segs))
	byCam := map[string]map[int64][]int{} // camera -> start_ns -> indexes into segs
	var cams []string
	for i, sg := range segs {
		m := byCam[sg.Camera]
		if m == nil {
			m = map[int64][]int{}
			byCam[sg.Camera] = m
			cams = append(cams, sg.Camera)
		}
		m[ns(sg.Start)] = append(m[ns(sg.Start)], i)
	}
	for _, cam := range cams {
		m := byCam[cam]
		starts := make([]int64, 0, len(m))
		for st := range m {
			starts = append(starts, st)
		}
		for len(starts) > 0 {
			chunk := starts[:min(len(starts), keyBatch)]
			starts = starts[len(chunk):]
			args := append([]any{cam}, int64Args(chunk)...)
			for _, table := range tables {
				if err := tx.markStarts(fmt.Sprintf(q, table, placeholders(len(chunk))), args, m, had); err != nil {
					return nil, fmt.Errorf("segment keys of camera %s: %w", cam, err)
				}
			}
		}
	}
	return had, nil
}

// markStarts runs q and sets had[i] for every segment index the start_ns
// it returns maps to.
func (tx *Tx) markStarts(q string, args []any, idx map[int64][]int, had []bool) error {
	rows, err := tx.tx.Query(q, args...)
	starts, err := scanInts(rows, err, nil)
	for _, st := range starts {
		for _, i := range idx[st] {
			had[i] = true
		}
	}
	return err
}

// SegmentKeyCount is the number of stored segment keys.
func (tx *Tx) SegmentKeyCount() (int, error) {
	var n int
	if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM seal_segment_keys`).Scan(&n); err != nil {
		return 0, fmt.Errorf("segment keys: %w", err)
	}
	return n, nil
}

// CheckpointTruncate copies the WAL into the database file and truncates
// the WAL to zero bytes, so the old page images it held (sealed keys that
// were since deleted) no longer sit in the -wal file. Retention calls it
// after a purge that destroyed keys; it fails (SQLITE_BUSY) while another
// connection reads, and the purge then retries it on its next pass.
//
// A TRUNCATE checkpoint blocks new writers while it waits for readers, for
// as long as its connection's busy timeout: with the usual 15 s, one slow
// reader would stall the recorder's key and catalog inserts (and so
// ingest) that long. It runs on its own connection with a short timeout
// instead: a busy database makes it give up and try again next pass.
func (db *DB) CheckpointTruncate(ctx context.Context) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("registry: checkpoint: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(checkpointWait)); err != nil {
		return fmt.Errorf("registry: checkpoint: %w", err)
	}
	// The connection goes back to the pool: restore its timeout first.
	defer conn.ExecContext(context.Background(), `PRAGMA busy_timeout = `+strconv.Itoa(busyTimeoutMS))
	var busy, logFrames, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("registry: checkpoint: %w", err)
	}
	if busy != 0 {
		return errors.New("registry: checkpoint: the database is busy; the WAL was not truncated")
	}
	return nil
}

// checkpointWait is how long (ms) CheckpointTruncate may hold writers back.
const checkpointWait = 200
