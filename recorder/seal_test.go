package recorder

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"vahti/configs"
	"vahti/mp4read"
	"vahti/recorder/fakecam"
	"vahti/registry"
	"vahti/seal"
)

// sealedSite makes the site keys in db as vahti keys init does and returns
// the keyring (what a logged-in keeper holds; the recorder never gets it)
// and the epoch function the service gives the recorder: it reads or makes
// a day's epoch with the site PUBLIC key only.
func sealedSite(t testing.TB, db *registry.DB) (*seal.Keyring, EpochFunc) {
	t.Helper()
	ring, err := seal.NewSite()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ring.Wipe)
	rk, err := seal.NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	defer rk.Wipe()
	rw, err := ring.WrapRecovery(rk)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := rk.Public()
	if err != nil {
		t.Fatal(err)
	}
	site := ring.Public()
	ctx := context.Background()
	if err := db.Update(ctx, func(tx *registry.Tx) error {
		return tx.InitSealSite(registry.SealSite{PublicKey: site.Bytes(), RecoveryPublicKey: rp.Bytes(), CreatedBy: "test"}, rw)
	}); err != nil {
		t.Fatal(err)
	}
	return ring, func(day seal.EpochID) (seal.EpochPublicKey, error) {
		var row registry.SealEpoch
		err := db.View(ctx, func(tx *registry.Tx) error {
			var err error
			row, err = tx.Epoch(int64(day))
			return err
		})
		if errors.Is(err, registry.ErrNotFound) {
			pub, sealed, err := seal.NewEpoch(site, day)
			if err != nil {
				return seal.EpochPublicKey{}, err
			}
			return pub, db.Update(ctx, func(tx *registry.Tx) error { return tx.AddEpoch(int64(day), pub.Bytes(), sealed) })
		}
		if err != nil {
			return seal.EpochPublicKey{}, err
		}
		return seal.ParseEpochPublicKey(day, row.PublicKey)
	}
}

// sealedHarness is a writer harness that seals into db.
func sealedHarness(t testing.TB, db *registry.DB) (*writerHarness, *seal.Keyring) {
	t.Helper()
	h := newWriterHarness(t)
	ring, epoch := sealedSite(t, db)
	h.w.cfg.seal = newSealer(db, epoch)
	return h, ring
}

// openSealed decrypts a sealed segment file with the keeper's keyring and
// the registry, as every reader does, into a plain file for ffprobe.
func openSealed(t *testing.T, db *registry.DB, ring *seal.Keyring, path string) (*seal.Reader, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	rd, err := seal.OpenSegment(f, st.Size(), ring.Unwrapper(db.KeyStore(context.Background())))
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	var plain bytes.Buffer
	if _, err := rd.WriteTo(&plain); err != nil {
		t.Fatalf("decrypt %s: %v", path, err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, plain.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return rd, out
}

func videoPackets(res probeResult) int {
	n := 0
	for _, p := range res.Packets {
		if p.StreamIndex == 0 {
			n++
		}
	}
	return n
}

// A recorded sealed segment is no MP4: ffprobe refuses the raw file and it
// starts with the seal magic. With a keeper's keyring and the registry it
// opens, whole (end marker), and ffprobe plays every frame fed; the
// plaintext is byte for byte what the plain recorder writes from the same
// input, the catalog row describes the sealed file, its start is the
// header's to the nanosecond, and the sidecar index is the plaintext's.
func TestSealedSegmentPlaysOnlyWithKey(t *testing.T) {
	requireFFprobe(t)
	aus, length := loadClip(t, "h264.mp4")
	db := openDB(t)
	h, ring := sealedHarness(t, db)
	plain := newWriterHarness(t)
	for loop := int64(0); loop < 2; loop++ {
		h.feed(t, aus, loop*length, nil)
		plain.feed(t, aus, loop*length, nil)
	}
	if err := errors.Join(h.w.close(), plain.w.close()); err != nil {
		t.Fatal(err)
	}
	if len(h.rows) < 2 || len(h.rows) != len(plain.rows) {
		t.Fatalf("%d sealed segments, %d plain", len(h.rows), len(plain.rows))
	}
	frames := 0
	var sealedIx [][]byte
	for i, row := range h.rows {
		p := abs(row.Path, h.root)
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(raw, seal.Magic[:]) {
			t.Fatalf("%s does not start with the seal magic", row.Path)
		}
		// ffprobe's format guessing now and then takes random bytes for
		// some audio format; what must never happen is a video stream.
		if out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_name",
			"-of", "csv=p=0", p).Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("ffprobe finds video in the sealed file %s: %s", row.Path, out)
		}
		if row.Bytes != int64(len(raw)) || row.SHA256 != hashHex(raw) {
			t.Errorf("%s: row says %d bytes %s, the file is %d bytes %s", row.Path, row.Bytes, row.SHA256, len(raw), hashHex(raw))
		}
		hd, _, err := seal.ReadHeader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil || hd.Start.UnixNano() != row.Start.UnixNano() || hd.Camera != row.Camera {
			t.Errorf("%s: header %+v (%v), row start %s", row.Path, hd, err, row.Start.Format(time.RFC3339Nano))
		}
		rd, dec := openSealed(t, db, ring, p)
		if !rd.Tail().Complete {
			t.Errorf("%s: no end marker on a finished segment", row.Path)
		}
		want, err := os.ReadFile(abs(plain.rows[i].Path, plain.root))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(dec)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: plaintext (%d bytes) differs from the plain recording (%d bytes)", row.Path, len(got), len(want))
		}
		res := ffprobe(t, dec)
		ffmpegDecode(t, dec)
		frames += videoPackets(res)
		if row.Params != plain.rows[i].Params || row.Codecs != plain.rows[i].Codecs || !row.End.Equal(plain.rows[i].End) {
			t.Errorf("sealed row %+v, plain row %+v", row, plain.rows[i])
		}
		// The index is of the plaintext, bound to the sealed file's hash,
		// and sealed: on disk it shows no sample table.
		ix, err := os.ReadFile(mp4read.IndexPath(p))
		if err != nil {
			t.Fatalf("%s: no index: %v", row.Path, err)
		}
		seg, err := mp4read.Read(rd, rd.Size(), nil)
		if err != nil {
			t.Fatal(err)
		}
		wantIx, err := mp4read.EncodeIndex(seg, row.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		checkSealedIndex(t, row.Path, ix, wantIx, seg)
		if opened, err := rd.OpenAux(mp4read.IndexAuxKind, ix[len(mp4read.SealedIndexMagic):]); err != nil || !bytes.Equal(opened, wantIx) {
			t.Errorf("%s: the sealed index is not the plaintext's (%v)", row.Path, err)
		}
		sealedIx = append(sealedIx, ix)
	}
	if int64(frames) != h.w.frames {
		t.Errorf("ffprobe counts %d video frames in the decrypted segments, %d were recorded", frames, h.w.frames)
	}
	// A keyless reconcile adopts the files and leaves their sealed indexes
	// as they are: neither garbage nor rebuilt (it cannot read them).
	rep, err := Reconcile(context.Background(), h.root, openDB(t), h.clock.now, testLogger(t, nil))
	if err != nil || len(rep.Garbage) > 0 || len(rep.Adopted) != len(h.rows) {
		t.Errorf("reconcile: %v, %d adopted of %d, garbage %v", err, len(rep.Adopted), len(h.rows), rep.Garbage)
	}
	for i, row := range h.rows {
		if b, _ := os.ReadFile(mp4read.IndexPath(abs(row.Path, h.root))); !bytes.Equal(b, sealedIx[i]) {
			t.Errorf("%s: reconcile changed the sealed index", row.Path)
		}
	}
	var keys int
	db.View(context.Background(), func(tx *registry.Tx) error { keys, _ = tx.SegmentKeyCount(); return nil })
	if keys != len(h.rows) {
		t.Errorf("%d segment keys stored for %d segments", keys, len(h.rows))
	}
}

// A segment key whose epoch was destroyed before the segment opened is
// sealed to the current day's epoch instead; with no epoch at all for
// either, nothing is written.
func TestSealedEpochGoneRetriesWithCurrent(t *testing.T) {
	db := openDB(t)
	h, ring := sealedHarness(t, db)
	aus, _ := loadClip(t, "h264.mp4")
	// Yesterday's epoch, destroyed; the segment starts yesterday (a
	// recorder racing retention), the clock is today.
	base := h.base
	yesterday := seal.EpochFor(base) - 1
	epoch := h.w.cfg.seal.epoch
	if _, err := epoch(yesterday); err != nil {
		t.Fatal(err)
	}
	if _, err := h.w.cfg.seal.epochFor(yesterday); err != nil { // cached: the recorder does not know
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(tx *registry.Tx) error { return tx.DestroyEpoch(int64(yesterday), "test") }); err != nil {
		t.Fatal(err)
	}
	start := yesterday.Day().Add(23*time.Hour + 59*time.Minute + 59*time.Second)
	k, hd, err := h.w.cfg.seal.newKey("yard", start, base)
	if err != nil {
		t.Fatalf("key with yesterday's epoch destroyed: %v", err)
	}
	k.Wipe()
	if hd.Epoch != seal.EpochFor(base) || !hd.Start.Equal(start) {
		t.Errorf("sealed to epoch %s, start %s", hd.Epoch, hd.Start)
	}
	// The recorder then records and the keeper opens the segment.
	h.feed(t, aus[:30], 0, nil)
	if err := h.w.close(); err != nil || len(h.rows) != 1 {
		t.Fatalf("%d rows, %v", len(h.rows), err)
	}
	openSealed(t, db, ring, abs(h.rows[0].Path, h.root))

	// No epoch can be had: a clear error and no file.
	h2 := newWriterHarness(t)
	h2.w.cfg.seal = newSealer(db, func(seal.EpochID) (seal.EpochPublicKey, error) {
		return seal.EpochPublicKey{}, errors.New("registry unreachable")
	})
	err = h2.w.writeVideo(aus[0].au, aus[0].pts, aus[0].dts)
	for i := 1; err == nil && i < 30; i++ {
		err = h2.w.writeVideo(aus[i].au, aus[i].pts, aus[i].dts)
	}
	err = errors.Join(err, h2.w.close())
	if err == nil {
		t.Error("recording without an epoch key did not fail")
	}
	files, _ := filepath.Glob(filepath.Join(h2.root, "yard", "*", "*", "*", "*"))
	if len(files) != 0 {
		t.Errorf("files written without a stored key: %v", files)
	}
}

// recordSealed records the clip into one long sealed segment per start
// and returns the raw files, their rows (not catalogued) and the keyring.
func recordSealed(t *testing.T, db *registry.DB, starts ...time.Time) ([][]byte, []registry.Segment, *seal.Keyring) {
	t.Helper()
	aus, _ := loadClip(t, "h264.mp4")
	ring, epoch := sealedSite(t, db)
	s := newSealer(db, epoch)
	var files [][]byte
	var rows []registry.Segment
	for _, st := range starts {
		h := newWriterHarness(t)
		h.w.cfg.seal = s
		h.base = st
		h.w.segTicks = durToTicks(time.Hour, videoTimeScale)
		h.feed(t, aus, 0, nil)
		if err := h.w.close(); err != nil || len(h.rows) != 1 {
			t.Fatalf("%d rows, %v", len(h.rows), err)
		}
		b, err := os.ReadFile(abs(h.rows[0].Path, h.root))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
		rows = append(rows, h.rows[0])
	}
	return files, rows, ring
}

func putTmp(t *testing.T, root string, start time.Time, b []byte) string {
	t.Helper()
	rel := registry.UnfinishedPath("yard", start)
	p := abs(rel, root)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return rel
}

// Crash recovery of sealed segments holds no key: a tail torn mid-record
// is cut at the last whole record and the segment catalogued from the
// records' clear metadata, and it opens (without an end marker) and plays;
// a file holding the init record only is removed with its key; a file
// whose length field is out of range is corrupt, not torn, and left alone.
func TestSealedRecoverWithoutKey(t *testing.T) {
	requireFFprobe(t)
	db := openDB(t)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	torn, initOnly, corrupt, headerCut := t0, t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	files, rows, ring := recordSealed(t, db, torn, initOnly, corrupt, headerCut)

	_, infos, _, err := seal.Scan(bytes.NewReader(files[0]), int64(len(files[0])))
	if err != nil || len(infos) < 5 {
		t.Fatalf("%d records, %v", len(infos), err)
	}
	root := t.TempDir()
	last := infos[len(infos)-1]
	putTmp(t, root, torn, files[0][:last.Off+int64(last.Size)/2])
	_, infos1, _, _ := seal.Scan(bytes.NewReader(files[1]), int64(len(files[1])))
	putTmp(t, root, initOnly, files[1][:infos1[1].Off])
	bad := bytes.Clone(files[2])
	_, infos2, _, _ := seal.Scan(bytes.NewReader(bad), int64(len(bad)))
	bad[infos2[2].Off] = 0xff // a ciphertext length of gigabytes
	badRel := putTmp(t, root, corrupt, bad)
	putTmp(t, root, headerCut, files[3][:20])

	rep, err := Recover(context.Background(), root, db, testLogger(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Recovered) != 1 || len(rep.Removed) != 2 || len(rep.Failed) != 1 || rep.Failed[0].Path != badRel {
		t.Fatalf("report %+v", rep)
	}
	rel := registry.SegmentPath("yard", torn)
	var row registry.Segment
	if err := db.View(context.Background(), func(tx *registry.Tx) error {
		var err error
		row, err = tx.SegmentByPath(rel)
		return err
	}); err != nil {
		t.Fatalf("recovered segment not catalogued: %v", err)
	}
	raw, _ := os.ReadFile(abs(rel, root))
	if int64(len(raw)) != last.Off || row.Bytes != last.Off || row.SHA256 != hashHex(raw) {
		t.Errorf("recovered file %d bytes (last whole record ends at %d), row %+v", len(raw), last.Off, row)
	}
	if row.Params != rows[0].Params || row.Codecs != rows[0].Codecs || !row.Start.Equal(rows[0].Start) || !row.End.Before(rows[0].End) {
		t.Errorf("recovered row %+v, the whole segment's %+v", row, rows[0])
	}
	rd, dec := openSealed(t, db, ring, abs(rel, root))
	if rd.Tail().Complete {
		t.Error("a recovered segment claims an end marker")
	}
	res := ffprobe(t, dec)
	ffmpegDecode(t, dec)
	if d := seconds(res.Format.Duration); d <= 0 || time.Duration(d*float64(time.Second)) > row.End.Sub(row.Start)+50*time.Millisecond {
		t.Errorf("recovered plaintext plays %.3fs, the row says %s", d, row.End.Sub(row.Start))
	}
	// The keys: the torn one and the corrupt one kept, the two removed
	// files' gone.
	for st, want := range map[time.Time]bool{torn: true, corrupt: true, initOnly: false, headerCut: false} {
		var had bool
		db.Update(context.Background(), func(tx *registry.Tx) error {
			had, err = tx.DeleteSegmentKeyAt("yard", st)
			return errors.New("rollback") // only looking
		})
		if had != want {
			t.Errorf("key of the segment at %s present %v, want %v", st.Format(time.TimeOnly), had, want)
		}
	}
	if _, err := os.Stat(abs(badRel, root)); err != nil {
		t.Errorf("the corrupt file was not left in place: %v", err)
	}
}

// Reconcile adopts sealed files it finds without any key: the rows it
// builds from the records' metadata are those the recorder wrote; a
// sealed file under another camera's name is not adopted.
func TestSealedReconcile(t *testing.T) {
	db := openDB(t)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	files, rows, _ := recordSealed(t, db, t0, t0.Add(time.Hour))
	root := t.TempDir()
	for i, b := range files {
		p := abs(rows[i].Path, root)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	moved := abs(registry.SegmentPath("lobby", t0), root)
	os.MkdirAll(filepath.Dir(moved), 0o755)
	os.WriteFile(moved, files[0], 0o640)

	rep, err := Reconcile(context.Background(), root, db, time.Now, testLogger(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Adopted) != 2 || len(rep.Garbage) != 1 {
		t.Fatalf("report %+v", rep)
	}
	for _, want := range rows {
		var got registry.Segment
		if err := db.View(context.Background(), func(tx *registry.Tx) error {
			var err error
			got, err = tx.SegmentByPath(want.Path)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !got.Start.Equal(want.Start) || !got.End.Equal(want.End) || got.Bytes != want.Bytes || got.SHA256 != want.SHA256 ||
			got.Codecs != want.Codecs || got.Params != want.Params {
			t.Errorf("adopted %+v, recorded %+v", got, want)
		}
	}
}

// A recorder sealing live RTSP footage (the fake camera, H.264 and AAC):
// every catalogued segment is sealed, opens with the keeper's keyring,
// plays from a keyframe with both streams, lasts what the catalog says and
// follows the previous one; Reconcile afterwards, with no key, finds
// nothing to change.
func TestRecordSealedLive(t *testing.T) {
	requireFFprobe(t)
	srv := startCam(t, fakecam.Config{Codec: "h264", Audio: "aac", Cameras: []string{"yard"}})
	var ring *seal.Keyring
	r := startRecorder(t, []configs.Camera{{ID: "yard", Name: "Piha", URL: srv.URL("yard"), Transport: "tcp"}}, func(c *Config) {
		var epoch EpochFunc
		ring, epoch = sealedSite(t, c.DB)
		c.Seal = epoch
	})
	waitFor(t, 20*time.Second, "segments", func() bool { return len(segments(t, r.db, "yard")) >= 3 })
	r.stop(t)
	segs := segments(t, r.db, "yard")
	for i, s := range segs {
		p := abs(s.Path, r.root)
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(raw, seal.Magic[:]) || s.SHA256 != hashHex(raw) || s.Bytes != int64(len(raw)) {
			t.Fatalf("%s: not sealed, or the row does not describe the file", s.Path)
		}
		rd, dec := openSealed(t, r.db, ring, p)
		if !rd.Tail().Complete {
			t.Errorf("%s: finished without an end marker", s.Path)
		}
		res := ffprobe(t, dec)
		ffmpegDecode(t, dec)
		if len(res.Streams) != 2 {
			t.Errorf("%s: %d streams, want video and audio", s.Path, len(res.Streams))
		}
		var vdur float64
		var first *probePacket
		for k := range res.Packets {
			if pk := &res.Packets[k]; pk.StreamIndex == 0 {
				if first == nil {
					first = pk
				}
				vdur += seconds(pk.Duration)
			}
		}
		if first == nil || !strings.HasPrefix(first.Flags, "K") {
			t.Errorf("%s: does not start with a keyframe", s.Path)
		}
		if math.Abs(vdur-s.End.Sub(s.Start).Seconds()) > 0.002 {
			t.Errorf("%s: video lasts %.3fs, the catalog says %s", s.Path, vdur, s.End.Sub(s.Start))
		}
		if i > 0 {
			if gap := s.Start.Sub(segs[i-1].End); gap < -time.Millisecond || gap > 50*time.Millisecond {
				t.Errorf("%s starts %s after the previous segment ends", s.Path, gap)
			}
		}
	}
	rep, err := Reconcile(context.Background(), r.root, r.db, time.Now, testLogger(t, nil))
	if err != nil || len(rep.Adopted)+len(rep.Missing)+len(rep.Garbage) != 0 {
		t.Errorf("reconcile after a clean stop: %+v %v", rep, err)
	}
}

// A write that fails half way (a full disk) in a sealed segment: the file
// is cut back to its last whole record and the segment ends there, without
// an end marker (like a recovered one: the row's size is the file's, which
// is how a reader knows); the next keyframe starts a new segment. Every
// file opens and plays, and no file holds a torn record.
func TestSealedWriteFailureEndsSegment(t *testing.T) {
	requireFFprobe(t)
	aus, length := loadClip(t, "h264.mp4")
	db := openDB(t)
	h, ring := sealedHarness(t, db)
	// Writes: header, init, fragment 1, fragment 2, then fragment 3 torn.
	tf := &tornFile{failAt: 5}
	h.w.cfg.wrapFile = func(f segFile) segFile { tf.segFile, tf.n = f, 0; return tf }
	failed := 0
	for loop := int64(0); loop < 2; loop++ {
		for _, a := range aus {
			h.clock.t = h.base.Add(ticksToDur(a.dts+loop*length, videoTimeScale))
			if err := h.w.writeVideo(a.au, a.pts+loop*length, a.dts+loop*length); err != nil {
				failed++
			}
		}
	}
	if err := h.w.close(); err != nil {
		failed++
	}
	if tf.torn == 0 || failed == 0 || len(h.rows) < 2 {
		t.Fatalf("%d writes torn, %d errors, %d segments", tf.torn, failed, len(h.rows))
	}
	cut := 0
	for _, row := range h.rows {
		p := abs(row.Path, h.root)
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if row.Bytes != int64(len(raw)) || row.SHA256 != hashHex(raw) {
			t.Errorf("%s: the row does not describe the file", row.Path)
		}
		_, infos, tail, err := seal.Scan(bytes.NewReader(raw), int64(len(raw)))
		if err != nil || tail.Torn != 0 {
			t.Errorf("%s: %d torn bytes left in the file (%v)", row.Path, tail.Torn, err)
		}
		rd, dec := openSealed(t, db, ring, p)
		if !rd.Tail().Complete {
			cut++
			if len(infos) != 3 {
				t.Errorf("%s: cut after %d records, want the init and two fragments", row.Path, len(infos))
			}
		}
		ffprobe(t, dec)
		ffmpegDecode(t, dec)
	}
	if cut == 0 {
		t.Error("no segment was cut by the failed write")
	}
}

// The recorder can hold no key that opens a finished segment: nothing it
// keeps (config, sealer, writer, segment) is a keyring, an epoch private
// key or a recovery key; the only secret is the current segment's data key.
func TestRecorderHoldsNoPrivateKey(t *testing.T) {
	forbidden := map[reflect.Type]bool{
		reflect.TypeOf(seal.Keyring{}): true, reflect.TypeOf(seal.EpochKey{}): true, reflect.TypeOf(seal.RecoveryKey{}): true,
	}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(ty reflect.Type, path string) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Array || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if forbidden[ty] {
			t.Errorf("%s is a %s", path, ty)
		}
		if ty.Kind() != reflect.Struct || seen[ty] || (ty.PkgPath() != "vahti/recorder" && ty.PkgPath() != "vahti/seal") {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			walk(ty.Field(i).Type, path+"."+ty.Field(i).Name)
		}
	}
	walk(reflect.TypeOf(Recorder{}), "Recorder")
	walk(reflect.TypeOf(writer{}), "writer")
	if !seen[reflect.TypeOf(sealer{})] || !seen[reflect.TypeOf(segment{})] {
		t.Fatal("the walk did not reach the sealer and the segment")
	}
}
