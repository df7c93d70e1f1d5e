package export

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// KeyFile is the box's export signing key, relative to state_dir. It is an
// OpenSSH private key (ssh-keygen -y -f prints its public half).
const KeyFile = "keys/export_ed25519"

const keyComment = "vahti-export"

// LoadOrCreateKey returns the box's Ed25519 signing key, creating it at
// first use with mode 0600. Two processes racing to create it end with the
// same key: the file appears atomically (link of a complete temp file) and
// the loser reads the winner's.
func LoadOrCreateKey(stateDir string) (ssh.Signer, error) {
	path := filepath.Join(stateDir, filepath.FromSlash(KeyFile))
	if s, err := readKey(path); !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, keyComment)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".export_ed25519-*")
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(pem.EncodeToMemory(block))
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Link(tmp.Name(), path)
		}
		if err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
	} else {
		tmp.Close()
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return readKey(path)
}

func readKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s: mode %v is readable by others; chmod 600 it", path, st.Mode().Perm())
	}
	k, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	switch priv := k.(type) {
	case *ed25519.PrivateKey:
		return ssh.NewSignerFromKey(*priv)
	case ed25519.PrivateKey:
		return ssh.NewSignerFromKey(priv)
	}
	return nil, fmt.Errorf("signing key %s: not an Ed25519 key", path)
}

// PublicKeyString returns the box's public key as an authorized_keys line
// ("ssh-ed25519 AAAA… vahti-export"), creating the key pair if needed.
func PublicKeyString(stateDir string) (string, error) {
	s, err := LoadOrCreateKey(stateDir)
	if err != nil {
		return "", err
	}
	return authorizedLine(s.PublicKey()), nil
}

func authorizedLine(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + keyComment
}

// AllowedSigners is the allowed_signers line for ssh-keygen -Y verify.
func AllowedSigners(pub ssh.PublicKey) string {
	return fmt.Sprintf("%s namespaces=%q %s\n", SignerID, Namespace, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))))
}

// Fingerprint is the key's SHA256 fingerprint as ssh-keygen -l prints it.
func Fingerprint(pub ssh.PublicKey) string { return ssh.FingerprintSHA256(pub) }
