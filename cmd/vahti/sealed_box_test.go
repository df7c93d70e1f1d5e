package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vahti/seal"
)

// frameRun is 64 bytes from inside the first video sample of an fMP4
// segment: coded picture data a thief would look for.
func frameRun(t *testing.T, mp4 []byte) []byte {
	t.Helper()
	i := bytes.Index(mp4, []byte("mdat"))
	if i < 0 || i+8+512+64 > len(mp4) {
		t.Fatalf("no mdat with picture data in %d bytes", len(mp4))
	}
	run := mp4[i+8+512 : i+8+512+64]
	if bytes.Count(run, run[:1]) == len(run) {
		t.Fatalf("the picture data is one repeated byte")
	}
	return append([]byte(nil), run...)
}

// recordOnImage records, sealed or with encryption left out (plain: no
// site keys), into a fresh loop-mounted ext4 image until three segments
// are finished and stops the service cleanly: the box as a thief would
// carry it away. It returns the image, its mount point, the config and
// (sealed) the recovery key.
func recordOnImage(t *testing.T, mode string) (img, mnt, config string, rk seal.RecoveryKey) {
	t.Helper()
	cam := startCamera(t)
	work := t.TempDir()
	img = filepath.Join(work, "box.img")
	mnt = mountImage(t, img, 96, true)
	if mode == "sealed" {
		config, rk = sealedConfig(t, mnt, cam.URL("yard"))
	} else {
		config = recordingConfig(t, mnt, cam.URL("yard"))
	}
	p := startServe(t, config)
	root := filepath.Join(mnt, "rec")
	waitFor(t, "3 finished segments", 60*time.Second, p.output, func() bool {
		fin, _ := segmentFiles(t, root)
		return len(fin) >= 3
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	return img, mnt, config, rk
}

// TestStolenBoxShowsNothing: with sealing, a copy of the whole recording
// disk, registry and keeper wraps included, holds no playable footage and
// not one run of picture bytes; the recovery key (kept off the box) opens
// it. The same recording with encryption off is the control: there the
// scan finds the picture bytes on the raw image, so the scan can fail.
func TestStolenBoxShowsNothing(t *testing.T) {
	needRoot(t)
	needTool(t, "ffprobe")
	needTool(t, "mkfs.ext4")

	t.Run("off", func(t *testing.T) {
		img, mnt, _, _ := recordOnImage(t, "off")
		fin, _ := segmentFiles(t, filepath.Join(mnt, "rec"))
		plain, err := os.ReadFile(filepath.Join(mnt, "rec", fin[0]))
		if err != nil {
			t.Fatal(err)
		}
		run := frameRun(t, plain)
		exec.Command("umount", mnt).Run()
		raw, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, run) {
			t.Fatal("control: picture bytes of a plain segment are not found on the raw image; the scan proves nothing")
		}
	})

	t.Run("sealed", func(t *testing.T) {
		img, mnt, config, rk := recordOnImage(t, "sealed")
		root := filepath.Join(mnt, "rec")
		db, ring := recoveryRing(t, filepath.Join(mnt, "state"), rk)
		fin, _ := segmentFiles(t, root)
		var runs [][]byte
		for _, f := range fin {
			p := filepath.Join(root, f)
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, seal.Magic[:]) {
				t.Fatalf("%s is not sealed", f)
			}
			// (ffprobe's format guessing may take random bytes for some
			// audio format; a video stream it must never find.)
			if out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_name",
				"-of", "csv=p=0", p).Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("ffprobe finds video in the sealed file %s as it lies on the disk: %s", f, out)
			}
			// With everything on the box but no secret, vahti cat refuses.
			c := &cli{t: t, config: config, now: time.Now, envs: map[string]string{}}
			if out, _, code := c.run("", "cat", "--config", "$CONFIG", p); code == 0 || len(out) > 0 {
				t.Errorf("vahti cat without a password or recovery key: exit %d, %d bytes out", code, len(out))
			}
			_, plainPath := decryptTo(t, db, ring, p)
			plain, err := os.ReadFile(plainPath)
			if err != nil {
				t.Fatal(err)
			}
			runs = append(runs, frameRun(t, plain))
		}
		db.Close()
		exec.Command("umount", mnt).Run()
		raw, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		for i, run := range runs {
			if bytes.Contains(raw, run) {
				t.Errorf("picture bytes of %s are on the raw image in clear", fin[i])
			}
		}
		if !bytes.Contains(raw, seal.Magic[:]) {
			t.Error("no sealed segment header on the raw image")
		}
		if strings.Contains(string(raw), rk.String()) {
			t.Error("the recovery key is on the box")
		}
	})
}
