package seal_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vahti/registry"
	"vahti/seal"
)

// txStore is the registry as a seal.KeyStore (vahti cat and admin will
// hold the same few lines).
type txStore struct{ tx *registry.Tx }

func (s txStore) SealedDataKey(id seal.KeyID) (seal.EpochID, []byte, error) {
	k, err := s.tx.SegmentKeyByID(id[:])
	if err != nil {
		return 0, nil, err
	}
	return seal.EpochID(k.EpochDay), k.SealedKey, nil
}

func (s txStore) SealedEpoch(id seal.EpochID) ([]byte, []byte, error) {
	e, err := s.tx.Epoch(int64(id))
	return e.PublicKey, e.SealedPrivate, err
}

var cheap = seal.Argon2Params{Time: 1, Memory: 64, Threads: 1}

// box is a registry with site keys, as vahti keys init leaves it, and the
// secrets the test holds back: the recovery key and alice's password.
type box struct {
	dir   string
	db    *registry.DB
	rk    seal.RecoveryKey
	site  seal.SitePublicKey
	alice int64
}

const alicePassword = "correct horse battery staple"

func newBox(t *testing.T) *box {
	t.Helper()
	dir := t.TempDir()
	db, err := registry.Open(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ring, err := seal.NewSite()
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Wipe()
	rk, err := seal.NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	rw, err := ring.WrapRecovery(rk)
	if err != nil {
		t.Fatal(err)
	}
	aw, err := ring.WrapPassword([]byte(alicePassword), cheap)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := rk.Public()
	if err != nil {
		t.Fatal(err)
	}
	site := registry.SealSite{PublicKey: ring.Public().Bytes(), RecoveryPublicKey: rp.Bytes(), CreatedBy: "test"}
	b := &box{dir: dir, db: db, rk: rk, site: ring.Public()}
	err = db.Update(context.Background(), func(tx *registry.Tx) error {
		if err := tx.InitSealSite(site, rw); err != nil {
			return err
		}
		u := registry.User{Name: "alice", Roles: []string{registry.RoleKeeper}, PassHash: "x"}
		if err := tx.AddUser(&u); err != nil {
			return err
		}
		b.alice = u.ID
		return tx.PutKeeperWrap(u.ID, aw, "test")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(tx *registry.Tx) error {
		site.CreatedBy = "again"
		return tx.InitSealSite(site, rw)
	}); !errors.Is(err, registry.ErrKeysExist) {
		t.Fatalf("second InitSealSite: %v, want ErrKeysExist", err)
	}
	return b
}

// addEpoch is the service's daily rotation: site public key only.
func (b *box) addEpoch(t *testing.T, day seal.EpochID) seal.EpochPublicKey {
	t.Helper()
	var pub seal.EpochPublicKey
	err := b.db.Update(context.Background(), func(tx *registry.Tx) error {
		s, err := tx.SealSiteKey()
		if err != nil {
			return err
		}
		site, err := seal.ParseSitePublicKey(s.PublicKey)
		if err != nil {
			return err
		}
		p, sealed, err := seal.NewEpoch(site, day)
		if err != nil {
			return err
		}
		pub = p
		return tx.AddEpoch(int64(day), p.Bytes(), sealed)
	})
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// record is the recorder's part: a segment row, its sealed key stored
// before the first record, the file written. It returns the file bytes,
// the segment id and the sealed key as stored.
func (b *box) record(t *testing.T, epoch seal.EpochPublicKey, camera string, start time.Time, body []byte) ([]byte, int64, []byte) {
	t.Helper()
	k, h, sealed, err := seal.NewSegmentKey(epoch, camera, start)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Wipe()
	var f bytes.Buffer
	w, err := seal.NewWriter(&f, h, k)
	if err != nil {
		t.Fatal(err)
	}
	for len(body) > 0 {
		n := min(len(body), 700)
		if err := w.WriteRecord(body[:n], nil); err != nil {
			t.Fatal(err)
		}
		body = body[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var id int64
	err = b.db.Update(context.Background(), func(tx *registry.Tx) error {
		if err := tx.PutSegmentKey(registry.SegmentKey{KeyID: h.KeyID[:], Camera: camera, Start: start, EpochDay: int64(h.Epoch), SealedKey: sealed}); err != nil {
			return err
		}
		s := registry.Segment{Camera: camera, Start: start, End: start.Add(time.Minute), Path: camera + "/" + start.Format("2006/01/02/15-04-05.000000") + ".mp4", Bytes: int64(f.Len())}
		err := tx.AddSegment(&s)
		id = s.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return f.Bytes(), id, sealed
}

// open opens file with what the box holds plus one secret: the recovery
// key (rk non-nil) or alice's password.
func (b *box) open(file []byte, rk *seal.RecoveryKey, password string) ([]byte, error) {
	var out []byte
	err := b.db.View(context.Background(), func(tx *registry.Tx) error {
		var ring *seal.Keyring
		if rk != nil {
			w, err := tx.RecoveryWrap()
			if err != nil {
				return err
			}
			if ring, err = seal.UnlockRecovery(b.site, w, *rk); err != nil {
				return err
			}
		} else {
			w, err := tx.KeeperWrap(b.alice)
			if err != nil {
				return err
			}
			if ring, err = seal.UnlockPassword(b.site, w, []byte(password)); err != nil {
				return err
			}
		}
		defer ring.Wipe()
		rd, err := seal.OpenSegment(bytes.NewReader(file), int64(len(file)), ring.Unwrapper(txStore{tx}))
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if _, err := rd.WriteTo(&buf); err != nil {
			return err
		}
		out = buf.Bytes()
		return nil
	})
	return out, err
}

// registryBytes is the database file and its WAL, as a thief copies them.
func (b *box) registryBytes(t *testing.T) []byte {
	t.Helper()
	var all []byte
	for _, s := range []string{"", "-wal"} {
		d, err := os.ReadFile(filepath.Join(b.dir, registry.FileName+s))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, d...)
	}
	return all
}

// TestCryptoErase: after a segment's key is deleted with its row and its
// day's epoch destroyed, a saved copy of the segment opens with nothing the
// box holds (registry file, WAL, recovery key, a keeper's password), and
// the deleted key bytes are not in the registry's files; the next day's
// footage still opens.
func TestCryptoErase(t *testing.T) {
	ctx := context.Background()
	b := newBox(t)
	day1 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	e1 := b.addEpoch(t, seal.EpochFor(day1))
	e2 := b.addEpoch(t, seal.EpochFor(day2))
	body := bytes.Repeat([]byte("fakecam frame 0123456789 "), 400)
	old, oldID, oldSealed := b.record(t, e1, "yard", day1, body)
	kept, _, _ := b.record(t, e2, "yard", day2, body)
	var oldEpochSealed []byte
	b.db.View(ctx, func(tx *registry.Tx) error {
		e, err := tx.Epoch(int64(e1.ID))
		oldEpochSealed = e.SealedPrivate
		return err
	})
	if bytes.Contains(old, body[:64]) {
		t.Fatal("plaintext in the sealed file")
	}
	for _, f := range [][]byte{old, kept} {
		if got, err := b.open(f, &b.rk, ""); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("before the purge (recovery key): %v", err)
		}
		if got, err := b.open(f, nil, alicePassword); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("before the purge (password): %v", err)
		}
	}
	saved := bytes.Clone(old) // what flash keeps after the unlink

	// The gate's transaction: the key goes with the row.
	if err := b.db.Update(ctx, func(tx *registry.Tx) error {
		if ok, err := tx.DeleteSegmentKey(oldID); err != nil || !ok {
			return errors.Join(errors.New("no key deleted"), err)
		}
		return tx.DeleteSegmentRow(oldID)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.open(saved, &b.rk, ""); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("saved copy after its key was deleted: %v, want not found", err)
	}
	// The epoch cannot go while another segment's key is sealed to it.
	e1b := b.addEpoch(t, seal.EpochFor(day1.Add(-24*time.Hour)))
	_, busyID, _ := b.record(t, e1b, "lobby", day1.Add(-24*time.Hour), body)
	if err := b.db.Update(ctx, func(tx *registry.Tx) error { return tx.DestroyEpoch(int64(e1b.ID), "test") }); err == nil {
		t.Fatal("destroyed an epoch a segment key is still sealed to")
	}
	_ = busyID

	// Retention asks which epochs are idle: only day 1's (the lobby's day
	// before still has a key, day 2 is not before the cut-off).
	var idle []int64
	b.db.View(ctx, func(tx *registry.Tx) (err error) { idle, err = tx.IdleEpochs(int64(e2.ID)); return })
	if len(idle) != 1 || idle[0] != int64(e1.ID) {
		t.Fatalf("idle epochs %v, want [%d]", idle, e1.ID)
	}
	if err := b.db.Update(ctx, func(tx *registry.Tx) error { return tx.DestroyEpoch(int64(e1.ID), "test") }); err != nil {
		t.Fatal(err)
	}
	// A recorder that still held day 1's public key cannot store a key
	// sealed to it now: the foreign key refuses, nothing is written.
	if err := b.db.Update(ctx, func(tx *registry.Tx) error {
		return tx.PutSegmentKey(registry.SegmentKey{KeyID: make([]byte, 16), Camera: "yard", Start: day1.Add(time.Hour), EpochDay: int64(e1.ID), SealedKey: oldSealed})
	}); err == nil {
		t.Fatal("a segment key was stored for a destroyed epoch")
	}
	if err := b.db.Update(ctx, func(tx *registry.Tx) error { return tx.AddEpoch(int64(e1.ID), e1.Bytes(), oldEpochSealed) }); err == nil {
		t.Fatal("a destroyed epoch's day got a key again")
	}
	if err := b.db.CheckpointTruncate(ctx); err != nil {
		t.Fatal(err)
	}

	// The thief's copy of the registry: neither the segment's sealed key
	// nor the epoch's sealed private key is in it (secure_delete zeroed
	// the freed cells, the checkpoint emptied the WAL).
	reg := b.registryBytes(t)
	for what, secret := range map[string][]byte{"sealed data key": oldSealed, "sealed epoch private key": oldEpochSealed} {
		for i := 0; i+32 <= len(secret); i += 32 {
			if bytes.Contains(reg, secret[i:i+32]) {
				t.Fatalf("the registry files still hold bytes %d-%d of the deleted %s", i, i+32, what)
			}
		}
	}
	// A stale copy of the sealed data key (an old WAL frame, a flash
	// remnant) opens nothing now that its epoch is gone.
	if _, err := b.open(saved, &b.rk, ""); err == nil {
		t.Fatal("saved copy opened after the purge")
	}
	stale := staleStore{key: oldSealed, day: e1.ID}
	err := b.db.View(ctx, func(tx *registry.Tx) error {
		w, _ := tx.RecoveryWrap()
		ring, err := seal.UnlockRecovery(b.site, w, b.rk)
		if err != nil {
			return err
		}
		defer ring.Wipe()
		stale.tx = tx
		_, err = seal.OpenSegment(bytes.NewReader(saved), int64(len(saved)), ring.Unwrapper(stale))
		return err
	})
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("saved copy with a stale sealed key and the recovery key: %v, want epoch not found", err)
	}
	// The next day's footage is untouched.
	if got, err := b.open(kept, nil, alicePassword); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("kept segment after the purge: %v", err)
	}
}

// staleStore serves a sealed data key from a stale copy, the epoch from
// the live registry.
type staleStore struct {
	txStore
	key []byte
	day seal.EpochID
}

func (s staleStore) SealedDataKey(seal.KeyID) (seal.EpochID, []byte, error) { return s.day, s.key, nil }

func (s staleStore) SealedEpoch(id seal.EpochID) ([]byte, []byte, error) {
	return txStore{s.tx}.SealedEpoch(id)
}

// TestKeeperWrapRemoved: once a keeper's wrap is deleted (disabled, role
// taken), their password opens nothing, and the wrap's bytes are gone from
// the registry files; a password change replaces the wrap.
func TestKeeperWrapRemoved(t *testing.T) {
	ctx := context.Background()
	b := newBox(t)
	e := b.addEpoch(t, seal.EpochFor(time.Now()))
	body := []byte("a fragment of the yard at night")
	file, _, _ := b.record(t, e, "yard", time.Now().UTC(), body)
	if got, err := b.open(file, nil, alicePassword); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("with a wrap: %v", err)
	}
	if _, err := b.open(file, nil, "wrong password"); !errors.Is(err, seal.ErrUnlock) {
		t.Fatalf("wrong password: %v, want ErrUnlock", err)
	}
	var wrap []byte
	b.db.View(ctx, func(tx *registry.Tx) error {
		var err error
		wrap, err = tx.KeeperWrap(b.alice)
		return err
	})
	// Password change: the keeper's ring (unlocked at login) re-wraps.
	var newWrap []byte
	if err := b.db.Update(ctx, func(tx *registry.Tx) error {
		ring, err := seal.UnlockPassword(b.site, wrap, []byte(alicePassword))
		if err != nil {
			return err
		}
		defer ring.Wipe()
		nw, err := ring.WrapPassword([]byte("a new passphrase"), cheap)
		if err != nil {
			return err
		}
		newWrap = nw
		return tx.PutKeeperWrap(b.alice, nw, "alice")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.open(file, nil, alicePassword); !errors.Is(err, seal.ErrUnlock) {
		t.Fatalf("old password after a change: %v, want ErrUnlock", err)
	}
	if _, err := b.open(file, nil, "a new passphrase"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := b.db.Update(ctx, func(tx *registry.Tx) error {
		ok, err := tx.DeleteKeeperWrap(b.alice)
		if !ok && err == nil {
			err = errors.New("no wrap deleted")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.open(file, nil, "a new passphrase"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("after the wrap was deleted: %v, want not found", err)
	}
	if err := b.db.CheckpointTruncate(ctx); err != nil {
		t.Fatal(err)
	}
	for i, w := range [][]byte{wrap, newWrap} {
		if bytes.Contains(b.registryBytes(t), w[len(w)-48:]) {
			t.Fatalf("deleted wrap %d is still in the registry files", i)
		}
	}
	// The recovery key still opens (the DPO's safe).
	if _, err := b.open(file, &b.rk, ""); err != nil {
		t.Fatal(err)
	}
}
