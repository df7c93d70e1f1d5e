package recorder

import (
	"bytes"
	"errors"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"
)

// depacketiser turns the RTP packets of an H.264 (RFC 6184, packetization
// modes 0 and 1) or H.265 (RFC 7798, no DON) stream into access units. It
// does what gortsplib's rtph264 and rtph265 decoders do, packet for
// packet and with their error values, but reassembles into one buffer it
// reuses, so the steady state allocates nothing: gortsplib's decoders
// allocate a new buffer for every fragmented NAL unit and a new slice for
// every access unit and every single-NAL packet, some four allocations
// and a copy of the frame per frame (BenchmarkDepacketise).
//
// The access unit returned is valid until the next Decode.
type depacketiser struct {
	h265 bool

	// The NAL units being assembled. The first handed of them were handed
	// out as an access unit; the next Decode drops them.
	cur    auBuffer
	handed int
	ts     uint32

	// A fragmented NAL unit in progress: its bytes are cur.buf[fuStart:].
	inFU    bool
	fuStart int    // where its bytes start in cur.buf
	fuNext  uint16 // sequence number of the next fragment

	firstPacket bool // a packet that starts something was seen
	annexB      bool // the camera wraps NAL units in Annex-B start codes
}

// auBuffer holds NAL units back to back in buf, each ending at its ends
// entry; nalus is built when an access unit is handed out.
type auBuffer struct {
	buf   []byte
	ends  []int
	nalus [][]byte
}

func (b *auBuffer) reset() { b.buf, b.ends, b.nalus = b.buf[:0], b.ends[:0], b.nalus[:0] }

// size is the bytes of its whole NAL units.
func (b *auBuffer) size() int {
	if len(b.ends) == 0 {
		return 0
	}
	return b.ends[len(b.ends)-1]
}

// truncate keeps the first n NAL units.
func (b *auBuffer) truncate(n int) {
	b.ends = b.ends[:n]
	b.buf = b.buf[:b.size()]
}

// Errors of malformed packets. Static values, so a flood of bad packets
// allocates nothing either.
var (
	errPayloadShort  = errors.New("RTP payload too short")
	errFUNoStart     = errors.New("invalid fragmentation unit (non-starting)")
	errFUStartEnd    = errors.New("invalid fragmentation unit (start and end bit)")
	errFULost        = errors.New("discarding frame since a RTP packet is missing")
	errAggregate     = errors.New("invalid aggregation packet (invalid size)")
	errUnsupported   = errors.New("RTP packet type not supported")
	errNALUTooBig    = errors.New("NALU too big")
	errAUTooBig      = errors.New("access unit too big")
	errAUTooManyNALU = errors.New("access unit has too many NALUs")
)

func (d *depacketiser) errMore() error {
	if d.h265 {
		return rtph265.ErrMorePacketsNeeded
	}
	return rtph264.ErrMorePacketsNeeded
}

func (d *depacketiser) errNoPrevious() error {
	if d.h265 {
		return rtph265.ErrNonStartingPacketAndNoPrevious
	}
	return rtph264.ErrNonStartingPacketAndNoPrevious
}

func (d *depacketiser) maxAU() (size, nalus int) {
	if d.h265 {
		return h265.MaxAccessUnitSize, h265.MaxNALUsPerAccessUnit
	}
	return h264.MaxAccessUnitSize, h264.MaxNALUsPerAccessUnit
}

// Decode takes one packet; it returns an access unit when one is complete,
// else an error (ErrMorePacketsNeeded when the packet was fine). Like
// gortsplib's H.264 decoder, a NAL unit of a new timestamp completes the
// access unit before it (cameras without marker bits); for H.265, like
// its rtph265, only the marker bit does.
func (d *depacketiser) Decode(pkt *rtp.Packet) ([][]byte, error) {
	d.release()
	mark := len(d.cur.ends)
	if err := d.decodeNALUs(pkt); err != nil {
		d.abandonFU()
		d.cur.truncate(mark)
		return nil, err
	}
	if len(d.cur.ends) == mark {
		return nil, d.errMore() // a fragment, or nothing yet
	}
	if !d.h265 && len(d.cur.ends) == mark+1 {
		if err := d.unwrapAnnexB(mark); err != nil {
			d.cur.truncate(mark)
			return nil, err
		}
	}
	maxSize, maxN := d.maxAU()
	if mark > 0 && pkt.Timestamp != d.ts && !d.h265 { // rtph265 splits at markers only
		// The new NAL units start the next access unit; the earlier ones
		// go out.
		d.ts = pkt.Timestamp
		if len(d.cur.ends)-mark > maxN || d.cur.size()-d.cur.ends[mark-1] > maxSize {
			d.cur.reset()
			return nil, errAUTooBig
		}
		return d.handOut(mark), nil
	}
	d.ts = pkt.Timestamp
	if len(d.cur.ends) > maxN {
		d.cur.reset()
		return nil, errAUTooManyNALU
	}
	if d.cur.size() > maxSize {
		d.cur.reset()
		return nil, errAUTooBig
	}
	if !pkt.Marker {
		return nil, d.errMore()
	}
	return d.handOut(len(d.cur.ends)), nil
}

// handOut returns the first n NAL units as an access unit.
func (d *depacketiser) handOut(n int) [][]byte {
	b := &d.cur
	b.nalus = b.nalus[:0]
	start := 0
	for _, end := range b.ends[:n] {
		b.nalus = append(b.nalus, b.buf[start:end:end])
		start = end
	}
	d.handed = n
	return b.nalus
}

// release drops the NAL units handed out, moving what follows them (the
// start of the next access unit) to the front.
func (d *depacketiser) release() {
	k := d.handed
	if k == 0 {
		return
	}
	d.handed = 0
	b := &d.cur
	from := b.ends[k-1]
	b.buf = b.buf[:copy(b.buf, b.buf[from:])]
	b.ends = b.ends[:copy(b.ends, b.ends[k:])]
	for i := range b.ends {
		b.ends[i] -= from
	}
	if d.inFU {
		d.fuStart -= from
	}
}

// add appends one whole NAL unit (copied) to the access unit.
func (d *depacketiser) add(n []byte) {
	d.cur.buf = append(d.cur.buf, n...)
	d.cur.ends = append(d.cur.ends, len(d.cur.buf))
}

func (d *depacketiser) decodeNALUs(pkt *rtp.Packet) error {
	p := pkt.Payload
	if d.h265 {
		return d.decodeH265(pkt, p)
	}
	if len(p) < 1 {
		return errPayloadShort
	}
	switch h264.NALUType(p[0] & 0x1f) {
	case h264.NALUTypeFUA:
		if len(p) < 2 {
			return errPayloadShort
		}
		start, end := p[1]>>7 == 1, (p[1]>>6)&1 == 1
		hdr := (p[0] & 0xe0) | (p[1] & 0x1f)
		return d.fragment(pkt, start, end, false, hdr, 0, p[2:])
	case h264.NALUTypeSTAPA:
		d.abandonFU()
		return d.aggregate(p[1:], true)
	case h264.NALUTypeSTAPB, h264.NALUTypeMTAP16, h264.NALUTypeMTAP24, h264.NALUTypeFUB:
		d.abandonFU()
		d.firstPacket = true
		return errUnsupported
	default:
		d.abandonFU()
		d.firstPacket = true
		return d.single(p)
	}
}

func (d *depacketiser) decodeH265(pkt *rtp.Packet, p []byte) error {
	if len(p) < 2 {
		d.abandonFU()
		return errPayloadShort
	}
	switch h265.NALUType((p[0] >> 1) & 0b111111) {
	case h265.NALUType_AggregationUnit:
		d.abandonFU()
		return d.aggregate(p[2:], false)
	case h265.NALUType_FragmentationUnit:
		if len(p) < 3 {
			d.abandonFU()
			return errPayloadShort
		}
		start, end := p[2]>>7 == 1, (p[2]>>6)&1 == 1
		typ := p[2] & 0b111111
		head := uint16(p[0]&0b10000001)<<8 | uint16(typ)<<9 | uint16(p[1])
		return d.fragment(pkt, start, end, true, byte(head>>8), byte(head), p[3:])
	case h265.NALUType_PACI:
		d.abandonFU()
		return errUnsupported
	default:
		d.abandonFU()
		return d.single(p)
	}
}

// abandonFU drops a fragmented NAL unit that a non-fragment packet
// interrupted (as gortsplib resets its fragments).
func (d *depacketiser) abandonFU() {
	if d.inFU {
		d.cur.buf = d.cur.buf[:d.fuStart]
		d.inFU = false
	}
}

// single takes a packet holding one NAL unit.
func (d *depacketiser) single(p []byte) error {
	d.add(p)
	return nil
}

var annexBCode = []byte{0, 0, 0, 1}

// unwrapAnnexB splits the one NAL unit a packet gave (index mark) by
// Annex-B start codes, which some H.264 cameras wrap their NAL units in
// (gortsplib's rule: once one shows a start code, the stream is taken to
// be wrapped). Rare cameras only; mediacommon's parser allocates.
func (d *depacketiser) unwrapAnnexB(mark int) error {
	start := 0
	if mark > 0 {
		start = d.cur.ends[mark-1]
	}
	n := d.cur.buf[start:d.cur.ends[mark]]
	if !d.annexB && bytes.Contains(n, annexBCode) {
		d.annexB = true
	}
	if !d.annexB {
		return nil
	}
	p := append([]byte(nil), n...)
	if !bytes.HasPrefix(p, annexBCode) {
		p = append(append([]byte(nil), annexBCode...), p...)
	}
	d.cur.truncate(mark)
	var ab h264.AnnexB
	if err := ab.Unmarshal(p); err != nil {
		return err
	}
	for _, u := range ab {
		d.add(u)
	}
	return nil
}

// aggregate takes an STAP-A (H.264, which may end in zero padding) or an
// aggregation packet (H.265): 16-bit sizes, each followed by a NAL unit.
func (d *depacketiser) aggregate(p []byte, padding bool) error {
	got := 0
	for {
		if len(p) < 2 {
			return errAggregate
		}
		size := int(p[0])<<8 | int(p[1])
		p = p[2:]
		if size == 0 {
			if padding && isZero(p) && got > 0 {
				break
			}
			return errAggregate
		}
		if size > len(p) {
			return errAggregate
		}
		d.add(p[:size])
		got++
		p = p[size:]
		if len(p) == 0 {
			break
		}
	}
	d.firstPacket = true
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// fragment takes one FU-A (H.264) or FU (H.265) packet: the NAL unit
// header is rebuilt from h0 (and h1 for H.265), the payload appended.
func (d *depacketiser) fragment(pkt *rtp.Packet, start, end, two bool, h0, h1 byte, payload []byte) error {
	maxSize, _ := d.maxAU()
	if start {
		d.abandonFU()
		if two && end {
			return errFUStartEnd
		}
		d.firstPacket = true
		d.inFU, d.fuStart, d.fuNext = true, len(d.cur.buf), pkt.SequenceNumber+1
		d.cur.buf = append(d.cur.buf, h0)
		if two {
			d.cur.buf = append(d.cur.buf, h1)
		}
		d.cur.buf = append(d.cur.buf, payload...)
		if end { // H.264 only: some cameras send small NAL units this way
			d.inFU = false
			d.cur.ends = append(d.cur.ends, len(d.cur.buf))
		}
		return nil
	}
	if !d.inFU {
		if !d.firstPacket {
			return d.errNoPrevious()
		}
		return errFUNoStart
	}
	if pkt.SequenceNumber != d.fuNext {
		d.abandonFU()
		return errFULost
	}
	if len(d.cur.buf)-d.fuStart+len(payload) > maxSize {
		d.abandonFU()
		return errNALUTooBig
	}
	d.cur.buf = append(d.cur.buf, payload...)
	d.fuNext++
	if end {
		d.inFU = false
		d.cur.ends = append(d.cur.ends, len(d.cur.buf))
	}
	return nil
}
