package redact

import (
	"bufio"
	"fmt"
	"os"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
)

// rawAudio is a clip's LPCM track written out as raw samples. The
// recorder stores G.711 as LPCM (an ipcm sample entry), which Debian's
// ffmpeg 5 cannot read from MP4; with --keep-audio it is handed to ffmpeg
// as raw PCM instead (-f s16be …), placed where the track starts.
type rawAudio struct {
	Path     string
	Format   string // ffmpeg's raw format: s16be, s16le, s24be, …
	Rate     int
	Channels int
	Offset   float64 // seconds from the file's start to the first sample
}

// extractLPCM writes the clip's LPCM track to out; nil when it has none.
func extractLPCM(clip, out string) (*rawAudio, error) {
	f, err := os.Open(clip)
	if err != nil {
		return nil, fmt.Errorf("redact: %w", err)
	}
	defer f.Close()
	var p pmp4.Presentation
	if err := p.Unmarshal(f); err != nil {
		return nil, nil // not readable this way: ffmpeg reads the audio itself
	}
	for _, tr := range p.Tracks {
		lp, ok := tr.Codec.(*mp4.CodecLPCM)
		if !ok {
			continue
		}
		format := fmt.Sprintf("s%d", lp.BitDepth)
		if lp.LittleEndian {
			format += "le"
		} else {
			format += "be"
		}
		if lp.BitDepth != 16 && lp.BitDepth != 24 && lp.BitDepth != 32 {
			return nil, fmt.Errorf("redact: %s: LPCM of %d bits", clip, lp.BitDepth)
		}
		w, err := os.OpenFile(out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("redact: %w", err)
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		for _, s := range tr.Samples {
			b, err := s.GetPayload()
			if err == nil {
				_, err = bw.Write(b)
			}
			if err != nil {
				w.Close()
				return nil, fmt.Errorf("redact: %s: audio: %w", clip, err)
			}
		}
		if err := bw.Flush(); err != nil {
			w.Close()
			return nil, fmt.Errorf("redact: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("redact: %w", err)
		}
		off := 0.0
		if tr.TimeScale > 0 && tr.TimeOffset > 0 {
			off = float64(tr.TimeOffset) / float64(tr.TimeScale)
		}
		return &rawAudio{Path: out, Format: format, Rate: lp.SampleRate, Channels: lp.ChannelCount, Offset: off}, nil
	}
	return nil, nil
}
