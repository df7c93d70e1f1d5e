package registry

import (
	"context"

	"vahti/seal"
)

// KeyStore is the registry as a seal.KeyStore: what a keyring needs to
// open a segment's data key (seal.Keyring.Unwrapper). Each lookup is its
// own read transaction, so an Unwrapper built on it can be held by a
// long-lived reader (the exporter, playback) and always sees the keys as
// they are now: a key destroyed by a purge is gone for it too.
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
		return err
	})
	return seal.EpochID(k.EpochDay), k.SealedKey, err
}

func (s dbKeyStore) SealedEpoch(id seal.EpochID) (pub, sealedPrivate []byte, err error) {
	var e SealEpoch
	err = s.db.View(s.ctx, func(tx *Tx) error {
		e, err = tx.Epoch(int64(id))
		return err
	})
	return e.PublicKey, e.SealedPrivate, err
}
