package recorder

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Fuzz targets for what a camera controls: the access units that reach the
// writer, and the bytes ProbeSegment reads back. The seeds in
// testdata/fuzz run with the normal suite; to fuzz longer:
//
//	TMPDIR=/dev/shm go test ./recorder -run '^$' -fuzz FuzzWriteAccessUnit -fuzztime 10m -fuzzminimizetime 5s
//	TMPDIR=/dev/shm go test ./recorder -run '^$' -fuzz FuzzProbeSegment -fuzztime 10m -fuzzminimizetime 5s

// fuzzOps turns fuzz input into access units: per unit a flags byte (1:
// keyframe with the clip's SPS/PPS in front, 2: a changed SPS, 4: resync
// first, 8: jump the timestamps an hour, 16: back instead of forward), a
// signed dts step (int16, in ms), a clock step (byte, in 4 ms), a NAL
// length (uint16) and the NAL bytes.
type fuzzOp struct {
	flags     byte
	dtsStep   int64 // 90 kHz
	clockStep time.Duration
	nal       []byte
}

func fuzzOps(data []byte) []fuzzOp {
	var ops []fuzzOp
	for len(data) >= 6 {
		op := fuzzOp{flags: data[0],
			dtsStep:   int64(int16(binary.BigEndian.Uint16(data[1:]))) * 90,
			clockStep: time.Duration(data[3]) * 4 * time.Millisecond}
		n := int(binary.BigEndian.Uint16(data[4:]))
		data = data[6:]
		n = min(n, len(data))
		op.nal, data = data[:n], data[n:]
		if op.flags&8 != 0 {
			if op.flags&16 != 0 {
				op.dtsStep -= durToTicks(time.Hour, videoTimeScale)
			} else {
				op.dtsStep += durToTicks(time.Hour, videoTimeScale)
			}
		}
		ops = append(ops, op)
	}
	return ops
}

// fuzzSeed encodes the first n access units of the sample clip as fuzz
// input, each slice cut to 48 bytes: the writer never looks inside a
// slice, and small inputs keep the fuzzer fast.
func fuzzSeed(t testing.TB, n int, flags func(i int) byte) []byte {
	aus, _ := loadClip(t, "h264.mp4")
	var out []byte
	prev := int64(0)
	for i, a := range aus[:n] {
		var slice []byte
		for _, u := range a.au {
			if t := u[0] & 0x1f; t == 1 || t == 5 {
				slice = u[1:min(len(u), 49)] // the writer adds the header byte for keyframes
				if t == 1 {
					slice = u[:min(len(u), 48)]
				}
			}
		}
		f := byte(0)
		if a.key {
			f = 1
		}
		if flags != nil {
			f |= flags(i)
		}
		step := (a.dts - prev) / 90
		prev = a.dts
		out = append(out, f)
		out = binary.BigEndian.AppendUint16(out, uint16(int16(step)))
		out = append(out, 10, 0, 0)
		binary.BigEndian.PutUint16(out[len(out)-2:], uint16(len(slice)))
		out = append(out, slice...)
	}
	return out
}

func FuzzWriteAccessUnit(f *testing.F) {
	f.Add(fuzzSeed(f, 60, nil))
	f.Add(fuzzSeed(f, 60, func(i int) byte {
		if i == 20 {
			return 8 // an hour forward
		}
		if i == 40 {
			return 8 | 16 // and back
		}
		return 0
	}))
	f.Add(fuzzSeed(f, 40, func(i int) byte { return 2 * byte(i%2) }))
	aus, _ := loadClip(f, "h264.mp4")
	sps, pps := aus[0].au[0], aus[0].au[1]
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newWriterHarness(t)
		h.w.cfg.log = testLogger(nil, nil)
		h.w.cfg.maxFrameBytes = 64 << 10
		h.w.cfg.maxPartBytes = 128 << 10
		h.w.cfg.maxSegmentBytes = 1 << 20
		var dts int64
		altSPS := append([]byte(nil), sps...)
		altSPS[3]++
		for _, op := range fuzzOps(data) {
			dts += op.dtsStep
			h.clock.t = h.clock.t.Add(op.clockStep)
			var au [][]byte
			if op.flags&1 != 0 {
				s := sps
				if op.flags&2 != 0 {
					s = altSPS
				}
				nal := append([]byte{0x65}, op.nal...)
				au = [][]byte{s, pps, nal}
			} else {
				au = [][]byte{op.nal}
			}
			if op.flags&4 != 0 {
				h.w.resync()
			}
			// An error is a fair answer to a bad frame (the session logs
			// it); a panic, a broken file or unbounded memory is not.
			_ = h.w.writeVideo(au, dts, dts)
			if b := h.w.bufferedBytes(); b > h.w.cfg.maxPartBytes+h.w.cfg.maxFrameBytes {
				t.Fatalf("%d bytes buffered", b)
			}
		}
		if err := h.w.close(); err != nil {
			t.Fatal(err)
		}
		for i, s := range h.rows {
			info, err := ProbeSegment(abs(s.Path, h.root))
			if err != nil {
				t.Fatalf("segment %d: %v", i, err)
			}
			if info.SHA256 != s.SHA256 || info.Bytes != s.Bytes {
				t.Fatalf("segment %d: catalog %+v, file %+v", i, s, info)
			}
			if s.Bytes > h.w.cfg.maxSegmentBytes*2 {
				t.Fatalf("segment %d: %d bytes", i, s.Bytes)
			}
			if i > 0 && s.Start.Before(h.rows[i-1].End) {
				t.Fatalf("segment %d overlaps the previous", i)
			}
			if !s.End.After(s.Start) {
				t.Fatalf("segment %d: empty (%s..%s)", i, s.Start, s.End)
			}
		}
	})
}

// probeSeed is a small real segment: the clip's first frames, their
// slices cut short (the parser never looks inside them).
func probeSeed(t testing.TB) []byte {
	aus, _ := loadClip(t, "h264.mp4")
	for i := range aus[:8] {
		au := append([][]byte(nil), aus[i].au...)
		for k, u := range au {
			if typ := u[0] & 0x1f; typ == 1 || typ == 5 {
				au[k] = u[:min(len(u), 48)]
			}
		}
		aus[i].au = au
	}
	h := newWriterHarness(t)
	h.feed(t, aus[:8], 0, nil)
	if err := h.w.close(); err != nil || len(h.rows) != 1 {
		t.Fatalf("seed segment: %v, %d rows", err, len(h.rows))
	}
	b, err := os.ReadFile(abs(h.rows[0].Path, h.root))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzProbeSegment(f *testing.F) {
	seed := probeSeed(f)
	f.Add(seed)
	f.Add(seed[:len(seed)-100])
	f.Add(seed[:700])
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := probeBytes(data)
		if err != nil {
			return
		}
		if info.Bytes != int64(len(data)) || info.Fragments == 0 || info.Duration < 0 {
			t.Fatalf("accepted with %+v", info)
		}
		if info.Sealed {
			// A sealed file names its camera and start in its header, and
			// ProbeSegment refuses it under another name.
			return
		}
		// What ProbeSegment accepts, Recover and Reconcile trust: a name
		// and a file round-trip.
		p := filepath.Join(t.TempDir(), "cam", "2026", "01", "02", "03-04-05.000000.mp4")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		pi, err := ProbeSegment(p)
		if err != nil || pi.SHA256 != info.SHA256 || pi.Camera != "cam" {
			t.Fatalf("ProbeSegment %+v, %v", pi, err)
		}
	})
}
