package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Keyring holds the unlocked site private key in memory: the one thing
// that opens epoch keys and so footage. The service holds one while a
// keeper is logged in and wipes it when the last keeper session ends; a
// CLI command holds one for its run. It is safe for concurrent use.
type Keyring struct {
	mu   sync.Mutex
	seed []byte // the site private key (HPKE serialized: a 32-byte seed)
	pub  SitePublicKey

	// epochs are the epoch keys this keyring opened (epochcache.go),
	// so each is opened once per keyring, not once per segment.
	emu    sync.RWMutex
	epochs map[EpochID]cachedEpoch
}

// ErrUnlock: the password or recovery key does not open the wrap.
var ErrUnlock = errors.New("seal: wrong password or recovery key")

// NewSite makes the site key pair (vahti keys init). The returned Keyring
// holds its private key: wrap it (WrapRecovery, WrapPassword), store the
// wraps and the public key, and Wipe it.
func NewSite() (*Keyring, error) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("seal: site key: %w", err)
	}
	pub, err := sitePubOf(seed)
	if err != nil {
		return nil, fmt.Errorf("seal: site key: %w", err)
	}
	sp, err := ParseSitePublicKey(pub)
	if err != nil {
		return nil, err
	}
	return &Keyring{seed: seed, pub: sp}, nil
}

// Public is the site public key.
func (k *Keyring) Public() SitePublicKey { return k.pub }

// Wipe zeroes the site private key; every later use gives ErrWiped. Go
// cannot promise more (DESIGN.md, "What Wipe can do"): copies the runtime
// made (stack, registers, freed heap of the KEM's expanded keys) are erased
// only when built with GOEXPERIMENT=runtimesecret, and then only once the
// garbage collector frees them.
func (k *Keyring) Wipe() {
	k.mu.Lock()
	clear(k.seed)
	k.seed = nil
	k.mu.Unlock()
	k.forgetEpochs()
}

// Wiped reports whether Wipe ran.
func (k *Keyring) Wiped() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.seed == nil
}

// OpenEpoch opens epoch id's private key from its public key and the
// sealed private key stored beside it.
func (k *Keyring) OpenEpoch(pub EpochPublicKey, sealed []byte) (*EpochKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seed == nil {
		return nil, ErrWiped
	}
	if sealed == nil {
		return nil, fmt.Errorf("seal: epoch %s was destroyed", pub.ID)
	}
	var seed []byte
	var esk hpke.PrivateKey
	var err error
	secretDo(func() {
		var sk hpke.PrivateKey
		if sk, err = kem().NewPrivateKey(k.seed); err != nil {
			return
		}
		var pt []byte
		if pt, err = hpke.Open(sk, kdf(), aead(), epochInfo(pub.ID, pub.Bytes()), sealed); err != nil {
			return
		}
		defer clear(pt)
		if esk, err = kem().NewPrivateKey(pt); err != nil {
			return
		}
		if !bytes.Equal(esk.PublicKey().Bytes(), pub.Bytes()) {
			err = errors.New("sealed private key does not match the public key")
			return
		}
		seed = bytes.Clone(pt)
	})
	if err != nil {
		return nil, fmt.Errorf("seal: open epoch %s: %w", pub.ID, err)
	}
	return &EpochKey{ID: pub.ID, seed: seed, sk: esk}, nil
}

// Argon2Params are argon2id's costs for a password wrap; they travel in
// the wrap.
type Argon2Params struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultArgon2 is the cost of a keeper's wrap: that of the login hash
// (64 MiB, 3 passes, 2 lanes).
var DefaultArgon2 = Argon2Params{Time: 3, Memory: 64 << 10, Threads: 2}

// Limits a wrap read from the registry may ask for: a tampered wrap must
// not make an unlock allocate gigabytes or spin for minutes.
const (
	maxArgonMemory = 1 << 20 // 1 GiB
	maxArgonTime   = 16
)

// Wrap formats (the bytes the registry stores):
//
//	version 1 | kind 1 | [argon2: time 4 | memory 4 | threads 1 | salt 16] | nonce 12 | AES-256-GCM(site seed) 48
//
// The additional data is a label, the kind-and-parameter bytes and the
// SHA-256 of the site public key, so a wrap opens only to the site it was
// made for, with the parameters it was made with.
const (
	wrapVersion  = 1
	wrapPassword = 1
	wrapRecovery = 2
	saltLen      = 16
)

func (k *Keyring) wrap(kind byte, params []byte, kek []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seed == nil {
		return nil, ErrWiped
	}
	head := append([]byte{wrapVersion, kind}, params...)
	var nc [12]byte
	if _, err := rand.Read(nc[:]); err != nil {
		return nil, fmt.Errorf("seal: wrap: %w", err)
	}
	g, err := gcm(kek)
	if err != nil {
		return nil, err
	}
	out := append(bytes.Clone(head), nc[:]...)
	return g.Seal(out, nc[:], k.seed, wrapAAD(head, k.pub)), nil
}

func wrapAAD(head []byte, pub SitePublicKey) []byte {
	s := sha256.Sum256(pub.Bytes())
	aad := append([]byte("vahti seal site wrap v1\x00"), head...)
	return append(aad, s[:]...)
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return cipher.NewGCM(b)
}

// WrapPassword wraps the site key under a key derived from password, for
// one keeper (a grant, or a password change: the caller replaces the old
// wrap in the same transaction).
func (k *Keyring) WrapPassword(password []byte, p Argon2Params) ([]byte, error) {
	if len(password) == 0 {
		return nil, errors.New("seal: wrap: empty password")
	}
	if p.Time == 0 || p.Time > maxArgonTime || p.Memory < 8 || p.Memory > maxArgonMemory || p.Threads == 0 {
		return nil, fmt.Errorf("seal: wrap: argon2 parameters %+v out of range", p)
	}
	params := make([]byte, 9+saltLen)
	binary.BigEndian.PutUint32(params[0:], p.Time)
	binary.BigEndian.PutUint32(params[4:], p.Memory)
	params[8] = p.Threads
	if _, err := rand.Read(params[9:]); err != nil {
		return nil, fmt.Errorf("seal: wrap: %w", err)
	}
	kek := argon2.IDKey(password, params[9:], p.Time, p.Memory, p.Threads, 32)
	defer clear(kek)
	return k.wrap(wrapPassword, params, kek)
}

// WrapRecovery wraps the site key under the recovery key.
func (k *Keyring) WrapRecovery(rk RecoveryKey) ([]byte, error) {
	kek, err := rk.kek()
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	return k.wrap(wrapRecovery, nil, kek)
}

// UnlockPassword opens a keeper's wrap with their password.
func UnlockPassword(site SitePublicKey, wrap, password []byte) (*Keyring, error) {
	if len(wrap) < 2 || wrap[0] != wrapVersion {
		return nil, errors.New("seal: unlock: unknown wrap format")
	}
	if wrap[1] != wrapPassword {
		return nil, errors.New("seal: unlock: not a password wrap")
	}
	if len(wrap) < 2+9+saltLen {
		return nil, errors.New("seal: unlock: wrap too short")
	}
	params := wrap[2 : 2+9+saltLen]
	t := binary.BigEndian.Uint32(params[0:])
	m := binary.BigEndian.Uint32(params[4:])
	th := params[8]
	if t == 0 || t > maxArgonTime || m < 8 || m > maxArgonMemory || th == 0 {
		return nil, fmt.Errorf("seal: unlock: argon2 parameters t=%d m=%d p=%d out of range", t, m, th)
	}
	kek := argon2.IDKey(password, params[9:], t, m, th, 32)
	defer clear(kek)
	return unwrap(site, wrap, 2+len(params), kek)
}

// UnlockRecovery opens the recovery wrap with the recovery key.
func UnlockRecovery(site SitePublicKey, wrap []byte, rk RecoveryKey) (*Keyring, error) {
	if len(wrap) < 2 || wrap[0] != wrapVersion {
		return nil, errors.New("seal: unlock: unknown wrap format")
	}
	if wrap[1] != wrapRecovery {
		return nil, errors.New("seal: unlock: not a recovery wrap")
	}
	kek, err := rk.kek()
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	return unwrap(site, wrap, 2, kek)
}

func unwrap(site SitePublicKey, wrap []byte, headLen int, kek []byte) (*Keyring, error) {
	if !site.valid() {
		return nil, errors.New("seal: unlock: no site public key")
	}
	if len(wrap) != headLen+12+32+16 {
		return nil, fmt.Errorf("seal: unlock: wrap of %d bytes, want %d", len(wrap), headLen+12+32+16)
	}
	g, err := gcm(kek)
	if err != nil {
		return nil, err
	}
	head, nc, ct := wrap[:headLen], wrap[headLen:headLen+12], wrap[headLen+12:]
	seed, err := g.Open(nil, nc, ct, wrapAAD(head, site))
	if err != nil {
		return nil, ErrUnlock
	}
	pub, err := sitePubOf(seed)
	if err != nil || subtle.ConstantTimeCompare(pub, site.Bytes()) != 1 {
		clear(seed)
		return nil, errors.New("seal: unlock: the wrap opens a key that is not this site's")
	}
	return &Keyring{seed: seed, pub: site}, nil
}
