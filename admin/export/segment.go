package export

import (
	"encoding/binary"
	"fmt"

	"vahti/mp4read"
	"vahti/seal"
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
	size     int64 // fMP4 bytes (a sealed segment's plaintext)
	diskSize int64 // bytes on disk: what the catalog's bytes and SHA-256 are of
	tracks   []*segTrack
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
	return &parsedSeg{size: seg.Size, diskSize: seg.Size, tracks: seg.Tracks}, nil
}

// loadSegment gets a segment's table from its sidecar index when that is
// valid for the catalogued SHA-256 and the file's size, else from the file
// (useIndex false: always from the file). The file is opened either way
// (mp4read.OpenSegment), so a sealed segment no key opens now fails here,
// with mp4read.ErrLocked, before anything is planned from it.
//
// A finished sealed segment must end with its end marker unless its row
// was made by crash recovery (which holds no key to write one). The row
// has no flag for that, but its byte count says it: the recorder
// catalogues a segment after closing it, so a row whose size is that of a
// file without an end marker was made from the unclosed file, by recovery
// (or reconcile adopting one). A file cut at a record boundary after it
// was catalogued has another size, and a row with no size (catBytes 0)
// proves nothing: both need the marker.
func loadSegment(path, sha string, catBytes int64, ic *mp4read.InitCache, useIndex bool, unwrap seal.Unwrapper) (*parsedSeg, error) {
	sf, err := mp4read.OpenSegment(path, unwrap)
	if err != nil {
		return nil, err
	}
	defer sf.Close()
	recovered := catBytes > 0 && catBytes == sf.DiskSize()
	if err := sf.RequireFinished(recovered); err != nil {
		return nil, fmt.Errorf("%w: %v", errDamaged, err)
	}
	if !useIndex {
		sha = ""
	}
	seg, ix, err := mp4read.LoadFile(sf, path, sha, ic)
	if err != nil {
		return nil, err
	}
	return &parsedSeg{size: seg.Size, diskSize: sf.DiskSize(), tracks: seg.Tracks, index: ix}, nil
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
