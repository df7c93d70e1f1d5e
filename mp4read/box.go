package mp4read

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Box is the header of one box: its type, where it starts, its whole size
// (header included) and the header's length (8, or 16 for a 64-bit size).
type Box struct {
	Type   string
	Off    int64
	Size   int64
	Header int64
}

// End is the offset just after the box.
func (b Box) End() int64 { return b.Off + b.Size }

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// ErrShort marks a box body too short for the fields its header promises.
var ErrShort = errors.New("box too short")

// header decodes the box header at the start of b (a box at file offset
// off, in a container ending at end). ok is false when b holds no whole
// header, or the size is impossible: smaller than its header or beyond end.
// A size of 0 means "to the end of the container".
func header(b []byte, off, end int64) (Box, bool) {
	if len(b) < 8 {
		return Box{}, false
	}
	bx := Box{Type: string(b[4:8]), Off: off, Size: int64(be32(b)), Header: 8}
	switch bx.Size {
	case 1:
		if len(b) < 16 {
			return bx, false
		}
		s := be64(b[8:])
		if s > 1<<62 {
			return bx, false
		}
		bx.Size, bx.Header = int64(s), 16
	case 0:
		bx.Size = end - off
	}
	if bx.Size < bx.Header || bx.Size > end-off {
		return bx, false
	}
	return bx, true
}

// Children calls fn for each child box in body (type and body). It stops
// at the first box whose size does not fit: a truncated child ends the
// walk, it is never read past.
func Children(body []byte, fn func(typ string, body []byte)) {
	for len(body) >= 8 {
		bx, ok := header(body, 0, int64(len(body)))
		if !ok {
			return
		}
		fn(bx.Type, body[bx.Header:bx.Size])
		body = body[bx.Size:]
	}
}

// TopLevel is the top-level box structure of a segment file.
type TopLevel struct {
	Boxes []Box
	// Whole is where the last whole box ends; bytes after it are a torn
	// tail (size 0, zero-filled or cut short), or nothing when Whole == size.
	Whole int64
}

// Layout is a segment's shape as recovery and probing need it.
type Layout struct {
	InitEnd   int64 // end of the init section (ftyp + moov)
	Complete  int64 // end of the last whole moof+mdat pair: a torn tail starts here
	Fragments int   // whole moof+mdat pairs after the init section
}

// ScanTop reads the top-level box headers of r (size bytes long), one
// small read per box; payloads are skipped, never read. It stops at the
// first box that does not fit.
func ScanTop(r io.ReaderAt, size int64) (TopLevel, error) {
	var t TopLevel
	var hdr [16]byte
	for off := int64(0); off+8 <= size; {
		n := int64(len(hdr))
		if size-off < n {
			n = size - off
		}
		if _, err := r.ReadAt(hdr[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return t, fmt.Errorf("box at %d: %w", off, err)
		}
		bx, ok := header(hdr[:n], off, size)
		if !ok || be32(hdr[:4]) == 0 {
			// A size of 0 ("to the end") is legal MP4, but a segment never
			// ends that way; zeroes are a torn, zero-filled tail.
			break
		}
		t.Boxes = append(t.Boxes, bx)
		off = bx.End()
		t.Whole = off
	}
	return t, nil
}

// SegmentLayout checks that r starts with an fMP4 init section (ftyp then
// moov) and counts the whole moof+mdat pairs after it. Anything after the
// last whole pair is a torn tail (Complete < size).
func SegmentLayout(r io.ReaderAt, size int64) (Layout, error) {
	t, err := ScanTop(r, size)
	if err != nil {
		return Layout{}, err
	}
	b := t.Boxes
	if len(b) < 2 || b[0].Type != "ftyp" || b[1].Type != "moov" {
		return Layout{}, errors.New("not an fMP4 segment (no ftyp+moov at the start)")
	}
	l := Layout{InitEnd: b[1].End()}
	l.Complete = l.InitEnd
	for i := 2; i+1 < len(b); i += 2 {
		if b[i].Type != "moof" || b[i+1].Type != "mdat" {
			break
		}
		l.Complete = b[i+1].End()
		l.Fragments++
	}
	return l, nil
}

// Raw is one child box as bytes: its type, the whole box and its body.
type Raw struct {
	Type      string
	Box, Body []byte
}

// ChildBoxes lists the child boxes in body, stopping where Children stops.
func ChildBoxes(body []byte) []Raw {
	var out []Raw
	for len(body) >= 8 {
		bx, ok := header(body, 0, int64(len(body)))
		if !ok {
			break
		}
		out = append(out, Raw{Type: bx.Type, Box: body[:bx.Size], Body: body[bx.Header:bx.Size]})
		body = body[bx.Size:]
	}
	return out
}
