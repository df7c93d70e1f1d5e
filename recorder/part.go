package recorder

import (
	"encoding/binary"
)

// fMP4 trun flags and the sample flag for non-sync samples (ISO 14496-12).
const (
	trunDataOffset  = 0x01
	trunDuration    = 0x100
	trunSize        = 0x200
	trunFlags       = 0x400
	trunCTO         = 0x800
	sampleNonSync   = 1 << 16
	tfhdBaseIsMoof  = 0x020000
	maxPartTracks   = 2
	boxHeaderLength = 8
)

// partBuilder turns the samples collected in the tracks into one fMP4
// fragment (moof+mdat): the moof and the mdat header in a buffer it
// reuses, the payloads left in the tracks' arenas. The file gets the
// pieces one after the other, so a part is never copied whole: at 4 Mbit/s
// that copy was half a megabyte per camera.
//
// The layout is byte for byte what mediacommon's fmp4.Part.Marshal writes
// (TestPartMatchesMediacommon checks it): mfhd; per track a traf with tfhd
// (default-base-is-moof), tfdt v1 and trun v1; then one mdat. mediacommon's
// marshaller goes through go-mp4's reflection and allocates about a hundred
// objects per fragment; this one allocates nothing in steady state.
type partBuilder struct {
	buf    []byte
	pieces [][]byte
	seqNo  uint32
	// dataOff[i] is where the payload of tracks[i] starts in the last
	// fragment built, from the start of its moof (the trun data offset).
	dataOff [maxPartTracks]int
}

// build marshals the tracks' samples into one fragment and resets the
// tracks. The fragment is the concatenation of the pieces returned: moof
// and mdat header, then each track's payload. It returns nil when no track
// holds a sample. The pieces are valid until the next build or the next
// sample added to a track.
func (b *partBuilder) build(tracks []*track) ([][]byte, error) {
	n := 0
	for _, t := range tracks {
		if t != nil && len(t.samples) > 0 {
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	b.seqNo++
	be := binary.BigEndian
	buf := b.buf[:0]

	buf = appendBoxHeader(buf, "moof")
	buf = appendBoxHeader(buf, "mfhd")
	buf = be.AppendUint32(buf, 0) // version, flags
	buf = be.AppendUint32(buf, b.seqNo)
	be.PutUint32(buf[8:], 16)

	var dataOffsetAt [maxPartTracks]int
	k := 0
	for _, t := range tracks {
		if t == nil || len(t.samples) == 0 {
			continue
		}
		traf := len(buf)
		buf = appendBoxHeader(buf, "traf")

		buf = appendBoxHeader(buf, "tfhd")
		buf = be.AppendUint32(buf, tfhdBaseIsMoof)
		buf = be.AppendUint32(buf, uint32(t.id))
		be.PutUint32(buf[len(buf)-16:], 16)

		buf = appendBoxHeader(buf, "tfdt")
		buf = be.AppendUint32(buf, 1<<24) // version 1
		buf = be.AppendUint64(buf, uint64(t.baseTime))
		be.PutUint32(buf[len(buf)-20:], 20)

		flags := uint32(trunDataOffset | trunDuration | trunSize)
		for _, s := range t.samples {
			if s.IsNonSyncSample {
				flags |= trunFlags
			}
			if s.PTSOffset != 0 {
				flags |= trunCTO
			}
		}
		trun := len(buf)
		buf = appendBoxHeader(buf, "trun")
		buf = be.AppendUint32(buf, 1<<24|flags)
		buf = be.AppendUint32(buf, uint32(len(t.samples)))
		dataOffsetAt[k] = len(buf)
		k++
		buf = be.AppendUint32(buf, 0) // data offset, set below
		for i, s := range t.samples {
			buf = be.AppendUint32(buf, s.Duration)
			buf = be.AppendUint32(buf, uint32(t.sampleLen(i)))
			if flags&trunFlags != 0 {
				var f uint32
				if s.IsNonSyncSample {
					f = sampleNonSync
				}
				buf = be.AppendUint32(buf, f)
			}
			if flags&trunCTO != 0 {
				buf = be.AppendUint32(buf, uint32(s.PTSOffset))
			}
		}
		be.PutUint32(buf[trun:], uint32(len(buf)-trun))
		be.PutUint32(buf[traf:], uint32(len(buf)-traf))
	}
	moofSize := len(buf)
	be.PutUint32(buf[0:], uint32(moofSize))

	mdat := len(buf)
	buf = appendBoxHeader(buf, "mdat")
	pieces := append(b.pieces[:0], nil)
	size := len(buf)
	k = 0
	for i, t := range tracks {
		if t == nil || len(t.samples) == 0 {
			continue
		}
		// Offsets are from the start of the moof to the track's first byte
		// in the mdat payload.
		be.PutUint32(buf[dataOffsetAt[k]:], uint32(size))
		k++
		if i < len(b.dataOff) {
			b.dataOff[i] = size
		}
		pieces = append(pieces, t.arena)
		size += len(t.arena)
		t.reset()
	}
	be.PutUint32(buf[mdat:], uint32(size-mdat))
	pieces[0] = buf
	b.buf, b.pieces = buf, pieces
	return pieces, nil
}

func appendBoxHeader(buf []byte, typ string) []byte {
	buf = append(buf, 0, 0, 0, 0)
	return append(buf, typ...)
}
