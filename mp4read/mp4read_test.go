package mp4read

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

var genSeeds = flag.Bool("gen-seeds", false, "rewrite the seed corpus in testdata/fuzz")

// smallSegment is a segment as the recorder writes it (mediacommon fmp4):
// H.264 and LPCM, frags one-second fragments of 5 frames.
func smallSegment(t testing.TB, frags int) []byte {
	t.Helper()
	clip := fakecamClip(t)
	cs, err := Read(bytes.NewReader(clip), int64(len(clip)), nil)
	if err != nil {
		t.Fatal(err)
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{
		{ID: 1, TimeScale: 90000, Codec: cs.Video().Codec},
		{ID: 2, TimeScale: 8000, Codec: &mp4.CodecLPCM{BitDepth: 16, SampleRate: 8000, ChannelCount: 1}},
	}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < frags; k++ {
		part := fmp4.Part{SequenceNumber: uint32(k + 1)}
		v := &fmp4.PartTrack{ID: 1, BaseTime: uint64(k) * 90000}
		for i := 0; i < 5; i++ {
			v.Samples = append(v.Samples, &fmp4.Sample{Duration: 18000, PTSOffset: int32(i % 2 * 3600), IsNonSyncSample: i > 0,
				Payload: bytes.Repeat([]byte{byte(k), byte(i)}, 7+i)})
		}
		a := &fmp4.PartTrack{ID: 2, BaseTime: uint64(k) * 8000}
		for i := 0; i < 4; i++ {
			a.Samples = append(a.Samples, &fmp4.Sample{Duration: 2000, Payload: make([]byte, 40)})
		}
		part.Tracks = []*fmp4.PartTrack{v, a}
		var pb seekablebuffer.Buffer
		if err := part.Marshal(&pb); err != nil {
			t.Fatal(err)
		}
		buf.Write(pb.Bytes())
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fakecamClip is one of the committed sample clips (ffmpeg's fMP4: another
// writer than the recorder's).
func fakecamClip(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join("..", "recorder", "fakecam", "clips", "h264-bframes.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadSmallSegment(t *testing.T) {
	data := smallSegment(t, 3)
	seg, err := Read(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(seg.Tracks) != 2 || len(seg.Video().Samples) != 15 || len(seg.Tracks[1].Samples) != 12 {
		t.Fatalf("tracks %d, video %d samples", len(seg.Tracks), len(seg.Video().Samples))
	}
	v := seg.Video()
	for i, s := range v.Samples {
		if s.DTS != int64(i)*18000 || s.Dur != 18000 || s.NonSync != (i%5 > 0) || s.PTSOff != int32(i%5%2*3600) {
			t.Errorf("sample %d: %+v", i, s)
		}
		p, err := s.Payload(bytes.NewReader(data), nil)
		if err != nil || !bytes.Equal(p, bytes.Repeat([]byte{byte(i / 5), byte(i % 5)}, 7+i%5)) {
			t.Errorf("sample %d payload %x %v", i, p, err)
		}
	}
	l, err := SegmentLayout(bytes.NewReader(data), int64(len(data)))
	if err != nil || l.Fragments != 3 || l.Complete != int64(len(data)) {
		t.Fatalf("layout %+v %v", l, err)
	}
	// A torn tail: the layout stops at the last whole fragment; Read refuses.
	torn := data[:len(data)-10]
	l, err = SegmentLayout(bytes.NewReader(torn), int64(len(torn)))
	if err != nil || l.Fragments != 2 || l.Complete >= int64(len(torn)) {
		t.Errorf("torn layout %+v %v", l, err)
	}
	if _, err := Read(bytes.NewReader(torn), int64(len(torn)), nil); err == nil {
		t.Error("torn segment read without error")
	}
}

// An index round-trips: decoding gives the table read from the file, and
// encoding is deterministic.
func TestIndexRoundTrip(t *testing.T) {
	for name, data := range map[string][]byte{"recorder": smallSegment(t, 4), "ffmpeg": fakecamClip(t)} {
		seg, err := Read(bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			t.Fatal(name, err)
		}
		b, err := EncodeIndex(seg, sha(data))
		if err != nil {
			t.Fatal(err)
		}
		ix, err := DecodeIndex(b, nil)
		if err != nil {
			t.Fatal(name, err)
		}
		if ix.SHA256 != sha(data) || ix.Segment.Size != int64(len(data)) || !bytes.Equal(ix.Segment.Moov, seg.Moov) {
			t.Errorf("%s: header differs", name)
		}
		for i := range seg.Tracks {
			if !reflect.DeepEqual(seg.Tracks[i].Samples, ix.Segment.Tracks[i].Samples) || seg.Tracks[i].ID != ix.Segment.Tracks[i].ID {
				t.Errorf("%s: track %d differs", name, i)
			}
		}
		b2, _ := EncodeIndex(ix.Segment, ix.SHA256)
		if !bytes.Equal(b, b2) {
			t.Errorf("%s: encoding not deterministic", name)
		}
		n := 0
		for _, tr := range seg.Tracks {
			n += len(tr.Samples)
		}
		t.Logf("%s: %d samples, index %d bytes (%.1f per sample, moov %d)", name, n, len(b), float64(len(b)-len(seg.Moov)-85)/float64(n), len(seg.Moov))
	}
}

func TestLoadRebuildsWithoutTrust(t *testing.T) {
	dir := t.TempDir()
	data := smallSegment(t, 2)
	p := filepath.Join(dir, "12-00-00.000000.mp4")
	os.WriteFile(p, data, 0o644)
	if _, ix, err := Load(p, sha(data), nil); err != nil || ix != nil {
		t.Fatalf("no index: %v %v", ix, err)
	}
	if err := IndexFile(p, sha(data), nil); err != nil {
		t.Fatal(err)
	}
	if _, ix, err := Load(p, sha(data), nil); err != nil || ix == nil {
		t.Fatalf("index not used: %v", err)
	}
	if _, ix, _ := Load(p, "", nil); ix != nil {
		t.Error("index used without a catalogued SHA-256")
	}
	other := sha([]byte("x"))
	if _, ix, _ := Load(p, other, nil); ix != nil {
		t.Error("index of another SHA-256 used")
	}
}

// checkSegment is what every fuzz input must satisfy once read.
func checkSegment(t *testing.T, seg *Segment, size int64) {
	for _, tr := range seg.Tracks {
		for _, s := range tr.Samples {
			if s.Off < 0 || s.Off+int64(s.Size) > size {
				t.Fatalf("sample %+v outside a file of %d bytes", s, size)
			}
		}
	}
	b, err := EncodeIndex(seg, sha(nil))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := DecodeIndex(b, nil)
	if err != nil {
		t.Fatalf("index of a readable segment does not decode: %v", err)
	}
	for i := range seg.Tracks {
		if !reflect.DeepEqual(seg.Tracks[i].Samples, ix.Segment.Tracks[i].Samples) {
			t.Fatalf("track %d: index round trip differs", i)
		}
	}
}

func seeds(f *testing.F) {
	f.Add(smallSegment(f, 1))
	f.Add(smallSegment(f, 3))
	f.Add(fakecamClip(f)[:4096])
}

func FuzzRead(f *testing.F) {
	seeds(f)
	// Decoding a moov is mediacommon's code; a cache warmed with the
	// seeds' moov boxes spends the fuzzer's time on the fragment tables,
	// this package's own parsing (a mutated moov is still decoded).
	ic := &InitCache{}
	for _, b := range [][]byte{smallSegment(f, 1), fakecamClip(f)} {
		Read(bytes.NewReader(b), int64(len(b)), ic)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		seg, err := Read(bytes.NewReader(data), int64(len(data)), ic)
		if err != nil {
			return
		}
		checkSegment(t, seg, int64(len(data)))
	})
}

func FuzzLayout(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := SegmentLayout(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if l.InitEnd > l.Complete || l.Complete > int64(len(data)) {
			t.Fatalf("layout %+v of %d bytes", l, len(data))
		}
	})
}

// FuzzIndex feeds the decoder index bodies with a valid checksum (the
// checksum alone would reject almost every mutation).
func FuzzIndex(f *testing.F) {
	for _, n := range []int{1, 3} {
		data := smallSegment(f, n)
		seg, _ := Read(bytes.NewReader(data), int64(len(data)), nil)
		b, _ := EncodeIndex(seg, sha(data))
		f.Add(b[:len(b)-32])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		ix, err := DecodeIndex(append(body[:len(body):len(body)], sum[:]...), nil)
		if err != nil {
			return
		}
		checkSegment(t, ix.Segment, ix.Segment.Size)
	})
}

// TestWriteSeedCorpus writes the committed seed corpus (go test -run
// TestWriteSeedCorpus -gen-seeds): recorder-made segments, a torn one, an
// ffmpeg-made fragment and index bodies, in testdata/fuzz/<target>/.
func TestWriteSeedCorpus(t *testing.T) {
	if !*genSeeds {
		t.Skip("-gen-seeds not set")
	}
	write := func(target, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	two := smallSegment(t, 2)
	for _, target := range []string{"FuzzRead", "FuzzLayout"} {
		write(target, "recorder-2-fragments", two)
		write(target, "torn-tail", two[:len(two)-25])
		write(target, "zero-filled-tail", append(append([]byte{}, two...), make([]byte, 64)...))
		write(target, "ffmpeg-start", fakecamClip(t)[:8192])
	}
	seg, _ := Read(bytes.NewReader(two), int64(len(two)), nil)
	b, _ := EncodeIndex(seg, sha(two))
	write("FuzzIndex", "recorder-2-fragments", b[:len(b)-32])
}

// Each streams a track's samples with their payloads, in decode order.
func TestEachStreamsPayloads(t *testing.T) {
	data := smallSegment(t, 2)
	seg, err := Read(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var total int
	err = seg.Each(bytes.NewReader(data), seg.Tracks[1], func(s Sample, p []byte) error {
		if len(p) != int(s.Size) || !bytes.Equal(p, data[s.Off:s.Off+int64(s.Size)]) {
			t.Errorf("sample at %d: wrong payload", s.Off)
		}
		total += len(p)
		return nil
	})
	if err != nil || total != 2*4*40 {
		t.Errorf("streamed %d bytes, err %v", total, err)
	}
}
