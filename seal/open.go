package seal

import (
	"fmt"
	"io"
)

// Unwrapper finds and opens the data key of the segment whose header is h:
// in Vahti it looks the sealed key up in the registry by h.KeyID, opens
// the epoch h.Epoch with an unlocked Keyring, and opens the data key with
// it (see DESIGN.md, "Reading"). It is the only step that needs a secret.
type Unwrapper func(h Header) (*DataKey, error)

// OpenSegment opens a sealed segment file (or any copy of one) for
// reading: it reads the header, asks unwrap for the data key, and returns
// the plaintext Reader. The data key is wiped once the Reader has its
// cipher. This is the path vahti cat, export and playback take.
func OpenSegment(r io.ReaderAt, size int64, unwrap Unwrapper) (*Reader, error) {
	h, _, err := ReadHeader(r, size)
	if err != nil {
		return nil, err
	}
	k, err := unwrap(h)
	if err != nil {
		return nil, fmt.Errorf("seal: segment %s %s (key %s, epoch %s): %w", h.Camera, h.Start.Format("2006-01-02T15:04:05.999999Z07:00"), h.KeyID, h.Epoch, err)
	}
	defer k.Wipe()
	return Open(r, size, k)
}

// KeyStore is where sealed keys are kept (the registry; an adapter over a
// registry transaction in the caller keeps this package free of SQL).
type KeyStore interface {
	// SealedDataKey is the sealed data key named by a segment header's
	// key id, and the epoch it is sealed to.
	SealedDataKey(id KeyID) (EpochID, []byte, error)
	// SealedEpoch is an epoch's public key and sealed private key; an
	// error wrapping a not-found error once the epoch was destroyed.
	SealedEpoch(id EpochID) (pub, sealedPrivate []byte, err error)
}

// Unwrapper is the Unwrapper that opens a segment's data key from ks with
// this keyring: key id → sealed data key → its epoch → the site key.
func (k *Keyring) Unwrapper(ks KeyStore) Unwrapper {
	return func(h Header) (*DataKey, error) {
		day, sealed, err := ks.SealedDataKey(h.KeyID)
		if err != nil {
			return nil, err
		}
		if day != h.Epoch {
			return nil, fmt.Errorf("the registry seals this key to epoch %s, the file names %s", day, h.Epoch)
		}
		pub, sealedPriv, err := ks.SealedEpoch(day)
		if err != nil {
			return nil, err
		}
		epub, err := ParseEpochPublicKey(day, pub)
		if err != nil {
			return nil, err
		}
		ek, err := k.OpenEpoch(epub, sealedPriv)
		if err != nil {
			return nil, err
		}
		defer ek.Wipe()
		return ek.OpenDataKey(h, sealed)
	}
}
