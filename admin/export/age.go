package export

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"filippo.io/age"
)

// EncryptionAgeScrypt is Manifest.Encryption (and Request.Encryption) of
// a package encrypted as a whole to a passphrase with age's scrypt
// recipient, so it can travel on a USB stick while the passphrase goes by
// phone. Debian's age package opens it (`age -d`). The manifest inside is
// signed before encryption: whoever decrypts verifies it as usual.
const EncryptionAgeScrypt = "age-scrypt"

// AgeExt is the extension of an encrypted package (PACKAGE.zip.age).
const AgeExt = ".age"

// MinPassphrase is the shortest passphrase accepted, in characters: it
// guards footage of residents on a stick that can be lost, and scrypt
// only slows guessing down.
const MinPassphrase = 12

// ReadPassphraseFile reads a passphrase: the file's first line, without
// its line end. It must be at least MinPassphrase characters.
func ReadPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if !utf8.ValidString(line) {
		return nil, errors.New("the passphrase is not UTF-8 text")
	}
	if utf8.RuneCountInString(line) < MinPassphrase {
		return nil, fmt.Errorf("the passphrase (the file's first line) must be at least %d characters; several words are easier to read over the phone", MinPassphrase)
	}
	return []byte(line), nil
}

// EncryptAge writes the package at src to dst encrypted with age to the
// passphrase (scrypt recipient), through a temporary file beside dst and a
// rename, and returns the SHA-256 and size of what it wrote (the file that
// travels). The plaintext never touches dst's filesystem.
func EncryptAge(src, dst string, passphrase []byte) (string, int64, error) {
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return "", 0, fmt.Errorf("age: %w", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name()) // deletion-gate: our own temp name for the encrypted copy (a no-op after the rename); the stored package is retention's
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	w, err := age.Encrypt(cw, r)
	if err != nil {
		tmp.Close()
		return "", 0, fmt.Errorf("age: %w", err)
	}
	if _, err := io.Copy(w, in); err != nil {
		tmp.Close()
		return "", 0, fmt.Errorf("age: encrypting %s: %w", src, err)
	}
	if err := w.Close(); err != nil {
		tmp.Close()
		return "", 0, fmt.Errorf("age: %w", err)
	}
	if err := errors.Join(tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, err
	}
	syncDir(filepath.Dir(dst))
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

// DecryptAge decrypts an age-encrypted package at src with the passphrase
// into dst (a new file), for verify-export of a PACKAGE.zip.age.
func DecryptAge(src, dst string, passphrase []byte) error {
	id, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return fmt.Errorf("age: %w", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	r, err := age.Decrypt(bufio.NewReader(in), id)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", src, err)
	}
	return out.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
