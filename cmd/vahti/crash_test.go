package main

// These tests run the real binary as a subprocess against a fake camera and
// then kill it (kill -9) or cut its power (a copy of a loop-mounted ext4
// image taken while recording: only what reached the disk survives).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vahti/recorder/fakecam"
	"vahti/registry"
	"vahti/seal"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// vahtiBinary builds cmd/vahti once per test run.
func vahtiBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vahti-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vahti")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// needTool skips (or, under CI, fails) when a command is missing.
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
		t.Skip("needs root for loop mounts")
	}
}

// recordingConfig writes a config recording one fake camera with short
// segments into stateDir/rec.
func recordingConfig(t *testing.T, dir, url string) string {
	t.Helper()
	cfg := fmt.Sprintf(`state_dir: %[1]s/state
storage:
  root: %[1]s/rec
  segment_duration: 2s
  part_duration: 200ms
  fsync_interval: 500ms
retention:
  max_age: 1h
  min_free: 1MiB
cameras:
  - id: yard
    name: Piha
    purpose: test
    url: %[2]s
    transport: tcp
admin:
  listen: 127.0.0.1:0
`, dir, url)
	p := filepath.Join(dir, "vahti.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type proc struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	mu   *sync.Mutex
}

func startServe(t *testing.T, config string) *proc {
	t.Helper()
	var mu sync.Mutex
	logs := &bytes.Buffer{}
	cmd := exec.Command(vahtiBinary(t), "serve", "--config", config)
	w := &lockedWriter{w: logs, mu: &mu}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: logs, mu: &mu}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// segmentFiles lists finished and unfinished segment files under root.
func segmentFiles(t *testing.T, root string) (finished, unfinished []string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if _, _, fin, perr := registry.ParseSegmentPath(rel); perr == nil {
			if fin {
				finished = append(finished, rel)
			} else {
				unfinished = append(unfinished, rel)
			}
		}
		return nil
	})
	sort.Strings(finished)
	return finished, unfinished
}

func waitFor(t *testing.T, what string, d time.Duration, logs func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s\nservice output:\n%s", d, what, logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fileHash(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// probe checks with ffprobe that a segment plays: decodable video whose
// first packet is a keyframe.
func probe(t *testing.T, p string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"packet=flags", "-of", "json", p).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", p, err)
	}
	var r struct {
		Packets []struct{ Flags string } `json:"packets"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Packets) == 0 {
		t.Fatalf("ffprobe %s: no video packets (%v)", p, err)
	}
	if !strings.HasPrefix(r.Packets[0].Flags, "K") {
		t.Errorf("%s: first packet is not a keyframe (flags %q)", p, r.Packets[0].Flags)
	}
	// A full decode must not report errors either.
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", p, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("%s does not decode cleanly: %v\n%s", p, err, out)
	}
}

func catalogued(t *testing.T, stateDir string) map[string]registry.Segment {
	t.Helper()
	db, err := registry.Open(stateDir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]registry.Segment{}
	err = db.View(context.Background(), func(tx *registry.Tx) error {
		return tx.EachSegment(func(s registry.Segment) error { out[s.Path] = s; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func startCamera(t *testing.T) *fakecam.Server {
	t.Helper()
	cam, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{"yard"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cam.Close)
	return cam
}

// crashBox is the storage a crash test records into: plain fMP4, or
// sealed (vahti keys init first; every segment is checked through the
// recovery key, as the DPO would open it).
type crashBox struct {
	sealed bool
	rk     seal.RecoveryKey
}

// config writes the recording config for dir; fresh: a new state_dir
// (sealed: keys init runs), otherwise one that has its keys already.
func (b *crashBox) config(t *testing.T, dir, url string, fresh bool) string {
	t.Helper()
	switch {
	case !b.sealed:
		return recordingConfig(t, dir, url)
	case fresh:
		var config string
		config, b.rk = sealedConfig(t, dir, url)
		return config
	}
	return sealedRecordingConfig(t, dir, url)
}

// playable checks a segment is stored as the mode says and returns a path
// ffprobe can play (sealed: its plaintext) and whether it has its end
// marker (always true for plain files).
func (b *crashBox) playable(t *testing.T, stateDir, path string) (string, bool) {
	t.Helper()
	if !b.sealed {
		return path, true
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, seal.Magic[:]) {
		t.Fatalf("%s is not sealed", path)
	}
	db, ring := recoveryRing(t, stateDir, b.rk) // closed and wiped at the test's end
	tail, plain := decryptTo(t, db, ring, path)
	return plain, tail.Complete
}

func TestKill9RecoversTornSegment(t *testing.T) { kill9(t, &crashBox{}) }

// kill -9 of a sealing service: the torn sealed segment is recovered at
// the next start without any key (the service holds none), every finished
// segment is untouched, and all of them, the recovered one included, open
// with the recovery key and play.
func TestKill9RecoversTornSealedSegment(t *testing.T) { kill9(t, &crashBox{sealed: true}) }

func kill9(t *testing.T, box *crashBox) {
	needTool(t, "ffprobe")
	cam := startCamera(t)
	dir := t.TempDir()
	config := box.config(t, dir, cam.URL("yard"), true)
	root := filepath.Join(dir, "rec")
	state := filepath.Join(dir, "state")

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
	if box.sealed && strings.Contains(p2.output(), "footage is not sealed") {
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
	cat := catalogued(t, state)
	if seg, ok := cat[recovered]; !ok {
		t.Fatalf("recovered segment %s is not in the catalog", recovered)
	} else if seg.SHA256 != fileHash(t, filepath.Join(root, recovered)) {
		t.Errorf("catalog hash of the recovered segment does not match the file")
	}
	if _, unfin := segmentFiles(t, root); len(unfin) != 0 {
		t.Errorf("unfinished files remain after a clean stop: %v", unfin)
	}
	all, _ := segmentFiles(t, root)
	for _, f := range all {
		if _, ok := cat[f]; !ok {
			t.Errorf("segment %s on disk but not catalogued", f)
		}
		plain, complete := box.playable(t, state, filepath.Join(root, f))
		if f != recovered && !complete {
			t.Errorf("%s: a finished segment without its end marker", f)
		}
		probe(t, plain)
	}
}

// mountImage makes an ext4 image file of size MiB and loop-mounts it.
func mountImage(t *testing.T, img string, sizeMiB int, create bool) string {
	t.Helper()
	if create {
		if out, err := exec.Command("truncate", "-s", fmt.Sprintf("%dM", sizeMiB), img).CombinedOutput(); err != nil {
			t.Fatalf("truncate: %v %s", err, out)
		}
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v %s", err, out)
		}
	}
	mnt := img + ".mnt"
	os.MkdirAll(mnt, 0o755)
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v %s", img, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

func TestPowerCutKeepsEverythingThatReachedTheDisk(t *testing.T) { powerCut(t, &crashBox{}) }

// A power cut while sealing: after fsck and a restart, the torn sealed
// segment is recovered without a key, everything that reached the disk is
// catalogued, and every segment opens with the recovery key and plays.
func TestPowerCutSealed(t *testing.T) { powerCut(t, &crashBox{sealed: true}) }

func powerCut(t *testing.T, box *crashBox) {
	needRoot(t)
	needTool(t, "ffprobe")
	needTool(t, "mkfs.ext4")
	cam := startCamera(t)
	work := t.TempDir()
	img := filepath.Join(work, "disk.img")
	mnt := mountImage(t, img, 128, true)
	config := box.config(t, mnt, cam.URL("yard"), true)
	root := filepath.Join(mnt, "rec")

	p := startServe(t, config)
	waitFor(t, "4 finished segments and one being written", 60*time.Second, p.output, func() bool {
		fin, unfin := segmentFiles(t, root)
		return len(fin) >= 4 && len(unfin) == 1
	})
	// The power cut: the image file holds what the loop device wrote, not
	// what sits dirty in the mounted filesystem's page cache.
	cut := time.Now()
	copyImg := filepath.Join(work, "after-cut.img")
	if out, err := exec.Command("cp", "--sparse=always", img, copyImg).CombinedOutput(); err != nil {
		t.Fatalf("copy image: %v %s", err, out)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	exec.Command("umount", mnt).Run()

	// fsck replays the journal, as a boot after a power cut would.
	exec.Command("e2fsck", "-fy", copyImg).Run()
	mnt2 := mountImage(t, copyImg, 0, false)
	state2 := filepath.Join(mnt2, "state")
	config2 := box.config(t, mnt2, "rtsp://127.0.0.1:1/offline", false)
	p2 := startServe(t, config2)
	waitFor(t, "the service to recover the torn segment", 60*time.Second, p2.output, func() bool {
		fin, unfin := segmentFiles(t, filepath.Join(mnt2, "rec"))
		if len(unfin) != 0 {
			return false
		}
		cat := catalogued(t, state2)
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
	fin, unfin := segmentFiles(t, root2)
	if len(unfin) != 0 {
		t.Errorf("unfinished segments remain after recovery: %v", unfin)
	}
	if len(fin) < 3 {
		t.Fatalf("only %d segments survived the power cut\n%s", len(fin), p2.output())
	}
	cat := catalogued(t, state2)
	var newest time.Time
	for _, f := range fin {
		plain, _ := box.playable(t, state2, filepath.Join(root2, f))
		probe(t, plain)
		seg, ok := cat[f]
		if !ok {
			t.Errorf("%s survived but is not catalogued", f)
			continue
		}
		if seg.SHA256 != fileHash(t, filepath.Join(root2, f)) {
			t.Errorf("%s: catalog hash does not match the file", f)
		}
		if seg.End.After(newest) {
			newest = seg.End
		}
	}
	// fsync_interval is 500ms and parts are 200ms: a few seconds at most.
	if lost := cut.Sub(newest); lost > 4*time.Second {
		t.Errorf("footage lost before the cut: %s (newest surviving footage ends %s, cut at %s)", lost, newest, cut)
	}
}
