package mp4read

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"vahti/seal"
)

// A sealed segment's sidecar index is sealed too: in clear it would show
// each frame's size, time and keyframe flag, finer than the record
// lengths a sealed file shows (seal/DESIGN.md, "What it leaks"). The file
// is SealedIndexMagic, in clear, then the index (EncodeIndex's bytes)
// sealed as seal aux data of kind IndexAuxKind: bound to its segment's
// header and opened only through that segment's seal.Reader. The magic
// lets a keyless reader (reconcile, reindex, an operator with a hex dump)
// see what the file is and that it can neither read it nor rebuild it.

// SealedIndexMagic opens a sealed segment's sidecar index.
const SealedIndexMagic = "VAHTI sealed index v1\n"

// IndexAuxKind is the seal aux kind of a sealed index.
const IndexAuxKind = "mp4read index v1"

// IsSealedIndex tells whether b (a sidecar index file) is a sealed index.
func IsSealedIndex(b []byte) bool { return bytes.HasPrefix(b, []byte(SealedIndexMagic)) }

// SealIndex is the sidecar file holding index (EncodeIndex's bytes) of
// the sealed segment whose header is h, sealed under its data key k: what
// the recorder writes at finish, while it still holds k.
func SealIndex(k *seal.DataKey, h seal.Header, index []byte) ([]byte, error) {
	b, err := seal.SealAux(k, h, IndexAuxKind, index)
	if err != nil {
		return nil, fmt.Errorf("seal index: %w", err)
	}
	return append([]byte(SealedIndexMagic), b...), nil
}

// readIndex reads and decodes sf's sidecar index: plain for a plain file,
// opened through the segment's Reader for a sealed one (a clear index
// beside a sealed file is not used: it is rebuilt, and replaced by a
// sealed one). The caller checks what it names.
func (sf *File) readIndex(segPath string, ic *InitCache) (*Index, error) {
	b, err := os.ReadFile(IndexPath(segPath))
	if err != nil {
		return nil, err
	}
	if sf.sealed != nil {
		if !IsSealedIndex(b) {
			return nil, badIndex("not a sealed index beside a sealed segment")
		}
		if b, err = sf.sealed.OpenAux(IndexAuxKind, b[len(SealedIndexMagic):]); err != nil {
			return nil, badIndex("sealed index: %v", err)
		}
	}
	return DecodeIndex(b, ic)
}

// writeSealedIndex writes back the index of a sealed segment whose table
// seg was just read from its plaintext, sealed, once the file on disk is
// shown to be the catalogued one (wantSHA): an index names the SHA-256 it
// describes, and it must not name one it was not made from. Best effort:
// the index is a cache.
func (sf *File) writeSealedIndex(segPath string, seg *Segment, wantSHA string) error {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(sf.f, 0, sf.diskSize)); err != nil {
		return fmt.Errorf("index %s: %w", segPath, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA {
		return fmt.Errorf("index %s: the file's SHA-256 %s is not the catalogue's %s", segPath, got, wantSHA)
	}
	b, err := EncodeIndex(seg, wantSHA)
	if err != nil {
		return err
	}
	sealed, err := sf.sealed.SealAux(IndexAuxKind, b)
	if err != nil {
		return fmt.Errorf("index %s: %w", segPath, err)
	}
	return WriteIndex(segPath, append([]byte(SealedIndexMagic), sealed...))
}
