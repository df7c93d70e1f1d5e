package mp4read

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/seal"
)

// memKeys is a seal.KeyStore in memory: one epoch, its segments' keys.
type memKeys struct {
	day       seal.EpochID
	pub, priv []byte
	keys      map[seal.KeyID][]byte
}

func (m *memKeys) SealedDataKey(id seal.KeyID) (seal.EpochID, []byte, error) {
	k, ok := m.keys[id]
	if !ok {
		return 0, nil, errors.New("no such key")
	}
	return m.day, k, nil
}

func (m *memKeys) SealedEpoch(seal.EpochID) ([]byte, []byte, error) { return m.pub, m.priv, nil }

// sealFile writes plain, sealed one write unit per record as the recorder
// does (ftyp+moov, then each moof+mdat), to path; closed adds the end
// marker. It returns the segment's data key and header (what the recorder
// holds until finish).
func sealFile(t *testing.T, ring *seal.Keyring, ks *memKeys, plain []byte, path string, closed bool) (*seal.DataKey, seal.Header) {
	t.Helper()
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	if ks.pub == nil {
		ks.day = seal.EpochFor(start)
		ep, priv, err := seal.NewEpoch(ring.Public(), ks.day)
		if err != nil {
			t.Fatal(err)
		}
		ks.pub, ks.priv, ks.keys = ep.Bytes(), priv, map[seal.KeyID][]byte{}
	}
	ep, _ := seal.ParseEpochPublicKey(ks.day, ks.pub)
	k, h, sk, err := seal.NewSegmentKey(ep, "yard", start)
	if err != nil {
		t.Fatal(err)
	}
	ks.keys[h.KeyID] = sk
	var buf bytes.Buffer
	w, err := seal.NewWriter(&buf, h, k)
	if err != nil {
		t.Fatal(err)
	}
	top, _ := ScanTop(bytes.NewReader(plain), int64(len(plain)))
	var from int64
	for _, b := range top.Boxes {
		if b.Type == "moov" || b.Type == "mdat" {
			if err := w.WriteRecord(plain[from:b.End()], nil); err != nil {
				t.Fatal(err)
			}
			from = b.End()
		}
	}
	if closed {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, h
}

// TestOpenSegment: a plain file opens as itself with or without keys; a
// sealed one opens to the very fMP4 bytes it was made from with the keys,
// and gives ErrLocked without them or with a wiped keyring; a sealed file
// without its end marker passes RequireFinished only when recovered.
func TestOpenSegment(t *testing.T) {
	plain := smallSegment(t, 3)
	dir := t.TempDir()
	pp, sp, up := filepath.Join(dir, "plain.mp4"), filepath.Join(dir, "sealed.mp4"), filepath.Join(dir, "unclosed.mp4")
	if err := os.WriteFile(pp, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	ring, err := seal.NewSite()
	if err != nil {
		t.Fatal(err)
	}
	ks := &memKeys{}
	sealFile(t, ring, ks, plain, sp, true)
	sealFile(t, ring, ks, plain, up, false)
	unwrap := ring.Unwrapper(ks)

	read := func(path string, unwrap seal.Unwrapper) (*File, []byte, error) {
		sf, err := OpenSegment(path, unwrap)
		if err != nil {
			return nil, nil, err
		}
		t.Cleanup(func() { sf.Close() })
		d, p, err := sf.ReadAll(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		disk, _ := os.ReadFile(path)
		if !bytes.Equal(d, disk) {
			t.Errorf("%s: ReadAll's disk bytes are not the file", path)
		}
		b := make([]byte, sf.Size())
		if _, err := sf.ReadAt(b, 0); err != nil || !bytes.Equal(b, p) {
			t.Errorf("%s: ReadAt and ReadAll differ (%v)", path, err)
		}
		if seg, err := Read(sf, sf.Size(), nil); err != nil || len(seg.Video().Samples) == 0 {
			t.Errorf("%s: the reader through OpenSegment: %v", path, err)
		}
		return sf, p, nil
	}
	for _, u := range []seal.Unwrapper{nil, unwrap} {
		sf, p, err := read(pp, u)
		if err != nil || sf.Sealed() || !sf.Complete() || sf.RequireFinished(false) != nil || !bytes.Equal(p, plain) {
			t.Errorf("plain file: err %v sealed %v", err, sf != nil && sf.Sealed())
		}
	}
	sf, p, err := read(sp, unwrap)
	if err != nil || !sf.Sealed() || !bytes.Equal(p, plain) || sf.DiskSize() <= sf.Size() || sf.RequireFinished(false) != nil {
		t.Fatalf("sealed file: %v (sealed %v, plaintext equal %v)", err, sf != nil && sf.Sealed(), bytes.Equal(p, plain))
	}
	sf, p, err = read(up, unwrap)
	if err != nil || !bytes.Equal(p, plain) || sf.Complete() {
		t.Fatalf("unclosed sealed file: %v", err)
	}
	if err := sf.RequireFinished(false); !errors.Is(err, ErrUnfinished) {
		t.Errorf("unclosed, finished: %v, want ErrUnfinished", err)
	}
	if err := sf.RequireFinished(true); err != nil {
		t.Errorf("unclosed, recovered: %v", err)
	}
	if _, err := OpenSegment(sp, nil); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "keeper must be logged in") {
		t.Errorf("sealed without keys: %v, want ErrLocked", err)
	}
	ring.Wipe()
	if _, err := OpenSegment(sp, unwrap); !errors.Is(err, ErrLocked) || !errors.Is(err, seal.ErrWiped) {
		t.Errorf("sealed after Wipe: %v, want ErrLocked", err)
	}
}
