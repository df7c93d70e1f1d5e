package seal_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

// requireTool skips without the tool on a dev box and fails under CI.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (required under CI)", name)
		}
		t.Skipf("%s not installed", name)
	}
}

// makeFMP4 has ffmpeg write a fragmented MP4 shaped like the recorder's
// segments: init section (ftyp+moov), then moof+mdat fragments, each
// starting with a keyframe.
func makeFMP4(t *testing.T) []byte {
	t.Helper()
	requireTool(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "plain.mp4")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeUnits splits an fMP4 file into its write units as the recorder
// writes them: ftyp+moov, then each moof+mdat.
func writeUnits(t *testing.T, file []byte) [][]byte {
	t.Helper()
	top, err := mp4read.ScanTop(bytes.NewReader(file), int64(len(file)))
	if err != nil || top.Whole != int64(len(file)) {
		t.Fatalf("scan: %v (whole %d of %d)", err, top.Whole, len(file))
	}
	var us [][]byte
	var start int64
	for i, b := range top.Boxes {
		if b.Type == "moov" || b.Type == "mdat" || i == len(top.Boxes)-1 {
			us = append(us, file[start:b.End()])
			start = b.End()
		}
	}
	if len(us) < 3 {
		t.Fatalf("%d write units: not a fragmented file", len(us))
	}
	return us
}

func probe(t *testing.T, stdin []byte, path string) (string, error) {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "compact", path)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestSealRealSegment seals an ffmpeg-made fMP4 segment one write unit per
// record, as the recorder will, and opens it the way vahti cat will: the
// plaintext is byte-identical, ffprobe plays it (from a file and from a
// pipe, as `vahti cat … | ffprobe -`), and the sealed file shows neither
// the picture data nor anything ffprobe can read.
func TestSealRealSegment(t *testing.T) {
	requireTool(t, "ffprobe")
	plain := makeFMP4(t)
	b := newBox(t)
	start := time.Date(2026, 11, 22, 12, 5, 0, 123456000, time.UTC)
	epoch := b.addEpoch(t, seal.EpochFor(start))

	k, h, sealed, err := seal.NewSegmentKey(epoch, "yard", start)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "12-05-00.123456.mp4")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := seal.NewWriter(f, h, k)
	if err != nil {
		t.Fatal(err)
	}
	us := writeUnits(t, plain)
	for _, u := range us {
		if _, err := w.Write(u); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	k.Wipe()
	f.Close()
	if err := b.db.Update(context.Background(), func(tx *registry.Tx) error {
		return tx.PutSegmentKey(registry.SegmentKey{KeyID: h.KeyID[:], Camera: h.Camera, Start: h.Start, EpochDay: int64(h.Epoch), SealedKey: sealed})
	}); err != nil {
		t.Fatal(err)
	}

	sealedFile, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := probe(t, nil, path); err == nil && strings.Contains(out, "h264") {
		t.Fatalf("ffprobe reads the sealed file: %s", out)
	}
	top, _ := mp4read.ScanTop(bytes.NewReader(plain), int64(len(plain)))
	for _, bx := range top.Boxes {
		if bx.Type == "mdat" && bx.Size > 80 && bytes.Contains(sealedFile, plain[bx.Off+16:bx.Off+80]) {
			t.Fatal("picture data of an mdat in the sealed file")
		}
	}
	tl, err := seal.Recover(bytes.NewReader(sealedFile), int64(len(sealedFile)))
	if err != nil || !tl.Complete || tl.Records != len(us)+1 {
		t.Fatalf("recover: %+v %v, want %d records and the end marker", tl, err, len(us))
	}

	got, err := b.open(sealedFile, &b.rk, "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("decrypted %d bytes differ from the %d of the original", len(got), len(plain))
	}
	want, err := probe(t, plain, "-")
	if err != nil {
		t.Fatalf("ffprobe of the original: %v %s", err, want)
	}
	fromPipe, err := probe(t, got, "-")
	if err != nil || fromPipe != want {
		t.Fatalf("ffprobe of the decrypted pipe: %q (%v), want %q", fromPipe, err, want)
	}
	out := filepath.Join(dir, "decrypted.mp4")
	if err := os.WriteFile(out, got, 0o600); err != nil {
		t.Fatal(err)
	}
	if fromFile, err := probe(t, nil, out); err != nil || fromFile != want {
		t.Fatalf("ffprobe of the decrypted file: %q (%v), want %q", fromFile, err, want)
	}
	if !strings.Contains(want, "nb_read_frames=75") {
		t.Errorf("ffprobe: %s, want 75 frames", want)
	}

	// mp4read reads the plaintext through the Reader unchanged.
	fr, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	err = b.db.View(context.Background(), func(tx *registry.Tx) error {
		w, err := tx.RecoveryWrap()
		if err != nil {
			return err
		}
		ring, err := seal.UnlockRecovery(b.site, w, b.rk)
		if err != nil {
			return err
		}
		defer ring.Wipe()
		rd, err := seal.OpenSegment(fr, int64(len(sealedFile)), ring.Unwrapper(txStore{tx}))
		if err != nil {
			return err
		}
		l, err := mp4read.SegmentLayout(rd, rd.Size())
		if err != nil {
			return err
		}
		lp, err := mp4read.SegmentLayout(bytes.NewReader(plain), int64(len(plain)))
		if err != nil {
			return err
		}
		if l != lp || l.Fragments < 3 {
			t.Errorf("mp4read layout through the Reader: %+v, of the plain file %+v", l, lp)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
