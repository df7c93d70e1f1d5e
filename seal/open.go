package seal

import (
	"fmt"
	"io"
	"sync"
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
			k.forgetEpoch(day) // destroyed: a copy in memory must not outlive it
			return nil, err
		}
		return k.openDataKey(day, pub, sealedPriv, h, sealed)
	}
}

// Scope is unwrap for one export: each segment's data key is unwrapped
// once (one HPKE open of its epoch key and one of the data key, two
// registry reads) however often the export opens the segment. An export
// opens each source three times: to plan it, to read it whole, and to
// decrypt the bytes it read (mp4read.File.ReadAll reopens them in memory,
// not trusting a second read of the file); unwrapping each time (two
// HPKE opens, ~0.4 ms) was 4 % of a sealed export's CPU. The keys are kept
// only until end, which wipes them; after end the Unwrapper gives
// ErrWiped. A key destroyed, or the keyring wiped, while the export runs
// stays usable to that export for the segments it has opened already.
// Scope(nil) is nil: plain footage only.
func Scope(unwrap Unwrapper) (u Unwrapper, end func()) {
	if unwrap == nil {
		return nil, func() {}
	}
	s := newScope(unwrap)
	return s.get, s.end
}

func newScope(unwrap Unwrapper) *scope { return &scope{unwrap: unwrap, keys: map[KeyID]scoped{}} }

type scope struct {
	unwrap Unwrapper
	mu     sync.Mutex
	keys   map[KeyID]scoped
	ended  bool
}

// scoped is a data key opened in a scope, with the header it was opened
// for: a file naming the same key id in another header is unwrapped (and
// refused) afresh, as without the scope.
type scoped struct {
	h Header
	k *DataKey
}

// get returns a copy of the key (the caller wipes it, as OpenSegment does).
func (s *scope) get(h Header) (*DataKey, error) {
	s.mu.Lock()
	c, ok := s.keys[h.KeyID]
	ended := s.ended
	s.mu.Unlock()
	if ended {
		return nil, ErrWiped
	}
	if ok && c.h.Epoch == h.Epoch && c.h.Camera == h.Camera && c.h.Start.Equal(h.Start) {
		k := new(DataKey)
		k.b = c.k.b
		return k, nil
	}
	// Not under the lock: planning opens several segments at once. Two
	// opens of one new segment racing both unwrap; the first is kept.
	k, err := s.unwrap(h)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		k.Wipe()
		return nil, ErrWiped
	}
	if _, ok := s.keys[h.KeyID]; !ok {
		kept := new(DataKey)
		kept.b = k.b
		s.keys[h.KeyID] = scoped{h: h, k: kept}
	}
	return k, nil
}

func (s *scope) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.keys {
		c.k.Wipe()
		delete(s.keys, id)
	}
	s.ended = true
}
