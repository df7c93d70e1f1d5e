package recorder

import (
	"errors"
	"path/filepath"

	"vahti/mp4read"
	"vahti/registry"
)

// The sidecar fragment index (mp4read) of each segment the writer
// finishes is built from the sample tables the writer already holds, as
// each part is written, so finishing a segment never reads it back. Its
// bytes are those mp4read.EncodeIndex gives for the table read from the
// finished file (TestWriterIndexEqualsFileIndex). Segments the writer did
// not finish (Recover) or did not write (Reconcile) are indexed from the
// file instead.

// partSample is one sample of the part being written, its offset still
// relative to its track's payload in the fragment.
type partSample struct {
	track int // index in writer.tracks
	s     mp4read.Sample
}

// resetIndex starts the index of a new segment.
func (w *writer) resetIndex() {
	if w.audio != nil {
		w.ix.Reset(w.video.id, w.audio.id)
	} else {
		w.ix.Reset(w.video.id)
	}
}

// tableOfPart notes the samples of the part about to be built (build
// resets the tracks).
func (w *writer) tableOfPart() {
	w.ixPart = w.ixPart[:0]
	for ti, t := range w.tracks {
		dts := t.baseTime
		for i, s := range t.samples {
			w.ixPart = append(w.ixPart, partSample{track: ti, s: mp4read.Sample{
				DTS: dts, Dur: s.Duration, PTSOff: s.PTSOffset, NonSync: s.IsNonSyncSample,
				Off: int64(t.offsets[i]), Size: uint32(t.sampleLen(i)),
			}})
			dts += int64(s.Duration)
		}
	}
}

// indexPart adds the part just written at file offset at to the index.
func (w *writer) indexPart(at int64) {
	for _, p := range w.ixPart {
		p.s.Off += at + int64(w.parts.dataOff[p.track])
		w.ix.Add(w.tracks[p.track].id, p.s)
	}
}

// writeIndex writes the index of the finished segment row, whose fMP4
// (for a sealed file: the plaintext) is seg.plain bytes. Best effort: the
// index is a cache, and a missing one is rebuilt from the segment by its
// reader. A sealed segment's index is what mp4read.EncodeIndex gives for
// the plaintext read through seal.Reader, bound to the SHA-256 of the
// sealed file on disk, and sealed under the segment's data key (still
// held: finishSegment wipes it after this) as mp4read.SealIndex does. In
// clear it would show every frame's size, time and keyframe flag.
func (w *writer) writeIndex(row registry.Segment, seg *segment) {
	b, err := w.ix.Encode(w.initMoov, seg.plain, row.SHA256)
	if err == nil && seg.sealer != nil {
		if seg.key == nil {
			err = errors.New("the data key is already wiped")
		} else {
			b, err = mp4read.SealIndex(seg.key, seg.hdr, b)
		}
	}
	if err == nil {
		err = mp4read.WriteIndex(filepath.Join(w.cfg.root, filepath.FromSlash(row.Path)), b)
	}
	if err != nil {
		w.cfg.log.Warn("segment index not written; readers rebuild it from the segment", "path", row.Path, "error", err)
	}
}

// moovOf is the moov box of an init section (ftyp, moov).
func moovOf(init []byte) []byte {
	for p := 0; p+8 <= len(init); {
		n := int(uint32(init[p])<<24 | uint32(init[p+1])<<16 | uint32(init[p+2])<<8 | uint32(init[p+3]))
		if n < 8 || p+n > len(init) {
			return nil
		}
		if string(init[p+4:p+8]) == "moov" {
			return init[p : p+n]
		}
		p += n
	}
	return nil
}

// indexSegment writes the sidecar index of a segment file found on disk
// (reconcile), with its SHA-256 as computed by the caller. Best effort.
func indexSegment(path, sha string) {
	_ = mp4read.IndexFile(path, sha, nil)
}

// indexSegmentBytes is indexSegment for a segment already in memory
// (recover).
func indexSegmentBytes(path string, data []byte, sha string) {
	_ = mp4read.BuildIndex(path, data, sha, nil)
}
