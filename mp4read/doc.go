// Package mp4read is Vahti's one reader of its segment format, fragmented
// MP4: recovery, reconcile and probe, export and playback (and later
// redaction and decryption) all read segments through it.
//
// It walks top-level boxes without reading payloads (ScanTop,
// SegmentLayout: how recovery finds a torn tail), reads the fragment
// tables (moov/trex, moof/traf/tfhd/tfdt/trun) into a Segment, one read
// per box, and streams sample payloads (Sample.Payload, Segment.Each).
// Every size and offset read from a file is checked against the file
// before use, so a hostile or torn file gives an error, never a panic or
// an out-of-file read (the fuzz targets check this).
//
// # The fragment index
//
// At finish the recorder writes each segment's sample table, compactly
// (three to four bytes a sample, about 0.1 % of the footage), to a sidecar
// beside it: 14-05-00.123456.mp4.idx next to 14-05-00.123456.mp4. Export
// and playback plan a window from these indexes, one small read per
// segment, instead of one read per moof box and parsing every trun.
//
// Why a sidecar, not a registry blob: the tables grow with the footage
// (about 14 KB per minute of 25 fps video with AAC, 20 MB per camera-day,
// 19 GB for 32 cameras over 28 days), which belongs on the footage disk,
// not in the SQLite file that every transaction, backup and restore
// touches; and a
// sidecar lives and dies with its segment (retention/remove.go unlinks
// both, reconcile looks only at .mp4 files, so it is never reported as
// garbage). It is not part of the on-disk contract: deleting every .idx
// file loses nothing.
//
// What is trusted, and what is not:
//   - The index is a cache, never the truth. It carries the SHA-256 and
//     size of the segment it was made from and a SHA-256 of its own bytes.
//     Load uses it only when its checksum holds, its SHA-256 equals the
//     catalogue's and its size the file's; otherwise (missing, torn by a
//     power cut, stale, altered) the table is rebuilt from the segment.
//   - Written atomically (temp name, rename) but not fsynced: after a
//     power cut it may be missing or empty, which Load detects.
//   - Someone who can write the storage root could forge an index with a
//     valid checksum. An export therefore re-derives each source's table
//     from the very bytes it has just read and hashed against the
//     catalogue (the same single pass) and, if the index it planned from
//     differs, plans that segment again from the file: a forged index can
//     neither drop nor move a frame of evidence. Playback does not check
//     segment hashes at all (see admin/export), so for it an index is as
//     trusted as the segment file beside it.
package mp4read
