package export

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// segTrack is one track of a parsed fMP4 segment: its codec, time scale
// and sample table. Payloads are not read; each sample records where its
// bytes lie in the file, so stitching and playback can plan a whole clip
// from the small moof boxes alone.
type segTrack struct {
	id        int
	timeScale uint32
	codec     mp4.Codec
	samples   []segSample
}

// segSample is one sample of a segment, in decode order.
type segSample struct {
	dts     int64 // in the track's time scale, as the file says (tfdt + durations)
	dur     uint32
	ptsOff  int32
	nonSync bool
	off     int64 // byte offset of the payload in the segment file
	size    uint32
}

// parsedSeg is the layout of one segment file.
type parsedSeg struct {
	size   int64
	tracks []*segTrack // video first
}

func (p *parsedSeg) video() *segTrack { return p.tracks[0] }

// errDamaged marks a segment that cannot be used: empty, truncated or not
// an fMP4 file. It is reported as a gap, never fatal for the export.
var errDamaged = errors.New("damaged segment")

type trex struct{ dur, size, flags uint32 }

// parseSegment reads the boxes of an fMP4 segment except mdat payloads.
func parseSegment(path string) (*parsedSeg, error) {
	return parseSegmentWith(path, nil)
}

// initCache shares parsed moov boxes between the segments of one plan:
// a camera's segments usually carry identical init sections, and parsing
// them (reflection in go-mp4) was a fifth of the planning time.
type initCache struct {
	mu sync.Mutex
	m  map[string]*fmp4.Init
}

func (c *initCache) get(moov []byte) (*fmp4.Init, error) {
	if c != nil {
		c.mu.Lock()
		in := c.m[string(moov)]
		c.mu.Unlock()
		if in != nil {
			return in, nil
		}
	}
	in := &fmp4.Init{}
	if err := in.Unmarshal(bytes.NewReader(moov)); err != nil {
		return nil, err
	}
	if c != nil {
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]*fmp4.Init{}
		}
		c.m[string(moov)] = in
		c.mu.Unlock()
	}
	return in, nil
}

// parseSegmentWith parses a segment, sharing init sections through ic.
func parseSegmentWith(path string, ic *initCache) (*parsedSeg, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	p := &parsedSeg{size: st.Size()}
	if p.size == 0 {
		return nil, fmt.Errorf("%w: empty file", errDamaged)
	}
	var init *fmp4.Init
	trexs := map[uint32]trex{}
	byID := map[uint32]*segTrack{}
	// One small read per box: the header and, for moov/moof boxes,
	// usually the whole box (mdat payloads are skipped, never read).
	win := make([]byte, 4<<10)
	for pos := int64(0); pos < p.size; {
		if p.size-pos < 8 {
			return nil, fmt.Errorf("%w: %d stray bytes at end", errDamaged, p.size-pos)
		}
		hdr := win[:min(int64(len(win)), p.size-pos)]
		if _, err := f.ReadAt(hdr, pos); err != nil && !(errors.Is(err, io.EOF)) {
			return nil, fmt.Errorf("%w: box at %d: %v", errDamaged, pos, err)
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		hlen := int64(8)
		switch size {
		case 1:
			if len(hdr) < 16 {
				return nil, fmt.Errorf("%w: box at %d: short header", errDamaged, pos)
			}
			size, hlen = int64(binary.BigEndian.Uint64(hdr[8:16])), 16
		case 0:
			size = p.size - pos
		}
		if size < hlen || pos+size > p.size {
			return nil, fmt.Errorf("%w: box %q at %d: size %d exceeds file (%d bytes)", errDamaged, typ, pos, size, p.size)
		}
		switch typ {
		case "moov", "moof":
			if size > 64<<20 {
				return nil, fmt.Errorf("%w: %s box of %d bytes", errDamaged, typ, size)
			}
			var buf []byte
			if size <= int64(len(hdr)) {
				buf = hdr[:size]
			} else {
				buf = make([]byte, size)
				if _, err := f.ReadAt(buf, pos); err != nil {
					return nil, fmt.Errorf("%w: %s: %v", errDamaged, typ, err)
				}
			}
			if typ == "moov" {
				init, err = ic.get(buf)
				if err != nil {
					return nil, fmt.Errorf("%w: moov: %v", errDamaged, err)
				}
				walkBoxes(buf[hlen:], func(t string, b []byte) {
					if t == "mvex" {
						walkBoxes(b, func(t string, b []byte) {
							if t == "trex" && len(b) >= 24 {
								trexs[be32(b[4:])] = trex{dur: be32(b[12:]), size: be32(b[16:]), flags: be32(b[20:])}
							}
						})
					}
				})
				for _, it := range init.Tracks {
					byID[uint32(it.ID)] = &segTrack{id: it.ID, timeScale: it.TimeScale, codec: it.Codec}
				}
			} else {
				if init == nil {
					return nil, fmt.Errorf("%w: moof before moov", errDamaged)
				}
				if err := parseMoof(buf[hlen:], pos, p.size, trexs, byID); err != nil {
					return nil, fmt.Errorf("%w: moof at %d: %v", errDamaged, pos, err)
				}
			}
		case "ftyp", "styp", "mdat", "free", "skip", "sidx", "mfra", "uuid", "prft", "emsg":
		default:
			return nil, fmt.Errorf("%w: unexpected box %q at %d", errDamaged, typ, pos)
		}
		pos += size
	}
	if init == nil {
		return nil, fmt.Errorf("%w: no moov box", errDamaged)
	}
	var video *segTrack
	var others []*segTrack
	for _, it := range init.Tracks {
		t := byID[uint32(it.ID)]
		if it.Codec == nil || len(t.samples) == 0 {
			continue // unknown codec or an empty track: nothing to stitch
		}
		if it.Codec.IsVideo() && video == nil {
			video = t
		} else if !it.Codec.IsVideo() {
			others = append(others, t)
		}
	}
	if video == nil {
		return nil, fmt.Errorf("%w: no video samples", errDamaged)
	}
	p.tracks = append([]*segTrack{video}, others...)
	return p, nil
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// walkBoxes calls fn for each child box in b (type and body).
func walkBoxes(b []byte, fn func(typ string, body []byte)) {
	for len(b) >= 8 {
		size := uint64(be32(b))
		h := uint64(8)
		if size == 1 && len(b) >= 16 {
			size, h = be64(b[8:]), 16
		} else if size == 0 {
			size = uint64(len(b))
		}
		if size < h || size > uint64(len(b)) {
			return
		}
		fn(string(b[4:8]), b[h:size])
		b = b[size:]
	}
}

var errShort = errors.New("box too short")

// parseMoof appends the samples of one moof (body without header, which
// starts at moofPos in the file) to the tracks.
func parseMoof(body []byte, moofPos, fileSize int64, trexs map[uint32]trex, byID map[uint32]*segTrack) error {
	var ferr error
	prevEnd := moofPos // implicit data base of a traf without base offsets
	walkBoxes(body, func(typ string, b []byte) {
		if typ != "traf" || ferr != nil {
			return
		}
		var track *segTrack
		var def trex
		base := int64(-1)
		var dts int64
		haveTfdt := false
		walkBoxes(b, func(typ string, b []byte) {
			if ferr != nil {
				return
			}
			switch typ {
			case "tfhd":
				if len(b) < 8 {
					ferr = errShort
					return
				}
				flags := be32(b) & 0xffffff
				id := be32(b[4:])
				track = byID[id]
				if track == nil {
					ferr = fmt.Errorf("traf for unknown track %d", id)
					return
				}
				def = trexs[id]
				p := 8
				need := func(n int) bool {
					if len(b) < p+n {
						ferr = errShort
						return false
					}
					return true
				}
				if flags&0x1 != 0 {
					if !need(8) {
						return
					}
					base = int64(be64(b[p:]))
					p += 8
				} else if flags&0x20000 != 0 {
					base = moofPos
				}
				if flags&0x2 != 0 {
					p += 4
				}
				if flags&0x8 != 0 {
					if !need(4) {
						return
					}
					def.dur = be32(b[p:])
					p += 4
				}
				if flags&0x10 != 0 {
					if !need(4) {
						return
					}
					def.size = be32(b[p:])
					p += 4
				}
				if flags&0x20 != 0 {
					if !need(4) {
						return
					}
					def.flags = be32(b[p:])
				}
				if base < 0 {
					base = prevEnd
				}
			case "tfdt":
				if len(b) < 8 {
					ferr = errShort
					return
				}
				if b[0] == 1 {
					if len(b) < 12 {
						ferr = errShort
						return
					}
					dts = int64(be64(b[4:]))
				} else {
					dts = int64(be32(b[4:]))
				}
				haveTfdt = true
			case "trun":
				if track == nil {
					ferr = errors.New("trun before tfhd")
					return
				}
				if !haveTfdt && len(track.samples) > 0 {
					last := track.samples[len(track.samples)-1]
					dts = last.dts + int64(last.dur)
				}
				end, err := parseTrun(b, base, prevEnd, &dts, def, fileSize, track)
				if err != nil {
					ferr = err
					return
				}
				prevEnd = end
				haveTfdt = true // later truns continue from dts
			}
		})
	})
	return ferr
}

// parseTrun appends one trun's samples; it returns the end offset of its data.
func parseTrun(b []byte, base, prevEnd int64, dts *int64, def trex, fileSize int64, t *segTrack) (int64, error) {
	if len(b) < 8 {
		return 0, errShort
	}
	flags := be32(b) & 0xffffff
	count := be32(b[4:])
	p := 8
	off := prevEnd
	if flags&0x1 != 0 {
		if len(b) < p+4 {
			return 0, errShort
		}
		off = base + int64(int32(be32(b[p:])))
		p += 4
	}
	firstFlags, haveFirst := uint32(0), false
	if flags&0x4 != 0 {
		if len(b) < p+4 {
			return 0, errShort
		}
		firstFlags, haveFirst = be32(b[p:]), true
		p += 4
	}
	per := 0
	for _, f := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if flags&f != 0 {
			per += 4
		}
	}
	if uint64(len(b)-p) < uint64(count)*uint64(per) {
		return 0, fmt.Errorf("trun: %d samples do not fit in %d bytes", count, len(b)-p)
	}
	t.samples = slicesGrow(t.samples, int(count))
	for i := uint32(0); i < count; i++ {
		s := segSample{dts: *dts, dur: def.dur, size: def.size, off: off}
		sf := def.flags
		if i == 0 && haveFirst {
			sf = firstFlags
		}
		if flags&0x100 != 0 {
			s.dur = be32(b[p:])
			p += 4
		}
		if flags&0x200 != 0 {
			s.size = be32(b[p:])
			p += 4
		}
		if flags&0x400 != 0 {
			sf = be32(b[p:])
			p += 4
		}
		if flags&0x800 != 0 {
			s.ptsOff = int32(be32(b[p:]))
			p += 4
		}
		s.nonSync = sf&(1<<16) != 0
		if off < 0 || off+int64(s.size) > fileSize {
			return 0, fmt.Errorf("sample data %d+%d beyond end of file (%d bytes): truncated", off, s.size, fileSize)
		}
		off += int64(s.size)
		*dts += int64(s.dur)
		t.samples = append(t.samples, s)
	}
	return off, nil
}

// readFull reads a whole file into buf (grown as needed).
func readFull(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return buf, err
	}
	n := int(st.Size())
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f, buf); err != nil {
		return buf, err
	}
	return buf, nil
}

func slicesGrow(s []segSample, n int) []segSample {
	if cap(s)-len(s) >= n {
		return s
	}
	ns := make([]segSample, len(s), 2*cap(s)+n)
	copy(ns, s)
	return ns
}
