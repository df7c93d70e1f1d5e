package main

// An attacker on the shelter's LAN without an account, against the real
// binary: a flood of huge login requests must not grow the state
// directory (which shares a disk with the footage), and a burst of
// parallel logins must not exhaust memory, out-guess the lockout, lock
// the keeper out of their own workstation or stop the cameras.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vahti/registry"
)

var (
	plainOnce sync.Once
	plainPath string
	plainErr  error
)

// plainBinary builds cmd/vahti without -race: the race detector's shadow
// memory would swamp a memory measurement.
func plainBinary(t *testing.T) string {
	t.Helper()
	plainOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vahti-plain")
		if err != nil {
			plainErr = err
			return
		}
		plainPath = filepath.Join(dir, "vahti")
		if out, err := exec.Command("go", "build", "-o", plainPath, ".").CombinedOutput(); err != nil {
			plainErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	return plainPath
}

const floodPassword = "kolme iloista kilpikonnaa"

// floodService starts `vahti serve` (plain build) on config with the
// accounts keeper and dpo, and returns it with its admin URL.
type floodProc struct {
	cmd    *exec.Cmd
	logsFn func() string
}

func floodService(t *testing.T, config string) (*floodProc, string) {
	t.Helper()
	c := &cli{t: t, config: config, now: time.Now, envs: map[string]string{}}
	for name, role := range map[string]string{"keeper": "keeper", "dpo": "dpo"} {
		if _, errs, code := c.run(floodPassword+"\n", "user", "add", "--config", "$CONFIG", "--name", name, "--role", role); code != 0 &&
			!strings.Contains(errs, "already exists") {
			t.Fatalf("user add %s: %s", name, errs)
		}
	}
	var mu sync.Mutex
	logs := &strings.Builder{}
	cmd := exec.Command(plainBinary(t), "serve", "--config", config)
	w := writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(b) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &floodProc{cmd: cmd}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	re := regexp.MustCompile(`https://127\.0\.0\.1:[0-9]+/`)
	var base string
	waitFor(t, "the admin UI", 60*time.Second, out, func() bool {
		base = re.FindString(out())
		return base != ""
	})
	p.logsFn = out
	return p, strings.TrimSuffix(base, "/")
}

func stop(t *testing.T, p *floodProc) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve did not stop cleanly: %v\n%s", err, p.logsFn())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// clientFrom is an HTTPS client whose connections come from a loopback
// address of its own (127.0.0.2, 127.0.0.3… work on Linux), over HTTP/2
// when h2 is set: one connection carries every request.
func clientFrom(ip string, h2 bool) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: h2, MaxIdleConnsPerHost: 16}
	if h2 {
		tr.MaxConnsPerHost = 1
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// post sends the concatenation of body's pieces without copying them:
// a 1 MiB piece is shared by every request.
func post(c *http.Client, u, ct string, body ...string) (int, error) {
	rs := make([]io.Reader, len(body))
	var n int64
	for i, b := range body {
		rs[i] = strings.NewReader(b)
		n += int64(len(b))
	}
	req, err := http.NewRequest("POST", u, io.MultiReader(rs...))
	if err != nil {
		return 0, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", ct)
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

func loginJSON(c *http.Client, base, name, pw string) (int, error) {
	return post(c, base+"/api/v1/session", "application/json", fmt.Sprintf(`{"name":%q,"password":%q}`, name, pw))
}

// dirBytes is the total size of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if st, err := d.Info(); err == nil {
				n += st.Size()
			}
		}
		return nil
	})
	return n
}

// TestLoginFloodDoesNotGrowState: 1,000 unauthenticated logins with 1 MiB
// bodies (JSON and form) and 200 more just under the body limit with
// names no account has, from four addresses, grow state_dir by less than
// 1 MiB once the service has stopped (WAL checkpointed).
func TestLoginFloodDoesNotGrowState(t *testing.T) {
	dir := t.TempDir()
	// A camera nobody answers: no footage is catalogued, so what grows
	// the state is the flood.
	config := recordingConfig(t, dir, "rtsp://127.0.0.1:1/yard")
	state := filepath.Join(dir, "state")
	// The first start writes the certificate and the schema; measure
	// after it, with the service stopped (no WAL) and running again.
	p, base := floodService(t, config)
	if code, err := loginJSON(clientFrom("127.0.0.1", false), base, "keeper", floodPassword); err != nil || code != 200 {
		t.Fatalf("a real login: %d %v", code, err)
	}
	stop(t, p)
	stopped := dirBytes(t, state)
	p, base = floodService(t, config)
	before := dirBytes(t, state)

	floodStart := time.Now()
	huge := strings.Repeat("a", 1<<20-200) // with the rest of the body, 1 MiB
	near := strings.Repeat("x", 3900)      // the body stays under the limit
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for s := 0; s < 4; s++ {
		ip := "127.0.0." + strconv.Itoa(2+s)
		// Huge bodies end their connection; the small ones keep theirs.
		c, keep := clientFrom(ip, false), clientFrom(ip, false)
		// The server answers a too-large body at once but lingers 500 ms
		// before closing (net/http's reset avoidance): send many at once.
		for g := 0; g < 5; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					var code int
					var err error
					n := fmt.Sprintf("%s-%d-%d", ip, g, i)
					switch i % 2 {
					case 0: // huge needs no JSON or URL escaping
						code, err = post(c, base+"/api/v1/session", "application/json",
							`{"name":"`, huge, n, `","password":"pw"}`)
					case 1:
						code, err = post(c, base+"/login", "application/x-www-form-urlencoded",
							"csrf=x&name=", huge, url.QueryEscape(n), "&password=pw")
					}
					k := strconv.Itoa(code)
					if err != nil {
						k = "conn closed early" // the server may hang up before the client is done sending
					}
					mu.Lock()
					codes["1MiB "+k]++
					mu.Unlock()
					if i%5 != 0 {
						continue // 200 of these are enough to pass every source's throttle
					}
					code, err = loginJSON(keep, base, near+n, "pw-"+n)
					k = strconv.Itoa(code)
					if err != nil {
						k = "conn error" // a pooled connection the loaded server closed; not what is tested
					}
					mu.Lock()
					codes["4kB "+k]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("answers after %s: %v", time.Since(floodStart).Round(time.Second), codes)
	if codes["1MiB 200"]+codes["4kB 200"]+codes["1MiB 500"]+codes["4kB 500"] != 0 || codes["4kB 401"] == 0 || codes["4kB 429"] == 0 {
		t.Errorf("answers: %v", codes)
	}
	running := dirBytes(t, state)
	stop(t, p)
	after := dirBytes(t, state)
	t.Logf("state_dir: %d bytes stopped before, %d → %d running (WAL included), %d stopped after: +%d",
		stopped, before, running, after, after-stopped)
	if after-stopped >= 1<<20 || running-before >= 1<<20 {
		t.Errorf("the flood grew state_dir by %d bytes (%d while running), want < 1 MiB", after-stopped, running-before)
	}
	db, err := registry.Open(state, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var fails []registry.Entry
	db.View(context.Background(), func(tx *registry.Tx) error {
		fails, err = tx.AuditEntries(registry.AuditFilter{Kind: "login.fail"})
		return err
	})
	// Per address: its 20 checked failures and one refusal per window.
	if len(fails) == 0 || len(fails) > 4*21 {
		t.Errorf("%d login.fail entries, want 1..%d", len(fails), 4*21)
	}
	for _, f := range fails {
		if len(f.Actor) > 64 || len(f.Object) > 80 || len(f.Detail) > 200 || strings.Contains(f.Actor, "xxxx") {
			t.Errorf("audit entry carries what the client sent: %q %q %s", f.Actor, f.Object, f.Detail)
			break
		}
	}
}

// vmHWM is a process's peak resident memory in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+([0-9]+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// TestParallelLoginsBoundedEndToEnd: 200 parallel wrong logins for one
// account over one HTTP/2 connection, with production argon2 costs
// (64 MiB each). The service's peak RSS stays under 400 MiB, at most 5
// guesses are checked, the right password is refused from that address
// afterwards, the keeper's own workstation and another account log in,
// and the camera goes on recording.
func TestParallelLoginsBoundedEndToEnd(t *testing.T) {
	cam := startCamera(t)
	dir := t.TempDir()
	config := recordingConfig(t, dir, cam.URL("yard"))
	root, state := filepath.Join(dir, "rec"), filepath.Join(dir, "state")
	p, base := floodService(t, config)
	waitFor(t, "a first segment", 60*time.Second, p.logsFn, func() bool {
		fin, _ := segmentFiles(t, root)
		return len(fin) >= 1
	})

	attacker := clientFrom("127.0.0.2", true)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	start := make(chan struct{})
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, err := loginJSON(attacker, base, "keeper", fmt.Sprintf("guess-number-%03d", i))
			if err != nil {
				t.Errorf("attempt %d: %v", i, err)
				return
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	// Then the attacker goes on one by one, as a patient one would.
	for i := 0; i < 20; i++ {
		code, err := loginJSON(attacker, base, "keeper", fmt.Sprintf("patient-guess-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		codes[code]++
	}
	t.Logf("answers: %v", codes)
	if codes[200] != 0 || codes[500] != 0 {
		t.Errorf("answers: %v", codes)
	}
	if code, _ := loginJSON(attacker, base, "keeper", floodPassword); code != 401 {
		t.Errorf("the right password from the attacker's address: %d, want 401", code)
	}
	hwm := vmHWM(t, p.cmd.Process.Pid)
	t.Logf("service peak RSS (VmHWM): %d MiB", hwm>>20)
	if hwm >= 400<<20 {
		t.Errorf("service peak RSS %d MiB, want < 400 MiB", hwm>>20)
	}
	if code, _ := loginJSON(clientFrom("127.0.0.3", false), base, "keeper", floodPassword); code != 200 {
		t.Errorf("the keeper's own workstation: %d, want 200", code)
	}
	if code, _ := loginJSON(attacker, base, "dpo", floodPassword); code != 200 {
		t.Errorf("another account from the attacker's address: %d, want 200", code)
	}
	burstEnd := time.Now()
	waitFor(t, "a segment started after the burst", 30*time.Second, p.logsFn, func() bool {
		fin, _ := segmentFiles(t, root)
		for _, f := range fin {
			if _, st, _, err := registry.ParseSegmentPath(f); err == nil && st.After(burstEnd) {
				return true
			}
		}
		return false
	})

	db, err := registry.Open(state, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var fails []registry.Entry
	db.View(context.Background(), func(tx *registry.Tx) error {
		fails, err = tx.AuditEntries(registry.AuditFilter{Kind: "login.fail"})
		return err
	})
	checked := 0
	for _, f := range fails {
		if f.Actor == "keeper" && strings.Contains(string(f.Detail), "wrong password") {
			checked++
		}
	}
	if checked != 5 {
		t.Errorf("%d guesses at keeper's password were checked, want exactly 5 (the lockout)", checked)
	}
}
