package redact

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ErrNoFFmpeg: ffmpeg or ffprobe is not installed. Everything but
// redaction works without them.
var ErrNoFFmpeg = errors.New("redaction needs ffmpeg: apt install ffmpeg")

// Tool is the ffmpeg installation redaction runs.
type Tool struct {
	FFmpeg, FFprobe string // absolute paths
	Version         string // the first line of `ffmpeg -version`
	// Nice is coreutils' nice, which ffmpeg is run under at the lowest
	// priority: decoding and re-encoding take both cores for as long as
	// they are let, and recording must not lose a frame to a redaction.
	// Empty: ffmpeg runs at normal priority.
	Nice string
}

// ffmpeg is an ffmpeg command at the lowest CPU priority. nice execs
// ffmpeg in the same process, so every thread ffmpeg starts inherits the
// priority, and cancelling the context still kills ffmpeg itself.
func (t *Tool) ffmpeg(ctx context.Context, args ...string) *exec.Cmd {
	if t.Nice == "" {
		return exec.CommandContext(ctx, t.FFmpeg, args...)
	}
	return exec.CommandContext(ctx, t.Nice, append([]string{"-n", "19", t.FFmpeg}, args...)...)
}

// Find looks ffmpeg and ffprobe up on PATH (Debian's ffmpeg package ships
// both) and reads the version.
func Find(ctx context.Context) (*Tool, error) {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, ErrNoFFmpeg
	}
	fp, err := exec.LookPath("ffprobe")
	if err != nil {
		return nil, ErrNoFFmpeg
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ff, "-hide_banner", "-version").Output()
	if err != nil {
		return nil, fmt.Errorf("%w (ffmpeg -version failed: %v)", ErrNoFFmpeg, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	nice, _ := exec.LookPath("nice") // coreutils: on every Debian box
	return &Tool{FFmpeg: ff, FFprobe: fp, Version: strings.TrimSpace(line), Nice: nice}, nil
}

// Probe reads a clip's picture size, first video timestamp and duration.
func (t *Tool) Probe(ctx context.Context, path string) (Picture, error) {
	var p Picture
	out, err := exec.CommandContext(ctx, t.FFprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height,start_time,duration:format=duration", "-of", "json", path).Output()
	if err != nil {
		return p, fmt.Errorf("redact: ffprobe %s: %w%s", path, err, stderrOf(err))
	}
	var v struct {
		Streams []struct {
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			StartTime string `json:"start_time"`
			Duration  string `json:"duration"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &v); err != nil || len(v.Streams) == 0 {
		return p, fmt.Errorf("redact: ffprobe %s: no video stream", path)
	}
	s := v.Streams[0]
	p.Width, p.Height = s.Width, s.Height
	p.StartPTS, _ = strconv.ParseFloat(s.StartTime, 64)
	d, _ := strconv.ParseFloat(s.Duration, 64)
	if d <= 0 {
		d, _ = strconv.ParseFloat(v.Format.Duration, 64)
	}
	p.Duration = time.Duration(d * float64(time.Second))
	if p.Width <= 0 || p.Height <= 0 {
		return p, fmt.Errorf("redact: ffprobe %s: picture size %dx%d", path, p.Width, p.Height)
	}
	return p, nil
}

// hasAudio reports whether the file has an audio stream ffprobe can read.
func (t *Tool) hasAudio(ctx context.Context, path string) bool {
	out, err := exec.CommandContext(ctx, t.FFprobe, "-v", "error", "-select_streams", "a", "-show_entries", "stream=codec_name",
		"-of", "csv=p=0", path).Output()
	return err == nil && strings.TrimSpace(string(out)) != ""
}

// Encoding is how a redacted clip is written: H.264 that every player
// (Chromium, VLC, ffprobe) opens, moov first.
var Encoding = []string{"-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-movflags", "+faststart"}

// AudioEncoding is the audio of a redacted clip with --keep-audio:
// re-encoded to AAC (G.711 as recorded does not play in browsers).
var AudioEncoding = []string{"-c:a", "aac", "-b:a", "96k"}

// Encode writes the redacted clip: in through the filter graph to out,
// audio dropped unless keepAudio. progress gets the seconds of the clip
// done so far (from ffmpeg's -progress). Cancelling ctx kills ffmpeg.
func (t *Tool) Encode(ctx context.Context, in, out, filter string, keepAudio bool, progress func(done time.Duration)) error {
	return t.encode(ctx, in, out, filter, keepAudio, nil, progress)
}

// encode is Encode with the audio, if raw is not nil, from raw samples.
func (t *Tool) encode(ctx context.Context, in, out, filter string, keepAudio bool, raw *rawAudio, progress func(done time.Duration)) error {
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-nostats", "-progress", "pipe:1", "-y", "-i", in}
	if keepAudio && raw != nil {
		args = append(args, "-f", raw.Format, "-ar", strconv.Itoa(raw.Rate), "-ac", strconv.Itoa(raw.Channels),
			"-itsoffset", strconv.FormatFloat(raw.Offset, 'f', 6, 64), "-i", raw.Path)
	}
	args = append(args, "-filter_complex", filter, "-map", "[v]")
	args = append(args, Encoding...)
	if keepAudio {
		if raw != nil {
			args = append(args, "-map", "1:a")
		} else {
			args = append(args, "-map", "0:a?")
		}
		args = append(args, AudioEncoding...)
	} else {
		args = append(args, "-an")
	}
	args = append(args, "-sn", "-dn", "-map_metadata", "-1", "-f", "mp4", out)
	cmd := t.ffmpeg(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 8 << 10}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("redact: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redact: start ffmpeg: %w", err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && k == "out_time_us" && progress != nil {
			if us, err := strconv.ParseInt(v, 10, 64); err == nil && us >= 0 {
				progress(time.Duration(us) * time.Microsecond)
			}
		}
	}
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("redact: ffmpeg on %s: %w: %s", in, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Frame is one JPEG of the clip at offset seconds into its timeline,
// through filter if not empty.
func (t *Tool) Frame(ctx context.Context, in string, offset float64, filter string) ([]byte, error) {
	if offset < 0 {
		offset = 0
	}
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-ss", strconv.FormatFloat(offset, 'f', 3, 64), "-i", in}
	if filter != "" {
		args = append(args, "-filter_complex", filter, "-map", "[v]")
	} else {
		args = append(args, "-map", "0:v:0")
	}
	args = append(args, "-frames:v", "1", "-q:v", "3", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1")
	cmd := t.ffmpeg(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 8 << 10}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("redact: ffmpeg frame of %s: %w: %s", in, err, strings.TrimSpace(stderr.String()))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("redact: ffmpeg gave no frame at %.3f s of %s", offset, in)
	}
	return out, nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// limited keeps the first n bytes written (ffmpeg's error text).
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	k := len(p)
	if k > l.n {
		p = p[:l.n]
	}
	l.n -= len(p)
	l.w.Write(p)
	return k, nil
}
