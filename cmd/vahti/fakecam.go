package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"vahti/configs"
	"vahti/recorder/fakecam"
)

// runFakecam serves looping sample streams as simulated IP cameras until
// interrupted: for demos, recorder tests and benchmarks.
func runFakecam(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "fakecam")
	listen := fs.String("listen", "127.0.0.1:8554", "RTSP address (host:port; port 0 picks a free one)")
	cameras := fs.String("cameras", "", "comma-separated camera names, served as rtsp://ADDR/NAME (default cam1)")
	count := fs.Int("count", 0, "serve N cameras named cam001…camN (instead of --cameras)")
	statsFile := fs.String("stats", "", "on exit, write what each camera sent (JSON: frames from the first keyframe a reader got, bytes) to this file")
	codec := fs.String("codec", "h264", "video codec: h264 or h265")
	audio := fs.Bool("audio", false, "add an audio track (see --audio-codec)")
	audioCodec := fs.String("audio-codec", "", "audio codec: aac or g711 (implies --audio; default aac)")
	user := fs.String("user", "", "require this RTSP user (Basic or Digest auth)")
	passFile := fs.String("password-file", "", "file holding the RTSP password (with --user)")
	clip := fs.String("clip", "", "fragmented MP4 to loop instead of the built-in 320x240 clip (see scripts/make-clips.sh --bench)")
	bframes := fs.Bool("bframes", false, "use the built-in H.264 clip with B-frames")
	alternate := fs.Bool("alternate", false, "alternate every loop between 320x240 and 352x288 (a resolution change mid-stream)")
	loop := fs.Duration("loop", 0, "loop only this much of the clip, cut at a keyframe (0: whole clip)")
	videoDelay := fs.Duration("video-delay", 0, "send video this much later than its audio (e.g. 300ms), as a camera whose video encoder lags")
	hostile := fs.String("hostile", "", "misbehave, for testing a recorder: "+strings.Join(fakecam.HostileModes, ", ")+" (H.264 only)")
	verbose := fs.Bool("v", false, "log connections to stderr")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.need(pos, 0, "no arguments"); err != nil {
		return err
	}

	cfg := fakecam.Config{Listen: *listen, Codec: *codec, Clip: *clip, BFrames: *bframes, Alternate: *alternate, Loop: *loop, VideoDelay: *videoDelay, Hostile: *hostile}
	switch {
	case *count != 0 && *cameras != "":
		return usageErr("--count and --cameras: give one")
	case *count < 0 || *count > maxFakecams:
		return usageErr("--count: want 1 to %d", maxFakecams)
	case *count > 0:
		cfg.Cameras = countedCameras(*count)
	case *cameras == "":
		cfg.Cameras = []string{"cam1"}
	default:
		for _, c := range strings.Split(*cameras, ",") {
			if c = strings.TrimSpace(c); c != "" {
				cfg.Cameras = append(cfg.Cameras, c)
			}
		}
		if len(cfg.Cameras) == 0 {
			return usageErr("--cameras: no camera names given")
		}
	}
	switch *codec {
	case "h264", "h265":
	default:
		return usageErr("--codec: %q is not h264 or h265", *codec)
	}
	switch *audioCodec {
	case "":
		if *audio {
			cfg.Audio = "aac"
		}
	case "aac", "g711":
		cfg.Audio = *audioCodec
	default:
		return usageErr("--audio-codec: %q is not aac or g711", *audioCodec)
	}
	switch {
	case *user != "" && *passFile == "":
		return usageErr("--user needs --password-file")
	case *user == "" && *passFile != "":
		return usageErr("--password-file needs --user")
	case *user != "":
		b, err := os.ReadFile(*passFile)
		if err != nil {
			return usageErr("--password-file: %v", err)
		}
		pass := strings.TrimRight(string(b), "\r\n")
		if pass == "" {
			return usageErr("--password-file: %s is empty", *passFile)
		}
		cfg.User, cfg.Pass = *user, pass
	}
	if *loop < 0 {
		return usageErr("--loop: must not be negative")
	}
	if *hostile != "" && !slices.Contains(fakecam.HostileModes, *hostile) {
		return usageErr("--hostile: %q is not one of %s", *hostile, strings.Join(fakecam.HostileModes, ", "))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	srv, err := fakecam.Start(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	for _, c := range srv.Cameras() {
		// The password came from a file; do not echo it.
		fmt.Fprintln(e.stdout, configs.RedactURL(srv.URL(c)))
	}
	fmt.Fprintf(e.stderr, "fakecam: %d camera(s) on %s (%s%s%s); Ctrl-C stops\n",
		len(cfg.Cameras), srv.Addr(), cfg.Codec, audioNote(cfg.Audio), hostileNote(cfg.Hostile))
	<-ctx.Done()
	// Stop sending first and let the queued packets reach the readers, so
	// the figures are what they received.
	srv.Halt()
	time.Sleep(500 * time.Millisecond)
	err = writeFakecamStats(e, *statsFile, srv.Stats())
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
	}
	return err
}

// maxFakecams bounds --count: more than a shelter's cameras is a typo.
const maxFakecams = 4096

// countedCameras names n cameras cam001…camN (at least three digits, so
// they sort).
func countedCameras(n int) []string {
	w := max(3, len(strconv.Itoa(n)))
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("cam%0*d", w, i+1)
	}
	return out
}

// fakecamStats is the --stats file.
type fakecamStats struct {
	Cameras []fakecam.CameraStats `json:"cameras"`
	Frames  int64                 `json:"frames"` // sum over the cameras
	Bytes   uint64                `json:"bytes"`
	Dropped int64                 `json:"dropped_packets"`
}

// writeFakecamStats prints the totals and, with --stats, writes the file.
func writeFakecamStats(e *env, path string, cams []fakecam.CameraStats) error {
	st := fakecamStats{Cameras: cams}
	for _, c := range cams {
		st.Frames += c.Frames
		st.Bytes += c.Bytes
		st.Dropped += c.Dropped
	}
	fmt.Fprintf(e.stderr, "fakecam: sent %d video frames, %d RTP bytes to readers over %d camera(s); %d packets dropped at full reader queues\n",
		st.Frames, st.Bytes, len(cams), st.Dropped)
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		err = os.WriteFile(path, append(b, '\n'), 0o600)
	}
	if err != nil {
		return fmt.Errorf("fakecam: --stats: %w", err)
	}
	return nil
}

func hostileNote(h string) string {
	if h == "" {
		return ""
	}
	return ", HOSTILE " + h
}

func audioNote(a string) string {
	if a == "" {
		return ""
	}
	return " + " + a
}
