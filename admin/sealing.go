package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"vahti/configs"
	"vahti/registry"
	"vahti/seal"
)

// The dashboard's "Footage sealing" panel: what a member of staff or the
// data protection officer needs to know about the footage keys without
// reading the README first. Whether footage is sealed at all, whether it
// can be opened on this box right now (and so whether a box taken now
// could be read), who can open it, and what the last purge destroyed. It
// shows public facts only: the site key's fingerprint, counts and names,
// never key material.

// Storage modes of the panel.
const (
	sealModeSealed  = "sealed"  // every new segment is sealed
	sealModeOff     = "off"     // storage.encryption: off: plain fMP4
	sealModeAuto    = "auto"    // storage.encryption left out and no site keys yet: plain
	sealModeMissing = "missing" // storage.encryption: sealed without site keys (a restored registry?)
	sealModeRestart = "restart" // left out, keys made since the service started: plain until a restart
)

// sealingView is the panel's content.
type sealingView struct {
	Mode string
	// SiteKeys: vahti keys init has run (it can have with storage.encryption: off).
	SiteKeys    bool
	Fingerprint string
	Created     time.Time
	CreatedBy   string
	Recovery    bool // the recovery wrap exists
	// Open: the site key is in the service's memory (a keeper with access
	// is logged in); Sessions is how many keeper sessions keep it open.
	Open     bool
	Sessions int
	// Idle is the session idle limit, after which a forgotten session
	// closes the keys.
	Idle                        time.Duration
	EpochsLive, EpochsDestroyed int
	// KeepersWith and KeepersWithout are the enabled keepers with and
	// without a grant (a wrap of the site key).
	KeepersWith, KeepersWithout []string
	// LastPurge is the crypto-erase of the last purge report (nil: none yet).
	LastPurge *purgeErasure
}

// Say is the catalog key of the panel's plain-language line.
func (v sealingView) Say() string {
	switch {
	case v.Mode == sealModeOff:
		return "sealing.say.off"
	case v.Mode == sealModeAuto:
		return "sealing.say.auto"
	case v.Mode == sealModeMissing:
		return "sealing.say.missing"
	case v.Mode == sealModeRestart:
		return "sealing.say.restart"
	case v.Open:
		return "sealing.say.open"
	}
	return "sealing.say.closed"
}

// Sealed reports whether new footage is sealed.
func (v sealingView) Sealed() bool { return v.Mode == sealModeSealed }

// sealMode is the storage mode from the config and whether the site keys
// exist, as cmd/vahti decides it at start.
func sealMode(enc string, siteKeys bool) string {
	switch {
	case enc == configs.EncryptionOff:
		return sealModeOff
	case siteKeys:
		return sealModeSealed
	case enc == configs.EncryptionSealed:
		return sealModeMissing
	}
	return sealModeAuto
}

// sealingView reads the panel's facts.
func (s *Server) sealingView(ctx context.Context) (sealingView, error) {
	v := sealingView{Open: s.keys.Unlocked(), Sessions: s.keys.Holders(), Idle: s.sessions.idle}
	err := s.cfg.DB.View(ctx, func(tx *registry.Tx) error {
		site, err := tx.SealSiteKey()
		switch {
		case errors.Is(err, registry.ErrNoKeys):
		case err != nil:
			return err
		default:
			pub, err := seal.ParseSitePublicKey(site.PublicKey)
			if err != nil {
				return fmt.Errorf("site key: %w", err)
			}
			v.SiteKeys, v.Fingerprint, v.Created, v.CreatedBy = true, pub.Fingerprint(), site.Created, site.CreatedBy
			acc, err := tx.KeyAccess()
			if err != nil {
				return err
			}
			v.Recovery, v.KeepersWith, v.KeepersWithout = acc.Recovery, acc.KeepersWith, acc.KeepersWithout
			if v.EpochsLive, v.EpochsDestroyed, err = tx.EpochCounts(); err != nil {
				return err
			}
		}
		v.LastPurge, err = s.purges.last(tx)
		return err
	})
	v.Mode = sealMode(s.cfg.Cfg.Storage.Encryption, v.SiteKeys)
	if v.Mode == sealModeSealed && s.cfg.RecorderSeals != nil && !s.cfg.RecorderSeals() {
		// auto is decided when the service starts: keys init ran since.
		v.Mode = sealModeRestart
	}
	return v, err
}

// purgeErasure is the crypto-erase part of a nightly purge report
// (retention.PurgeReport, as written to the audit chain as "purge.report").
type purgeErasure struct {
	Time                time.Time      `json:"time"`
	KeysDestroyed       []keyErasure   `json:"keys_destroyed"`
	EpochsDestroyed     []string       `json:"epochs_destroyed"`
	HoldKeyFilesRemoved int            `json:"hold_key_files_removed"`
	BackupsExpired      int            `json:"backups_expired"`
	Cameras             []cameraDelete `json:"cameras"`
}

// keyErasure is retention.KeyErasure: data keys destroyed for one camera
// and UTC day.
type keyErasure struct {
	Camera      string `json:"camera"`
	Day         string `json:"day"`
	SegmentKeys int    `json:"segment_keys"`
}

// cameraDelete is the part of retention.CameraPurge the panel uses.
type cameraDelete struct {
	DeletedCount int64 `json:"deleted_count"`
}

// Keys is the number of data keys the purge destroyed.
func (p *purgeErasure) Keys() int {
	n := 0
	for _, k := range p.KeysDestroyed {
		n += k.SegmentKeys
	}
	return n
}

// Deleted is the number of segments the purge deleted (sealed or not).
func (p *purgeErasure) Deleted() int64 {
	var n int64
	for _, c := range p.Cameras {
		n += c.DeletedCount
	}
	return n
}

// lastPurge finds the latest purge.report in the audit chain without
// reading the chain on every dashboard load: the audit table has no index
// on kind, but its seq is the primary key, so each look reads only the
// entries written since the previous one (the first look after a start
// reads the whole chain once).
type lastPurge struct {
	mu      sync.Mutex
	scanned int64 // entries up to this seq were looked at
	report  *purgeErasure
}

func (l *lastPurge) last(tx *registry.Tx) (*purgeErasure, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	head, err := tx.AuditHead()
	if err != nil {
		return nil, err
	}
	if head.Seq < l.scanned { // a registry restore: the chain is another one
		l.scanned, l.report = 0, nil
	}
	es, err := tx.AuditEntries(registry.AuditFilter{Kind: "purge.report", AfterSeq: l.scanned})
	if err != nil {
		return nil, err
	}
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Kind != "purge.report" {
			continue
		}
		var p purgeErasure
		if err := json.Unmarshal(es[i].Detail, &p); err != nil {
			return nil, fmt.Errorf("purge report #%d: %w", es[i].Seq, err)
		}
		if p.Time.IsZero() {
			p.Time = es[i].Time
		}
		sort.Slice(p.KeysDestroyed, func(a, b int) bool {
			ka, kb := p.KeysDestroyed[a], p.KeysDestroyed[b]
			if ka.Day != kb.Day {
				return ka.Day < kb.Day
			}
			return ka.Camera < kb.Camera
		})
		l.report = &p
		break
	}
	l.scanned = head.Seq
	return l.report, nil
}

// apiSealing is GET /api/v1/status's "sealing": the panel's facts.
type apiSealing struct {
	Mode            string   `json:"mode"` // sealed, off, auto (not sealed yet), missing (sealed without site keys)
	SiteKey         string   `json:"site_key,omitempty"`
	KeysOpen        bool     `json:"keys_open"`
	KeeperSessions  int      `json:"keeper_sessions"`
	EpochsLive      int      `json:"epochs_live"`
	EpochsDestroyed int      `json:"epochs_destroyed"`
	KeepersWith     []string `json:"keepers_with_access"`
	KeepersWithout  []string `json:"keepers_without_access"`
	// LastPurge: the crypto-erase of the last purge report.
	LastPurge *apiPurgeErasure `json:"last_purge,omitempty"`
}

type apiPurgeErasure struct {
	Time            time.Time    `json:"time"`
	KeysDestroyed   int          `json:"keys_destroyed"`
	ByCameraDay     []keyErasure `json:"keys_destroyed_by_camera_day"`
	EpochsDestroyed []string     `json:"epochs_destroyed"`
}

func (v sealingView) api() apiSealing {
	a := apiSealing{Mode: v.Mode, SiteKey: v.Fingerprint, KeysOpen: v.Open, KeeperSessions: v.Sessions,
		EpochsLive: v.EpochsLive, EpochsDestroyed: v.EpochsDestroyed,
		KeepersWith: append([]string{}, v.KeepersWith...), KeepersWithout: append([]string{}, v.KeepersWithout...)}
	if p := v.LastPurge; p != nil {
		a.LastPurge = &apiPurgeErasure{Time: p.Time.UTC(), KeysDestroyed: p.Keys(),
			ByCameraDay: append([]keyErasure{}, p.KeysDestroyed...), EpochsDestroyed: append([]string{}, p.EpochsDestroyed...)}
	}
	return a
}
