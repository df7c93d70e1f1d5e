package export

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"vahti/mp4read"
)

// The progressive MP4 header (ftyp, moov, mdat header) is written here
// rather than by pmp4.Presentation.Marshal, for three reasons found by
// measuring and reading it: its stsc packing is quadratic (an hour of
// 25 fps video with AAC took over a second, too slow for playback's first
// byte), it interleaves sample by sample (so output bytes come from
// scattered source offsets), and it has only 32-bit chunk offsets and
// media durations. The codec sample descriptions (avc1/hvc1/mp4a/ipcm
// boxes) still come from mediacommon: pmp4 writes a one-sample
// presentation per clip and its stsd, tkhd, hdlr, media header and dinf
// boxes are copied verbatim.
//
// Samples are laid out in source order (each source fragment's video run
// then its audio run), so the mdat is the sources' mdat payloads in
// sequence and a clip is copied in a few large reads per segment.

// boxes lists the child boxes of a box body (mp4read walks them).
func boxes(b []byte) []mp4read.Raw { return mp4read.ChildBoxes(b) }

func find(bs []mp4read.Raw, typ string) mp4read.Raw {
	for _, b := range bs {
		if b.Type == typ {
			return b
		}
	}
	return mp4read.Raw{}
}

// trackBoxes are the boxes of one track copied from pmp4's output.
type trackBoxes struct {
	tkhd, hdlr, mhd, dinf, stsd []byte
	video                       bool
}

// codecBoxes lets pmp4 describe the clip's tracks (one sample each).
func (c *clipPlan) codecBoxes(tracks []*clipTrack) ([]trackBoxes, error) {
	pres := &pmp4.Presentation{}
	for i, t := range tracks {
		pres.Tracks = append(pres.Tracks, &pmp4.Track{ID: i + 1, TimeScale: t.timeScale, Codec: t.codec,
			Samples: []*pmp4.Sample{{Duration: 1, PayloadSize: 1, GetPayload: stopPayload}}})
	}
	var w captureWriter
	if err := pres.Marshal(&w); !errors.Is(err, errStopMarshal) {
		if err == nil {
			err = errors.New("pmp4 wrote no samples")
		}
		return nil, fmt.Errorf("codec description: %w", err)
	}
	moov := find(boxes(w.Bytes()), "moov")
	var out []trackBoxes
	for _, trak := range boxes(moov.Body) {
		if trak.Type != "trak" {
			continue
		}
		tb := boxes(trak.Body)
		mdia := boxes(find(tb, "mdia").Body)
		minf := boxes(find(mdia, "minf").Body)
		stbl := boxes(find(minf, "stbl").Body)
		x := trackBoxes{tkhd: find(tb, "tkhd").Box, hdlr: find(mdia, "hdlr").Box, dinf: find(minf, "dinf").Box,
			stsd: find(stbl, "stsd").Box}
		if v := find(minf, "vmhd"); v.Box != nil {
			x.mhd, x.video = v.Box, true
		} else {
			x.mhd = find(minf, "smhd").Box
		}
		if x.tkhd == nil || x.hdlr == nil || x.dinf == nil || x.stsd == nil || x.mhd == nil || len(x.tkhd) < 32 {
			return nil, errors.New("codec description: unexpected pmp4 output")
		}
		out = append(out, x)
	}
	if len(out) != len(tracks) {
		return nil, errors.New("codec description: track count differs")
	}
	return out, nil
}

// mp4buf builds boxes.
type mp4buf struct{ b []byte }

func (m *mp4buf) u8(v uint8)   { m.b = append(m.b, v) }
func (m *mp4buf) u16(v uint16) { m.b = binary.BigEndian.AppendUint16(m.b, v) }
func (m *mp4buf) u32(v uint32) { m.b = binary.BigEndian.AppendUint32(m.b, v) }
func (m *mp4buf) u64(v uint64) { m.b = binary.BigEndian.AppendUint64(m.b, v) }
func (m *mp4buf) str(s string) { m.b = append(m.b, s...) }
func (m *mp4buf) raw(b []byte) { m.b = append(m.b, b...) }

// open starts a box and returns its position for close.
func (m *mp4buf) open(typ string) int {
	p := len(m.b)
	m.u32(0)
	m.str(typ)
	return p
}

func (m *mp4buf) full(typ string, version uint8, flags uint32) int {
	p := m.open(typ)
	m.u32(uint32(version)<<24 | flags&0xffffff)
	return p
}

func (m *mp4buf) close(p int) { binary.BigEndian.PutUint32(m.b[p:], uint32(len(m.b)-p)) }

const movieTimescale = 1000

// writeHeader makes c.header and c.pieces from c.tracks.
//
// An hour's clip has some 260 000 samples, and its header is playback's
// first-byte latency: every table is made in one pass over the samples
// in source order (chunks and byte map) and one pass per track (stts,
// stss, ctts, stsz), each appending to a buffer sized in advance.
func (c *clipPlan) writeHeader() error {
	var tracks []*clipTrack
	for _, t := range c.tracks {
		if len(t.samples) > 0 {
			tracks = append(tracks, t)
		}
	}
	descr, err := c.codecBoxes(tracks)
	if err != nil {
		return err
	}
	// The byte map and each track's tables are independent passes over
	// the samples: made side by side.
	tabs := make([]trackTables, len(tracks))
	var wg sync.WaitGroup
	for i, t := range tracks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tabs[i] = tables(t)
		}()
	}
	chunks, pieces, dataSize := sourceOrder(tracks)
	wg.Wait()
	large := c.force64 || dataSize+8 > 0xffffffff-(64<<20)
	mdatHdr := int64(8)
	if large {
		mdatHdr = 16
	}
	// Chunk offsets are written relative to the mdat payload, then shifted
	// by the header's own size once it is known.
	hdr, fields := c.buildHeader(tracks, descr, chunks, tabs, large)
	shift := int64(len(hdr)) + mdatHdr
	for _, f := range fields {
		if large {
			binary.BigEndian.PutUint64(hdr[f:], be64(hdr[f:])+uint64(shift))
		} else {
			binary.BigEndian.PutUint32(hdr[f:], be32(hdr[f:])+uint32(shift))
		}
	}
	m := mp4buf{b: hdr}
	if large {
		m.u32(1)
		m.str("mdat")
		m.u64(uint64(dataSize + 16))
	} else {
		m.u32(uint32(dataSize + 8))
		m.str("mdat")
	}
	c.header = m.b
	c.pieces = append(make([]piece, 0, len(pieces)+1), piece{src: -1, n: int64(len(c.header))})
	for _, pc := range pieces {
		pc.dst += int64(len(c.header))
		c.pieces = append(c.pieces, pc)
	}
	c.size = int64(len(c.header)) + dataSize
	return nil
}

// chunk is a run of one track's samples adjacent in the mdat.
type chunk struct {
	off   int64 // relative to the mdat payload
	count uint32
}

// sourceOrder walks the tracks' samples merged by (source, offset), the
// order of the bytes in the source files, which is the clip's mdat
// order. It returns each track's chunks, the byte map (destinations
// relative to the mdat payload) and the payload size.
func sourceOrder(tracks []*clipTrack) ([][]chunk, []piece, int64) {
	chunks := make([][]chunk, len(tracks))
	lastEnd := make([]int64, len(tracks))
	for i := range lastEnd {
		lastEnd[i] = -1
	}
	var pieces []piece
	pos := make([]int, len(tracks))
	var dst int64
	for {
		best := -1
		var bs *clipSample
		for i, t := range tracks {
			if pos[i] >= len(t.samples) {
				continue
			}
			s := &t.samples[pos[i]]
			if best < 0 || s.src < bs.src || (s.src == bs.src && s.off < bs.off) {
				best, bs = i, s
			}
		}
		if best < 0 {
			return chunks, pieces, dst
		}
		pos[best]++
		if ch := chunks[best]; lastEnd[best] == dst && len(ch) > 0 {
			ch[len(ch)-1].count++
		} else {
			chunks[best] = append(ch, chunk{off: dst, count: 1})
		}
		if n := len(pieces); n > 0 && pieces[n-1].src == bs.src && pieces[n-1].srcOff+pieces[n-1].n == bs.off {
			pieces[n-1].n += int64(bs.size)
		} else {
			pieces = append(pieces, piece{src: bs.src, srcOff: bs.off, n: int64(bs.size), dst: dst})
		}
		dst += int64(bs.size)
		lastEnd[best] = dst
	}
}

// trackTables are one track's sample tables: box bodies after the
// version/flags word and the entry count.
type trackTables struct {
	dur                 uint64 // media time, in the track's time scale
	stts, ctts, stss    []byte
	stsz                []byte // whole body after version/flags
	nStts, nCtts, nStss uint32
	allSync, anyCT      bool
}

// tables makes a track's stts, stss, ctts and stsz in one pass.
func tables(t *clipTrack) trackTables {
	n := len(t.samples)
	tt := trackTables{allSync: true, stsz: make([]byte, 0, 8+4*n)}
	tt.stsz = binary.BigEndian.AppendUint32(tt.stsz, 0)
	tt.stsz = binary.BigEndian.AppendUint32(tt.stsz, uint32(n))
	var runDur, runCT, runDurN, runCTN uint32
	for j := range t.samples {
		s := &t.samples[j]
		tt.dur += uint64(s.dur)
		if j == 0 || s.dur != runDur {
			if j > 0 {
				tt.stts = binary.BigEndian.AppendUint32(tt.stts, runDurN)
				tt.stts = binary.BigEndian.AppendUint32(tt.stts, runDur)
				tt.nStts++
			}
			runDur, runDurN = s.dur, 0
		}
		runDurN++
		ct := uint32(s.ptsOff)
		tt.anyCT = tt.anyCT || s.ptsOff != 0
		if j == 0 || ct != runCT {
			if j > 0 {
				tt.ctts = binary.BigEndian.AppendUint32(tt.ctts, runCTN)
				tt.ctts = binary.BigEndian.AppendUint32(tt.ctts, runCT)
				tt.nCtts++
			}
			runCT, runCTN = ct, 0
		}
		runCTN++
		if s.nonSync {
			tt.allSync = false
		} else {
			tt.stss = binary.BigEndian.AppendUint32(tt.stss, uint32(j+1))
			tt.nStss++
		}
		tt.stsz = binary.BigEndian.AppendUint32(tt.stsz, s.size)
	}
	if n > 0 {
		tt.stts = binary.BigEndian.AppendUint32(tt.stts, runDurN)
		tt.stts = binary.BigEndian.AppendUint32(tt.stts, runDur)
		tt.nStts++
		tt.ctts = binary.BigEndian.AppendUint32(tt.ctts, runCTN)
		tt.ctts = binary.BigEndian.AppendUint32(tt.ctts, runCT)
		tt.nCtts++
	}
	return tt
}

func (c *clipPlan) buildHeader(tracks []*clipTrack, descr []trackBoxes, chunks [][]chunk, tabs []trackTables, large bool) ([]byte, []int) {
	var fields []int // positions of chunk offsets
	size := 4096
	for i := range tracks {
		size += len(tabs[i].stts) + len(tabs[i].ctts) + len(tabs[i].stss) + len(tabs[i].stsz) + 24*len(chunks[i]) + 1024
	}

	m := mp4buf{b: make([]byte, 0, size)}
	ftyp := m.open("ftyp")
	m.str("isom")
	m.u32(0x200)
	m.str("isomiso2avc1mp41")
	m.close(ftyp)

	var movieDur uint64
	durs := make([]uint64, len(tracks)) // media time of each track, in its time scale
	for i, t := range tracks {
		durs[i] = tabs[i].dur
		md := (durs[i] + uint64(t.offset)) * movieTimescale / uint64(t.timeScale)
		if md > movieDur {
			movieDur = md
		}
	}

	moov := m.open("moov")
	mvhd := m.full("mvhd", 0, 0)
	m.u32(0)
	m.u32(0)
	m.u32(movieTimescale)
	m.u32(uint32(movieDur))
	m.u32(0x00010000) // rate
	m.u16(0x0100)     // volume
	m.raw(make([]byte, 10))
	for _, v := range []uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000} {
		m.u32(v)
	}
	m.raw(make([]byte, 24))
	m.u32(uint32(len(tracks) + 1))
	m.close(mvhd)

	for i, t := range tracks {
		d := descr[i]
		presDur := (durs[i] + uint64(t.offset)) * movieTimescale / uint64(t.timeScale)
		trak := m.open("trak")
		tk := len(m.b)
		m.raw(d.tkhd)
		// tkhd v0: duration after version/flags, times, track id, reserved.
		if m.b[tk+8] == 0 {
			binary.BigEndian.PutUint32(m.b[tk+8+4+16:], uint32(presDur))
		}
		// Edit list: an audio track that starts after the first video frame
		// gets an empty edit; video with composition offsets starts at its
		// first presented frame.
		edts := m.open("edts")
		elst := m.full("elst", 0, 0)
		mediaDur := durs[i] * movieTimescale / uint64(t.timeScale)
		if t.offset > 0 {
			m.u32(2)
			m.u32(uint32(uint64(t.offset) * movieTimescale / uint64(t.timeScale)))
			m.u32(0xffffffff)
			m.u32(0x00010000)
			m.u32(uint32(mediaDur))
			m.u32(0)
			m.u32(0x00010000)
		} else {
			m.u32(1)
			m.u32(uint32(mediaDur))
			m.u32(uint32(max(t.samples[0].ptsOff, 0)))
			m.u32(0x00010000)
		}
		m.close(elst)
		m.close(edts)

		mdia := m.open("mdia")
		total := durs[i] + uint64(t.offset)
		if total > 0xffffffff {
			mdhd := m.full("mdhd", 1, 0)
			m.u64(0)
			m.u64(0)
			m.u32(t.timeScale)
			m.u64(total)
			m.u16(0x55c4) // "und"
			m.u16(0)
			m.close(mdhd)
		} else {
			mdhd := m.full("mdhd", 0, 0)
			m.u32(0)
			m.u32(0)
			m.u32(t.timeScale)
			m.u32(uint32(total))
			m.u16(0x55c4)
			m.u16(0)
			m.close(mdhd)
		}
		m.raw(d.hdlr)
		minf := m.open("minf")
		m.raw(d.mhd)
		m.raw(d.dinf)
		stbl := m.open("stbl")
		m.raw(d.stsd)

		tt := &tabs[i]
		stts := m.full("stts", 0, 0)
		m.u32(tt.nStts)
		m.raw(tt.stts)
		m.close(stts)

		// stss only if some sample is not a sync sample.
		if !tt.allSync {
			stss := m.full("stss", 0, 0)
			m.u32(tt.nStss)
			m.raw(tt.stss)
			m.close(stss)
		}

		// ctts (version 1, signed) only if some sample has a PTS offset.
		if tt.anyCT {
			ctts := m.full("ctts", 1, 0)
			m.u32(tt.nCtts)
			m.raw(tt.ctts)
			m.close(ctts)
		}

		// stsc: runs of chunks with the same sample count.
		stsc := m.full("stsc", 0, 0)
		cnt := len(m.b)
		m.u32(0)
		var n uint32
		ch := chunks[i]
		for j := 0; j < len(ch); {
			k := j
			for k < len(ch) && ch[k].count == ch[j].count {
				k++
			}
			m.u32(uint32(j + 1))
			m.u32(ch[j].count)
			m.u32(1)
			n++
			j = k
		}
		binary.BigEndian.PutUint32(m.b[cnt:], n)
		m.close(stsc)

		stsz := m.full("stsz", 0, 0)
		m.raw(tt.stsz)
		m.close(stsz)

		if large {
			co := m.full("co64", 0, 0)
			m.u32(uint32(len(ch)))
			for _, x := range ch {
				fields = append(fields, len(m.b))
				m.u64(uint64(x.off))
			}
			m.close(co)
		} else {
			co := m.full("stco", 0, 0)
			m.u32(uint32(len(ch)))
			for _, x := range ch {
				fields = append(fields, len(m.b))
				m.u32(uint32(x.off))
			}
			m.close(co)
		}
		m.close(stbl)
		m.close(minf)
		m.close(mdia)
		m.close(trak)
	}
	m.close(moov)
	return m.b, fields
}
