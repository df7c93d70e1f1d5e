package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vahti/recorder"
	"vahti/recorder/fakecam"
	"vahti/registry"
)

// hostileRun is how long the service records beside the hostile cameras:
// long enough for every mode to act at least twice (the slowest,
// stop-midframe, cycles every 16 s).
const hostileRun = 36 * time.Second

// The service records two good cameras beside one hostile camera of every
// mode at once. The good cameras' segments stay contiguous and play; the
// hostile cameras' trouble shows in `vahti status`; the service's memory
// stays bounded; and the camera whose clock jumps by an hour has every
// file named within about a second of when its footage arrived, cut at
// the configured duration.
func TestServiceContainsHostileCameras(t *testing.T) {
	needTool(t, "ffprobe")
	needTool(t, "ffmpeg")
	good, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{"good1", "good2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(good.Close)
	urls := map[string]string{"good1": good.URL("good1"), "good2": good.URL("good2")}
	ids := []string{"good1", "good2"}
	for _, mode := range fakecam.HostileModes {
		srv, err := fakecam.Start(fakecam.Config{Listen: "127.0.0.1:0", Cameras: []string{mode}, Hostile: mode})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		urls[mode] = srv.URL(mode)
		ids = append(ids, mode)
	}
	dir := t.TempDir()
	var cams strings.Builder
	for _, id := range ids {
		// No transport: the default (tcp) is what is tested.
		fmt.Fprintf(&cams, "  - {id: %s, name: %s, purpose: test, url: %q}\n", id, id, urls[id])
	}
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
%[2]sadmin:
  listen: 127.0.0.1:0
`, dir, cams.String())
	config := filepath.Join(dir, "vahti.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	p := startServe(t, config)
	var peakRSS int64
	deadline := time.Now().Add(hostileRun)
	for time.Now().Before(deadline) {
		if p.cmd.ProcessState != nil {
			t.Fatalf("service exited:\n%s", p.output())
		}
		peakRSS = max(peakRSS, rssKiB(t, p.cmd.Process.Pid))
		time.Sleep(250 * time.Millisecond)
	}
	out, err := exec.Command(vahtiBinary(t), "status", "--config", config, "--json").Output()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, p.output())
	}
	text, _ := exec.Command(vahtiBinary(t), "status", "--config", config).Output()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, p.output())
	}

	var rep struct {
		ServiceRunning bool `json:"service_running"`
		Cameras        []recorder.CameraStatus
	}
	if err := json.Unmarshal(out, &rep); err != nil || !rep.ServiceRunning {
		t.Fatalf("status --json: %v, running %v\n%s", err, rep.ServiceRunning, out)
	}
	st := map[string]recorder.CameraStatus{}
	for _, c := range rep.Cameras {
		st[c.ID] = c
	}
	for mode, ok := range map[string]bool{
		fakecam.HostileGarbage:      st[fakecam.HostileGarbage].Dropped.BadRTP > 0,
		fakecam.HostileGiant:        st[fakecam.HostileGiant].Dropped.Oversize > 0,
		fakecam.HostileJump:         st[fakecam.HostileJump].Dropped.TimeJumps >= 2,
		fakecam.HostileSPSChurn:     st[fakecam.HostileSPSChurn].Dropped.ParamChurn > 0,
		fakecam.HostileStopMidFrame: st[fakecam.HostileStopMidFrame].Reconnects > 0,
		fakecam.HostileEndlessFUA:   st[fakecam.HostileEndlessFUA].Dropped.BadRTP > 0,
	} {
		if !ok {
			t.Errorf("%s: status does not show the trouble: %+v", mode, st[mode])
		}
	}
	if !strings.Contains(string(text), "time_jumps=") || !strings.Contains(string(text), "oversize=") {
		t.Errorf("vahti status does not show drop counters:\n%s", text)
	}
	// The race detector's shadow memory multiplies the footprint; without
	// it the service stays far below this.
	if peakRSS > 600<<10 {
		t.Errorf("service peak RSS %d MiB", peakRSS>>10)
	}
	t.Logf("service peak RSS %d MiB (race build), 8 cameras", peakRSS>>10)

	byCam := map[string][]registry.Segment{}
	for _, s := range catalogued(t, filepath.Join(dir, "state")) {
		byCam[s.Camera] = append(byCam[s.Camera], s)
	}
	for _, segs := range byCam {
		sort.Slice(segs, func(i, j int) bool { return segs[i].Start.Before(segs[j].Start) })
	}
	root := filepath.Join(dir, "rec")
	for _, id := range []string{"good1", "good2"} {
		segs := byCam[id]
		if len(segs) < int(hostileRun/(3*time.Second)) {
			t.Errorf("%s: %d segments in %s", id, len(segs), hostileRun)
		}
		for i, s := range segs {
			probe(t, filepath.Join(root, filepath.FromSlash(s.Path)))
			if i > 0 {
				if gap := s.Start.Sub(segs[i-1].End); gap < -time.Millisecond || gap > 50*time.Millisecond {
					t.Errorf("%s: %s starts %s after the previous segment ends", id, s.Path, gap)
				}
			}
		}
	}

	// The jumping camera: a file is finished (its last write) when the
	// keyframe after it arrives, so its path time plus its duration must
	// be its modification time, give or take a second, whatever the
	// camera's timestamps said.
	jump := byCam[fakecam.HostileJump]
	if len(jump) < int(hostileRun/(3*time.Second)) {
		t.Errorf("jump: %d segments in %s at 2 s segments: segmentation stalled", len(jump), hostileRun)
	}
	for i, s := range jump {
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(s.Path)))
		if err != nil {
			t.Fatal(err)
		}
		_, start, _, err := registry.ParseSegmentPath(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		if d := fi.ModTime().Sub(start.Add(s.End.Sub(s.Start))); d.Abs() > 1500*time.Millisecond {
			t.Errorf("jump: %s named %s away from its arrival (finished %s)", s.Path, d, fi.ModTime().UTC().Format(time.TimeOnly+".000"))
		}
		if d := s.End.Sub(s.Start); i < len(jump)-1 && d > 3200*time.Millisecond {
			t.Errorf("jump: %s lasts %s at 2 s segments", s.Path, d)
		}
	}
	if t.Failed() {
		t.Logf("service output:\n%s", p.output())
	}
}

// rssKiB is a process's resident set size.
func rssKiB(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
