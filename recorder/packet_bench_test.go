package recorder

import (
	"runtime"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/pion/rtp"

	"vahti/configs"
)

// BenchmarkPacketToFragment measures the recorder's own path for one RTP
// packet: sequence check, depacketiser, parameter sets, DTS extraction,
// writer, fragment on disk (the clip looped, 1-minute segments, fsync every
// second of media). What gortsplib does before it hands the packet over
// (reading the TCP stream, parsing the RTP header) is not included; see
// the README's Benchmarks section for what that allocates. allocs/frame
// is the exact figure behind the rounded allocs/op. Run:
//
//	go test -run '^$' -bench PacketToFragment -benchmem ./recorder
func BenchmarkPacketToFragment(b *testing.B) {
	clip, length := loadClip(b, "h264.mp4")
	type pkt struct {
		p   *rtp.Packet
		pts int64
	}
	var loop []pkt
	enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: 1400}
	if err := enc.Init(); err != nil {
		b.Fatal(err)
	}
	for _, a := range clip {
		ps, err := enc.Encode(a.au)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range ps {
			p.Timestamp = uint32(a.pts)
			loop = append(loop, pkt{p, a.pts})
		}
	}
	h := newWriterHarness(b)
	h.w.cfg.segmentDuration = time.Minute
	h.w.segTicks = durToTicks(time.Minute, videoTimeScale)
	sess := newSession(configs.Camera{ID: "yard"}, &Config{Now: h.clock.now, Log: testLogger(nil, nil)})
	in := &ingest{s: sess, w: h.w, decode: (&depacketiser{}).Decode}
	var seq uint16
	var bytes int64
	for _, p := range loop {
		bytes += int64(len(p.p.Payload))
	}
	b.SetBytes(bytes / int64(len(loop)))
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	frames0 := h.w.frames
	b.ReportAllocs()
	b.ResetTimer()
	var off int64
	p := new(rtp.Packet)
	for i := 0; i < b.N; i++ {
		k := i % len(loop)
		if k == 0 && i > 0 {
			off += length
		}
		*p = *loop[k].p
		p.SequenceNumber = seq
		seq++
		pts := loop[k].pts + off
		p.Timestamp = uint32(pts)
		h.clock.t = h.base.Add(ticksToDur(pts, videoTimeScale))
		in.videoPacket(p, pts, true)
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	if n := h.w.frames - frames0; n > 0 {
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(n), "allocs/frame")
	}
	h.w.close()
}

// The steady-state packet path allocates nothing, keyframes included: a
// whole loop of the clip (an IDR with SPS and PPS every second) after the
// buffers have grown. (mediacommon's H.264 DTS extractor keeps the SPS it
// is handed; were that a slice of the depacketiser's reused buffer, it
// would find it changed at every IDR and parse it again.)
func TestPacketPathDoesNotAllocate(t *testing.T) {
	clip, length := loadClip(t, "h264.mp4")
	enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: 1400}
	if err := enc.Init(); err != nil {
		t.Fatal(err)
	}
	type pkt struct {
		p   *rtp.Packet
		pts int64
	}
	var loop []pkt
	for i, a := range clip {
		au := a.au
		if i%3 == 1 {
			// An access unit delimiter on some frames moves where the
			// parameter sets of the next keyframe land in the buffer.
			au = append([][]byte{{0x09, 0xf0}}, au...)
		}
		ps, err := enc.Encode(au)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			loop = append(loop, pkt{p, a.pts})
		}
	}
	h := newWriterHarness(t)
	h.w.segTicks = durToTicks(time.Hour, videoTimeScale)
	h.w.cfg.segmentDuration = time.Hour
	sess := newSession(configs.Camera{ID: "yard"}, &Config{Now: h.clock.now, Log: testLogger(nil, nil)})
	in := &ingest{s: sess, w: h.w, decode: (&depacketiser{}).Decode}
	var seq uint16
	var off int64
	p := new(rtp.Packet)
	feed := func() {
		for _, l := range loop {
			*p = *l.p
			p.SequenceNumber = seq
			seq++
			pts := l.pts + off
			p.Timestamp = uint32(pts)
			h.clock.t = h.base.Add(ticksToDur(pts, videoTimeScale))
			in.videoPacket(p, pts, true)
		}
		off += length
	}
	for range 3 {
		feed()
	}
	frames := h.w.frames
	if n := testing.AllocsPerRun(3, feed); n > 0 {
		t.Errorf("%.0f allocations per loop of %d packets", n, len(loop))
	}
	if h.w.frames-frames < int64(3*len(clip)) {
		t.Fatalf("only %d frames written", h.w.frames-frames)
	}
	h.w.close()
}
