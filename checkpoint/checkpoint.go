// Package checkpoint anchors the audit chain outside the database: the
// running service signs the chain's head (seq, hash, time) with the box's
// Ed25519 key into small text files under <state_dir>/audit-checkpoints/,
// at start, hourly, at every purge report and at stop. Someone who can
// write the database can cut the chain's tail or rewrite it whole and keep
// it internally consistent; a checkpoint (or a printed or mailed copy of
// one) still remembers the hash that was there.
//
// A checkpoint is two files: NAME.txt (the text that is signed) and
// NAME.txt.sig (an OpenSSH SSHSIG signature, namespace "vahti-audit"), so
// that the standard tool checks it with nothing from Vahti:
//
//	ssh-keygen -Y verify -f allowed_signers -I vahti -n vahti-audit -s NAME.txt.sig < NAME.txt
package checkpoint

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"vahti/admin/export"
	"vahti/registry"
)

const (
	// DirName is the checkpoint folder inside state_dir.
	DirName = "audit-checkpoints"
	// Namespace binds checkpoint signatures to this use: an export
	// signature cannot be replayed as a checkpoint, nor the reverse.
	Namespace = "vahti-audit"
	// Format is the first key of every checkpoint text.
	Format = "vahti-audit-checkpoint/1"
	// SigSuffix is appended to a checkpoint's file name for its signature.
	SigSuffix = ".sig"
	// AllowedSignersName is the ssh-keygen allowed_signers file kept in the
	// folder for convenience; compare its key with `vahti pubkey`.
	AllowedSignersName = "allowed_signers"

	textSuffix = ".txt"
	title      = "Vahti audit checkpoint / Vahti-tarkastuslokin tarkistuspiste"
)

// Dir is the checkpoint folder of a state dir.
func Dir(stateDir string) string { return filepath.Join(stateDir, DirName) }

// Checkpoint is one signed chain head.
type Checkpoint struct {
	File     string    `json:"file"` // base name of the text file
	Seq      int64     `json:"seq"`
	Hash     string    `json:"hash"`
	HeadTime time.Time `json:"head_time"` // time of entry Seq
	Time     time.Time `json:"time"`      // when it was signed
	Reason   string    `json:"reason"`    // start, hourly, purge-report, stop
	Key      string    `json:"key"`       // SHA256 fingerprint of the signing key
}

// Anchor is the checkpoint as the registry's verifier uses it.
func (c Checkpoint) Anchor() registry.Anchor {
	return registry.Anchor{Seq: c.Seq, Hash: c.Hash, Name: c.File}
}

// Anchors converts checkpoints for registry.VerifyAuditWith.
func Anchors(cps []Checkpoint) []registry.Anchor {
	out := make([]registry.Anchor, 0, len(cps))
	for _, c := range cps {
		out = append(out, c.Anchor())
	}
	return out
}

// fileName sorts by seq, then time.
func fileName(seq int64, t time.Time) string {
	return fmt.Sprintf("%012d-%s%s", seq, t.UTC().Format("20060102T150405Z"), textSuffix)
}

// text is the signed content: short, line-oriented, printable.
func (c Checkpoint) text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", title)
	fmt.Fprintf(&b, "format: %s\n", Format)
	fmt.Fprintf(&b, "seq: %d\n", c.Seq)
	fmt.Fprintf(&b, "hash: %s\n", c.Hash)
	fmt.Fprintf(&b, "head_time: %s\n", c.HeadTime.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "time: %s\n", c.Time.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "reason: %s\n", c.Reason)
	fmt.Fprintf(&b, "key: %s\n", c.Key)
	fmt.Fprintf(&b, "# ssh-keygen -Y verify -f %s -I %s -n %s -s %s%s < %s\n", AllowedSignersName, export.SignerID, Namespace, c.File, SigSuffix, c.File)
	return b.Bytes()
}

// parse reads a checkpoint text strictly: the title, then known keys.
func parse(name string, b []byte) (Checkpoint, error) {
	c := Checkpoint{File: name}
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() || sc.Text() != title {
		return c, errors.New("not a Vahti audit checkpoint (first line)")
	}
	seen := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok || seen[k] {
			return c, fmt.Errorf("line %q: not a single \"key: value\"", line)
		}
		seen[k] = true
		var err error
		switch k {
		case "format":
			if v != Format {
				err = fmt.Errorf("format %q, want %q", v, Format)
			}
		case "seq":
			c.Seq, err = strconv.ParseInt(v, 10, 64)
			if err == nil && c.Seq < 1 {
				err = errors.New("seq below 1")
			}
		case "hash":
			c.Hash = v
			if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
				err = errors.New("hash is not 64 hex digits")
			}
		case "head_time":
			c.HeadTime, err = time.Parse(time.RFC3339Nano, v)
		case "time":
			c.Time, err = time.Parse(time.RFC3339Nano, v)
		case "reason":
			c.Reason = v
		case "key":
			c.Key = v
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return c, fmt.Errorf("%s: %w", k, err)
		}
	}
	for _, k := range []string{"format", "seq", "hash", "time"} {
		if !seen[k] {
			return c, fmt.Errorf("%s: missing", k)
		}
	}
	return c, nil
}

// Problem is a checkpoint file that cannot be trusted: unreadable, not a
// checkpoint, unsigned, or signed by another key or not at all validly.
type Problem struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

func (p Problem) Error() string { return fmt.Sprintf("checkpoint %s: %s", p.File, p.Reason) }

// ReadAll reads every checkpoint in dir and checks its signature against
// trusted. Checkpoints that fail are returned as problems, not as
// checkpoints. A missing dir holds no checkpoints.
func ReadAll(dir string, trusted ssh.PublicKey) ([]Checkpoint, []Problem, error) {
	names, err := listDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var cps []Checkpoint
	var probs []Problem
	for _, n := range names {
		if s, ok := strings.CutSuffix(n, textSuffix+SigSuffix); ok {
			if !contains(names, s+textSuffix) {
				probs = append(probs, Problem{File: n, Reason: "signature without its checkpoint text (" + s + textSuffix + " removed)"})
			}
			continue
		}
		if !strings.HasSuffix(n, textSuffix) {
			continue
		}
		c, err := readOne(dir, n, trusted)
		if err != nil {
			probs = append(probs, Problem{File: n, Reason: err.Error()})
			continue
		}
		cps = append(cps, c)
	}
	return cps, probs, nil
}

// Latest returns the newest checkpoint in dir (by seq, then time), its
// signature checked against trusted; ok is false when there is none.
func Latest(dir string, trusted ssh.PublicKey) (c Checkpoint, ok bool, err error) {
	names, err := listDir(dir)
	if err != nil {
		return c, false, err
	}
	for i := len(names) - 1; i >= 0; i-- {
		if strings.HasSuffix(names[i], textSuffix) {
			c, err := readOne(dir, names[i], trusted)
			if err != nil {
				return c, true, Problem{File: names[i], Reason: err.Error()}
			}
			return c, true, nil
		}
	}
	return c, false, nil
}

func listDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoints %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func contains(sorted []string, s string) bool {
	i := sort.SearchStrings(sorted, s)
	return i < len(sorted) && sorted[i] == s
}

// maxFile bounds what is read of a checkpoint or signature file: both are
// a few hundred bytes.
const maxFile = 16 << 10

func readSmall(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("larger than %d bytes", maxFile)
	}
	return b, nil
}

func readOne(dir, name string, trusted ssh.PublicKey) (Checkpoint, error) {
	text, err := readSmall(filepath.Join(dir, name))
	if err != nil {
		return Checkpoint{File: name}, err
	}
	sig, err := readSmall(filepath.Join(dir, name+SigSuffix))
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{File: name}, errors.New("no signature (" + name + SigSuffix + " missing)")
	}
	if err != nil {
		return Checkpoint{File: name}, err
	}
	if trusted == nil {
		return Checkpoint{File: name}, errors.New("no trusted key to check the signature with")
	}
	pub, err := export.VerifySSHSIG(sig, Namespace, text)
	if err != nil {
		return Checkpoint{File: name}, fmt.Errorf("bad signature: %w", err)
	}
	if !bytes.Equal(pub.Marshal(), trusted.Marshal()) {
		return Checkpoint{File: name}, fmt.Errorf("signed by %s, not by the box's key %s", ssh.FingerprintSHA256(pub), ssh.FingerprintSHA256(trusted))
	}
	c, err := parse(name, text)
	if err != nil {
		return c, fmt.Errorf("not a valid checkpoint: %w", err)
	}
	return c, nil
}

// BoxKey returns the public half of the box's signing key
// (<state_dir>/keys/export_ed25519) without creating it: checking never
// makes a key.
func BoxKey(stateDir string) (ssh.PublicKey, error) {
	p := filepath.Join(stateDir, filepath.FromSlash(export.KeyFile))
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", p, err)
	}
	return s.PublicKey(), nil
}

// ParsePublicKey reads an authorized_keys line as `vahti pubkey` prints it.
func ParsePublicKey(line string) (ssh.PublicKey, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return pub, nil
}

// SupersededPrefix starts the name of the folder that Supersede moves
// checkpoints into.
const SupersededPrefix = "superseded-"

// Supersede is for a restore from a backup: the restored chain ends
// earlier than checkpoints made since the backup, which would then report
// it as cut. It moves every trusted checkpoint the chain in db does not
// match (its seq beyond the chain's end, or another hash there) into
// <dir>/superseded-<time>/ — kept, never deleted: they show what the
// restore rolled back — and returns them for the restore's audit entry.
// Checkpoints that cannot be trusted stay where they are, to be reported.
func Supersede(ctx context.Context, db *registry.DB, stateDir string, now time.Time, trusted ssh.PublicKey) ([]Checkpoint, error) {
	dir := Dir(stateDir)
	cps, _, err := ReadAll(dir, trusted)
	if err != nil || len(cps) == 0 {
		return nil, err
	}
	var gone []Checkpoint
	err = db.View(ctx, func(tx *registry.Tx) error {
		for _, c := range cps {
			h, err := tx.AuditHashAt(c.Seq)
			if errors.Is(err, registry.ErrNotFound) || (err == nil && h != c.Hash) {
				gone = append(gone, c)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(gone) == 0 {
		return nil, err
	}
	to := filepath.Join(dir, SupersededPrefix+now.UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(to, 0o700); err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	for _, c := range gone {
		for _, n := range []string{c.File, c.File + SigSuffix} {
			if err := os.Rename(filepath.Join(dir, n), filepath.Join(to, n)); err != nil {
				return nil, fmt.Errorf("checkpoints: %w", err)
			}
		}
	}
	return gone, nil
}
