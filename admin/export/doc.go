// Package export turns catalogued fMP4 segments into signed, verifiable
// evidence packages, and serves the same stitched MP4 for seekable
// playback.
//
// Decisions (each is stated in the manifest's notes too):
//
//   - No re-encoding. A clip is the recorded samples copied byte for byte
//     into one progressive MP4 (moov first) per camera. The header is built
//     from the segments' moof/trun boxes alone (moov.go); codec sample
//     descriptions come from mediacommon's pmp4. Sample data is laid out in
//     source order, so writing a clip is a few large copies per segment.
//   - A clip starts at the keyframe at or before the requested start. The
//     frames before the start are shown, not hidden by an edit list: what
//     the package holds is what plays, and the manifest gives the exact UTC
//     time of the first frame ("actual" range) next to the requested one.
//   - A recording gap (consecutive segments more than one frame + 20 ms
//     apart) ends a clip; the next footage starts a new file (yard-2.mp4).
//     Every gap is listed in the manifest with its cause: no-recording,
//     damaged-segment, tampered-segment, or recording-in-progress (the end
//     of the range is still being written). Clips are never padded.
//   - Segments whose Params (or codec configuration) differ are not joined:
//     a new clip file starts. A clip also ends at a segment boundary when it
//     would pass MaxClipDuration (12 h) or MaxClipBytes (3 GiB, so a clip
//     fits a FAT32 stick); the writer itself has no 32-bit limit (co64,
//     64-bit mdhd, large mdat when needed). One package spans at most
//     MaxRange (48 h): sample tables live in memory while the moov is built.
//   - An empty, truncated or unparsable segment is left out and its time
//     reported as a gap; the rest of the export goes on.
//   - Plans come from each segment's fragment index (mp4read: a sidecar
//     the recorder writes at finish), one small read per segment; a
//     missing or stale index is rebuilt from the segment's own boxes.
//   - Each source segment is read once, whole, and in that same pass its
//     SHA-256 compared with the catalog and the index the plan used
//     compared with the table of those very bytes, before any of its bytes
//     is used. An index that differs is not trusted: that segment is planned
//     again from its boxes (a forged index cannot hide a frame), and a
//     missing index is rewritten from the verified bytes. A SHA-256
//     mismatch is tampering:
//     the export starts over without that segment (no tampered byte enters
//     the package), and the segment is listed as "tampered" in the manifest,
//     warned about (log at error level, CLI stderr) and audited
//     (segment.tampered) in the same transaction as export.create.
//   - Packages are written to <state_dir>/exports/.<id>.zip.tmp, fsynced and
//     renamed to <id>.zip; that stored file is what the admin UI offers and
//     what retention expires (registry FootageEnd). The CLI's --out is a
//     reflink or a hard link of that stored file where it can be (same
//     filesystem: nothing is written twice), otherwise one streaming copy
//     (temp name, fsync, rename). A refused request leaves nothing.
//   - manifest.json is signed with the box's Ed25519 key
//     (<state_dir>/keys/export_ed25519, OpenSSH format, mode 0600, made at
//     first use) as an OpenSSH SSHSIG signature in namespace "vahti-export",
//     verifiable with stock ssh-keygen -Y verify. allowed_signers travels in
//     the zip, so a recipient must also compare the key's fingerprint with
//     the box's published one (vahti pubkey).
//   - Playback uses the same planner, except that a gap does not end the
//     clip: the timeline jumps (the last frame is held), keeping the seek
//     bar on wall-clock time. Source hashes are not checked on playback.
package export
