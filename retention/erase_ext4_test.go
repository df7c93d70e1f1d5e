package retention

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"vahti/seal"
)

// needTool skips without the tool, or fails under CI=true (cmd/vahti's
// crash tests do the same).
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root (loop mounts) and CI runs as root")
		}
		t.Skip("needs root for a loop mount")
	}
}

// mountExt4 makes an ext4 image of sizeMiB and loop-mounts it (the pattern
// of cmd/vahti's power-cut test).
func mountExt4(t *testing.T, img string, sizeMiB int) string {
	t.Helper()
	if out, err := exec.Command("truncate", "-s", fmt.Sprintf("%dM", sizeMiB), img).CombinedOutput(); err != nil {
		t.Fatalf("truncate: %v %s", err, out)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	mnt := img + ".mnt"
	os.MkdirAll(mnt, 0o755)
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v %s", img, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

// TestPurgedCiphertextInFreeBlocks: on a real ext4 filesystem the purged
// segment's bytes stay in free blocks (a raw image scan finds its VHTSEAL
// header, as a thief scanning the disk would), and that copy decrypts with
// nothing the box holds: the key went with the purge.
func TestPurgedCiphertextInFreeBlocks(t *testing.T) {
	needRoot(t)
	needTool(t, "mkfs.ext4")
	needTool(t, "mount")
	f := newFixture(t, "yard")
	f.cfg.Retention.MaxDeleteFraction = 1
	img := filepath.Join(f.dir, "disk.img")
	mnt := mountExt4(t, img, 32)
	f.cfg.Storage.Root = filepath.Join(mnt, "rec")
	if err := os.MkdirAll(f.cfg.Storage.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSealedSite(f)
	old := s.record("yard", t0.Add(-40*day), time.Minute)
	fresh := s.record("yard", t0.Add(-time.Hour), time.Minute)
	s.opensWithBoth("before the purge", old)
	h, hl, err := seal.ReadHeader(bytes.NewReader(old.file), int64(len(old.file)))
	if err != nil {
		t.Fatal(err)
	}
	hdr := old.file[:hl]

	rep := f.purge()
	if len(rep.Segments) != 1 || rep.Segments[0].Path != old.seg.Path || len(rep.KeysDestroyed) != 1 {
		t.Fatalf("purge: %+v", rep)
	}
	syscall.Sync() // what the filesystem wrote reaches the image file
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(raw, hdr)
	if at < 0 {
		t.Fatalf("the purged segment's header (key %s) is not in the raw image: the test cannot show what it should", h.KeyID)
	}
	if bytes.Contains(raw, old.body[:64]) || bytes.Contains(raw, fresh.body[:64]) {
		t.Fatal("plaintext footage in the raw image")
	}
	remnant := raw[at:min(at+len(old.file), len(raw))]
	// The first block is the file's first block, whatever the allocation.
	if n := min(4096, len(old.file)); !bytes.Equal(remnant[:n], old.file[:n]) {
		t.Fatal("the header found in the image does not start the purged ciphertext")
	}
	t.Logf("purged ciphertext found in free blocks at byte %d (whole file contiguous: %v)", at, bytes.Equal(remnant, old.file))
	s.opensWithNeither("the remnant in free blocks", sealedSeg{file: bytes.Clone(remnant)})
	s.opensWithBoth("fresh segment after the purge", fresh)
}
