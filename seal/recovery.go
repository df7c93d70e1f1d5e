package seal

import (
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// RecoveryKey is the site's recovery key: 32 random bytes, shown once at
// vahti keys init for the data protection officer's safe. It opens the
// recovery wrap of the site key, and so everything.
type RecoveryKey struct{ b [32]byte }

// The printed form is 56 characters of RFC 4648 base32 (A–Z, 2–7) in 14
// groups of four: the 32 key bytes and a 3-byte checksum, so a mistyped
// key is named as mistyped rather than as wrong. Parsing ignores case,
// spaces and dashes, and reads 0, 1 and 8 as O, I and B.
const (
	recoveryChecksum = 3
	recoveryGroups   = 14
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrRecoveryTypo: the recovery key's checksum does not match.
var ErrRecoveryTypo = errors.New("seal: recovery key mistyped (checksum does not match)")

// NewRecoveryKey makes a fresh recovery key.
func NewRecoveryKey() (RecoveryKey, error) {
	var rk RecoveryKey
	if _, err := rand.Read(rk.b[:]); err != nil {
		return RecoveryKey{}, fmt.Errorf("seal: recovery key: %w", err)
	}
	return rk, nil
}

func recoverySum(b []byte) []byte {
	s := sha256.Sum256(append([]byte("vahti recovery key v1\x00"), b...))
	return s[:recoveryChecksum]
}

// String is the printed form: XXXX-XXXX-… (14 groups).
func (rk RecoveryKey) String() string {
	raw := append(rk.b[:], recoverySum(rk.b[:])...)
	s := b32.EncodeToString(raw)
	groups := make([]string, 0, recoveryGroups)
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:min(i+4, len(s))])
	}
	return strings.Join(groups, "-")
}

// ParseRecoveryKey reads a recovery key as printed (or as typed from the
// printout: any case, spaces, dashes and line breaks).
func ParseRecoveryKey(s string) (RecoveryKey, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\n', '\r', '\t':
			return -1
		case '0':
			return 'O'
		case '1':
			return 'I'
		case '8':
			return 'B'
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
	if len(s) != 56 {
		return RecoveryKey{}, fmt.Errorf("seal: recovery key: %d characters, want 56 (14 groups of 4)", len(s))
	}
	raw, err := b32.DecodeString(s)
	if err != nil {
		return RecoveryKey{}, errors.New("seal: recovery key: not base32 (letters A-Z and digits 2-7)")
	}
	var rk RecoveryKey
	copy(rk.b[:], raw[:32])
	if subtle.ConstantTimeCompare(recoverySum(rk.b[:]), raw[32:]) != 1 {
		return RecoveryKey{}, ErrRecoveryTypo
	}
	return rk, nil
}

// kek is the key the recovery wrap is sealed under. The recovery key is
// 256 random bits: no password stretching is needed, only separation.
func (rk RecoveryKey) kek() ([]byte, error) {
	k, err := hkdf.Key(sha256.New, rk.b[:], nil, "vahti seal recovery wrap v1", 32)
	if err != nil {
		return nil, fmt.Errorf("seal: recovery key: %w", err)
	}
	return k, nil
}

// Wipe zeroes the recovery key.
func (rk *RecoveryKey) Wipe() { clear(rk.b[:]) }

// RecoveryPublicKey is the public half of a key pair derived from the
// recovery key. Anything sealed to it opens with the recovery key alone,
// with no registry: the service seals held segments' data keys to it into
// the file beside a hold, so a lost registry does not lose held evidence.
// It holds no private key.
type RecoveryPublicKey struct{ pk hpke.PublicKey }

// ParseRecoveryPublicKey reads a recovery public key as stored.
func ParseRecoveryPublicKey(b []byte) (RecoveryPublicKey, error) {
	pk, err := kem().NewPublicKey(b)
	if err != nil {
		return RecoveryPublicKey{}, fmt.Errorf("seal: recovery public key: %w", err)
	}
	return RecoveryPublicKey{pk}, nil
}

// Bytes is the key's serialized form.
func (k RecoveryPublicKey) Bytes() []byte { return k.pk.Bytes() }

// private derives the recovery key's HPKE key pair (deterministic: the
// recovery key is all there is to keep).
func (rk RecoveryKey) private() (hpke.PrivateKey, error) {
	ikm, err := hkdf.Key(sha256.New, rk.b[:], nil, "vahti seal recovery hpke v1", 32)
	if err != nil {
		return nil, err
	}
	defer clear(ikm)
	return kem().DeriveKeyPair(ikm)
}

// Public is the recovery public key (stored in the registry at keys init).
func (rk RecoveryKey) Public() (RecoveryPublicKey, error) {
	var pub RecoveryPublicKey
	var err error
	secretDo(func() {
		var sk hpke.PrivateKey
		if sk, err = rk.private(); err == nil {
			pub = RecoveryPublicKey{sk.PublicKey()}
		}
	})
	if err != nil {
		return RecoveryPublicKey{}, fmt.Errorf("seal: recovery public key: %w", err)
	}
	return pub, nil
}

// SealHeldKey seals a held segment's data key to the recovery public key,
// bound to the segment's header, for the file beside the hold.
func SealHeldKey(rp RecoveryPublicKey, h Header, k *DataKey) ([]byte, error) {
	if rp.pk == nil {
		return nil, errors.New("seal: seal held key: no recovery public key")
	}
	info, err := heldInfo(h)
	if err != nil {
		return nil, err
	}
	ct, err := hpke.Seal(rp.pk, kdf(), aead(), info, k.b[:])
	if err != nil {
		return nil, fmt.Errorf("seal: seal held key: %w", err)
	}
	return ct, nil
}

// OpenHeldKey opens a data key sealed by SealHeldKey.
func (rk RecoveryKey) OpenHeldKey(h Header, sealed []byte) (*DataKey, error) {
	info, err := heldInfo(h)
	if err != nil {
		return nil, err
	}
	k := new(DataKey)
	secretDo(func() {
		var sk hpke.PrivateKey
		if sk, err = rk.private(); err != nil {
			return
		}
		var pt []byte
		if pt, err = hpke.Open(sk, kdf(), aead(), info, sealed); err != nil {
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
		return nil, fmt.Errorf("seal: open held key of %s %s: %w", h.Camera, h.Start.Format("2006-01-02T15:04:05.999999Z"), err)
	}
	return k, nil
}

func heldInfo(h Header) ([]byte, error) {
	hdr, err := h.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append([]byte("vahti seal held key v1\x00"), hdr...), nil
}
