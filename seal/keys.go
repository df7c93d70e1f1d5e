package seal

import (
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The key hierarchy (DESIGN.md, "Keys"):
//
//	site key pair        private half only wrapped: per keeper (password) and recovery key
//	  └ epoch key pair   one per UTC day; private half sealed to the site public key
//	      └ data key     one per segment; sealed to its epoch's public key
//
// Sealing (a data key to an epoch, an epoch to the site) needs only public
// keys: SitePublicKey and EpochPublicKey hold no private key, and they are
// all the recorder and the service's epoch rotation ever get. Opening needs
// a Keyring, which exists only while a keeper (or the recovery key) has
// unlocked the site key.

func kem() hpke.KEM   { return hpke.MLKEM768X25519() }
func kdf() hpke.KDF   { return hpke.HKDFSHA256() }
func aead() hpke.AEAD { return hpke.AES256GCM() }

// ErrWiped: the Keyring or EpochKey was wiped.
var ErrWiped = errors.New("seal: key wiped")

// SitePublicKey is the site's public key: it seals epoch keys. It holds
// no private key.
type SitePublicKey struct{ pk hpke.PublicKey }

// EpochPublicKey is one epoch's public key: it seals that day's segment
// data keys. It holds no private key.
type EpochPublicKey struct {
	ID EpochID
	pk hpke.PublicKey
}

// ParseSitePublicKey reads a site public key as stored in the registry.
func ParseSitePublicKey(b []byte) (SitePublicKey, error) {
	pk, err := kem().NewPublicKey(b)
	if err != nil {
		return SitePublicKey{}, fmt.Errorf("seal: site public key: %w", err)
	}
	return SitePublicKey{pk}, nil
}

// ParseEpochPublicKey reads an epoch public key as stored in the registry.
func ParseEpochPublicKey(id EpochID, b []byte) (EpochPublicKey, error) {
	pk, err := kem().NewPublicKey(b)
	if err != nil {
		return EpochPublicKey{}, fmt.Errorf("seal: epoch %s public key: %w", id, err)
	}
	return EpochPublicKey{ID: id, pk: pk}, nil
}

// Bytes is the key's serialized form (1216 bytes).
func (k SitePublicKey) Bytes() []byte { return k.pk.Bytes() }

// Bytes is the key's serialized form.
func (k EpochPublicKey) Bytes() []byte { return k.pk.Bytes() }

// Fingerprint is a short hex digest of the site public key, for status.
func (k SitePublicKey) Fingerprint() string {
	s := sha256.Sum256(k.pk.Bytes())
	return fmt.Sprintf("%x", s[:8])
}

func (k SitePublicKey) valid() bool { return k.pk != nil }

// epochInfo binds a sealed epoch private key to its epoch and public key,
// so it cannot be stored under another day.
func epochInfo(id EpochID, pub []byte) []byte {
	info := append([]byte("vahti seal epoch v1\x00"), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(info[len(info)-4:], uint32(id))
	s := sha256.Sum256(pub)
	return append(info, s[:]...)
}

// dataKeyInfo binds a sealed data key to its segment's whole header.
func dataKeyInfo(h Header) ([]byte, error) {
	hdr, err := h.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append([]byte("vahti seal data key v1\x00"), hdr...), nil
}

// NewEpoch makes epoch id's key pair and returns its public key and its
// private key sealed to the site. It needs only the site's public key, so
// the service makes each day's epoch with no keeper logged in; the private
// key exists in memory only inside this call.
func NewEpoch(site SitePublicKey, id EpochID) (EpochPublicKey, []byte, error) {
	if !site.valid() {
		return EpochPublicKey{}, nil, errors.New("seal: new epoch: no site public key")
	}
	var pub EpochPublicKey
	var sealed []byte
	var err error
	secretDo(func() {
		var seed [32]byte
		defer clear(seed[:])
		if _, err = rand.Read(seed[:]); err != nil {
			return
		}
		var sk hpke.PrivateKey
		if sk, err = kem().NewPrivateKey(seed[:]); err != nil {
			return
		}
		pub = EpochPublicKey{ID: id, pk: sk.PublicKey()}
		sealed, err = hpke.Seal(site.pk, kdf(), aead(), epochInfo(id, pub.Bytes()), seed[:])
	})
	if err != nil {
		return EpochPublicKey{}, nil, fmt.Errorf("seal: new epoch %s: %w", id, err)
	}
	return pub, sealed, nil
}

// SealDataKey seals a segment's data key to its epoch's public key, bound
// to the segment's header (h.Epoch must be the epoch's id). The result is
// what the registry stores for the segment; the file never holds it.
func SealDataKey(epoch EpochPublicKey, h Header, k *DataKey) ([]byte, error) {
	if epoch.pk == nil {
		return nil, errors.New("seal: seal data key: no epoch public key")
	}
	if h.Epoch != epoch.ID {
		return nil, fmt.Errorf("seal: seal data key: header names epoch %s, key is epoch %s", h.Epoch, epoch.ID)
	}
	info, err := dataKeyInfo(h)
	if err != nil {
		return nil, err
	}
	ct, err := hpke.Seal(epoch.pk, kdf(), aead(), info, k.b[:])
	if err != nil {
		return nil, fmt.Errorf("seal: seal data key: %w", err)
	}
	return ct, nil
}

// NewSegmentKey is what the recorder calls at a segment's start: a fresh
// data key, the header naming it, and the key sealed to the epoch for the
// registry. The recorder stores sealed (registry.PutSegmentKey) before the
// first record is written, so no record exists whose key is not kept.
func NewSegmentKey(epoch EpochPublicKey, camera string, start time.Time) (*DataKey, Header, []byte, error) {
	k, err := NewDataKey()
	if err != nil {
		return nil, Header{}, nil, err
	}
	h := Header{Epoch: epoch.ID, Camera: camera, Start: start.UTC()}
	if _, err := rand.Read(h.KeyID[:]); err != nil {
		return nil, Header{}, nil, fmt.Errorf("seal: key id: %w", err)
	}
	sealed, err := SealDataKey(epoch, h, k)
	if err != nil {
		k.Wipe()
		return nil, Header{}, nil, err
	}
	return k, h, sealed, nil
}

// EpochKey is one epoch's private key, opened by a Keyring. It opens that
// day's segment data keys. Wipe it when done.
type EpochKey struct {
	ID   EpochID
	seed []byte
	// sk is the HPKE key built from seed once, by OpenEpoch (so
	// OpenDataKey changes nothing and is safe for concurrent use;
	// Wipe is not, with OpenDataKey): rebuilding it (ML-KEM key
	// expansion) for each segment would double the cost of an export's
	// key opening. Its expanded form cannot be zeroed (Go's crypto keeps
	// it unexported); Wipe drops it, and an EpochKey lives only for one
	// export or playback.
	sk hpke.PrivateKey
}

// OpenDataKey opens the sealed data key of the segment with header h.
func (e *EpochKey) OpenDataKey(h Header, sealed []byte) (*DataKey, error) {
	if e.seed == nil || e.sk == nil {
		return nil, ErrWiped
	}
	if h.Epoch != e.ID {
		return nil, fmt.Errorf("seal: segment %s %s is sealed to epoch %s, not %s", h.Camera, h.Start.Format(time.RFC3339), h.Epoch, e.ID)
	}
	info, err := dataKeyInfo(h)
	if err != nil {
		return nil, err
	}
	k := new(DataKey)
	secretDo(func() {
		var pt []byte
		if pt, err = hpke.Open(e.sk, kdf(), aead(), info, sealed); err != nil {
			return
		}
		defer clear(pt)
		if len(pt) != len(k.b) {
			err = fmt.Errorf("data key of %d bytes", len(pt))
			return
		}
		copy(k.b[:], pt)
	})
	if err != nil {
		return nil, fmt.Errorf("seal: open data key of %s %s: %w", h.Camera, h.Start.Format(time.RFC3339Nano), err)
	}
	return k, nil
}

// Wipe zeroes the epoch private key.
func (e *EpochKey) Wipe() {
	clear(e.seed)
	e.seed, e.sk = nil, nil
}

// sitePubOf derives the public key of a site seed, to check an unwrap.
func sitePubOf(seed []byte) ([]byte, error) {
	var pub []byte
	var err error
	secretDo(func() {
		var sk hpke.PrivateKey
		if sk, err = kem().NewPrivateKey(seed); err == nil {
			pub = sk.PublicKey().Bytes()
		}
	})
	return pub, err
}
