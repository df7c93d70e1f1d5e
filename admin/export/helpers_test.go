package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"vahti/registry"
)

// needTool fails under CI=true and skips otherwise when a tool is missing.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (required under CI)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// stream is a whole recording made by ffmpeg, parsed, from which segments
// are cut the way the recorder writes them (mediacommon fmp4, 1 s parts).
type stream struct {
	data  []byte
	video *segTrack
	audio *segTrack // nil: none
}

type streamOpts struct {
	codec   string // h264 | h265
	audio   string // "" | aac | lpcm
	seconds int
	size    string // e.g. 320x240
	bitrate string // e.g. 2M (constant-ish bitrate, for benchmarks)
}

var (
	streamMu    sync.Mutex
	streamCache = map[streamOpts]*stream{}
	streamDir   string
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "vahti-export-src-")
	if err != nil {
		panic(err)
	}
	streamDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// makeStream runs ffmpeg once per option set (25 fps, a keyframe every
// second, no B-frames, as IP cameras send).
func makeStream(t testing.TB, o streamOpts) *stream {
	t.Helper()
	needTool(t, "ffmpeg")
	if o.size == "" {
		o.size = "320x240"
	}
	streamMu.Lock()
	defer streamMu.Unlock()
	if s := streamCache[o]; s != nil {
		return s
	}
	out := filepath.Join(streamDir, fmt.Sprintf("%s-%s-%d-%s-%s.mp4", o.codec, o.audio, o.seconds, o.size, o.bitrate))
	args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=25", o.size)}
	if o.audio == "aac" {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000")
	}
	args = append(args, "-t", fmt.Sprint(o.seconds), "-pix_fmt", "yuv420p")
	switch o.codec {
	case "h265":
		args = append(args, "-c:v", "libx265", "-x265-params", "bframes=0:keyint=25:min-keyint=25:scenecut=0:log-level=error", "-tag:v", "hvc1")
	default:
		args = append(args, "-c:v", "libx264", "-bf", "0", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0")
	}
	if o.bitrate != "" {
		args = append(args, "-preset", "veryfast", "-b:v", o.bitrate, "-minrate", o.bitrate, "-maxrate", o.bitrate, "-bufsize", o.bitrate)
	}
	if o.audio == "aac" {
		args = append(args, "-c:a", "aac", "-ac", "1")
	}
	args = append(args, "-movflags", "frag_keyframe+empty_moov+default_base_moof", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
	}
	ps, err := parseSegment(out)
	if err != nil {
		t.Fatalf("parse ffmpeg output: %v", err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{data: data, video: ps.video()}
	// ffmpeg may give the first frame an odd duration (audio priming);
	// a camera sends a steady 25 fps, so retime video to exactly that.
	frame := int64(s.video.TimeScale) / 25
	for i := range s.video.Samples {
		s.video.Samples[i].DTS = int64(i) * frame
		s.video.Samples[i].Dur = uint32(frame)
	}
	if len(ps.tracks) > 1 {
		s.audio = ps.tracks[1]
	}
	if o.audio == "lpcm" {
		s.audio = lpcmTrack(s)
	}
	streamCache[o] = s
	return s
}

// lpcmTrack synthesises 16-bit big-endian mono 8 kHz LPCM (how the
// recorder stores G.711) as 20 ms samples, appended to the stream's data.
func lpcmTrack(s *stream) *segTrack {
	v := s.video
	last := v.Samples[len(v.Samples)-1]
	total := ticksToDur(last.DTS+int64(last.Dur)-v.Samples[0].DTS, v.TimeScale)
	t := &segTrack{ID: 99, TimeScale: 8000, Codec: &mp4.CodecLPCM{BitDepth: 16, SampleRate: 8000, ChannelCount: 1}}
	n := int(total / (20 * time.Millisecond))
	for i := 0; i < n; i++ {
		off := int64(len(s.data))
		for j := 0; j < 160; j++ {
			x := int16(8000 * math.Sin(2*math.Pi*440*float64(i*160+j)/8000))
			s.data = append(s.data, byte(uint16(x)>>8), byte(x))
		}
		t.Samples = append(t.Samples, segSample{DTS: int64(i * 160), Dur: 160, Off: off, Size: 320})
	}
	return t
}

// env is a storage root and registry with helpers to catalog segments.
type env struct {
	t     testing.TB
	root  string
	state string
	db    *registry.DB
	ex    *Exporter
	base  time.Time
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, root: filepath.Join(dir, "rec"), state: filepath.Join(dir, "state"),
		base: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	now := func() time.Time { return time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC) }
	db, err := registry.Open(e.state, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	e.ex = &Exporter{Root: e.root, StateDir: e.state, DB: db, Now: now, Version: "test",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return e
}

// addSegments cuts the stream into segments of segSec seconds starting at
// e.base+at, writes them under root like the recorder (mediacommon fmp4,
// one part per second), and catalogs them. skip lists segment indexes not
// written (a recording gap). It returns the catalogued rows.
func (e *env) addSegments(camera string, s *stream, at time.Duration, segSec int, skip ...int) []registry.Segment {
	e.t.Helper()
	v := s.video
	ts := int64(v.TimeScale)
	v0 := v.Samples[0].DTS
	var out []registry.Segment
	nseg := int((ticksToDur(v.Samples[len(v.Samples)-1].DTS-v0, v.TimeScale) + time.Second - 1) / time.Second / time.Duration(segSec))
	for k := 0; k < nseg; k++ {
		lo, hi := v0+int64(k*segSec)*ts, v0+int64((k+1)*segSec)*ts
		skipped := false
		for _, x := range skip {
			skipped = skipped || x == k
		}
		if skipped {
			continue
		}
		seg := e.writeSegment(camera, s, at, lo, hi)
		if seg != nil {
			out = append(out, *seg)
		}
	}
	return out
}

// writeSegment writes the stream's samples with video DTS in [lo, hi).
func (e *env) writeSegment(camera string, s *stream, at time.Duration, lo, hi int64) *registry.Segment {
	e.t.Helper()
	v := s.video
	v0 := v.Samples[0].DTS
	var vs []segSample
	for _, sm := range v.Samples {
		if sm.DTS >= lo && sm.DTS < hi {
			vs = append(vs, sm)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	start := e.base.Add(at + ticksToDur(vs[0].DTS-v0, v.TimeScale))
	lastV := vs[len(vs)-1]
	end := start.Add(ticksToDur(lastV.DTS+int64(lastV.Dur)-vs[0].DTS, v.TimeScale))
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: v.TimeScale, Codec: v.Codec}}}
	var as []segSample
	if s.audio != nil {
		a := s.audio
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: 2, TimeScale: a.TimeScale, Codec: a.Codec})
		aLo := ticksToDur(vs[0].DTS-v0, v.TimeScale)
		aHi := ticksToDur(lastV.DTS+int64(lastV.Dur)-v0, v.TimeScale)
		for _, sm := range a.Samples {
			at := ticksToDur(sm.DTS-a.Samples[0].DTS, a.TimeScale)
			if at >= aLo && at < aHi {
				as = append(as, sm)
			}
		}
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		e.t.Fatal(err)
	}
	payload := func(sm segSample) []byte { return s.data[sm.Off : sm.Off+int64(sm.Size)] }
	// One part per second of video.
	seq := uint32(1)
	for i := 0; i < len(vs); {
		j := i
		for j < len(vs) && vs[j].DTS < vs[i].DTS+int64(v.TimeScale) {
			j++
		}
		part := fmp4.Part{SequenceNumber: seq}
		pt := &fmp4.PartTrack{ID: 1, BaseTime: uint64(vs[i].DTS)}
		for _, sm := range vs[i:j] {
			pt.Samples = append(pt.Samples, &fmp4.Sample{Duration: sm.Dur, PTSOffset: sm.PTSOff, IsNonSyncSample: sm.NonSync, Payload: payload(sm)})
		}
		part.Tracks = append(part.Tracks, pt)
		if s.audio != nil {
			a := s.audio
			pLo := ticksToDur(vs[i].DTS-v0, v.TimeScale)
			pHi := ticksToDur(vs[j-1].DTS+int64(vs[j-1].Dur)-v0, v.TimeScale)
			var at *fmp4.PartTrack
			for _, sm := range as {
				t := ticksToDur(sm.DTS-a.Samples[0].DTS, a.TimeScale)
				if t >= pLo && t < pHi {
					if at == nil {
						at = &fmp4.PartTrack{ID: 2, BaseTime: uint64(sm.DTS)}
					}
					at.Samples = append(at.Samples, &fmp4.Sample{Duration: sm.Dur, Payload: payload(sm)})
				}
			}
			if at != nil {
				part.Tracks = append(part.Tracks, at)
			}
		}
		var pb seekablebuffer.Buffer
		if err := part.Marshal(&pb); err != nil {
			e.t.Fatal(err)
		}
		buf.Write(pb.Bytes())
		seq++
		i = j
	}
	rel := registry.SegmentPath(camera, start)
	abs := filepath.Join(e.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(abs, buf.Bytes(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	var names []string
	for _, it := range init.Tracks {
		names = append(names, codecName(it.Codec))
	}
	params := sha256.Sum256([]byte(fmt.Sprintf("%#v", init.Tracks[0].Codec)))
	seg := &registry.Segment{Camera: camera, Start: start, End: end, Path: rel, Bytes: int64(buf.Len()),
		Codecs: strings.Join(names, ","), Params: hex.EncodeToString(params[:8]), SHA256: hex.EncodeToString(sum[:])}
	err := e.db.Update(context.Background(), func(tx *registry.Tx) error { return tx.AddSegment(seg) })
	if err != nil {
		e.t.Fatal(err)
	}
	return seg
}

func (e *env) abs(seg registry.Segment) string {
	return filepath.Join(e.root, filepath.FromSlash(seg.Path))
}

// probe is what ffprobe says about a file or URL.
type probe struct {
	Streams []struct {
		Index     int    `json:"index"`
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
	} `json:"streams"`
	Packets []struct {
		StreamIndex int    `json:"stream_index"`
		PTS         string `json:"pts_time"`
		DTS         string `json:"dts_time"`
		Duration    string `json:"duration_time"`
		Flags       string `json:"flags"`
	} `json:"packets"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t testing.TB, target string) *probe {
	t.Helper()
	needTool(t, "ffprobe")
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format",
		"-show_entries", "packet=stream_index,pts_time,dts_time,duration_time,flags", target).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", target, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// decodeErrors decodes every frame with ffmpeg and returns its complaints.
func decodeErrors(t testing.TB, target string) string {
	t.Helper()
	needTool(t, "ffmpeg")
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", target, "-f", "null", "-").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// videoPackets returns the video packets' pts (seconds) and flags.
func (p *probe) video() (idx int, codec string) {
	for _, s := range p.Streams {
		if s.CodecType == "video" {
			return s.Index, s.CodecName
		}
	}
	return -1, ""
}

func (p *probe) codecs() []string {
	var out []string
	for _, s := range p.Streams {
		out = append(out, s.CodecName)
	}
	return out
}

func atof(s string) float64 {
	var f float64
	fmt.Sscan(s, &f)
	return f
}

func syncOnce() sync.Once { return sync.Once{} }
