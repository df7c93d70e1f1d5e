package retention

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"vahti/configs"
	"vahti/registry"
	"vahti/seal"
)

// TestPurgeDestroysKeys is issue 13's crypto-erase, end to end on real
// files: byte copies of purged sealed segments open with nothing the box
// holds (the registry and its WAL, a keeper's password, the recovery key);
// their sealed keys are not in registry.db or -wal; the day's epoch is
// destroyed once its unheld footage is gone, while a held segment of the
// same minutes still opens, with the keyring and with the recovery key and
// the hold's key file alone; releasing the hold removes the file; an
// expired registry backup is gone and a fresh one stays; the purge
// reports say "keys destroyed" per camera and day.
func TestPurgeDestroysKeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "yard", "lobby")
	f.cfg.Retention.MaxAge = configs.Duration(2 * day)
	f.cfg.Retention.MaxDeleteFraction = 1
	f.cfg.Backup.Path = filepath.Join(f.dir, "backups")
	s := newSealedSite(f)

	d := time.Date(2026, 11, 17, 10, 0, 0, 123456789, time.UTC) // five days before t0
	var yard []sealedSeg
	for i := range 3 {
		yard = append(yard, s.record("yard", d.Add(time.Duration(i)*time.Minute), time.Minute))
	}
	lobby := s.record("lobby", d.Add(time.Minute), time.Minute) // the same minutes, held
	fresh := s.record("yard", t0.Add(-time.Hour), time.Minute)  // today's: stays
	// A key whose segment never got a file or a row (the recorder died
	// in between), on the day before: the nightly purge's orphan sweep.
	orphanDay := d.Add(-day)
	orphanEpoch := s.epoch(orphanDay)
	_, oh, orphanSealed, err := seal.NewSegmentKey(orphanEpoch, "yard", orphanDay)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.Update(ctx, func(tx *registry.Tx) error {
		return tx.PutSegmentKey(registry.SegmentKey{KeyID: oh.KeyID[:], Camera: "yard", Start: orphanDay, EpochDay: int64(oh.Epoch), SealedKey: orphanSealed})
	}); err != nil {
		t.Fatal(err)
	}
	var dayEpochSealed []byte
	f.db.View(ctx, func(tx *registry.Tx) error {
		e, err := tx.Epoch(int64(seal.EpochFor(d)))
		dayEpochSealed = e.SealedPrivate
		return err
	})
	for _, g := range append(slices.Clone(yard), lobby, fresh) {
		if bytes.Contains(g.file, g.body[:64]) {
			t.Fatal("plaintext in a sealed file")
		}
		s.opensWithBoth("before the purge", g)
	}
	hold := f.hold([]string{"lobby"}, d, d.Add(3*time.Minute))

	// Registry backups: one taken four days ago (past max_age + 1 day),
	// one yesterday.
	oldBackup := filepath.Join(f.cfg.Backup.Path, registry.BackupDirName(t0.Add(-4*day)))
	newBackup := filepath.Join(f.cfg.Backup.Path, registry.BackupDirName(t0.Add(-day)))
	for _, b := range []string{oldBackup, newBackup} {
		if err := os.MkdirAll(b, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := f.db.Backup(ctx, filepath.Join(b, registry.FileName)); err != nil {
			t.Fatal(err)
		}
	}

	// 0. A dry run names the keys and the backup that would go, and
	// touches nothing.
	dry, err := f.r.Purge(ctx, true, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []KeyErasure{{Camera: "yard", Day: "2026-11-17", SegmentKeys: 3}}; !slices.Equal(dry.KeysDestroyed, want) ||
		!slices.Equal(dry.BackupsExpired, []string{filepath.Base(oldBackup)}) {
		t.Fatalf("dry run: keys %+v, backups %v", dry.KeysDestroyed, dry.BackupsExpired)
	}
	if _, err := os.Stat(oldBackup); err != nil {
		t.Fatalf("the dry run removed the expired backup: %v", err)
	}
	for _, g := range yard {
		s.opensWithBoth("segment after a dry run", g)
	}

	// 1. The purge: yard's three go with their keys; the day's epoch
	// stays, the lobby's held key is still sealed to it.
	rep := f.purge()
	if len(rep.Segments) != 3 {
		t.Fatalf("purged %d segments, want yard's 3: %+v", len(rep.Segments), rep.Segments)
	}
	want := []KeyErasure{{Camera: "yard", Day: "2026-11-17", SegmentKeys: 3}}
	if !slices.Equal(rep.KeysDestroyed, want) {
		t.Fatalf("keys destroyed %+v, want %+v", rep.KeysDestroyed, want)
	}
	if len(rep.EpochsDestroyed) != 0 {
		t.Fatalf("epochs destroyed %v while a held key is sealed to the day's epoch", rep.EpochsDestroyed)
	}
	for _, g := range yard {
		s.opensWithNeither("purged copy", g)
		if s.registryHolds(g.sealed) {
			t.Fatalf("registry.db or -wal still holds the sealed key of purged %s", g.seg.Path)
		}
	}
	s.opensWithBoth("held segment after the purge", lobby)
	s.opensWithBoth("fresh segment after the purge", fresh)
	if _, err := os.Stat(oldBackup); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("expired backup %s: %v, want gone", oldBackup, err)
	}
	if _, err := os.Stat(filepath.Join(newBackup, registry.FileName)); err != nil {
		t.Fatalf("fresh backup: %v", err)
	}
	if !slices.Equal(rep.BackupsExpired, []string{filepath.Base(oldBackup)}) || len(f.audit("registry.backup.expire")) != 1 {
		t.Fatalf("backups expired %v, audit %d", rep.BackupsExpired, len(f.audit("registry.backup.expire")))
	}
	if es := f.audit("segments.delete"); len(es) != 1 || !bytes.Contains(es[0].Detail, []byte(`"keys_destroyed":3`)) {
		t.Fatalf("segments.delete audit %s: want the keys destroyed", es[0].Detail)
	}

	// 2. A keeper's keyring re-seals the held key out of the day's epoch
	// and writes the hold's key file; the next pass destroys the epoch.
	ring, err := s.ring(false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := SealHeldKeys(ctx, f.cfg, f.db, hold.ID, ring, "alice", "test")
	ring.Wipe()
	if err != nil {
		t.Fatal(err)
	}
	keysFile := HoldKeysPath(f.cfg.StateDir, hold.ID)
	if res.Segments != 1 || res.Resealed != 1 || res.File != keysFile {
		t.Fatalf("seal held keys: %+v", res)
	}
	if fi, err := os.Stat(keysFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("hold key file: %v %v, want 0600", fi, err)
	}
	rep = f.purge()
	if !slices.Equal(rep.EpochsDestroyed, []string{"2026-11-17"}) {
		t.Fatalf("epochs destroyed %v, want the day of the purged footage", rep.EpochsDestroyed)
	}
	if len(f.audit("keys.epoch.destroy")) != 1 {
		t.Fatal("the epoch's destruction is not audited")
	}
	if s.registryHolds(dayEpochSealed) {
		t.Fatal("registry.db or -wal still holds the destroyed epoch's sealed private key")
	}
	for _, g := range yard {
		s.opensWithNeither("purged copy after its epoch went", g)
		// A stale copy of its sealed data key (an old WAL frame kept by
		// flash) opens nothing either: its epoch is gone.
		if _, err := openWithStaleKey(s, g); err == nil {
			t.Fatalf("purged %s opened with a stale copy of its sealed key", g.seg.Path)
		}
	}
	s.opensWithBoth("held segment after its day's epoch went", lobby)
	// The recovery key and the hold's file alone, no registry.
	rd, err := OpenHeldSegment(keysFile, s.rk, bytes.NewReader(lobby.file), int64(len(lobby.file)))
	if err != nil {
		t.Fatalf("held segment with the recovery key and the hold's file: %v", err)
	}
	var got bytes.Buffer
	if _, err := rd.WriteTo(&got); err != nil || !bytes.Equal(got.Bytes(), lobby.body) {
		t.Fatalf("held segment from the hold's file: %v", err)
	}
	other, _ := seal.NewRecoveryKey()
	if _, err := OpenHeldSegment(keysFile, other, bytes.NewReader(lobby.file), int64(len(lobby.file))); err == nil {
		t.Fatal("the hold's file opened with another recovery key")
	}
	if _, err := OpenHeldSegment(keysFile, s.rk, bytes.NewReader(yard[1].file), int64(len(yard[1].file))); err == nil {
		t.Fatal("the hold's file opened a segment it does not hold")
	}

	// 3. The hold is released: its file goes at the next pass, the lobby
	// segment (now unheld and old) goes with its held key, then its held
	// epoch; the nightly report sums the erasure.
	if _, err := ReleaseHold(ctx, f.db, hold.ID, "tester", "test", "case closed"); err != nil {
		t.Fatal(err)
	}
	nightly, err := f.r.Nightly(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keysFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("hold key file after release: %v, want gone", err)
	}
	if len(f.audit("hold.keys.delete")) != 1 || nightly.HoldKeyFilesRemoved != 1 {
		t.Fatalf("hold key file removal: audit %d, report %d", len(f.audit("hold.keys.delete")), nightly.HoldKeyFilesRemoved)
	}
	s.opensWithNeither("released, purged lobby copy", lobby)
	if s.registryHolds(lobby.sealed) {
		t.Fatal("registry still holds the purged lobby segment's sealed key")
	}
	wantN := []KeyErasure{{Camera: "lobby", Day: "2026-11-17", SegmentKeys: 1}, {Camera: "yard", Day: "2026-11-16", SegmentKeys: 1},
		{Camera: "yard", Day: "2026-11-17", SegmentKeys: 3}}
	if !slices.Equal(nightly.KeysDestroyed, wantN) {
		t.Fatalf("nightly keys destroyed %+v, want %+v", nightly.KeysDestroyed, wantN)
	}
	if !slices.Equal(nightly.EpochsDestroyed, []string{"2026-11-16", "2026-11-17"}) || nightly.BackupsExpired != 1 {
		t.Fatalf("nightly epochs destroyed %v, backups expired %d", nightly.EpochsDestroyed, nightly.BackupsExpired)
	}
	var segKeys, heldKeys, heldEpochs, live int
	f.db.View(ctx, func(tx *registry.Tx) error {
		segKeys, heldKeys, heldEpochs, _ = tx.KeyCounts()
		live, _, _ = tx.EpochCounts()
		return nil
	})
	if segKeys != 1 || heldKeys != 0 || heldEpochs != 0 || live != 1 {
		t.Fatalf("left: %d segment keys, %d held keys, %d held epochs, %d epochs; want only today's segment and epoch", segKeys, heldKeys, heldEpochs, live)
	}
	s.opensWithBoth("fresh segment at the end", fresh)
}

// openWithStaleKey opens g's copy with the recovery key, its sealed data
// key served from a stale copy and the epochs from the live registry.
func openWithStaleKey(s *sealedSite, g sealedSeg) (*seal.Reader, error) {
	ring, err := s.ring(true)
	if err != nil {
		return nil, err
	}
	defer ring.Wipe()
	h, _, _ := seal.ReadHeader(bytes.NewReader(g.file), int64(len(g.file)))
	st := staleStore{live: s.f.db.KeyStore(context.Background()), day: h.Epoch, key: g.sealed}
	return seal.OpenSegment(bytes.NewReader(g.file), int64(len(g.file)), ring.Unwrapper(st))
}

type staleStore struct {
	live seal.KeyStore
	day  seal.EpochID
	key  []byte
}

func (s staleStore) SealedDataKey(seal.KeyID) (seal.EpochID, []byte, error) { return s.day, s.key, nil }
func (s staleStore) SealedEpoch(id seal.EpochID) ([]byte, []byte, error) {
	return s.live.SealedEpoch(id)
}

// TestHeldKeyKeepsEpoch: without a re-seal, a held segment's key keeps its
// day's epoch alive however old the day is, and nothing of the hold is
// lost; torn files and strays take their keys with them.
func TestHeldKeyKeepsEpoch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "yard")
	f.cfg.Retention.MaxAge = configs.Duration(2 * day)
	f.cfg.Retention.MaxDeleteFraction = 1
	s := newSealedSite(f)
	d := t0.Add(-10 * day)
	held := s.record("yard", d, time.Minute)
	gone := s.record("yard", d.Add(time.Hour), time.Minute)
	f.hold([]string{"yard"}, d, d.Add(time.Minute))
	f.purge()
	rep := f.purge()
	if len(rep.EpochsDestroyed) != 0 {
		t.Fatalf("destroyed epoch %v of a held segment not re-sealed", rep.EpochsDestroyed)
	}
	s.opensWithBoth("held, not re-sealed", held)
	s.opensWithNeither("purged", gone)

	// A stray (a file with no row) and a torn .tmp: their keys go too.
	stray := s.record("yard", d.Add(2*time.Hour), time.Minute)
	torn := s.record("yard", t0.Add(-time.Hour), time.Minute)
	if err := f.db.Update(ctx, func(tx *registry.Tx) error {
		for _, g := range []sealedSeg{stray, torn} {
			sg, err := tx.SegmentByPath(g.seg.Path)
			if err != nil {
				return err
			}
			if err := tx.DeleteSegmentRow(sg.ID); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A file that vanished behind Vahti's back (its row marked missing):
	// its key would open the copy wherever it went; it goes once expired.
	vanished := s.record("yard", d.Add(3*time.Hour), time.Minute)
	if err := os.Remove(filepath.Join(f.cfg.Storage.Root, vanished.seg.Path)); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Update(ctx, func(tx *registry.Tx) error {
		sg, err := tx.SegmentByPath(vanished.seg.Path)
		if err != nil {
			return err
		}
		return tx.SetSegmentState(sg.ID, registry.SegmentMissing)
	}); err != nil {
		t.Fatal(err)
	}
	tornRel := torn.seg.Path + registry.UnfinishedSuffix
	root := f.cfg.Storage.Root
	if err := os.Rename(filepath.Join(root, torn.seg.Path), filepath.Join(root, tornRel)); err != nil {
		t.Fatal(err)
	}
	if err := DiscardTorn(ctx, f.db, root, tornRel, t0); err != nil {
		t.Fatal(err)
	}
	s.opensWithNeither("discarded torn file", torn)
	if _, err := f.r.Nightly(ctx); err != nil {
		t.Fatal(err)
	}
	if f.exists(stray.seg.Path) {
		t.Fatal("stray not removed")
	}
	s.opensWithNeither("removed stray", stray)
	s.opensWithNeither("vanished file's copy", vanished)
	if _, ok := f.row(vanished.seg.Path); ok {
		t.Fatal("the vanished segment's expired row is still catalogued")
	}
	s.opensWithBoth("held, still not re-sealed", held)

	// A keeper logs in: the service seals what holds placed without a
	// keyring are waiting for; then the day's epoch can go.
	ring, err := s.ring(false)
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Wipe()
	done, err := SealPendingHeldKeys(ctx, f.cfg, f.db, ring, "alice", "test")
	if err != nil || len(done) != 1 || done[0].Resealed != 1 {
		t.Fatalf("pending held keys: %+v %v", done, err)
	}
	if again, err := SealPendingHeldKeys(ctx, f.cfg, f.db, ring, "alice", "test"); err != nil || len(again) != 0 {
		t.Fatalf("pending held keys a second time: %+v %v, want none", again, err)
	}
	if rep := f.purge(); !slices.Contains(rep.EpochsDestroyed, seal.EpochFor(d).String()) {
		t.Fatalf("epochs destroyed %v after the re-seal, want %s", rep.EpochsDestroyed, seal.EpochFor(d))
	}
	s.opensWithBoth("held at the end", held)
}
