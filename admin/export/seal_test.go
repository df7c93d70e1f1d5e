package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

// Sealed fixtures without the recorder: initKeys does what vahti keys init
// does, sealSegments turns catalogued plain segments into sealed ones the
// way the recorder writes them (seal/DESIGN.md, "Recorder"): the key is
// stored first, then one record for ftyp+moov and one per moof+mdat, the
// end marker, and the catalog row's bytes and SHA-256 become the sealed
// file's.

// initKeys makes the site keys in e's registry and returns the unlocked
// keyring (the test plays the logged-in keeper).
func (e *env) initKeys() *seal.Keyring {
	e.t.Helper()
	ring, err := seal.NewSite()
	if err != nil {
		e.t.Fatal(err)
	}
	rk, err := seal.NewRecoveryKey()
	if err != nil {
		e.t.Fatal(err)
	}
	rw, err := ring.WrapRecovery(rk)
	if err != nil {
		e.t.Fatal(err)
	}
	rp, err := rk.Public()
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.db.Update(context.Background(), func(tx *registry.Tx) error {
		return tx.InitSealSite(registry.SealSite{PublicKey: ring.Public().Bytes(), RecoveryPublicKey: rp.Bytes(), CreatedBy: "test"}, rw)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ring
}

// sealSegments seals each catalogued plain segment in place and returns
// the new rows.
func (e *env) sealSegments(site seal.SitePublicKey, segs []registry.Segment) []registry.Segment {
	e.t.Helper()
	var out []registry.Segment
	for _, s := range segs {
		out = append(out, sealTestSegment(e.t, e.db, site, e.abs(s), s))
	}
	return out
}

// sealTestSegment seals the plain segment at path (catalogued as row) with
// a fresh data key sealed to its day's epoch (made if missing), and
// replaces its catalog row by one for the sealed file.
func sealTestSegment(t testing.TB, db *registry.DB, site seal.SitePublicKey, path string, row registry.Segment) registry.Segment {
	t.Helper()
	plain, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	top, err := mp4read.ScanTop(bytes.NewReader(plain), int64(len(plain)))
	if err != nil || top.Whole != int64(len(plain)) {
		t.Fatalf("%s: scan: %v", path, err)
	}
	var units [][]byte
	var from int64
	for _, b := range top.Boxes {
		if b.Type == "moov" || b.Type == "mdat" {
			units = append(units, plain[from:b.End()])
			from = b.End()
		}
	}
	if from != int64(len(plain)) || len(units) < 2 {
		t.Fatalf("%s: not ftyp+moov and moof+mdat pairs", path)
	}
	ctx := context.Background()
	day := seal.EpochFor(row.Start)
	var epoch seal.EpochPublicKey
	err = db.Update(ctx, func(tx *registry.Tx) error {
		ep, err := tx.Epoch(int64(day))
		if errors.Is(err, registry.ErrNotFound) {
			pub, sealed, err := seal.NewEpoch(site, day)
			if err != nil {
				return err
			}
			epoch = pub
			return tx.AddEpoch(int64(day), pub.Bytes(), sealed)
		}
		if err != nil {
			return err
		}
		epoch, err = seal.ParseEpochPublicKey(day, ep.PublicKey)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	k, h, sealedKey, err := seal.NewSegmentKey(epoch, row.Camera, row.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Wipe()
	err = db.Update(ctx, func(tx *registry.Tx) error {
		return tx.PutSegmentKey(registry.SegmentKey{KeyID: h.KeyID[:], Camera: row.Camera, Start: row.Start, EpochDay: int64(day), SealedKey: sealedKey})
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := seal.NewWriter(&buf, h, k)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if err := w.WriteRecord(u, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(mp4read.IndexPath(path)) // the plain file's index, if any
	return recatalog(t, db, row, buf.Bytes())
}

// recatalog replaces row by one for the file now holding b.
func recatalog(t testing.TB, db *registry.DB, row registry.Segment, b []byte) registry.Segment {
	t.Helper()
	sum := sha256.Sum256(b)
	nr := row
	nr.ID, nr.Bytes, nr.SHA256 = 0, int64(len(b)), hex.EncodeToString(sum[:])
	err := db.Update(context.Background(), func(tx *registry.Tx) error {
		if err := tx.DeleteSegmentRow(row.ID); err != nil {
			return err
		}
		return tx.AddSegment(&nr)
	})
	if err != nil {
		t.Fatal(err)
	}
	return nr
}

func clipSums(res *Result) []string {
	var out []string
	for _, c := range res.Manifest.Clips {
		out = append(out, c.File+" "+c.SHA256)
	}
	return out
}

// TestSealedExportIsThePlainExport: the same footage exported from plain
// and from sealed segments gives byte-identical clips that play; the
// manifest's source hashes are the sealed files' (what is on disk).
func TestSealedExportIsThePlainExport(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 8}), 0, 2)
	plain, _ := e.export([]string{"yard"}, 500*time.Millisecond, 7*time.Second)

	ring := e.initKeys()
	sealed := e.sealSegments(ring.Public(), segs)
	e.ex.Unwrap = ring.Unwrapper(e.db.KeyStore(context.Background()))
	res, out := e.export([]string{"yard"}, 500*time.Millisecond, 7*time.Second)
	if a, b := strings.Join(clipSums(plain), "\n"), strings.Join(clipSums(res), "\n"); a != b || a == "" {
		t.Fatalf("clips of the sealed sources:\n%s\nof the plain ones:\n%s", b, a)
	}
	for i, s := range res.Manifest.Sources {
		f, err := os.ReadFile(e.abs(sealed[i]))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(f)
		if !bytes.HasPrefix(f, seal.Magic[:]) || s.SHA256 != hex.EncodeToString(sum[:]) || s.Status != SourceOK {
			t.Errorf("source %s: sha256 %s status %s; the sealed file's sha256 is %x", s.Path, s.SHA256, s.Status, sum)
		}
		if _, err := os.Stat(mp4read.IndexPath(e.abs(sealed[i]))); err == nil {
			t.Errorf("%s: an index in clear was written for a sealed segment", s.Path)
		}
	}
	dir := unzip(t, out)
	c := res.Manifest.Clips[0]
	checkClip(t, filepath.Join(dir, c.File), []string{"h264", "aac"}, c.FromUTC, e.base.Add(500*time.Millisecond), e.base.Add(7*time.Second))
}

// TestSealedExportLockedWithoutKeys: without keys (no keeper logged in,
// or the keyring wiped at the last logout) an export of sealed footage
// fails with the locked error and leaves no package; nothing is reported
// as damaged.
func TestSealedExportLockedWithoutKeys(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", seconds: 4}), 0, 2)
	ring := e.initKeys()
	e.sealSegments(ring.Public(), segs)
	req := Request{Cameras: []string{"yard"}, From: e.base, To: e.base.Add(4 * time.Second), Reason: "r", Actor: "keeper1", Source: "cli"}
	for _, tc := range []struct {
		name   string
		unwrap seal.Unwrapper
	}{
		{"no unwrapper", nil},
		{"wiped keyring", func() seal.Unwrapper {
			r2, err := seal.NewSite() // any ring, wiped: what the service holds after the last logout
			if err != nil {
				t.Fatal(err)
			}
			r2.Wipe()
			return r2.Unwrapper(e.db.KeyStore(context.Background()))
		}()},
	} {
		e.ex.Unwrap = tc.unwrap
		_, err := e.ex.Build(context.Background(), req, "")
		if !errors.Is(err, mp4read.ErrLocked) || !strings.Contains(err.Error(), "keeper must be logged in") {
			t.Errorf("%s: export: %v, want the locked error", tc.name, err)
		}
		if m, _ := filepath.Glob(filepath.Join(e.state, ExportsDir, "*")); len(m) != 0 {
			t.Errorf("%s: left %v", tc.name, m)
		}
	}
	// The same ring as the one that unlocked, after Wipe.
	e.ex.Unwrap = ring.Unwrapper(e.db.KeyStore(context.Background()))
	if _, err := e.ex.Build(context.Background(), req, ""); err != nil {
		t.Fatalf("with the keys: %v", err)
	}
	ring.Wipe()
	if _, err := e.ex.Build(context.Background(), req, ""); !errors.Is(err, mp4read.ErrLocked) {
		t.Errorf("after Wipe: %v, want the locked error", err)
	}
}

// TestSealedSegmentWithoutEndMarkerIsDamaged: a finished sealed segment
// cut at a record boundary (its end marker gone, its catalog row made to
// match) is not read short: it is left out as damaged and named.
func TestSealedSegmentWithoutEndMarkerIsDamaged(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", seconds: 6}), 0, 2)
	ring := e.initKeys()
	sealed := e.sealSegments(ring.Public(), segs)
	e.ex.Unwrap = ring.Unwrapper(e.db.KeyStore(context.Background()))
	b, err := os.ReadFile(e.abs(sealed[1]))
	if err != nil {
		t.Fatal(err)
	}
	b = b[:len(b)-22] // the end marker: lengths (6) and the empty record's tag (16)
	if err := os.WriteFile(e.abs(sealed[1]), b, 0o644); err != nil {
		t.Fatal(err)
	}
	recatalog(t, e.db, sealed[1], b)
	res, _ := e.export([]string{"yard"}, 0, 6*time.Second)
	var got []string
	for _, s := range res.Manifest.Sources {
		got = append(got, s.Status)
		if s.Path == sealed[1].Path && (s.Status != SourceDamaged || !strings.Contains(s.Detail, "no end marker")) {
			t.Errorf("cut segment: status %s detail %q", s.Status, s.Detail)
		}
	}
	if strings.Join(got, ",") != "ok,damaged,ok" {
		t.Errorf("source statuses %v", got)
	}
}

// TestSealedPlayback: playback of sealed segments serves the same bytes as
// of the plain ones while the keys are there, and 423 with the locked
// message once they are gone, even for a window whose layout is cached.
func TestSealedPlayback(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 6}), 0, 2)
	srv := playbackServer(t, e)
	from, to := e.base.Add(time.Second), e.base.Add(5*time.Second)
	_, want := get(t, playURL(srv, "yard", from, to), nil)

	ring := e.initKeys()
	e.sealSegments(ring.Public(), segs)
	e.ex.Unwrap = ring.Unwrapper(e.db.KeyStore(context.Background()))
	resp, got := get(t, playURL(srv, "yard", from, to), nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("sealed playback: %d, %d bytes; plain was %d bytes (equal: %v)", resp.StatusCode, len(got), len(want), bytes.Equal(got, want))
	}
	resp, part := get(t, playURL(srv, "yard", from, to), map[string]string{"Range": "bytes=1000-80000"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, want[1000:80001]) {
		t.Errorf("range of sealed playback: %d, equal %v", resp.StatusCode, bytes.Equal(part, want[1000:80001]))
	}
	p := ffprobe(t, playURL(srv, "yard", from, to))
	if got := strings.Join(p.codecs(), ","); got != "h264,aac" {
		t.Errorf("ffprobe of sealed playback: codecs %s", got)
	}
	ring.Wipe()
	resp, body := get(t, playURL(srv, "yard", from, to), nil)
	if resp.StatusCode != http.StatusLocked || !strings.Contains(string(body), "keeper must be logged in") {
		t.Errorf("after the keys went: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, playURL(srv, "yard", e.base, e.base.Add(3*time.Second)), nil) // not cached
	if resp.StatusCode != http.StatusLocked {
		t.Errorf("uncached window after the keys went: %d %q", resp.StatusCode, body)
	}
}
