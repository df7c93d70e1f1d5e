package fakecam_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"vahti/recorder/fakecam"
)

// needTools skips when ffmpeg/ffprobe are missing, except under CI=true
// where that is a failure: the checks below are the point of this package.
func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found (CI=true): %v", tool, err)
			}
			t.Skipf("%s not found: %v", tool, err)
		}
	}
}

func start(t *testing.T, cfg fakecam.Config) *fakecam.Server {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if len(cfg.Cameras) == 0 {
		cfg.Cameras = []string{"cam"}
	}
	srv, err := fakecam.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

type stream struct {
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	RFrameRate   string `json:"r_frame_rate"`
	AvgFrameRate string `json:"avg_frame_rate"`
	SampleRate   string `json:"sample_rate"`
	Channels     int    `json:"channels"`
}

// probe runs ffprobe against an RTSP URL and returns its streams, or its
// error output when it fails.
func probe(t *testing.T, url, transport string) ([]stream, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", transport, "-timeout", "10000000",
		"-show_entries", "stream=codec_type,codec_name,width,height,r_frame_rate,avg_frame_rate,sample_rate,channels",
		"-of", "json", url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, stderr.String(), err
	}
	var out struct{ Streams []stream }
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("ffprobe output: %v\n%s", err, stdout.String())
	}
	return out.Streams, stderr.String(), nil
}

func TestFFprobeSeesCameras(t *testing.T) {
	needTools(t)
	for _, tc := range []struct {
		codec, audio, transport string
		bframes                 bool
	}{
		{"h264", "", "tcp", false},
		{"h264", "aac", "udp", false},
		{"h264", "g711", "tcp", false},
		{"h265", "", "udp", false},
		{"h265", "aac", "tcp", false},
		{"h265", "g711", "udp", false},
		{"h264", "aac", "tcp", true},
	} {
		name := tc.codec + "+" + tc.audio + "/" + tc.transport
		if tc.bframes {
			name += "/bframes"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := start(t, fakecam.Config{Codec: tc.codec, Audio: tc.audio, BFrames: tc.bframes})
			streams, stderr, err := probe(t, srv.URL("cam"), tc.transport)
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, stderr)
			}
			wantStreams := 1
			if tc.audio != "" {
				wantStreams = 2
			}
			if len(streams) != wantStreams {
				t.Fatalf("ffprobe saw %d streams, want %d: %+v", len(streams), wantStreams, streams)
			}
			v := streams[0]
			wantCodec := map[string]string{"h264": "h264", "h265": "hevc"}[tc.codec]
			if v.CodecType != "video" || v.CodecName != wantCodec || v.Width != 320 || v.Height != 240 || v.RFrameRate != "25/1" {
				t.Fatalf("video stream %+v, want %s 320x240 at 25/1", v, wantCodec)
			}
			if tc.audio == "" {
				return
			}
			a := streams[1]
			want := map[string]stream{
				"aac":  {CodecType: "audio", CodecName: "aac", SampleRate: "16000", Channels: 1},
				"g711": {CodecType: "audio", CodecName: "pcm_mulaw", SampleRate: "8000", Channels: 1},
			}[tc.audio]
			if a.CodecType != want.CodecType || a.CodecName != want.CodecName || a.SampleRate != want.SampleRate || a.Channels != want.Channels {
				t.Fatalf("audio stream %+v, want %+v", a, want)
			}
		})
	}
}

type packet struct {
	Stream int
	DTS    float64
	PTS    float64
	Key    bool
}

// packets lists a file's packets with ffprobe.
func packets(t *testing.T, path string) []packet {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=stream_index,dts_time,pts_time,flags",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var ps []packet
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 4 {
			t.Fatalf("ffprobe packet line %q", line)
		}
		var p packet
		p.Stream, _ = strconv.Atoi(f[0])
		p.PTS, _ = strconv.ParseFloat(f[1], 64)
		p.DTS, _ = strconv.ParseFloat(f[2], 64)
		p.Key = strings.HasPrefix(f[3], "K")
		ps = append(ps, p)
	}
	return ps
}

// record runs ffmpeg -c copy against url for d into a file named out.
func record(t *testing.T, url, transport, out string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", transport, "-timeout", "10000000",
		"-i", url, "-c", "copy", "-t", strconv.FormatFloat(d.Seconds(), 'f', 2, 64), "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
}

// TestFFmpegRecordsAcrossLoops records 3.5 s of a camera whose clip loops every
// second, as a recorder would, and checks the file plays: keyframe first,
// decode timestamps strictly increasing across the loop boundaries, 25 fps,
// and it decodes without errors.
func TestFFmpegRecordsAcrossLoops(t *testing.T) {
	needTools(t)
	for _, tc := range []struct {
		name string
		cfg  fakecam.Config
		ext  string // mp4 cannot hold G.711
	}{
		{"h264+aac", fakecam.Config{Codec: "h264", Audio: "aac"}, "mp4"},
		{"h265+g711", fakecam.Config{Codec: "h265", Audio: "g711"}, "mkv"},
		{"h264 b-frames", fakecam.Config{Codec: "h264", BFrames: true}, "mp4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.Loop = time.Second
			srv := start(t, cfg)
			out := filepath.Join(t.TempDir(), "out."+tc.ext)
			// ffmpeg's -t counts from before the first keyframe, which may
			// be up to a second in: 3.5 s leaves at least 2.5 s of video.
			record(t, srv.URL("cam"), "tcp", out, 3500*time.Millisecond)

			var video, audio []packet
			for _, p := range packets(t, out) {
				if p.Stream == 0 {
					video = append(video, p)
				} else {
					audio = append(audio, p)
				}
			}
			if len(video) < 60 {
				t.Fatalf("%d video frames in 3.5 s, want at least 60 at 25 fps", len(video))
			}
			if !video[0].Key {
				t.Fatal("recording does not start with a keyframe")
			}
			keys := 0
			for i, p := range video {
				if p.Key {
					keys++
				}
				if i > 0 && p.DTS <= video[i-1].DTS {
					t.Fatalf("video frame %d: DTS %.3f after %.3f", i, p.DTS, video[i-1].DTS)
				}
				if i > 0 && p.DTS-video[i-1].DTS > 0.045 {
					t.Fatalf("video frame %d: %.3f s gap in DTS (loop boundary?)", i, p.DTS-video[i-1].DTS)
				}
			}
			// Each 1 s loop starts with a keyframe: at least two boundaries crossed.
			if keys < 3 {
				t.Fatalf("%d keyframes, want at least 3 (one per 1 s loop)", keys)
			}
			span := video[len(video)-1].DTS - video[0].DTS
			if rate := float64(len(video)-1) / span; rate < 24.5 || rate > 25.5 {
				t.Fatalf("%d frames over %.2f s = %.2f fps, want 25", len(video), span, rate)
			}
			if cfg.Audio != "" {
				if len(audio) < 20 {
					t.Fatalf("%d audio packets, want a continuous track", len(audio))
				}
				for i := 1; i < len(audio); i++ {
					if audio[i].DTS <= audio[i-1].DTS {
						t.Fatalf("audio packet %d: DTS %.3f after %.3f", i, audio[i].DTS, audio[i-1].DTS)
					}
				}
			}
			if b, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", out, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(b)) > 0 {
				t.Fatalf("decoding the recording: %v\n%s", err, b)
			}
		})
	}
}

// TestAlternateChangesResolution: with Alternate every loop switches between
// 320x240 and 352x288 through in-band SPS, which a recorder must notice.
func TestAlternateChangesResolution(t *testing.T) {
	needTools(t)
	srv := start(t, fakecam.Config{Codec: "h264", Alternate: true, Loop: time.Second})
	out := filepath.Join(t.TempDir(), "alt.mkv")
	record(t, srv.URL("cam"), "tcp", out, 3*time.Second)
	b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=width,height",
		"-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	sizes := map[string]int{}
	for _, l := range strings.Fields(string(b)) {
		sizes[strings.Trim(l, ",")]++
	}
	if sizes["320,240"] < 10 || sizes["352,288"] < 10 || len(sizes) != 2 {
		t.Fatalf("decoded frame sizes %v, want both 320x240 and 352x288", sizes)
	}
}

func TestAuth(t *testing.T) {
	needTools(t)
	srv := start(t, fakecam.Config{User: "viewer", Pass: "s3cret"})
	good := srv.URL("cam")
	if !strings.HasPrefix(good, "rtsp://viewer:s3cret@127.0.0.1:") {
		t.Fatalf("URL %q does not carry the credentials", good)
	}
	if _, stderr, err := probe(t, good, "tcp"); err != nil {
		t.Fatalf("right password refused: %v\n%s", err, stderr)
	}
	for name, url := range map[string]string{
		"wrong password": strings.Replace(good, "s3cret", "guess", 1),
		"no credentials": strings.Replace(good, "viewer:s3cret@", "", 1),
	} {
		_, stderr, err := probe(t, url, "tcp")
		if err == nil {
			t.Fatalf("%s: ffprobe succeeded", name)
		}
		if !strings.Contains(stderr, "401") {
			t.Fatalf("%s: want a 401, ffprobe said: %s", name, stderr)
		}
	}
}

// TestSetOnline: switching a camera off drops its viewers and refuses new
// ones, like a camera losing power; the other cameras carry on.
func TestSetOnline(t *testing.T) {
	needTools(t)
	srv := start(t, fakecam.Config{Cameras: []string{"yard", "lobby"}})

	// A recording in progress ends when its camera goes off.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "cut.mp4")
	rec := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "3000000",
		"-i", srv.URL("yard"), "-c", "copy", "-t", "40", "-y", out)
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := srv.SetOnline("yard", false); err != nil {
		t.Fatal(err)
	}
	if srv.Online("yard") || !srv.Online("lobby") {
		t.Fatal("Online does not reflect SetOnline")
	}
	cut := time.Now()
	_ = rec.Wait()
	if waited := time.Since(cut); waited > 20*time.Second {
		t.Fatalf("ffmpeg kept recording %v after the camera went off", waited)
	}

	_, stderr, err := probe(t, srv.URL("yard"), "tcp")
	if err == nil {
		t.Fatal("ffprobe reached a camera that is off")
	}
	if !strings.Contains(stderr, "503") {
		t.Fatalf("offline camera: want 503, ffprobe said: %s", stderr)
	}
	if _, stderr, err := probe(t, srv.URL("lobby"), "udp"); err != nil {
		t.Fatalf("the other camera stopped too: %v\n%s", err, stderr)
	}

	if err := srv.SetOnline("yard", true); err != nil {
		t.Fatal(err)
	}
	if streams, stderr, err := probe(t, srv.URL("yard"), "tcp"); err != nil || len(streams) != 1 {
		t.Fatalf("camera back online: %v %+v\n%s", err, streams, stderr)
	}
	if err := srv.SetOnline("nope", false); err == nil {
		t.Fatal("SetOnline accepted an unknown camera")
	}
}

func TestUnknownCamera(t *testing.T) {
	needTools(t)
	srv := start(t, fakecam.Config{})
	_, stderr, err := probe(t, strings.Replace(srv.URL("cam"), "/cam", "/nope", 1), "tcp")
	if err == nil || !strings.Contains(stderr, "404") {
		t.Fatalf("unknown camera: want 404, got err=%v: %s", err, stderr)
	}
}
