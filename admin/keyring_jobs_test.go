package admin

import (
	"context"
	"testing"
	"time"

	"vahti/admin/internal/sealtest"
)

// TestKeyringJobHolder: a running job's keep survives the session sweep
// (its keeper's session is gone) and a sweep that cannot read the
// registry; the key is wiped when the job releases it. A job finds no key
// to keep while the keyring is locked.
func TestKeyringJobHolder(t *testing.T) {
	h := newHarness(t)
	k := NewKeyring(h.db)
	if k.Keep("job:1") {
		t.Fatal("a locked keyring was kept for a job")
	}
	opened := make(chan struct{}, 1)
	k.OnOpen(func() { opened <- struct{}{} })
	k.hold("no-such-session", sealtest.Site(t, h.db))
	<-opened
	if !k.Keep("job:1") {
		t.Fatal("an open key was not kept for the job")
	}
	ctx := context.Background()
	if wiped, err := k.sweep(ctx, time.Now(), time.Hour, time.Hour); wiped || err != nil || !k.Unlocked() {
		t.Fatalf("the sweep dropped the job's keep: wiped %v, %v", wiped, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel() // the registry cannot be read: sessions fail closed, the job's keep stays
	if wiped, err := k.sweep(cctx, time.Now(), time.Hour, time.Hour); wiped || err == nil || !k.Unlocked() {
		t.Fatal("a failed sweep wiped the key a job holds")
	}
	if k.Release("job:2") || !k.Unlocked() {
		t.Fatal("releasing a job that holds nothing changed the key")
	}
	if !k.Release("job:1") || !k.Wiped() {
		t.Fatal("the key outlived its last holder")
	}
}
