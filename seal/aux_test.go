package seal

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

// openTest opens a sealed file made by sealUnits with the key k, as a
// reader of footage does (OpenSegment, which wipes its copy of the key).
func openTest(t *testing.T, file []byte, k *DataKey) *Reader {
	t.Helper()
	rd, err := OpenSegment(bytes.NewReader(file), int64(len(file)), func(Header) (*DataKey, error) {
		c := *k
		return &c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

var auxPlain = []byte("VAHTIIX1 every frame's size, time and keyframe flag")

// Aux data sealed by the recorder (key and header) opens with the
// segment's Reader, after the data key it was opened with is wiped; the
// Reader's own SealAux opens too; the blob does not hold the plaintext.
func TestAuxRoundTrip(t *testing.T) {
	h, k := testHeader("yard"), testKey(t)
	file := sealUnits(t, h, k, units(1, 4), true)
	b, err := SealAux(k, h, "index", auxPlain)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != len(auxPlain)+AuxOverhead || bytes.Contains(b, auxPlain[:8]) {
		t.Fatalf("sealed blob of %d bytes (plaintext %d): %q", len(b), len(auxPlain), b)
	}
	rd := openTest(t, file, k)
	k.Wipe()
	got, err := rd.OpenAux("index", b)
	if err != nil || !bytes.Equal(got, auxPlain) {
		t.Fatalf("OpenAux: %q, %v", got, err)
	}
	b2, err := rd.SealAux("index", auxPlain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(b2, b) {
		t.Error("two seals of the same plaintext are identical: the nonce is not fresh")
	}
	if got, err := rd.OpenAux("index", b2); err != nil || !bytes.Equal(got, auxPlain) {
		t.Fatalf("OpenAux of the Reader's own seal: %q, %v", got, err)
	}
	if got, err := rd.OpenAux("index", mustSealAux(t, rd, nil)); err != nil || len(got) != 0 {
		t.Fatalf("empty aux: %q, %v", got, err)
	}
}

func mustSealAux(t *testing.T, rd *Reader, p []byte) []byte {
	t.Helper()
	b, err := rd.SealAux("index", p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every byte flip of a sealed blob, and every cut, fails authentication
// (or is refused as malformed); nothing of the plaintext comes out.
func TestAuxTamperEveryByte(t *testing.T) {
	h, k := testHeader("yard"), testKey(t)
	rd := openTest(t, sealUnits(t, h, k, units(2, 3), true), k)
	b, err := SealAux(k, h, "index", auxPlain)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		for _, bit := range []byte{0x01, 0x80} {
			c := bytes.Clone(b)
			c[i] ^= bit
			if got, err := rd.OpenAux("index", c); err == nil || got != nil {
				t.Fatalf("byte %d ^%#x: opened (%q)", i, bit, got)
			} else if i > 0 && !errors.Is(err, ErrAuth) {
				t.Fatalf("byte %d ^%#x: %v, want ErrAuth", i, bit, err)
			}
		}
	}
	for n := 0; n < len(b); n++ {
		if _, err := rd.OpenAux("index", b[:n]); err == nil {
			t.Fatalf("cut to %d bytes: opened", n)
		}
	}
	if _, err := rd.OpenAux("index", append(bytes.Clone(b), 0)); !errors.Is(err, ErrAuth) {
		t.Fatalf("one byte appended: %v", err)
	}
}

// A blob opens for its own segment only: not with another segment's
// Reader, not with a segment that has the same key but another header
// (camera, start, key id or epoch), and not as another kind.
func TestAuxWrongSegmentOrKind(t *testing.T) {
	h, k := testHeader("yard"), testKey(t)
	b, err := SealAux(k, h, "index", auxPlain)
	if err != nil {
		t.Fatal(err)
	}
	other := testKey(t)
	if _, err := openTest(t, sealUnits(t, h, other, units(3, 2), true), other).OpenAux("index", b); !errors.Is(err, ErrAuth) {
		t.Errorf("another segment's key: %v", err)
	}
	for name, mod := range map[string]func(*Header){
		"camera": func(h *Header) { h.Camera = "lobby" },
		"start":  func(h *Header) { h.Start = h.Start.Add(time.Microsecond) },
		"key id": func(h *Header) { h.KeyID[0] ^= 1 },
		"epoch":  func(h *Header) { h.Epoch++ },
	} {
		h2 := h
		mod(&h2)
		rd := openTest(t, sealUnits(t, h2, k, units(3, 2), true), k)
		if _, err := rd.OpenAux("index", b); !errors.Is(err, ErrAuth) {
			t.Errorf("same key, other %s: %v", name, err)
		}
	}
	rd := openTest(t, sealUnits(t, h, k, units(3, 2), true), k)
	if _, err := rd.OpenAux("index", b); err != nil {
		t.Fatalf("own segment: %v", err)
	}
	for _, kind := range []string{"indey", "index\x00", "inde", "thumbnail"} {
		if _, err := rd.OpenAux(kind, b); !errors.Is(err, ErrAuth) {
			t.Errorf("kind %q: %v", kind, err)
		}
	}
	if _, err := rd.OpenAux("", b); err == nil {
		t.Error("empty kind accepted")
	}
	if _, err := SealAux(k, h, string(make([]byte, MaxAuxKind+1)), nil); err == nil {
		t.Error("overlong kind accepted")
	}
}

// A record of the segment is no aux blob and opens as none: the aux key
// is derived, never the data key itself (even with the framing forged).
func TestAuxIsNotARecord(t *testing.T) {
	h, k := testHeader("yard"), testKey(t)
	a, err := k.aead()
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := h.MarshalBinary()
	var nc [12]byte
	nonce(&nc, 0)
	// A GCM blob under the data key itself, framed as an aux blob with
	// the aux additional data: only a derived key opens aux data.
	forged := append([]byte{auxVersion}, nc[:]...)
	forged = a.Seal(forged, nc[:], auxPlain, auxAAD(sha256Of(hdr), auxVersion, "index"))
	rd := openTest(t, sealUnits(t, h, k, units(4, 2), true), k)
	if _, err := rd.OpenAux("index", forged); !errors.Is(err, ErrAuth) {
		t.Errorf("blob under the data key itself: %v", err)
	}
}

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }
