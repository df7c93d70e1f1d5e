package checkpoint

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"vahti/admin/export"
	"vahti/registry"
)

// needTool fails under CI=true and skips otherwise when a tool is missing.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (required under CI)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

type fixture struct {
	dir    string
	db     *registry.DB
	w      *Writer
	now    time.Time
	signer ssh.Signer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), now: time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	var err error
	if f.db, err = registry.Open(f.dir, clock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if f.signer, err = export.LoadOrCreateKey(f.dir); err != nil {
		t.Fatal(err)
	}
	f.w = &Writer{DB: f.db, StateDir: f.dir, Signer: f.signer, Now: clock}
	return f
}

func (f *fixture) audit(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		f.now = f.now.Add(time.Second)
		if err := f.db.Update(context.Background(), func(tx *registry.Tx) error {
			_, err := tx.Audit("maija", "cli", "hold.add", "hold:1", map[string]any{"i": i})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) write(t *testing.T) Checkpoint {
	t.Helper()
	f.now = f.now.Add(time.Minute)
	c, wrote, err := f.w.Write(context.Background(), "hourly")
	if err != nil || !wrote {
		t.Fatalf("write: wrote %v, %v", wrote, err)
	}
	return c
}

// verify is what `vahti audit verify` does: read the checkpoints with the
// box's key, then the chain against them.
func (f *fixture) verify(t *testing.T) ([]Problem, error) {
	t.Helper()
	cps, probs, err := ReadAll(Dir(f.dir), f.signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	var verr error
	f.db.View(context.Background(), func(tx *registry.Tx) error {
		_, verr = tx.VerifyAuditWith(Anchors(cps))
		return nil
	})
	return probs, verr
}

func TestCheckpointCatchesTailTruncation(t *testing.T) {
	f := newFixture(t)
	f.audit(t, 5)
	f.write(t)
	f.audit(t, 5)
	last := f.write(t)
	if probs, err := f.verify(t); err != nil || len(probs) > 0 {
		t.Fatalf("untouched chain: %v %v", probs, err)
	}
	// Someone with write access to registry.db cuts the last 3 entries.
	cut, err := sqlExec(f, `DELETE FROM audit WHERE seq > 7`)
	if err != nil || cut != 3 {
		t.Fatal(cut, err)
	}
	_, err = f.verify(t)
	var ae *registry.AnchorError
	if !errors.As(err, &ae) || ae.Anchor.Name != last.File || !strings.Contains(err.Error(), last.File) {
		t.Fatalf("truncation not caught by %s: %v", last.File, err)
	}
}

func TestCheckpointCatchesWholeChainRewrite(t *testing.T) {
	f := newFixture(t)
	f.audit(t, 6)
	cp := f.write(t)
	// Rewrite the whole chain from scratch, consistent in itself: a fresh
	// database whose entries say something else, copied over the old one.
	other := t.TempDir()
	odb, err := registry.Open(other, func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		odb.Update(context.Background(), func(tx *registry.Tx) error {
			_, err := tx.Audit("mallory", "cli", "hold.add", "hold:1", nil)
			return err
		})
	}
	odb.Close()
	f.db.Close()
	for _, s := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(f.dir, registry.FileName+s))
	}
	b, err := os.ReadFile(filepath.Join(other, registry.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, registry.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if f.db, err = registry.Open(f.dir, nil); err != nil {
		t.Fatal(err)
	}
	f.db.View(context.Background(), func(tx *registry.Tx) error {
		if _, err := tx.VerifyAudit(); err != nil {
			t.Fatalf("the rewritten chain should be consistent in itself: %v", err)
		}
		return nil
	})
	_, err = f.verify(t)
	var ae *registry.AnchorError
	if !errors.As(err, &ae) || ae.Anchor.Name != cp.File || !strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("rewrite not caught by %s: %v", cp.File, err)
	}
}

func TestCheckpointBadSignaturesAreProblems(t *testing.T) {
	f := newFixture(t)
	f.audit(t, 3)
	a := f.write(t)
	f.audit(t, 1)
	b := f.write(t)
	f.audit(t, 1)
	c := f.write(t)
	f.audit(t, 1)
	d := f.write(t)
	dir := Dir(f.dir)
	// a: the text edited (seq raised) after signing.
	p := filepath.Join(dir, a.File)
	txt, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(txt, []byte("seq: 3\n"), []byte("seq: 2\n"), 1), 0o600)
	// b: re-signed by a stranger's key.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	stranger, _ := ssh.NewSignerFromKey(priv)
	txt, _ = os.ReadFile(filepath.Join(dir, b.File))
	sig, _ := export.SignSSHSIG(stranger, Namespace, txt)
	os.WriteFile(filepath.Join(dir, b.File+SigSuffix), sig, 0o600)
	// c: signature removed. d: signed in the export namespace.
	os.Remove(filepath.Join(dir, c.File+SigSuffix))
	txt, _ = os.ReadFile(filepath.Join(dir, d.File))
	sig, _ = export.SignSSHSIG(f.signer, export.Namespace, txt)
	os.WriteFile(filepath.Join(dir, d.File+SigSuffix), sig, 0o600)

	probs, err := f.verify(t)
	if err != nil {
		t.Fatalf("the chain itself is intact: %v", err)
	}
	want := map[string]string{a.File: "bad signature", b.File: "not by the box's key", c.File: "no signature", d.File: "namespace"}
	if len(probs) != len(want) {
		t.Fatalf("problems %v, want one for each of %v", probs, want)
	}
	for _, pr := range probs {
		if !strings.Contains(pr.Reason, want[pr.File]) {
			t.Fatalf("%s: %q, want %q", pr.File, pr.Reason, want[pr.File])
		}
	}
}

func TestCheckpointVerifiesWithSSHKeygen(t *testing.T) {
	keygen := needTool(t, "ssh-keygen")
	f := newFixture(t)
	f.audit(t, 4)
	c := f.write(t)
	dir := Dir(f.dir)
	run := func(text []byte) error {
		cmd := exec.Command(keygen, "-Y", "verify", "-f", filepath.Join(dir, AllowedSignersName), "-I", "vahti",
			"-n", Namespace, "-s", filepath.Join(dir, c.File+SigSuffix))
		cmd.Stdin = bytes.NewReader(text)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return errors.New(string(out))
		}
		return nil
	}
	text, err := os.ReadFile(filepath.Join(dir, c.File))
	if err != nil {
		t.Fatal(err)
	}
	if err := run(text); err != nil {
		t.Fatalf("ssh-keygen refuses a genuine checkpoint: %v\n%s", err, text)
	}
	if err := run(bytes.Replace(text, []byte("seq: 4"), []byte("seq: 9"), 1)); err == nil {
		t.Fatal("ssh-keygen accepts an edited checkpoint")
	}
	if len(text) > 1024 {
		t.Fatalf("a checkpoint should fit on a slip of paper: %d bytes", len(text))
	}
	st, _ := os.Stat(filepath.Join(dir, c.File))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint mode %v", st.Mode().Perm())
	}
}

func TestWriterSkipsAnUnchangedHeadAndAnEmptyChain(t *testing.T) {
	f := newFixture(t)
	if _, wrote, err := f.w.Write(context.Background(), "start"); err != nil || wrote {
		t.Fatalf("empty chain: wrote %v, %v", wrote, err)
	}
	f.audit(t, 2)
	f.write(t)
	// A new Writer (a restart) reads the newest checkpoint from disk.
	w2 := &Writer{DB: f.db, StateDir: f.dir, Signer: f.signer, Now: f.w.Now}
	if _, wrote, err := w2.Write(context.Background(), "start"); err != nil || wrote {
		t.Fatalf("unchanged head: wrote %v, %v", wrote, err)
	}
	f.audit(t, 1)
	if c, wrote, err := w2.Write(context.Background(), "hourly"); err != nil || !wrote || c.Seq != 3 {
		t.Fatalf("moved head: %+v wrote %v, %v", c, wrote, err)
	}
	latest, ok, err := Latest(Dir(f.dir), f.signer.PublicKey())
	if err != nil || !ok || latest.Seq != 3 || latest.Reason != "hourly" {
		t.Fatalf("latest: %+v %v %v", latest, ok, err)
	}
}

func TestRunWritesEveryInterval(t *testing.T) {
	f := newFixture(t)
	f.audit(t, 1)
	f.w.Interval = 50 * time.Millisecond
	f.w.Now = time.Now
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; n < 3 && time.Now().Before(deadline); {
		cps, _, _ := ReadAll(Dir(f.dir), f.signer.PublicKey())
		if len(cps) > n {
			n = len(cps)
			f.db.Update(ctx, func(tx *registry.Tx) error { _, err := tx.Audit("system", "service", "x", "y", nil); return err })
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	cps, probs, _ := ReadAll(Dir(f.dir), f.signer.PublicKey())
	if len(cps) < 3 || len(probs) > 0 || cps[0].Reason != "hourly" || cps[2].Reason != "hourly" {
		t.Fatalf("checkpoints %+v problems %v", cps, probs)
	}
}
