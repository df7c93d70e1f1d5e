package registry

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Held segments' keys (seal/DESIGN.md, "Holds"). A held segment's data
// key is re-sealed, while a keyring is open, to its day's "held epoch": a
// second key pair per UTC day, made with seal.NewEpoch like the day's own
// and sealed to the site key the same way. The re-sealed copy lives in
// seal_held_keys beside the original in seal_segment_keys. Once every key
// left in a day's epoch has a held copy, retention drops the originals
// (RetireResealedKeys) and destroys the day's epoch; the held copies keep
// the held footage readable, and only they. A held epoch is destroyed
// when its last held key is gone (the segment purged after its holds
// ended).
//
// Readers need not know: KeyStore serves the original while it exists and
// the held copy after, and the epoch of the same day to match (the day's
// epoch while it lives, else the held epoch), so the pair always agrees.

// AddHeldEpoch stores day's held epoch (public key, private key sealed to
// the site). A day whose held epoch was destroyed never gets another.
func (tx *Tx) AddHeldEpoch(day int64, pub, sealedPrivate []byte) error {
	if len(pub) == 0 || len(sealedPrivate) == 0 {
		return fmt.Errorf("held epoch %d: public key and sealed private key are required", day)
	}
	var gone int
	if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM seal_held_epochs_destroyed WHERE day = ?`, day).Scan(&gone); err != nil {
		return fmt.Errorf("held epoch %d: %w", day, err)
	}
	if gone > 0 {
		return fmt.Errorf("held epoch %d was destroyed; its day cannot get a new key", day)
	}
	if _, err := tx.tx.Exec(`INSERT INTO seal_held_epochs(day, public_key, sealed_private, created_ns) VALUES (?, ?, ?, ?)`,
		day, pub, sealedPrivate, ns(tx.Now())); err != nil {
		return fmt.Errorf("held epoch %d: %w", day, err)
	}
	return nil
}

// HeldEpoch is day's live held epoch, or ErrNotFound.
func (tx *Tx) HeldEpoch(day int64) (SealEpoch, error) {
	e, err := scanEpoch(tx.tx.QueryRow(`SELECT day, public_key, sealed_private, created_ns FROM seal_held_epochs WHERE day = ?`, day), day)
	if err != nil {
		return e, fmt.Errorf("held %w", err)
	}
	return e, nil
}

// PutHeldKey stores a held segment's data key re-sealed to its day's held
// epoch (k.EpochDay). A second call for the same key id changes nothing:
// the key is the same, only sealed afresh.
func (tx *Tx) PutHeldKey(k SegmentKey) error {
	if len(k.KeyID) != 16 || k.Camera == "" || k.Start.IsZero() || len(k.SealedKey) == 0 {
		return errors.New("held key: key id (16 bytes), camera, start and sealed key are required")
	}
	if _, err := tx.tx.Exec(`INSERT INTO seal_held_keys(key_id, camera, start_ns, epoch_day, sealed_key, created_ns) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(key_id) DO NOTHING`,
		k.KeyID, k.Camera, ns(k.Start), k.EpochDay, k.SealedKey, ns(tx.Now())); err != nil {
		return fmt.Errorf("held key %s %s: %w", k.Camera, k.Start.Format(time.RFC3339Nano), err)
	}
	return nil
}

// HeldKeyByID is the held copy of a data key, or ErrNotFound.
func (tx *Tx) HeldKeyByID(keyID []byte) (SegmentKey, error) {
	var k SegmentKey
	var start, created int64
	err := tx.tx.QueryRow(`SELECT key_id, camera, start_ns, epoch_day, sealed_key, created_ns FROM seal_held_keys WHERE key_id = ?`, keyID).
		Scan(&k.KeyID, &k.Camera, &start, &k.EpochDay, &k.SealedKey, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return SegmentKey{}, fmt.Errorf("held key %x: %w", keyID, ErrNotFound)
	}
	if err != nil {
		return SegmentKey{}, fmt.Errorf("held key %x: %w", keyID, err)
	}
	k.Start, k.Created = fromNS(start), fromNS(created)
	return k, nil
}

// RetireResealedKeys drops day's original segment keys when every one
// left has a held copy: the day's unheld footage is gone, so its epoch
// can be destroyed (DestroyEpoch) in the same transaction. It returns how
// many originals went (0 when any key of the day has no held copy: an
// unexpired segment, or a held one not re-sealed yet).
func (tx *Tx) RetireResealedKeys(day int64) (int, error) {
	// Stops at the first key without a held copy: for a day with unexpired
	// footage that is one index step, so retention can ask every pass.
	var unheld int
	err := tx.tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM seal_segment_keys k WHERE k.epoch_day = ?
		AND NOT EXISTS (SELECT 1 FROM seal_held_keys h WHERE h.key_id = k.key_id))`, day).Scan(&unheld)
	if err != nil {
		return 0, fmt.Errorf("retire re-sealed keys of %d: %w", day, err)
	}
	if unheld != 0 {
		return 0, nil
	}
	res, err := tx.tx.Exec(`DELETE FROM seal_segment_keys WHERE epoch_day = ?`, day)
	if err != nil {
		return 0, fmt.Errorf("retire re-sealed keys of %d: %w", day, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// LiveEpochDays is the days of live (day) epochs before day, oldest first.
func (tx *Tx) LiveEpochDays(before int64) ([]int64, error) {
	return tx.days(`SELECT day FROM seal_epochs WHERE day < ? ORDER BY day`, before)
}

// IdleHeldEpochs is the days of live held epochs before day that no held
// key is sealed to any more.
func (tx *Tx) IdleHeldEpochs(before int64) ([]int64, error) {
	return tx.days(`SELECT e.day FROM seal_held_epochs e WHERE e.day < ?
		AND NOT EXISTS (SELECT 1 FROM seal_held_keys k WHERE k.epoch_day = e.day) ORDER BY e.day`, before)
}

func (tx *Tx) days(q string, arg int64) ([]int64, error) {
	rows, err := tx.tx.Query(q, arg)
	if err != nil {
		return nil, fmt.Errorf("epochs: %w", err)
	}
	defer rows.Close()
	var days []int64
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("epochs: %w", err)
		}
		days = append(days, d)
	}
	return days, rows.Err()
}

// DestroyHeldEpoch deletes a held epoch's keys; it refuses while a held
// key is sealed to it.
func (tx *Tx) DestroyHeldEpoch(day int64, by string) error {
	var n int
	if err := tx.tx.QueryRow(`SELECT COUNT(*) FROM seal_held_keys WHERE epoch_day = ?`, day).Scan(&n); err != nil {
		return fmt.Errorf("destroy held epoch %d: %w", day, err)
	}
	if n > 0 {
		return fmt.Errorf("destroy held epoch %d: %d held keys are still sealed to it", day, n)
	}
	res, err := tx.tx.Exec(`DELETE FROM seal_held_epochs WHERE day = ?`, day)
	if err != nil {
		return fmt.Errorf("destroy held epoch %d: %w", day, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("destroy held epoch %d: %w", day, ErrNotFound)
	}
	if _, err := tx.tx.Exec(`INSERT INTO seal_held_epochs_destroyed(day, destroyed_ns, destroyed_by) VALUES (?, ?, ?)`, day, ns(tx.Now()), by); err != nil {
		return fmt.Errorf("destroy held epoch %d: %w", day, err)
	}
	return nil
}

// DeleteSegmentKeysIn destroys camera's data keys (originals and held
// copies) of segments starting in [from, to): for a file known only by
// its path, whose name carries the start to the microsecond while the key
// row has it to the nanosecond. It returns how many rows went.
func (tx *Tx) DeleteSegmentKeysIn(camera string, from, to time.Time) (int, error) {
	n := 0
	for _, table := range []string{"seal_segment_keys", "seal_held_keys"} {
		res, err := tx.tx.Exec(`DELETE FROM `+table+` WHERE camera = ? AND start_ns >= ? AND start_ns < ?`, camera, ns(from), ns(to))
		if err != nil {
			return n, fmt.Errorf("segment keys %s %s: %w", camera, from.Format(time.RFC3339Nano), err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	return n, nil
}

// OrphanKey is a data key (original or held copy) whose segment has no
// catalog row.
type OrphanKey struct {
	Camera string
	Start  time.Time
}

// OrphanSegmentKeys lists up to limit data keys (originals and held
// copies) of segments that started before t and have no catalog row
// within a millisecond of their start (a recorder that died before
// cataloguing, a row dropped by an older Vahti). Retention destroys them
// through its gate once no file of that camera and start exists either.
// Per camera it reads only keys older than t (the (camera, start) index),
// which on a box in steady state are the held ones and the orphans.
func (tx *Tx) OrphanSegmentKeys(before time.Time, limit int) ([]OrphanKey, error) {
	var out []OrphanKey
	for _, table := range []string{"seal_segment_keys", "seal_held_keys"} {
		// The cameras, by a loose scan of the (camera, start) index.
		rows, err := tx.tx.Query(`WITH RECURSIVE c(cam) AS (SELECT MIN(camera) FROM ` + table + `
			UNION ALL SELECT (SELECT MIN(camera) FROM ` + table + ` WHERE camera > c.cam) FROM c WHERE c.cam IS NOT NULL)
			SELECT cam FROM c WHERE cam IS NOT NULL`)
		if err != nil {
			return nil, fmt.Errorf("orphan segment keys: %w", err)
		}
		var cams []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return nil, fmt.Errorf("orphan segment keys: %w", err)
			}
			cams = append(cams, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("orphan segment keys: %w", err)
		}
		for _, c := range cams {
			rows, err := tx.tx.Query(`SELECT start_ns FROM `+table+` k WHERE k.camera = ? AND k.start_ns < ?
				AND NOT EXISTS (SELECT 1 FROM segments s WHERE s.camera = k.camera
					AND s.start_ns BETWEEN k.start_ns - 1000000 AND k.start_ns + 1000000)
				ORDER BY start_ns`, c, ns(before))
			if err != nil {
				return nil, fmt.Errorf("orphan segment keys: %w", err)
			}
			for rows.Next() {
				var start int64
				if err := rows.Scan(&start); err != nil {
					rows.Close()
					return nil, fmt.Errorf("orphan segment keys: %w", err)
				}
				out = append(out, OrphanKey{Camera: c, Start: fromNS(start)})
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("orphan segment keys: %w", err)
			}
			if limit > 0 && len(out) >= limit {
				return out[:limit], nil
			}
		}
	}
	return out, nil
}

// SegmentRowNear says whether camera has a catalog row (any state)
// starting within a millisecond of start: an orphan key's last check,
// in the transaction that destroys it.
func (tx *Tx) SegmentRowNear(camera string, start time.Time) (bool, error) {
	var n int
	err := tx.tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM segments WHERE camera = ? AND start_ns BETWEEN ? AND ?)`,
		camera, ns(start)-1000000, ns(start)+1000000).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("segment %s %s: %w", camera, start.Format(time.RFC3339Nano), err)
	}
	return n != 0, nil
}

// KeyCounts is how many original data keys, held copies and held epochs
// the registry holds (for tests and vahti keys status).
func (tx *Tx) KeyCounts() (segmentKeys, heldKeys, heldEpochs int, err error) {
	err = tx.tx.QueryRow(`SELECT (SELECT COUNT(*) FROM seal_segment_keys), (SELECT COUNT(*) FROM seal_held_keys),
		(SELECT COUNT(*) FROM seal_held_epochs)`).Scan(&segmentKeys, &heldKeys, &heldEpochs)
	if err != nil {
		err = fmt.Errorf("key counts: %w", err)
	}
	return
}

// KeyStateAt says whether camera's segment starting at start has an
// original data key and a held copy.
func (tx *Tx) KeyStateAt(camera string, start time.Time) (original, held bool, err error) {
	var o, h int
	err = tx.tx.QueryRow(`SELECT (SELECT COUNT(*) FROM seal_segment_keys WHERE camera = ? AND start_ns = ?),
		(SELECT COUNT(*) FROM seal_held_keys WHERE camera = ? AND start_ns = ?)`,
		camera, ns(start), camera, ns(start)).Scan(&o, &h)
	if err != nil {
		return false, false, fmt.Errorf("segment key %s %s: %w", camera, start.Format(time.RFC3339Nano), err)
	}
	return o > 0, h > 0, nil
}
