package redact

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFFmpegRunsAtLowestPriority: redaction's ffmpeg, and every thread it
// starts, runs at nice 19, so a long redaction cannot take the CPU from
// the recorder on a two-core box.
func TestFFmpegRunsAtLowestPriority(t *testing.T) {
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	tool, err := Find(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tool.Nice == "" {
		t.Fatal("nice (coreutils) not found: ffmpeg would run at normal priority")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := tool.ffmpeg(ctx, "-hide_banner", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25",
		"-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-threads", "2", "-f", "null", "-")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	pid := strconv.Itoa(cmd.Process.Pid)
	// Wait until nice has exec'd ffmpeg and ffmpeg has started its threads.
	var tasks []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		comm, _ := os.ReadFile(filepath.Join("/proc", pid, "comm"))
		tasks, _ = filepath.Glob(filepath.Join("/proc", pid, "task", "*", "stat"))
		if strings.TrimSpace(string(comm)) == "ffmpeg" && len(tasks) > 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(tasks) < 2 {
		t.Fatalf("ffmpeg (pid %s) did not start its threads", pid)
	}
	for _, st := range tasks {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // a thread that ended
		}
		// Field 19 of /proc/PID/task/TID/stat is the nice value; the
		// fields after the ")" that closes comm start at field 3.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 17 || f[16] != "19" {
			t.Errorf("%s: nice %v, want 19", st, f[16:17])
		}
	}
}
