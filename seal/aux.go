package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Auxiliary data: small blobs about one segment that are kept beside it
// (its fragment index, mp4read's sidecar) and show as much as its
// plaintext would, so they are sealed too (DESIGN.md, "Auxiliary data").
//
// The key is HKDF-SHA256 of the segment's data key with its own label, so
// an aux blob and a record never share a key: a record cannot be opened
// as aux data or the other way round. Blob:
//
//	version (1) | nonce (12, random) | AES-256-GCM(plaintext) and tag (16)
//
// Additional data: "vahti seal aux v1\0" ‖ SHA-256(segment header) ‖
// version ‖ len(kind) ‖ kind. The header hash binds the blob to its
// segment (camera, start, key id, epoch: a blob copied beside another
// segment, even one under the same key, fails), the kind to its purpose.
//
// The nonce is random, not fixed or counted: one segment's aux data of one
// kind is sealed more than once (the recorder at finish; a reader that
// rebuilt a lost or damaged index), and the plaintexts may differ, so a
// fixed nonce would reuse a GCM keystream. Nothing keeps a counter across
// those writers; 96 random bits for a handful of blobs per key make a
// repeat negligible, at 12 bytes a blob.

const (
	auxVersion  = 1
	auxKeyLabel = "vahti seal aux key v1"
	auxAADLabel = "vahti seal aux v1\x00"
	auxNonce    = 12
	// AuxOverhead is the bytes a sealed blob adds to its plaintext.
	AuxOverhead = 1 + auxNonce + tagSize
	// MaxAux bounds an aux plaintext (an index of an hour-long segment is
	// well under a megabyte); OpenAux refuses a larger blob unread.
	MaxAux = MaxRecord
	// MaxAuxKind bounds the kind label.
	MaxAuxKind = 64
)

// auxCipher seals and opens the aux data of one segment.
type auxCipher struct {
	aead   cipher.AEAD
	hdrSum [32]byte
}

// newAuxCipher derives the aux key of the segment whose marshalled header
// is hdr from its data key. Only the AEAD is kept, as for records.
func newAuxCipher(k *DataKey, hdr []byte) (*auxCipher, error) {
	var a cipher.AEAD
	var err error
	secretDo(func() {
		var key []byte
		key, err = hkdf.Key(sha256.New, k.b[:], nil, auxKeyLabel, 32)
		if err != nil {
			return
		}
		defer clear(key)
		var blk cipher.Block
		if blk, err = aes.NewCipher(key); err == nil {
			a, err = cipher.NewGCM(blk)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("seal: aux key: %w", err)
	}
	return &auxCipher{aead: a, hdrSum: sha256.Sum256(hdr)}, nil
}

func auxAAD(sum [32]byte, version byte, kind string) []byte {
	b := make([]byte, 0, len(auxAADLabel)+32+2+len(kind))
	b = append(b, auxAADLabel...)
	b = append(b, sum[:]...)
	b = append(b, version, byte(len(kind)))
	return append(b, kind...)
}

func checkKind(kind string) error {
	if kind == "" || len(kind) > MaxAuxKind {
		return fmt.Errorf("seal: aux kind %q: 1 to %d bytes", kind, MaxAuxKind)
	}
	return nil
}

func (c *auxCipher) seal(kind string, plain []byte) ([]byte, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	if len(plain) > MaxAux {
		return nil, fmt.Errorf("seal: aux %s: %d bytes, at most %d", kind, len(plain), MaxAux)
	}
	out := make([]byte, 1+auxNonce, AuxOverhead+len(plain))
	out[0] = auxVersion
	if _, err := rand.Read(out[1 : 1+auxNonce]); err != nil {
		return nil, fmt.Errorf("seal: aux nonce: %w", err)
	}
	return c.aead.Seal(out, out[1:1+auxNonce], plain, auxAAD(c.hdrSum, auxVersion, kind)), nil
}

// ErrAuxVersion: an aux blob of a format version this Vahti does not read.
var ErrAuxVersion = errors.New("seal: unknown aux data version")

func (c *auxCipher) open(kind string, b []byte) ([]byte, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	if len(b) < AuxOverhead || len(b) > MaxAux+AuxOverhead {
		return nil, fmt.Errorf("%w: aux %s of %d bytes", ErrCorrupt, kind, len(b))
	}
	if b[0] != auxVersion {
		return nil, fmt.Errorf("%w %d", ErrAuxVersion, b[0])
	}
	pt, err := c.aead.Open(nil, b[1:1+auxNonce], b[1+auxNonce:], auxAAD(c.hdrSum, b[0], kind))
	if err != nil {
		return nil, fmt.Errorf("%w: aux %s (altered, of another segment or of another kind)", ErrAuth, kind)
	}
	return pt, nil
}

// SealAux seals plain, auxiliary data of the given kind about the segment
// whose header is h, under a key derived from that segment's data key k
// (the recorder, which holds k until the segment is finished). Only the
// segment's Reader opens it, and only as the same kind.
func SealAux(k *DataKey, h Header, kind string, plain []byte) ([]byte, error) {
	hdr, err := h.MarshalBinary()
	if err != nil {
		return nil, err
	}
	c, err := newAuxCipher(k, hdr)
	if err != nil {
		return nil, err
	}
	return c.seal(kind, plain)
}

// OpenAux opens aux data of kind sealed for this Reader's segment (by
// SealAux or Reader.SealAux). Anything altered, sealed for another
// segment or as another kind is ErrAuth.
func (rd *Reader) OpenAux(kind string, sealed []byte) ([]byte, error) {
	return rd.aux.open(kind, sealed)
}

// SealAux seals aux data of kind for this Reader's segment: a reader that
// rebuilt the segment's index writes it back sealed, never in clear.
func (rd *Reader) SealAux(kind string, plain []byte) ([]byte, error) {
	return rd.aux.seal(kind, plain)
}
