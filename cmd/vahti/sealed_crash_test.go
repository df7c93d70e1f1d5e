package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
