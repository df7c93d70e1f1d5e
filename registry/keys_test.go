package registry

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"vahti/seal"
)

// TestSealKeyRows: the key tables refuse what would lose or orphan keys.
func TestSealKeyRows(t *testing.T) {
	db, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	up := func(fn func(*Tx) error) error { return db.Update(ctx, fn) }
	if err := db.View(ctx, func(tx *Tx) error { _, err := tx.SealSiteKey(); return err }); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("no site: %v", err)
	}
	if err := up(func(tx *Tx) error { return tx.InitSealSite(SealSite{PublicKey: []byte("pub")}, []byte("wrap")) }); err == nil {
		t.Error("site without a recovery public key accepted")
	}
	site := SealSite{PublicKey: []byte("pub"), RecoveryPublicKey: []byte("rpub"), CreatedBy: "t"}
	if err := up(func(tx *Tx) error { return tx.InitSealSite(site, []byte("wrap")) }); err != nil {
		t.Fatal(err)
	}
	if err := up(func(tx *Tx) error { return tx.InitSealSite(site, []byte("wrap2")) }); !errors.Is(err, ErrKeysExist) {
		t.Errorf("second site: %v", err)
	}
	if err := up(func(tx *Tx) error { return tx.AddEpoch(100, []byte("p"), []byte("s")) }); err != nil {
		t.Fatal(err)
	}
	if err := up(func(tx *Tx) error { return tx.AddEpoch(100, []byte("p2"), []byte("s2")) }); err == nil {
		t.Error("a second key for the same day accepted")
	}
	if err := up(func(tx *Tx) error { return tx.DestroyEpoch(101, "t") }); !errors.Is(err, ErrNotFound) {
		t.Errorf("destroy a missing epoch: %v", err)
	}
	start := time.Date(2026, 11, 22, 12, 0, 0, 5, time.UTC)
	key := SegmentKey{KeyID: []byte("0123456789abcdef"), Camera: "yard", Start: start, EpochDay: 100, SealedKey: []byte("sealed")}
	bad := key
	bad.KeyID = []byte("short")
	if err := up(func(tx *Tx) error { return tx.PutSegmentKey(bad) }); err == nil {
		t.Error("a 5-byte key id accepted")
	}
	bad = key
	bad.EpochDay = 99
	if err := up(func(tx *Tx) error { return tx.PutSegmentKey(bad) }); err == nil {
		t.Error("a key sealed to an epoch that does not exist accepted")
	}
	if err := up(func(tx *Tx) error { return tx.PutSegmentKey(key) }); err != nil {
		t.Fatal(err)
	}
	dup := key
	dup.KeyID = []byte("fedcba9876543210")
	if err := up(func(tx *Tx) error { return tx.PutSegmentKey(dup) }); err == nil {
		t.Error("a second key for the same camera and start accepted")
	}
	if err := up(func(tx *Tx) error { return tx.DestroyEpoch(100, "t") }); err == nil {
		t.Error("destroyed an epoch a key is sealed to")
	}
	err = db.View(ctx, func(tx *Tx) error {
		k, err := tx.SegmentKeyByID(key.KeyID)
		if err != nil {
			return err
		}
		if !k.Start.Equal(start) || k.Camera != "yard" || string(k.SealedKey) != "sealed" {
			t.Errorf("key %+v", k)
		}
		if _, err := tx.KeeperWrap(1); !errors.Is(err, ErrNotFound) {
			t.Errorf("keeper wrap of nobody: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Segment 42 does not exist: nothing to delete, said so.
	if err := up(func(tx *Tx) error { _, err := tx.DeleteSegmentKey(42); return err }); !errors.Is(err, ErrNotFound) {
		t.Errorf("key of a missing segment: %v", err)
	}
	if err := up(func(tx *Tx) error {
		ok, err := tx.DeleteSegmentKeyAt("yard", start)
		if !ok && err == nil {
			err = errors.New("nothing deleted")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := up(func(tx *Tx) error { return tx.DestroyEpoch(100, "t") }); err != nil {
		t.Fatal(err)
	}
	if err := up(func(tx *Tx) error { return tx.AddEpoch(100, []byte("p"), []byte("s")) }); err == nil {
		t.Error("a destroyed day got a key again")
	}
	err = db.View(ctx, func(tx *Tx) error {
		live, gone, err := tx.EpochCounts()
		if live != 0 || gone != 1 {
			t.Errorf("epochs %d live %d destroyed", live, gone)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSecureDeleteOnEveryConnection: the pragma is part of how every
// pooled connection is opened, not a one-off on the first.
func TestSecureDeleteOnEveryConnection(t *testing.T) {
	db, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 3
	var ready, done = make(chan struct{}, n), make(chan struct{})
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- db.View(context.Background(), func(tx *Tx) error {
				var v int
				if err := tx.tx.QueryRow(`PRAGMA secure_delete`).Scan(&v); err != nil {
					return err
				}
				ready <- struct{}{}
				<-done // hold this connection so the next View takes another
				if v != 1 {
					return errors.New("secure_delete is off on a connection")
				}
				return nil
			})
		}()
	}
	for range n {
		<-ready
	}
	open := db.sql.Stats().OpenConnections
	close(done)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if open < n {
		t.Fatalf("%d connections open at once, want %d", open, n)
	}
}

func TestKeyStoreFindsWhatTheRegistryHolds(t *testing.T) {
	db, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	id := bytes.Repeat([]byte{7}, 16)
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	if err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.AddEpoch(20789, []byte("pub"), []byte("sealed-private")); err != nil {
			return err
		}
		return tx.PutSegmentKey(SegmentKey{KeyID: id, Camera: "yard", Start: start, EpochDay: 20789, SealedKey: []byte("sealed")})
	}); err != nil {
		t.Fatal(err)
	}
	ks := db.KeyStore(ctx)
	day, sealed, err := ks.SealedDataKey(seal.KeyID(id))
	if err != nil || day != 20789 || string(sealed) != "sealed" {
		t.Fatalf("data key: day %d sealed %q err %v", day, sealed, err)
	}
	pub, priv, err := ks.SealedEpoch(20789)
	if err != nil || string(pub) != "pub" || string(priv) != "sealed-private" {
		t.Fatalf("epoch: %q %q %v", pub, priv, err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { _, err := tx.DeleteSegmentKeyAt("yard", start); return err }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ks.SealedDataKey(seal.KeyID(id)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a destroyed key is still found: %v", err)
	}
}

// TestCheckpointGivesWayToAReader: a TRUNCATE checkpoint while a reader
// holds its snapshot gives up (busy) and the writers it held back go on;
// with the reader gone it truncates; pooled connections keep the usual
// busy timeout afterwards. (How long it waits, 200 ms against the usual
// 15 s, is the constant, not asserted: no timed tests.)
func TestCheckpointGivesWayToAReader(t *testing.T) {
	db, err := Open(t.TempDir(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	put := func(day int64) error {
		return db.Update(ctx, func(tx *Tx) error { return tx.AddEpoch(day, []byte("pub"), []byte("sealed")) })
	}
	if err := put(1); err != nil {
		t.Fatal(err)
	}
	reading, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- db.View(ctx, func(tx *Tx) error {
			if _, err := tx.Epoch(1); err != nil {
				return err
			}
			close(reading)
			<-release
			return nil
		})
	}()
	<-reading
	if err := put(2); err != nil { // the WAL now holds a frame the reader's snapshot does not
		t.Fatal(err)
	}
	if err := db.CheckpointTruncate(ctx); err == nil {
		t.Fatal("a TRUNCATE checkpoint succeeded under a reader's snapshot")
	}
	if err := put(3); err != nil {
		t.Fatalf("a writer after the checkpoint gave way: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := db.CheckpointTruncate(ctx); err != nil {
		t.Fatalf("with no reader: %v", err)
	}
	var ms int
	if err := db.sql.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&ms); err != nil || ms != busyTimeoutMS {
		t.Errorf("busy timeout of a pooled connection after the checkpoint: %d (%v), want %d", ms, err, busyTimeoutMS)
	}
}
