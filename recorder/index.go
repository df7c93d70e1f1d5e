package recorder

import "vahti/mp4read"

// indexSegment writes the sidecar index (mp4read) of a segment that has
// just become final, with the SHA-256 computed while it was written, so
// export and playback plan from it without reading the moof boxes. Best
// effort: the index is a cache, and a missing one is rebuilt from the
// segment by its reader.
func indexSegment(path, sha string) {
	_ = mp4read.IndexFile(path, sha, nil)
}

// indexSegmentBytes is indexSegment for a segment already in memory.
func indexSegmentBytes(path string, data []byte, sha string) {
	_ = mp4read.BuildIndex(path, data, sha, nil)
}
