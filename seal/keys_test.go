package seal

import (
	"bytes"
	"crypto/hpke"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cheap keeps argon2 fast in tests; the cost travels in the wrap.
var cheap = Argon2Params{Time: 1, Memory: 64, Threads: 1}

// site is a freshly made site: its keyring, the recovery key and wraps.
type site struct {
	ring     *Keyring
	pub      SitePublicKey
	rk       RecoveryKey
	recovery []byte
	alice    []byte // alice's password wrap
}

func newSite(t testing.TB) site {
	t.Helper()
	ring, err := NewSite()
	if err != nil {
		t.Fatal(err)
	}
	rk, err := NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	rw, err := ring.WrapRecovery(rk)
	if err != nil {
		t.Fatal(err)
	}
	aw, err := ring.WrapPassword([]byte("alice's long passphrase"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	// The public key goes through its stored form, as from the registry.
	pub, err := ParseSitePublicKey(ring.Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return site{ring: ring, pub: pub, rk: rk, recovery: rw, alice: aw}
}

// recordSegment is what the recorder does: epoch public key only.
func recordSegment(t testing.TB, epoch EpochPublicKey, camera string, start time.Time, us [][]byte) (Header, []byte, []byte) {
	t.Helper()
	k, h, sealed, err := NewSegmentKey(epoch, camera, start)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Wipe()
	return h, sealUnits(t, h, k, us, true), sealed
}

func TestKeyHierarchyRoundTrip(t *testing.T) {
	s := newSite(t)
	day := EpochFor(testStart)
	epub, esealed, err := NewEpoch(s.pub, day)
	if err != nil {
		t.Fatal(err)
	}
	epub, err = ParseEpochPublicKey(day, epub.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	us := units(11, 5)
	h, file, sealedKey := recordSegment(t, epub, "yard", testStart, us)
	if bytes.Contains(file, sealedKey[len(sealedKey)-48:]) {
		t.Fatal("the sealed data key is in the file")
	}

	for _, unlock := range []struct {
		how string
		fn  func() (*Keyring, error)
	}{
		{"password", func() (*Keyring, error) { return UnlockPassword(s.pub, s.alice, []byte("alice's long passphrase")) }},
		{"recovery key", func() (*Keyring, error) {
			rk, err := ParseRecoveryKey(s.rk.String())
			if err != nil {
				return nil, err
			}
			return UnlockRecovery(s.pub, s.recovery, rk)
		}},
	} {
		ring, err := unlock.fn()
		if err != nil {
			t.Fatalf("%s: %v", unlock.how, err)
		}
		rd, err := OpenSegment(bytes.NewReader(file), int64(len(file)), func(got Header) (*DataKey, error) {
			if got != h {
				t.Fatalf("unwrap asked for %+v, want %+v", got, h)
			}
			ek, err := ring.OpenEpoch(epub, esealed)
			if err != nil {
				return nil, err
			}
			defer ek.Wipe()
			return ek.OpenDataKey(got, sealedKey)
		})
		if err != nil {
			t.Fatalf("%s: %v", unlock.how, err)
		}
		got, err := plaintext(rd)
		if err != nil || !bytes.Equal(got, bytes.Join(us, nil)) {
			t.Fatalf("%s: plaintext differs (%v)", unlock.how, err)
		}
		ring.Wipe()
	}
}

func TestWrongSecretsFail(t *testing.T) {
	s := newSite(t)
	if _, err := UnlockPassword(s.pub, s.alice, []byte("alice's long passphrasE")); !errors.Is(err, ErrUnlock) {
		t.Errorf("wrong password: %v, want ErrUnlock", err)
	}
	other, err := NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnlockRecovery(s.pub, s.recovery, other); !errors.Is(err, ErrUnlock) {
		t.Errorf("another recovery key: %v, want ErrUnlock", err)
	}
	// A wrap of this site opens nothing for another site's public key.
	s2 := newSite(t)
	if _, err := UnlockRecovery(s2.pub, s.recovery, s.rk); !errors.Is(err, ErrUnlock) {
		t.Errorf("wrap of another site: %v, want ErrUnlock", err)
	}
	// A password wrap is not a recovery wrap and back.
	if _, err := UnlockRecovery(s.pub, s.alice, s.rk); err == nil {
		t.Error("a password wrap opened as a recovery wrap")
	}
	if _, err := UnlockPassword(s.pub, s.recovery, []byte("x")); err == nil {
		t.Error("a recovery wrap opened as a password wrap")
	}
	// A tampered cost parameter is refused before argon2 runs, or fails.
	bad := bytes.Clone(s.alice)
	bad[2+4] = 0xff // memory: ~4 TiB
	if _, err := UnlockPassword(s.pub, bad, []byte("alice's long passphrase")); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("huge argon2 memory: %v", err)
	}
	bad = bytes.Clone(s.alice)
	bad[2+3]++ // time 1 -> 2: still in range, but bound into the wrap
	if _, err := UnlockPassword(s.pub, bad, []byte("alice's long passphrase")); !errors.Is(err, ErrUnlock) {
		t.Errorf("argon2 time changed: %v, want ErrUnlock", err)
	}
}

func TestRecoveryKeyFormat(t *testing.T) {
	rk, err := NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	s := rk.String()
	groups := strings.Split(s, "-")
	if len(groups) != 14 {
		t.Fatalf("%s: %d groups", s, len(groups))
	}
	for _, g := range groups {
		if len(g) != 4 || strings.Trim(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("%s: group %q", s, g)
		}
	}
	for _, typed := range []string{s, strings.ToLower(s), strings.ReplaceAll(s, "-", " "), strings.ReplaceAll(s, "-", "") + "\n",
		strings.ReplaceAll(strings.ReplaceAll(s, "O", "0"), "I", "1")} {
		got, err := ParseRecoveryKey(typed)
		if err != nil || got != rk {
			t.Errorf("%q: %v", typed, err)
		}
	}
	// One character changed: named as mistyped.
	b := []byte(s)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	if _, err := ParseRecoveryKey(string(b)); !errors.Is(err, ErrRecoveryTypo) {
		t.Errorf("one character changed: %v, want ErrRecoveryTypo", err)
	}
	if _, err := ParseRecoveryKey(s[:len(s)-5]); err == nil {
		t.Error("a short key parsed")
	}
}

func TestSealedKeysAreBound(t *testing.T) {
	s := newSite(t)
	day := EpochFor(testStart)
	epub, esealed, err := NewEpoch(s.pub, day)
	if err != nil {
		t.Fatal(err)
	}
	// An epoch's sealed private key stored under another day opens nothing.
	moved, err := ParseEpochPublicKey(day+1, epub.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ring.OpenEpoch(moved, esealed); err == nil {
		t.Error("sealed epoch key opened under another day")
	}
	// Nor with another epoch's public key beside it.
	epub2, esealed2, err := NewEpoch(s.pub, day)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ring.OpenEpoch(epub, esealed2); err == nil {
		t.Error("sealed epoch key opened beside another public key")
	}
	ek, err := s.ring.OpenEpoch(epub, esealed)
	if err != nil {
		t.Fatal(err)
	}
	// A segment's sealed data key opens only for its own header.
	h, _, sealed := recordSegment(t, epub, "yard", testStart, units(12, 2))
	for _, other := range []func(Header) Header{
		func(h Header) Header { h.Camera = "lobby"; return h },
		func(h Header) Header { h.Start = h.Start.Add(time.Nanosecond); return h },
		func(h Header) Header { h.KeyID[0]++; return h },
	} {
		if _, err := ek.OpenDataKey(other(h), sealed); err == nil {
			t.Errorf("data key opened for header %+v", other(h))
		}
	}
	if _, err := ek.OpenDataKey(h, sealed); err != nil {
		t.Fatal(err)
	}
	// With the other epoch of the same day (a second key pair) it fails.
	ek2, err := s.ring.OpenEpoch(epub2, esealed2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ek2.OpenDataKey(h, sealed); err == nil {
		t.Error("data key opened with another epoch key")
	}
	// The recorder cannot seal to an epoch other than the header's.
	if _, _, _, err := NewSegmentKey(epub, "yard", testStart); err != nil {
		t.Fatal(err)
	}
	h.Epoch++
	if _, err := SealDataKey(epub, h, testKey(t)); err == nil {
		t.Error("sealed a data key to an epoch the header does not name")
	}
}

func TestWipe(t *testing.T) {
	s := newSite(t)
	epub, esealed, err := NewEpoch(s.pub, 7)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := s.ring.OpenEpoch(epub, esealed)
	if err != nil {
		t.Fatal(err)
	}
	siteSeed, epochSeed := s.ring.seed, ek.seed
	if bytes.Equal(siteSeed, make([]byte, 32)) || bytes.Equal(epochSeed, make([]byte, 32)) {
		t.Fatal("keys are zero before Wipe")
	}
	s.ring.Wipe()
	ek.Wipe()
	if !bytes.Equal(siteSeed, make([]byte, 32)) || !bytes.Equal(epochSeed, make([]byte, 32)) {
		t.Fatal("Wipe left key bytes")
	}
	if !s.ring.Wiped() {
		t.Error("Wiped false")
	}
	if _, err := s.ring.OpenEpoch(epub, esealed); !errors.Is(err, ErrWiped) {
		t.Errorf("OpenEpoch after Wipe: %v", err)
	}
	if _, err := s.ring.WrapPassword([]byte("pw"), cheap); !errors.Is(err, ErrWiped) {
		t.Errorf("WrapPassword after Wipe: %v", err)
	}
	if _, err := s.ring.WrapRecovery(s.rk); !errors.Is(err, ErrWiped) {
		t.Errorf("WrapRecovery after Wipe: %v", err)
	}
	if _, err := ek.OpenDataKey(testHeader("yard"), []byte("x")); !errors.Is(err, ErrWiped) {
		t.Errorf("OpenDataKey after Wipe: %v", err)
	}
	k := testKey(t)
	k.Wipe()
	if k.b != [32]byte{} {
		t.Error("DataKey.Wipe left key bytes")
	}
	rk := s.rk
	rk.Wipe()
	if rk.b != [32]byte{} {
		t.Error("RecoveryKey.Wipe left key bytes")
	}
}

// TestPublicKeyTypesHoldNoPrivateKey: what the recorder is given cannot
// carry a private key: its only fields are an hpke.PublicKey and an id.
func TestPublicKeyTypesHoldNoPrivateKey(t *testing.T) {
	pubT := reflect.TypeFor[hpke.PublicKey]()
	for _, typ := range []reflect.Type{reflect.TypeFor[SitePublicKey](), reflect.TypeFor[EpochPublicKey](), reflect.TypeFor[RecoveryPublicKey]()} {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Type != pubT && f.Type != reflect.TypeFor[EpochID]() {
				t.Errorf("%s.%s is a %s", typ.Name(), f.Name, f.Type)
			}
		}
	}
}

// TestHeldKeyOpensWithRecoveryKeyAlone: a held segment's key sealed to the
// recovery public key (the file beside a hold) opens with the recovery key
// and nothing else: no registry, no site key.
func TestHeldKeyOpensWithRecoveryKeyAlone(t *testing.T) {
	rk, err := NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	rp, err := rk.Public()
	if err != nil {
		t.Fatal(err)
	}
	rp, err = ParseRecoveryPublicKey(rp.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	k := testKey(t)
	us := units(13, 3)
	h := testHeader("yard")
	file := sealUnits(t, h, k, us, true)
	held, err := SealHeldKey(rp, h, k)
	if err != nil {
		t.Fatal(err)
	}
	typed, err := ParseRecoveryKey(rk.String())
	if err != nil {
		t.Fatal(err)
	}
	rd, err := OpenSegment(bytes.NewReader(file), int64(len(file)), func(h Header) (*DataKey, error) { return typed.OpenHeldKey(h, held) })
	if err != nil {
		t.Fatal(err)
	}
	if got, err := plaintext(rd); err != nil || !bytes.Equal(got, bytes.Join(us, nil)) {
		t.Fatalf("held segment: %v", err)
	}
	other, _ := NewRecoveryKey()
	if _, err := other.OpenHeldKey(h, held); err == nil {
		t.Error("another recovery key opened a held key")
	}
	h2 := h
	h2.Start = h.Start.Add(time.Minute)
	if _, err := rk.OpenHeldKey(h2, held); err == nil {
		t.Error("a held key opened for another segment's header")
	}
}
