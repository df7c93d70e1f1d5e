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

	"vahti/admin/internal/sealtest"
	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

// Sealed fixtures come from admin/internal/sealtest (shared with admin's
// tests, which need them too).

func (e *env) initKeys() *seal.Keyring { return sealtest.Site(e.t, e.db) }

func (e *env) sealSegments(site seal.SitePublicKey, segs []registry.Segment) []registry.Segment {
	e.t.Helper()
	var out []registry.Segment
	for _, s := range segs {
		out = append(out, sealtest.Seal(e.t, e.db, site, e.abs(s), s))
	}
	return out
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
		if ix, err := os.ReadFile(mp4read.IndexPath(e.abs(sealed[i]))); err == nil && !mp4read.IsSealedIndex(ix) {
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

// TestSealedSegmentWithoutEndMarker: a sealed segment as crash recovery
// leaves it (no end marker, catalogued at that size) is used; a finished
// one cut at a record boundary (its end marker gone, its row unchanged) is
// left out as damaged, and so is one without the marker whose row has no
// size to tell: neither is read short unnoticed.
func TestSealedSegmentWithoutEndMarker(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", seconds: 6}), 0, 2)
	ring := e.initKeys()
	sealed := e.sealSegments(ring.Public(), segs)
	e.ex.Unwrap = ring.Unwrapper(e.db.KeyStore(context.Background()))
	cut := func(s registry.Segment) []byte {
		b, err := os.ReadFile(e.abs(s))
		if err != nil {
			t.Fatal(err)
		}
		b = b[:len(b)-22] // the end marker: lengths (6) and the empty record's tag (16)
		if err := os.WriteFile(e.abs(s), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Segment 0 as recovery leaves it: catalogued without its marker.
	sealtest.Recatalog(t, e.db, sealed[0], cut(sealed[0]))
	// Segment 1 cut after it was catalogued.
	cut(sealed[1])
	// Segment 2 without its marker, and a row that names no size.
	b2 := cut(sealed[2])
	r2 := sealtest.Recatalog(t, e.db, sealed[2], b2)
	if err := e.db.Update(context.Background(), func(tx *registry.Tx) error {
		rows, err := tx.SegmentsIn("yard", r2.Start, r2.End)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.Start.Equal(r2.Start) {
				if err := tx.DeleteSegmentRow(r.ID); err != nil {
					return err
				}
				r.ID, r.Bytes = 0, 0
				return tx.AddSegment(&r)
			}
		}
		return errors.New("row not found")
	}); err != nil {
		t.Fatal(err)
	}
	res, _ := e.export([]string{"yard"}, 0, 6*time.Second)
	var got []string
	for _, s := range res.Manifest.Sources {
		got = append(got, s.Status)
	}
	if strings.Join(got, ",") != "ok,damaged,damaged" {
		t.Fatalf("source statuses %v, want ok,damaged,damaged (%+v)", got, res.Manifest.Sources)
	}
	for _, s := range res.Manifest.Sources[1:] {
		if !strings.Contains(s.Detail, "no end marker") {
			t.Errorf("%s: %q", s.Path, s.Detail)
		}
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
