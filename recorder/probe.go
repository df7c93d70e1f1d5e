package recorder

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

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
	return probeNamed(path, data)
}

// probeNamed probes the bytes of the segment file at path, taking camera
// and start from the path when it follows the storage layout.
func probeNamed(path string, data []byte) (SegmentInfo, error) {
	info, err := probeBytes(data)
	if err != nil {
		return info, fmt.Errorf("segment %s: %w", path, err)
	}
	if cam, start, ok := segmentNameOf(path); ok {
		if info.Sealed {
			h, _, err := seal.ReadHeader(bytes.NewReader(data), int64(len(data)))
			if err == nil && (h.Camera != cam || !h.Start.Equal(start)) {
				err = fmt.Errorf("sealed header names %s %s, the file name %s %s", h.Camera, h.Start.Format(time.RFC3339Nano), cam, start.Format(time.RFC3339Nano))
			}
			if err != nil {
				return info, fmt.Errorf("segment %s: %w", path, err)
			}
		}
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

// probeBytes reads a whole segment file's facts. A sealed one is read
// without its key, from its records' clear metadata (seal.go): it must
// hold whole records only (no torn tail), the init section and at least
// one fragment.
func probeBytes(data []byte) (SegmentInfo, error) {
	info := SegmentInfo{Bytes: int64(len(data))}
	r := bytes.NewReader(data)
	if _, _, err := seal.ReadHeader(r, int64(len(data))); !errors.Is(err, seal.ErrNotSealed) {
		info.Sealed = true
		if err != nil {
			return info, err
		}
		_, infos, tail, err := seal.Scan(r, int64(len(data)))
		if err != nil {
			return info, err
		}
		if tail.Torn > 0 {
			return info, fmt.Errorf("torn or trailing data after byte %d of %d", tail.Keep, len(data))
		}
		si, err := sealedInfo(data, tail.Keep, infos)
		si.Sealed = true
		return si, err
	}
	l, err := mp4read.SegmentLayout(r, int64(len(data)))
	if err != nil {
		return info, err
	}
	if l.Fragments == 0 {
		return info, errors.New("no complete fragment")
	}
	if l.Complete != int64(len(data)) {
		return info, fmt.Errorf("torn or trailing data after byte %d of %d", l.Complete, len(data))
	}
	seg, err := mp4read.Read(r, int64(len(data)), nil)
	if err != nil {
		return info, err
	}
	var names []string
	for _, t := range seg.Init.Tracks {
		names = append(names, codecName(t.Codec))
	}
	video := seg.Video()
	info.KeyframeStart = !video.Samples[0].NonSync
	var end int64
	for _, s := range video.Samples {
		end = max(end, s.DTS+int64(s.Dur))
	}
	info.Fragments = l.Fragments
	info.Duration = time.Duration(uint64(end) * uint64(time.Second) / uint64(video.TimeScale))
	info.Codecs = strings.Join(names, ",")
	info.Params = hashHex(data[:l.InitEnd])
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
