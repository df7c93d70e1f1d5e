package mp4read

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// IndexEncoder builds a segment's index sample by sample, as a writer
// produces the segment, so the table never has to be read back from the
// file. Each sample costs its two to four encoded bytes, not a Sample
// struct. Its output is byte for byte what EncodeIndex gives for the table
// read from the finished file (EncodeIndex is built on it). The zero value
// is not usable: call Reset with the track IDs first. Reusing one encoder
// from segment to segment keeps its buffers.
type IndexEncoder struct {
	tracks []indexTrack
	out    []byte
}

type indexTrack struct {
	id   int
	n    uint32
	prev Sample
	b    []byte
}

// Reset starts a new segment whose tracks are ids, in the order the
// index lists them (the video track first, then the others in moov order,
// as Read returns them). Tracks that get no sample are left out.
func (e *IndexEncoder) Reset(ids ...int) {
	if cap(e.tracks) < len(ids) {
		e.tracks = make([]indexTrack, len(ids))
	}
	e.tracks = e.tracks[:len(ids)]
	for i, id := range ids {
		t := &e.tracks[i]
		t.id, t.n, t.prev, t.b = id, 0, Sample{}, t.b[:0]
	}
}

// Add appends sample s (in decode order) to track id. It reports false for
// a track not given to Reset.
func (e *IndexEncoder) Add(id int, s Sample) bool {
	for i := range e.tracks {
		if t := &e.tracks[i]; t.id == id {
			t.b = appendIndexSample(t.b, t.prev, s)
			t.prev = s
			t.n++
			return true
		}
	}
	return false
}

// Samples is the number of samples added to track id since Reset.
func (e *IndexEncoder) Samples(id int) int {
	for i := range e.tracks {
		if e.tracks[i].id == id {
			return int(e.tracks[i].n)
		}
	}
	return 0
}

// Encode returns the index of a segment file of size bytes whose moov box
// is moov and whose SHA-256 is segSHA256 (hex). The bytes are valid until
// the next Encode or Reset.
func (e *IndexEncoder) Encode(moov []byte, size int64, segSHA256 string) ([]byte, error) {
	sum, err := hex.DecodeString(segSHA256)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("index: bad segment SHA-256 %q", segSHA256)
	}
	nt, n := 0, 0
	for _, t := range e.tracks {
		if t.n > 0 {
			nt++
			n += len(t.b)
		}
	}
	b := e.out[:0]
	if need := len(indexMagic) + 8 + 32 + 4 + len(moov) + 1 + 8*nt + n + 32; cap(b) < need {
		b = make([]byte, 0, need)
	}
	b = append(b, indexMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(size))
	b = append(b, sum...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(moov)))
	b = append(b, moov...)
	b = append(b, byte(nt))
	for _, t := range e.tracks {
		if t.n == 0 {
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(t.id))
		b = binary.BigEndian.AppendUint32(b, t.n)
		b = append(b, t.b...)
	}
	ck := sha256.Sum256(b)
	b = append(b, ck[:]...)
	e.out = b
	return b, nil
}

// appendIndexSample encodes s after prev: the format's only sample coder.
func appendIndexSample(b []byte, prev, s Sample) []byte {
	var f byte
	if s.NonSync {
		f |= fNonSync
	}
	if s.Dur != prev.Dur {
		f |= fDur
	}
	if s.PTSOff != 0 {
		f |= fPTSOff
	}
	if s.DTS != prev.DTS+int64(prev.Dur) {
		f |= fDTS
	}
	if s.Off != prev.Off+int64(prev.Size) {
		f |= fOff
	}
	if s.Size != prev.Size {
		f |= fSize
	}
	b = append(b, f)
	if f&fDur != 0 {
		b = binary.AppendUvarint(b, uint64(s.Dur))
	}
	if f&fPTSOff != 0 {
		b = binary.AppendVarint(b, int64(s.PTSOff))
	}
	if f&fDTS != 0 {
		b = binary.AppendVarint(b, s.DTS-(prev.DTS+int64(prev.Dur)))
	}
	if f&fOff != 0 {
		b = binary.AppendVarint(b, s.Off-(prev.Off+int64(prev.Size)))
	}
	if f&fSize != 0 {
		b = binary.AppendUvarint(b, uint64(s.Size))
	}
	return b
}
