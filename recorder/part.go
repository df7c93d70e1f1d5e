package recorder

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// partBuilder turns the samples collected in the tracks into one fMP4
// fragment (moof+mdat). Its structs and buffer are reused.
type partBuilder struct {
	part  fmp4.Part
	pts   [2]fmp4.PartTrack
	ptrs  []*fmp4.PartTrack
	buf   seekablebuffer.Buffer
	seqNo uint32
}

// build marshals the tracks' samples into one fragment and resets the
// tracks. It returns nil when no track holds a sample. The bytes are valid
// until the next build.
func (b *partBuilder) build(tracks []*track) ([]byte, error) {
	b.ptrs = b.ptrs[:0]
	for i, t := range tracks {
		if t == nil || len(t.samples) == 0 {
			continue
		}
		t.partTrack(&b.pts[i])
		b.ptrs = append(b.ptrs, &b.pts[i])
	}
	if len(b.ptrs) == 0 {
		return nil, nil
	}
	b.seqNo++
	b.part.SequenceNumber = b.seqNo
	b.part.Tracks = b.ptrs
	b.buf.Reset()
	err := b.part.Marshal(&b.buf)
	for _, t := range tracks {
		if t != nil {
			t.reset()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("fragment %d: %w", b.seqNo, err)
	}
	return b.buf.Bytes(), nil
}
