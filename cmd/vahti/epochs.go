package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"vahti/configs"
	"vahti/registry"
	"vahti/seal"
)

// Sealed footage's daily epochs (seal/DESIGN.md, "Service: epochs"). The
// service makes sure today's epoch exists, and tomorrow's an hour before
// midnight UTC, so a segment starting at midnight never waits for a key
// pair. Making one needs only the site PUBLIC key: the epoch's private key
// is sealed to the site inside seal.NewEpoch and never held.

// msgNotSealed is the warning of storage.encryption left out before
// vahti keys init (at start and in check-config).
const msgNotSealed = "footage is not sealed: run vahti keys init, or set storage.encryption: off"

// errSealedNoKeys is storage.encryption: sealed without site keys.
func errSealedNoKeys() error {
	return &configs.Problems{{Key: "storage.encryption",
		Msg: "sealed, but this registry has no site keys: run vahti keys init first (or set storage.encryption: off)"}}
}

// sealingDecision says whether the footage is sealed, from the config and
// whether the site keys exist: warn is set for auto without keys, err for
// sealed without keys.
func sealingDecision(enc string, haveKeys bool) (sealed bool, warn string, err error) {
	switch enc {
	case configs.EncryptionOff:
		return false, "", nil
	case configs.EncryptionSealed:
		if !haveKeys {
			return false, "", errSealedNoKeys()
		}
		return true, "", nil
	default: // auto
		if !haveKeys {
			return false, msgNotSealed, nil
		}
		return true, "", nil
	}
}

// siteKey is the site public key, or ok false before vahti keys init.
func siteKey(ctx context.Context, db *registry.DB) (pub seal.SitePublicKey, ok bool, err error) {
	err = db.View(ctx, func(tx *registry.Tx) error {
		s, err := tx.SealSiteKey()
		if err != nil {
			return err
		}
		pub, err = seal.ParseSitePublicKey(s.PublicKey)
		return err
	})
	if errors.Is(err, registry.ErrNoKeys) {
		return seal.SitePublicKey{}, false, nil
	}
	if err != nil {
		return seal.SitePublicKey{}, false, fmt.Errorf("site key: %w", err)
	}
	return pub, true, nil
}

// haveSiteKeys is siteKey for check-config: a registry that does not
// exist yet has no keys, and is not created by looking.
func haveSiteKeys(ctx context.Context, e *env, cfg *configs.Config) (bool, error) {
	if _, err := os.Stat(filepath.Join(cfg.StateDir, registry.FileName)); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	db, err := openRegistry(e, cfg)
	if err != nil {
		return false, err
	}
	defer db.Close()
	_, ok, err := siteKey(ctx, db)
	return ok, err
}

// epochs keeps the daily epochs of a sealed site.
type epochs struct {
	db   *registry.DB
	site seal.SitePublicKey
	now  func() time.Time
	log  *slog.Logger
}

// sealingFor decides at start whether the recorder seals; nil means plain.
func sealingFor(ctx context.Context, cfg *configs.Config, db *registry.DB, now func() time.Time, log *slog.Logger) (*epochs, error) {
	pub, ok, err := siteKey(ctx, db)
	if err != nil {
		return nil, err
	}
	sealed, warn, err := sealingDecision(cfg.Storage.Encryption, ok)
	if err != nil {
		return nil, err
	}
	if warn != "" {
		log.Warn(warn)
	}
	if !sealed {
		return nil, nil
	}
	return &epochs{db: db, site: pub, now: now, log: log.With("part", "epochs")}, nil
}

// ensure returns day's epoch public key, making the epoch if it does not
// exist (a destroyed day is refused by the registry: its footage is gone).
func (ep *epochs) ensure(ctx context.Context, day seal.EpochID) (seal.EpochPublicKey, error) {
	var row registry.SealEpoch
	err := ep.db.View(ctx, func(tx *registry.Tx) error {
		var err error
		row, err = tx.Epoch(int64(day))
		return err
	})
	if errors.Is(err, registry.ErrNotFound) {
		pub, sealed, nerr := seal.NewEpoch(ep.site, day)
		if nerr != nil {
			return seal.EpochPublicKey{}, nerr
		}
		err = ep.db.Update(ctx, func(tx *registry.Tx) error {
			return tx.AddEpoch(int64(day), pub.Bytes(), sealed)
		})
		if err == nil {
			ep.log.Info("epoch key made", "day", day.String())
			return pub, nil
		}
		// A UNIQUE failure: another process (vahti keys init, a second
		// start) made it meanwhile. Read what is there.
		aerr := err
		err = ep.db.View(ctx, func(tx *registry.Tx) error {
			var err error
			row, err = tx.Epoch(int64(day))
			return err
		})
		if err != nil {
			return seal.EpochPublicKey{}, fmt.Errorf("epoch %s: %w", day, errors.Join(aerr, err))
		}
	}
	if err != nil {
		return seal.EpochPublicKey{}, fmt.Errorf("epoch %s: %w", day, err)
	}
	return seal.ParseEpochPublicKey(day, row.PublicKey)
}

// Epoch is the recorder's recorder.EpochFunc (it caches per day).
func (ep *epochs) Epoch(day seal.EpochID) (seal.EpochPublicKey, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ep.ensure(ctx, day)
}

// epochLead is how long before midnight UTC tomorrow's epoch is made.
const epochLead = time.Hour

// due makes today's epoch, and tomorrow's within epochLead of midnight;
// it returns when to look next.
func (ep *epochs) due(ctx context.Context) (time.Duration, error) {
	now := ep.now().UTC()
	today := seal.EpochFor(now)
	if _, err := ep.ensure(ctx, today); err != nil {
		return 0, err
	}
	midnight := (today + 1).Day()
	if !now.Before(midnight.Add(-epochLead)) {
		if _, err := ep.ensure(ctx, today+1); err != nil {
			return 0, err
		}
		return midnight.Sub(now), nil
	}
	return midnight.Add(-epochLead).Sub(now), nil
}

// run keeps the epochs made until ctx ends. A failure is logged and
// retried in a minute: the recorder makes a missing epoch itself anyway.
func (ep *epochs) run(ctx context.Context) error {
	for {
		next, err := ep.due(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			ep.log.Error("epoch keys not made; retrying in a minute", "error", err)
			next = time.Minute
		}
		t := time.NewTimer(next + time.Second) // past the boundary, not at it
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
