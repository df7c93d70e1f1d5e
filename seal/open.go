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
