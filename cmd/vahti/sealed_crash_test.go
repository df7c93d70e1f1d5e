package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vahti/registry"
	"vahti/seal"
)

// sealedConfig is recordingConfig with storage.encryption: sealed, after
// vahti keys init; it returns the config and the recovery key.
func sealedConfig(t *testing.T, dir, url string) (string, seal.RecoveryKey) {
	t.Helper()
	config := sealedRecordingConfig(t, dir, url)
	out, err := exec.Command(vahtiBinary(t), "keys", "init", "--config", config, "--json").Output()
	if err != nil {
		t.Fatalf("keys init: %v", err)
	}
	var r struct {
		RecoveryKey string `json:"recovery_key"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	rk, err := seal.ParseRecoveryKey(r.RecoveryKey)
	if err != nil {
		t.Fatal(err)
	}
	return config, rk
}

// sealedRecordingConfig is recordingConfig with storage.encryption: sealed.
func sealedRecordingConfig(t *testing.T, dir, url string) string {
	t.Helper()
	config := recordingConfig(t, dir, url)
	b, _ := os.ReadFile(config)
	s := strings.Replace(string(b), "  fsync_interval: 500ms\n", "  fsync_interval: 500ms\n  encryption: sealed\n", 1)
	if err := os.WriteFile(config, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}

// recoveryRing opens the registry under stateDir and unlocks its site key
// with the recovery key (what vahti cat --recovery-key-file does).
func recoveryRing(t *testing.T, stateDir string, rk seal.RecoveryKey) (*registry.DB, *seal.Keyring) {
	t.Helper()
	db, err := registry.Open(stateDir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var ring *seal.Keyring
	if err := db.View(context.Background(), func(tx *registry.Tx) error {
		s, err := tx.SealSiteKey()
		if err != nil {
			return err
		}
		site, err := seal.ParseSitePublicKey(s.PublicKey)
		if err != nil {
			return err
		}
		w, err := tx.RecoveryWrap()
		if err != nil {
			return err
		}
		ring, err = seal.UnlockRecovery(site, w, rk)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ring.Wipe)
	return db, ring
}

// decryptTo opens a sealed segment with the recovery key's keyring and
// the registry and writes its plaintext to a temp file.
func decryptTo(t *testing.T, db *registry.DB, ring *seal.Keyring, path string) (seal.Tail, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	rd, err := seal.OpenSegment(f, st.Size(), ring.Unwrapper(db.KeyStore(context.Background())))
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	var b bytes.Buffer
	if _, err := rd.WriteTo(&b); err != nil {
		t.Fatalf("decrypt %s: %v", path, err)
	}
	out := filepath.Join(t.TempDir(), "plain.mp4")
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return rd.Tail(), out
}

// kill -9 of a sealing service: the torn sealed segment is recovered at
// the next start without any key (the service holds none), every finished
// segment is untouched, and all of them, the recovered one included, open
// with the recovery key and play.
func TestKill9RecoversTornSealedSegment(t *testing.T) {
	needTool(t, "ffprobe")
	cam := startCamera(t)
	dir := t.TempDir()
	config, rk := sealedConfig(t, dir, cam.URL("yard"))
	root := filepath.Join(dir, "rec")

	p := startServe(t, config)
	waitFor(t, "3 finished segments and one being written", 60*time.Second, p.output, func() bool {
		fin, unfin := segmentFiles(t, root)
		if len(fin) < 3 || len(unfin) != 1 {
			return false
		}
		st, err := os.Stat(filepath.Join(root, unfin[0]))
		return err == nil && st.Size() > 20_000
	})
	before := map[string]string{}
	fin, _ := segmentFiles(t, root)
	for _, f := range fin {
		before[f] = fileHash(t, filepath.Join(root, f))
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	_, unfin := segmentFiles(t, root)
	if len(unfin) == 0 {
		t.Fatal("kill -9 left no unfinished segment: the test did not tear one")
	}
	torn := unfin[0]

	restart := time.Now()
	p2 := startServe(t, config)
	waitFor(t, "recording to resume after restart", 60*time.Second, p2.output, func() bool {
		fin, _ := segmentFiles(t, root)
		for _, f := range fin {
			if _, start, _, _ := registry.ParseSegmentPath(f); start.After(restart) {
				return true
			}
		}
		return false
	})
	p2.cmd.Process.Signal(syscall.SIGTERM)
	if err := p2.cmd.Wait(); err != nil {
		t.Errorf("serve did not stop cleanly on SIGTERM: %v\n%s", err, p2.output())
	}
	if strings.Contains(p2.output(), "footage is not sealed") {
		t.Errorf("the service warned that footage is not sealed:\n%s", p2.output())
	}

	for f, h := range before {
		if got := fileHash(t, filepath.Join(root, f)); got != h {
			t.Errorf("finished segment %s changed across kill -9 and restart", f)
		}
	}
	recovered := strings.TrimSuffix(torn, registry.UnfinishedSuffix)
	if _, err := os.Stat(filepath.Join(root, recovered)); err != nil {
		t.Fatalf("torn segment %s was not recovered: %v\n%s", torn, err, p2.output())
	}
	cat := catalogued(t, filepath.Join(dir, "state"))
	if seg, ok := cat[recovered]; !ok {
		t.Fatalf("recovered segment %s is not in the catalog", recovered)
	} else if seg.SHA256 != fileHash(t, filepath.Join(root, recovered)) {
		t.Errorf("catalog hash of the recovered segment does not match the file")
	}
	if _, unfin := segmentFiles(t, root); len(unfin) != 0 {
		t.Errorf("unfinished files remain after a clean stop: %v", unfin)
	}

	db, ring := recoveryRing(t, filepath.Join(dir, "state"), rk)
	all, _ := segmentFiles(t, root)
	for _, f := range all {
		if _, ok := cat[f]; !ok {
			t.Errorf("segment %s on disk but not catalogued", f)
		}
		raw, _ := os.ReadFile(filepath.Join(root, f))
		if !bytes.HasPrefix(raw, seal.Magic[:]) {
			t.Errorf("%s is not sealed", f)
			continue
		}
		tail, plain := decryptTo(t, db, ring, filepath.Join(root, f))
		if f != recovered && !tail.Complete {
			t.Errorf("%s: a finished segment without its end marker", f)
		}
		probe(t, plain)
	}
}

// A power cut while sealing (a copy of the loop-mounted image taken while
// recording): after fsck and a restart, the torn sealed segment is
// recovered without a key, everything that reached the disk is catalogued,
// and every segment opens with the recovery key and plays.
func TestPowerCutSealed(t *testing.T) {
	needRoot(t)
	needTool(t, "ffprobe")
	needTool(t, "mkfs.ext4")
	cam := startCamera(t)
	work := t.TempDir()
	img := filepath.Join(work, "disk.img")
	mnt := mountImage(t, img, 128, true)
	config, rk := sealedConfig(t, mnt, cam.URL("yard"))
	root := filepath.Join(mnt, "rec")

	p := startServe(t, config)
	waitFor(t, "4 finished segments and one being written", 60*time.Second, p.output, func() bool {
		fin, unfin := segmentFiles(t, root)
		return len(fin) >= 4 && len(unfin) == 1
	})
	cut := time.Now()
	copyImg := filepath.Join(work, "after-cut.img")
	if out, err := exec.Command("cp", "--sparse=always", img, copyImg).CombinedOutput(); err != nil {
		t.Fatalf("copy image: %v %s", err, out)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	exec.Command("umount", mnt).Run()

	exec.Command("e2fsck", "-fy", copyImg).Run()
	mnt2 := mountImage(t, copyImg, 0, false)
	config2 := sealedRecordingConfig(t, mnt2, "rtsp://127.0.0.1:1/offline")
	p2 := startServe(t, config2)
	waitFor(t, "the service to recover the torn segment", 60*time.Second, p2.output, func() bool {
		fin, unfin := segmentFiles(t, filepath.Join(mnt2, "rec"))
		if len(unfin) != 0 {
			return false
		}
		cat := catalogued(t, filepath.Join(mnt2, "state"))
		for _, f := range fin {
			if _, ok := cat[f]; !ok {
				return false
			}
		}
		return true
	})
	p2.cmd.Process.Signal(syscall.SIGTERM)
	p2.cmd.Wait()

	root2 := filepath.Join(mnt2, "rec")
	fin, _ := segmentFiles(t, root2)
	if len(fin) < 3 {
		t.Fatalf("only %d segments survived the power cut\n%s", len(fin), p2.output())
	}
	cat := catalogued(t, filepath.Join(mnt2, "state"))
	db, ring := recoveryRing(t, filepath.Join(mnt2, "state"), rk)
	var newest time.Time
	for _, f := range fin {
		seg, ok := cat[f]
		if !ok {
			t.Errorf("%s survived but is not catalogued", f)
			continue
		}
		if seg.SHA256 != fileHash(t, filepath.Join(root2, f)) {
			t.Errorf("%s: catalog hash does not match the file", f)
		}
		_, plain := decryptTo(t, db, ring, filepath.Join(root2, f))
		probe(t, plain)
		if seg.End.After(newest) {
			newest = seg.End
		}
	}
	if lost := cut.Sub(newest); lost > 4*time.Second {
		t.Errorf("footage lost before the cut: %s (newest surviving footage ends %s, cut at %s)", lost, newest, cut)
	}
}
