package registry

import (
	"context"
	"errors"

	"vahti/seal"
)

// KeyStore is the registry as a seal.KeyStore: what a keyring needs to
// open a segment's data key (seal.Keyring.Unwrapper). Each lookup is its
// own read transaction, so an Unwrapper built on it can be held by a
// long-lived reader (the exporter, playback) and always sees the keys as
// they are now: a key destroyed by a purge is gone for it too.
//
// A held segment whose day's epoch was destroyed has only its held copy
// (heldkeys.go): SealedDataKey falls back to it, and SealedEpoch to the
// day's held epoch once the day's own epoch is gone. The two agree
// because a day's originals are dropped in the transaction that destroys
// its epoch (a lookup racing that transaction fails once; a retry opens).
func (db *DB) KeyStore(ctx context.Context) seal.KeyStore { return dbKeyStore{db, ctx} }

type dbKeyStore struct {
	db  *DB
	ctx context.Context
}

func (s dbKeyStore) SealedDataKey(id seal.KeyID) (seal.EpochID, []byte, error) {
	var k SegmentKey
	err := s.db.View(s.ctx, func(tx *Tx) error {
		var err error
		k, err = tx.SegmentKeyByID(id[:])
		if errors.Is(err, ErrNotFound) {
			if hk, herr := tx.HeldKeyByID(id[:]); herr == nil {
				k, err = hk, nil
			}
		}
		return err
	})
	return seal.EpochID(k.EpochDay), k.SealedKey, err
}

func (s dbKeyStore) SealedEpoch(id seal.EpochID) (pub, sealedPrivate []byte, err error) {
	var e SealEpoch
	err = s.db.View(s.ctx, func(tx *Tx) error {
		e, err = tx.Epoch(int64(id))
		if errors.Is(err, ErrNotFound) {
			if he, herr := tx.HeldEpoch(int64(id)); herr == nil {
				e, err = he, nil
			}
		}
		return err
	})
	return e.PublicKey, e.SealedPrivate, err
}
