package recorder

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"vahti/registry"
)

// box is one top-level MP4 box.
type box struct {
	typ       string
	off, size int64
}

// layout reads the top-level boxes of a segment: ftyp, moov, then moof+mdat
// pairs. initEnd is where the init section ends, complete where the last
// whole fragment ends (a torn tail starts there) and frags how many whole
// fragments there are. A file whose start is not an fMP4 init section is
// an error.
func layout(data []byte) (initEnd, complete int64, frags int, err error) {
	var boxes []box
	for off := int64(0); off+8 <= int64(len(data)); {
		size := int64(binary.BigEndian.Uint32(data[off:]))
		typ := string(data[off+4 : off+8])
		hdr := int64(8)
		if size == 1 {
			if off+16 > int64(len(data)) {
				break
			}
			size, hdr = int64(binary.BigEndian.Uint64(data[off+8:])), 16
		}
		if size < hdr || off+size > int64(len(data)) {
			break // size 0 (to end), zero-filled or cut short: a torn tail
		}
		boxes = append(boxes, box{typ, off, size})
		off += size
	}
	if len(boxes) < 2 || boxes[0].typ != "ftyp" || boxes[1].typ != "moov" {
		return 0, 0, 0, errors.New("not an fMP4 segment (no ftyp+moov at the start)")
	}
	initEnd = boxes[1].off + boxes[1].size
	complete = initEnd
	for i := 2; i+1 < len(boxes); i += 2 {
		if boxes[i].typ != "moof" || boxes[i+1].typ != "mdat" {
			break
		}
		complete = boxes[i+1].off + boxes[i+1].size
		frags++
	}
	return initEnd, complete, frags, nil
}

// ProbeSegment reads a finished fMP4 segment: camera and start from its
// path (when the path follows the storage layout), duration from the
// sample durations of the video track, codecs, the hash of the init
// section (Params) and of the whole file. It fails on anything that is not
// a whole, playable segment.
func ProbeSegment(path string) (SegmentInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("segment %s: %w", path, err)
	}
	info, err := probeBytes(data)
	if err != nil {
		return info, fmt.Errorf("segment %s: %w", path, err)
	}
	if cam, start, ok := segmentNameOf(path); ok {
		info.Camera, info.Start = cam, start
		info.End = start.Add(info.Duration).Truncate(time.Microsecond)
	}
	return info, nil
}

// segmentNameOf parses camera/YYYY/MM/DD/name from the end of a path.
func segmentNameOf(p string) (string, time.Time, bool) {
	parts := strings.Split(filepath.ToSlash(filepath.Clean(p)), "/")
	if len(parts) < 5 {
		return "", time.Time{}, false
	}
	cam, start, finished, err := registry.ParseSegmentPath(strings.Join(parts[len(parts)-5:], "/"))
	if err != nil || !finished {
		return "", time.Time{}, false
	}
	return cam, start, true
}

func probeBytes(data []byte) (SegmentInfo, error) {
	info := SegmentInfo{Bytes: int64(len(data))}
	initEnd, complete, frags, err := layout(data)
	if err != nil {
		return info, err
	}
	if frags == 0 {
		return info, errors.New("no complete fragment")
	}
	if complete != int64(len(data)) {
		return info, fmt.Errorf("torn or trailing data after byte %d of %d", complete, len(data))
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(data[:initEnd])); err != nil {
		return info, fmt.Errorf("init section: %w", err)
	}
	var names []string
	var video *fmp4.InitTrack
	for _, t := range init.Tracks {
		names = append(names, codecName(t.Codec))
		if video == nil && t.Codec.IsVideo() {
			video = t
		}
	}
	if video == nil {
		return info, errors.New("no video track")
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(data[initEnd:]); err != nil {
		return info, fmt.Errorf("fragments: %w", err)
	}
	var first = true
	var end uint64
	for _, p := range parts {
		for _, pt := range p.Tracks {
			if pt.ID != video.ID {
				continue
			}
			t := pt.BaseTime
			for _, s := range pt.Samples {
				if first {
					info.KeyframeStart = !s.IsNonSyncSample
					first = false
				}
				t += uint64(s.Duration)
			}
			end = max(end, t)
		}
	}
	if first {
		return info, errors.New("no video sample")
	}
	info.Fragments = frags
	info.Duration = time.Duration(end * uint64(time.Second) / uint64(video.TimeScale))
	info.Codecs = strings.Join(names, ",")
	info.Params = hashHex(data[:initEnd])
	sum := sha256.Sum256(data)
	info.SHA256 = hex.EncodeToString(sum[:])
	return info, nil
}

// codecName is the name a codec has in the catalog's Codecs column.
func codecName(c mp4.Codec) string {
	switch c := c.(type) {
	case *mp4.CodecH264:
		return "h264"
	case *mp4.CodecH265:
		return "h265"
	case *mp4.CodecMPEG4Audio:
		return "aac"
	case *mp4.CodecLPCM:
		return "lpcm"
	default:
		return strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", c), "*mp4.Codec"))
	}
}
