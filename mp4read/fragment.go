package mp4read

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// Segment is the sample table of one fMP4 segment: every sample of every
// track, with where its payload lies in the file. Payloads are not read.
type Segment struct {
	Size   int64    // bytes of the file the table describes
	Moov   []byte   // the moov box, whole (codec configuration)
	Tracks []*Track // the video track first, then the others with samples
	// Init is the parsed moov. Decoded once per distinct moov through an
	// InitCache.
	Init *fmp4.Init
}

// Video is the segment's video track.
func (s *Segment) Video() *Track { return s.Tracks[0] }

// Track is one track of a segment.
type Track struct {
	ID        int
	TimeScale uint32
	Codec     mp4.Codec
	Samples   []Sample
}

// Sample is one sample, in decode order.
type Sample struct {
	DTS     int64 // in the track's time scale: tfdt plus the durations before it
	Dur     uint32
	PTSOff  int32
	NonSync bool
	Off     int64 // byte offset of the payload in the file
	Size    uint32
}

// ErrDamaged marks a file that is not a usable segment: empty, truncated,
// not fMP4, or tables pointing outside the file.
var ErrDamaged = errors.New("damaged segment")

// Limits that keep a hostile file from exhausting memory: real segments
// are far below them (an hour of 25 fps video is 90 000 samples).
const (
	maxBoxRead      = 64 << 20 // a moov or moof read into memory
	maxTrunSamples  = 1 << 20
	maxTrackSamples = 1 << 22
)

// InitCache shares decoded moov boxes: a camera's segments usually carry
// identical init sections, and decoding one (reflection in go-mp4) was a
// fifth of planning time. Safe for concurrent use; the zero value works.
type InitCache struct {
	mu sync.Mutex
	m  map[string]*fmp4.Init
}

// Get decodes moov (a whole moov box), or returns the earlier decoding.
func (c *InitCache) Get(moov []byte) (*fmp4.Init, error) {
	if c != nil {
		c.mu.Lock()
		in := c.m[string(moov)]
		c.mu.Unlock()
		if in != nil {
			return in, nil
		}
	}
	in, err := decodeInit(moov)
	if err != nil {
		return nil, err
	}
	if c != nil {
		c.mu.Lock()
		if c.m == nil || len(c.m) > 256 {
			c.m = map[string]*fmp4.Init{}
		}
		c.m[string(moov)] = in
		c.mu.Unlock()
	}
	return in, nil
}

// decodeInit runs mediacommon's decoder, turning a panic on hostile input
// (a library bug) into an error: one bad file must not stop the service.
func decodeInit(moov []byte) (in *fmp4.Init, err error) {
	defer func() {
		if r := recover(); r != nil {
			in, err = nil, fmt.Errorf("moov: decoder failed: %v", r)
		}
	}()
	in = &fmp4.Init{}
	if err := in.Unmarshal(bytes.NewReader(moov)); err != nil {
		return nil, err
	}
	return in, nil
}

// ReadFile reads the sample table of the segment file at path.
func ReadFile(path string, ic *InitCache) (*Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Read(f, st.Size(), ic)
}

// Read reads the sample table of a whole segment (size bytes of r): every
// top-level box must be whole and known, moov before any moof, and every
// sample inside the file. It reads the moov and moof boxes only, one read
// per box; mdat payloads are skipped.
func Read(r io.ReaderAt, size int64, ic *InitCache) (*Segment, error) {
	s := &Segment{Size: size}
	if size == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrDamaged)
	}
	trexs := map[uint32]trex{}
	byID := map[uint32]*Track{}
	// One small read per box: the header and, for moov/moof boxes, usually
	// the whole box.
	win := make([]byte, 4<<10)
	for pos := int64(0); pos < size; {
		if size-pos < 8 {
			return nil, fmt.Errorf("%w: %d stray bytes at end", ErrDamaged, size-pos)
		}
		hdr := win[:min(int64(len(win)), size-pos)]
		if _, err := r.ReadAt(hdr, pos); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: box at %d: %v", ErrDamaged, pos, err)
		}
		bx, ok := header(hdr, pos, size)
		if !ok {
			return nil, fmt.Errorf("%w: box %q at %d: size exceeds file (%d bytes)", ErrDamaged, bx.Type, pos, size)
		}
		switch bx.Type {
		case "moov", "moof":
			if bx.Size > maxBoxRead {
				return nil, fmt.Errorf("%w: %s box of %d bytes", ErrDamaged, bx.Type, bx.Size)
			}
			var buf []byte
			if bx.Size <= int64(len(hdr)) {
				buf = hdr[:bx.Size]
			} else {
				buf = make([]byte, bx.Size)
				if _, err := r.ReadAt(buf, pos); err != nil {
					return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, bx.Type, err)
				}
			}
			if bx.Type == "moov" {
				if s.Init != nil {
					return nil, fmt.Errorf("%w: second moov at %d", ErrDamaged, pos)
				}
				s.Moov = bytes.Clone(buf)
				in, err := ic.Get(s.Moov)
				if err != nil {
					return nil, fmt.Errorf("%w: moov: %v", ErrDamaged, err)
				}
				s.Init = in
				readTrex(buf[bx.Header:], trexs)
				for _, it := range in.Tracks {
					byID[uint32(it.ID)] = &Track{ID: it.ID, TimeScale: it.TimeScale, Codec: it.Codec}
				}
			} else {
				if s.Init == nil {
					return nil, fmt.Errorf("%w: moof before moov", ErrDamaged)
				}
				if err := readMoof(buf[bx.Header:], pos, size, trexs, byID); err != nil {
					return nil, fmt.Errorf("%w: moof at %d: %v", ErrDamaged, pos, err)
				}
			}
		case "ftyp", "styp", "mdat", "free", "skip", "sidx", "mfra", "uuid", "prft", "emsg":
		default:
			return nil, fmt.Errorf("%w: unexpected box %q at %d", ErrDamaged, bx.Type, pos)
		}
		pos = bx.End()
	}
	if s.Init == nil {
		return nil, fmt.Errorf("%w: no moov box", ErrDamaged)
	}
	if err := s.pickTracks(byID); err != nil {
		return nil, err
	}
	return s, nil
}

// pickTracks orders the tracks with samples: the first video track, then
// every non-video track. Tracks of an unknown codec are left out.
func (s *Segment) pickTracks(byID map[uint32]*Track) error {
	var video *Track
	var others []*Track
	for _, it := range s.Init.Tracks {
		t := byID[uint32(it.ID)]
		if t == nil || it.Codec == nil || len(t.Samples) == 0 {
			continue
		}
		if it.Codec.IsVideo() && video == nil {
			video = t
		} else if !it.Codec.IsVideo() {
			others = append(others, t)
		}
	}
	if video == nil {
		return fmt.Errorf("%w: no video samples", ErrDamaged)
	}
	s.Tracks = append([]*Track{video}, others...)
	return nil
}

type trex struct{ dur, size, flags uint32 }

func readTrex(moovBody []byte, trexs map[uint32]trex) {
	Children(moovBody, func(t string, b []byte) {
		if t == "mvex" {
			Children(b, func(t string, b []byte) {
				if t == "trex" && len(b) >= 24 {
					trexs[be32(b[4:])] = trex{dur: be32(b[12:]), size: be32(b[16:]), flags: be32(b[20:])}
				}
			})
		}
	})
}

// readMoof appends the samples of one moof (body without its header; the
// box starts at moofPos in a file of fileSize bytes) to the tracks.
func readMoof(body []byte, moofPos, fileSize int64, trexs map[uint32]trex, byID map[uint32]*Track) error {
	var ferr error
	prevEnd := moofPos // implicit data base of a traf without base offsets
	Children(body, func(typ string, b []byte) {
		if typ != "traf" || ferr != nil {
			return
		}
		var track *Track
		var def trex
		base := int64(-1)
		var dts int64
		haveTfdt := false
		Children(b, func(typ string, b []byte) {
			if ferr != nil {
				return
			}
			switch typ {
			case "tfhd":
				track, def, base, ferr = readTfhd(b, moofPos, prevEnd, trexs, byID)
			case "tfdt":
				if len(b) < 8 || (b[0] == 1 && len(b) < 12) {
					ferr = ErrShort
					return
				}
				if b[0] == 1 {
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
				if !haveTfdt && len(track.Samples) > 0 {
					last := track.Samples[len(track.Samples)-1]
					dts = last.DTS + int64(last.Dur)
				}
				end, err := readTrun(b, base, prevEnd, &dts, def, fileSize, track)
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

func readTfhd(b []byte, moofPos, prevEnd int64, trexs map[uint32]trex, byID map[uint32]*Track) (*Track, trex, int64, error) {
	if len(b) < 8 {
		return nil, trex{}, 0, ErrShort
	}
	flags := be32(b) & 0xffffff
	id := be32(b[4:])
	track := byID[id]
	if track == nil {
		return nil, trex{}, 0, fmt.Errorf("traf for unknown track %d", id)
	}
	def := trexs[id]
	base := int64(-1)
	p := 8
	need := func(n int) bool { return len(b) >= p+n }
	if flags&0x1 != 0 {
		if !need(8) {
			return nil, def, 0, ErrShort
		}
		base = int64(be64(b[p:]))
		p += 8
	} else if flags&0x20000 != 0 {
		base = moofPos
	}
	if flags&0x2 != 0 {
		p += 4
	}
	for _, f := range []struct {
		bit uint32
		v   *uint32
	}{{0x8, &def.dur}, {0x10, &def.size}, {0x20, &def.flags}} {
		if flags&f.bit != 0 {
			if !need(4) {
				return nil, def, 0, ErrShort
			}
			*f.v = be32(b[p:])
			p += 4
		}
	}
	if base < 0 {
		base = prevEnd
	}
	return track, def, base, nil
}

// readTrun appends one trun's samples; it returns the end offset of its data.
func readTrun(b []byte, base, prevEnd int64, dts *int64, def trex, fileSize int64, t *Track) (int64, error) {
	if len(b) < 8 {
		return 0, ErrShort
	}
	flags := be32(b) & 0xffffff
	count := be32(b[4:])
	p := 8
	off := prevEnd
	if flags&0x1 != 0 {
		if len(b) < p+4 {
			return 0, ErrShort
		}
		off = base + int64(int32(be32(b[p:])))
		p += 4
	}
	firstFlags, haveFirst := uint32(0), false
	if flags&0x4 != 0 {
		if len(b) < p+4 {
			return 0, ErrShort
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
	if per == 0 && def.size == 0 && count > 1 {
		// Samples that cost no byte of table or data: a hostile file
		// could make millions from a few bytes.
		return 0, fmt.Errorf("trun: %d samples without size", count)
	}
	if count > maxTrunSamples || len(t.Samples)+int(count) > maxTrackSamples {
		return 0, fmt.Errorf("trun: %d samples: more than a segment holds", count)
	}
	t.Samples = grow(t.Samples, int(count))
	for i := uint32(0); i < count; i++ {
		s := Sample{DTS: *dts, Dur: def.dur, Size: def.size, Off: off}
		sf := def.flags
		if i == 0 && haveFirst {
			sf = firstFlags
		}
		if flags&0x100 != 0 {
			s.Dur = be32(b[p:])
			p += 4
		}
		if flags&0x200 != 0 {
			s.Size = be32(b[p:])
			p += 4
		}
		if flags&0x400 != 0 {
			sf = be32(b[p:])
			p += 4
		}
		if flags&0x800 != 0 {
			s.PTSOff = int32(be32(b[p:]))
			p += 4
		}
		s.NonSync = sf&(1<<16) != 0
		if off < 0 || off+int64(s.Size) > fileSize {
			return 0, fmt.Errorf("sample data %d+%d beyond end of file (%d bytes): truncated", off, s.Size, fileSize)
		}
		off += int64(s.Size)
		*dts += int64(s.Dur)
		t.Samples = append(t.Samples, s)
	}
	return off, nil
}

func grow(s []Sample, n int) []Sample {
	if cap(s)-len(s) >= n {
		return s
	}
	ns := make([]Sample, len(s), 2*cap(s)+n)
	copy(ns, s)
	return ns
}

// Payload reads one sample's bytes from the segment file into buf (grown
// as needed): how redaction and decryption stream samples.
func (s Sample) Payload(r io.ReaderAt, buf []byte) ([]byte, error) {
	if cap(buf) < int(s.Size) {
		buf = make([]byte, s.Size)
	}
	buf = buf[:s.Size]
	if _, err := r.ReadAt(buf, s.Off); err != nil {
		return buf, fmt.Errorf("sample at %d: %w", s.Off, err)
	}
	return buf, nil
}

// Each streams the samples of track t in decode order with their
// payloads; buf is reused between calls, so fn must not keep it.
func (s *Segment) Each(r io.ReaderAt, t *Track, fn func(Sample, []byte) error) error {
	var buf []byte
	for _, sm := range t.Samples {
		var err error
		if buf, err = sm.Payload(r, buf); err != nil {
			return err
		}
		if err := fn(sm, buf); err != nil {
			return err
		}
	}
	return nil
}
