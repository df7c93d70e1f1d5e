package export

import (
	"encoding/binary"
	"io"
	"os"

	"vahti/mp4read"
)

// A segment's sample table comes from mp4read, the one reader of the
// segment format: payloads are not read; each sample records where its
// bytes lie in the file, so stitching and playback plan a whole clip from
// the tables alone.
type (
	segTrack  = mp4read.Track
	segSample = mp4read.Sample
)

// parsedSeg is the table of one segment file, video track first.
type parsedSeg struct {
	size   int64
	tracks []*segTrack
	// index is the sidecar index the table came from; nil: read from the
	// segment file. An export checks it against the bytes it copies.
	index *mp4read.Index
}

func (p *parsedSeg) video() *segTrack { return p.tracks[0] }

// errDamaged marks a segment that cannot be used: empty, truncated or not
// an fMP4 file. It is reported as a gap, never fatal for the export.
var errDamaged = mp4read.ErrDamaged

// parseSegment reads a segment file's boxes (never its index).
func parseSegment(path string) (*parsedSeg, error) {
	seg, err := mp4read.ReadFile(path, nil)
	if err != nil {
		return nil, err
	}
	return &parsedSeg{size: seg.Size, tracks: seg.Tracks}, nil
}

// loadSegment gets a segment's table from its sidecar index when that is
// valid for the catalogued SHA-256 and the file's size, else from the file
// (useIndex false: always from the file).
func loadSegment(path, sha string, ic *mp4read.InitCache, useIndex bool) (*parsedSeg, error) {
	if !useIndex {
		sha = ""
	}
	seg, ix, err := mp4read.Load(path, sha, ic)
	if err != nil {
		return nil, err
	}
	return &parsedSeg{size: seg.Size, tracks: seg.Tracks, index: ix}, nil
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// readFull reads a whole file into buf (grown as needed).
func readFull(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return buf, err
	}
	n := int(st.Size())
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f, buf); err != nil {
		return buf, err
	}
	return buf, nil
}
