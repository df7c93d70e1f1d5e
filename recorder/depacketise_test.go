package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/pion/rtp"
)

// depacketStream is the RTP packets of a stream of access units.
func depacketStream(t testing.TB, h265 bool, aus [][][]byte) []*rtp.Packet {
	t.Helper()
	var out []*rtp.Packet
	encode := func(au [][]byte) ([]*rtp.Packet, error) {
		if h265 {
			e := &rtph265.Encoder{PayloadType: 96}
			if err := e.Init(); err != nil {
				return nil, err
			}
			return e.Encode(au)
		}
		e := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1}
		if err := e.Init(); err != nil {
			return nil, err
		}
		return e.Encode(au)
	}
	seq := uint16(65000) // wraps inside the stream
	for i, au := range aus {
		pkts, err := encode(au)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			p.SequenceNumber = seq
			p.Timestamp = uint32(i * 3600)
			seq++
		}
		out = append(out, pkts...)
	}
	return out
}

// syntheticAUs makes n access units of one to four NAL units of random
// sizes (some far over one packet, some tiny enough to aggregate), with
// valid headers and bytes that never form a start code.
func syntheticAUs(h265 bool, n int, rng *rand.Rand) [][][]byte {
	var aus [][][]byte
	for range n {
		var au [][]byte
		for range 1 + rng.IntN(4) {
			size := 3 + rng.IntN(6000)
			if rng.IntN(3) == 0 {
				size = 3 + rng.IntN(60)
			}
			nalu := make([]byte, size)
			for i := range nalu {
				nalu[i] = byte(1 + rng.IntN(255))
			}
			if h265 {
				nalu[0], nalu[1] = byte(1)<<1, 1 // TRAIL_R
			} else {
				nalu[0] = 0x61 // non-IDR slice, nri 3
			}
			au = append(au, nalu)
		}
		aus = append(aus, au)
	}
	return aus
}

// mangle applies a way a network or a camera spoils a stream.
func mangle(pkts []*rtp.Packet, how string, rng *rand.Rand) []*rtp.Packet {
	var out []*rtp.Packet
	for _, p := range pkts {
		q := *p
		q.Payload = bytes.Clone(p.Payload)
		switch how {
		case "loss":
			if rng.IntN(30) == 0 {
				continue
			}
		case "no marker":
			q.Marker = false
		case "garbage":
			if rng.IntN(25) == 0 {
				n := rng.IntN(40)
				q.Payload = make([]byte, n)
				for i := range q.Payload {
					q.Payload[i] = byte(rng.IntN(256))
				}
			}
		case "duplicates":
			if rng.IntN(20) == 0 {
				out = append(out, &q)
			}
		}
		out = append(out, &q)
	}
	return out
}

// The depacketiser gives, packet for packet, what gortsplib's decoders
// give: the same access units and an error where they err (the same
// error where the session tells errors apart), on clean streams and on
// lossy, markerless, garbled and duplicated ones, H.264 and H.265.
func TestDepacketiserMatchesGortsplib(t *testing.T) {
	clip, _ := loadClip(t, "h264.mp4")
	var clipAUs [][][]byte
	for _, a := range clip {
		clipAUs = append(clipAUs, a.au)
	}
	for _, h265 := range []bool{false, true} {
		for _, how := range []string{"clean", "loss", "no marker", "garbage", "duplicates"} {
			name := fmt.Sprintf("h265=%v/%s", h265, how)
			t.Run(name, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, 2))
				aus := syntheticAUs(h265, 300, rng)
				if !h265 {
					aus = append(clipAUs, aus...)
				}
				pkts := mangle(depacketStream(t, h265, aus), how, rng)
				var theirs func(*rtp.Packet) ([][]byte, error)
				if h265 {
					d := &rtph265.Decoder{}
					if err := d.Init(); err != nil {
						t.Fatal(err)
					}
					theirs = d.Decode
				} else {
					d := &rtph264.Decoder{PacketizationMode: 1}
					if err := d.Init(); err != nil {
						t.Fatal(err)
					}
					theirs = d.Decode
				}
				ours := &depacketiser{h265: h265}
				got := 0
				for i, p := range pkts {
					wantAU, wantErr := theirs(p)
					gotAU, gotErr := ours.Decode(p)
					if (wantErr == nil) != (gotErr == nil) {
						t.Fatalf("packet %d: gortsplib says %v, depacketiser %v", i, wantErr, gotErr)
					}
					for _, sentinel := range []error{rtph264.ErrMorePacketsNeeded, rtph264.ErrNonStartingPacketAndNoPrevious,
						rtph265.ErrMorePacketsNeeded, rtph265.ErrNonStartingPacketAndNoPrevious} {
						if errors.Is(wantErr, sentinel) != errors.Is(gotErr, sentinel) {
							t.Fatalf("packet %d: gortsplib says %v, depacketiser %v", i, wantErr, gotErr)
						}
					}
					if wantErr != nil {
						continue
					}
					if len(gotAU) != len(wantAU) {
						t.Fatalf("packet %d: %d NAL units, gortsplib %d", i, len(gotAU), len(wantAU))
					}
					for k := range wantAU {
						if !bytes.Equal(gotAU[k], wantAU[k]) {
							t.Fatalf("packet %d: NAL unit %d differs", i, k)
						}
					}
					got++
				}
				if how == "clean" && got != len(aus) {
					t.Errorf("%d access units of %d", got, len(aus))
				}
				if got == 0 && !(h265 && how == "no marker") { // rtph265 needs markers
					t.Error("no access unit at all")
				}
			})
		}
	}
}

// BenchmarkDepacketise compares gortsplib's H.264 decoder with the
// depacketiser on the 1080p-sized synthetic stream: allocations per
// packet.
//
//	go test -run '^$' -bench Depacketise -benchmem ./recorder
func BenchmarkDepacketise(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	pkts := depacketStream(b, false, syntheticAUs(false, 200, rng))
	b.Run("gortsplib", func(b *testing.B) {
		d := &rtph264.Decoder{PacketizationMode: 1}
		if err := d.Init(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			d.Decode(pkts[i%len(pkts)])
		}
	})
	b.Run("depacketiser", func(b *testing.B) {
		d := &depacketiser{}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			d.Decode(pkts[i%len(pkts)])
		}
	})
}
