package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"vahti/registry"
	"vahti/seal"
)

// Sealing (seal/DESIGN.md, "Wiring"). With Config.Seal set, every segment
// is a sealed file: at its open a fresh data key is made and its sealed
// copy committed to the registry before the .tmp file exists; the init
// section and each fragment are one record; the key is wiped when the
// segment is finished. The recorder holds only epoch public keys and the
// current segment's data key, never a private key: nothing it keeps opens
// a finished segment.

// EpochFunc returns the public key of a UTC day's epoch, making the epoch
// if it does not exist yet (the service's, cmd/vahti/epochs.go).
type EpochFunc func(day seal.EpochID) (seal.EpochPublicKey, error)

// sealer makes and stores the data keys of one recorder's segments. It is
// shared by the sessions (safe for concurrent use).
type sealer struct {
	db    *registry.DB
	epoch EpochFunc
	mu    sync.Mutex
	cache map[seal.EpochID]seal.EpochPublicKey
}

func newSealer(db *registry.DB, epoch EpochFunc) *sealer {
	if epoch == nil {
		return nil
	}
	return &sealer{db: db, epoch: epoch, cache: map[seal.EpochID]seal.EpochPublicKey{}}
}

// epochFor is day's epoch public key, asked once per day.
func (s *sealer) epochFor(day seal.EpochID) (seal.EpochPublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pub, ok := s.cache[day]; ok {
		return pub, nil
	}
	pub, err := s.epoch(day)
	if err != nil {
		return seal.EpochPublicKey{}, fmt.Errorf("epoch %s: %w", day, err)
	}
	for d := range s.cache {
		if d+1 < day { // only today's and yesterday's are still asked for
			delete(s.cache, d)
		}
	}
	s.cache[day] = pub
	return pub, nil
}

func (s *sealer) forget(day seal.EpochID) {
	s.mu.Lock()
	delete(s.cache, day)
	s.mu.Unlock()
}

// newKey makes the data key of camera's segment starting at start and
// commits it, sealed to the epoch of start's day. When the commit fails
// because that epoch is gone (retention destroyed it, or it was never
// made), it retries once with the epoch of now's day; any other failure is
// an error, and the caller writes nothing.
func (s *sealer) newKey(camera string, start, now time.Time) (*seal.DataKey, seal.Header, error) {
	day := seal.EpochFor(start)
	k, h, err := s.put(day, camera, start)
	if err == nil {
		return k, h, nil
	}
	if !s.epochGone(day) {
		return nil, seal.Header{}, err
	}
	s.forget(day)
	k, h, err2 := s.put(seal.EpochFor(now), camera, start)
	if err2 != nil {
		return nil, seal.Header{}, fmt.Errorf("%w; with the current epoch: %w", err, err2)
	}
	return k, h, nil
}

func (s *sealer) put(day seal.EpochID, camera string, start time.Time) (*seal.DataKey, seal.Header, error) {
	pub, err := s.epochFor(day)
	if err != nil {
		return nil, seal.Header{}, fmt.Errorf("segment key %s %s: %w", camera, start.Format(time.RFC3339Nano), err)
	}
	k, h, sealed, err := seal.NewSegmentKey(pub, camera, start)
	if err != nil {
		return nil, seal.Header{}, fmt.Errorf("segment key %s %s: %w", camera, start.Format(time.RFC3339Nano), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = s.db.Update(ctx, func(tx *registry.Tx) error {
		return tx.PutSegmentKey(registry.SegmentKey{KeyID: h.KeyID[:], Camera: camera, Start: h.Start,
			EpochDay: int64(h.Epoch), SealedKey: sealed})
	})
	if err != nil {
		k.Wipe()
		return nil, seal.Header{}, err
	}
	return k, h, nil
}

// epochGone reports whether day's epoch is not in the registry (any other
// answer, an error included, is "not gone": the first error stands).
func (s *sealer) epochGone(day seal.EpochID) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.db.View(ctx, func(tx *registry.Tx) error {
		_, err := tx.Epoch(int64(day))
		return err
	})
	return errors.Is(err, registry.ErrNotFound)
}

// The clear metadata of a sealed segment's records: exactly the facts
// crash recovery and reconcile read from a plain file, which they cannot
// decrypt (and which the catalog row holds in clear anyway). JSON, so an
// operator can read them with a hex dump.

// initMeta is the init record's metadata.
type initMeta struct {
	Codecs    string `json:"codecs"`    // the catalog's Codecs ("h264,aac")
	Params    string `json:"params"`    // hex SHA-256 of the init section (the catalog's Params)
	TimeScale int64  `json:"timescale"` // of the video track, for fragMeta's ticks
}

// fragMeta is a fragment record's metadata: video ticks from the segment
// start.
type fragMeta struct {
	Dur int64 `json:"dur"`           // video in this fragment (0: audio only)
	End int64 `json:"end"`           // where the segment's video ends after it
	Key bool  `json:"key,omitempty"` // its first video sample is a keyframe
}

func marshalInitMeta(codecs, params string) []byte {
	b, _ := json.Marshal(initMeta{Codecs: codecs, Params: params, TimeScale: videoTimeScale})
	return b
}

// appendFragMeta writes fragMeta's JSON without allocating (once per
// fragment per camera).
func appendFragMeta(b []byte, m fragMeta) []byte {
	b = append(b, `{"dur":`...)
	b = strconv.AppendInt(b, m.Dur, 10)
	b = append(b, `,"end":`...)
	b = strconv.AppendInt(b, m.End, 10)
	if m.Key {
		b = append(b, `,"key":true`...)
	}
	return append(b, '}')
}

// sealedInfo is what a keyless scan of a sealed segment file says: the
// SegmentInfo of its footage (SHA256 and Bytes of the file as it is, or
// of its first keep bytes), from the records' metadata.
func sealedInfo(data []byte, keep int64, infos []seal.RecordInfo) (SegmentInfo, error) {
	info := SegmentInfo{Bytes: keep}
	if len(infos) < 2 {
		return info, errors.New("sealed segment without a complete fragment")
	}
	var im initMeta
	if err := json.Unmarshal(infos[0].Meta, &im); err != nil || im.Params == "" || im.Codecs == "" || im.TimeScale <= 0 || im.TimeScale > 1<<32 {
		return info, fmt.Errorf("sealed segment: init record metadata unreadable (%q)", infos[0].Meta)
	}
	var end int64
	video := false
	for i, r := range infos[1:] {
		var fm fragMeta
		// A segment is at most an hour: anything near a day is not one
		// (and would overflow a Duration).
		if err := json.Unmarshal(r.Meta, &fm); err != nil || fm.Dur < 0 || fm.End < 0 || fm.Dur > fm.End || fm.End/im.TimeScale > 86400 {
			return info, fmt.Errorf("sealed segment: fragment %d metadata unreadable (%q)", i, r.Meta)
		}
		if fm.Dur > 0 && !video {
			video, info.KeyframeStart = true, fm.Key
		}
		end = max(end, fm.End)
	}
	info.Fragments = len(infos) - 1
	info.Codecs, info.Params = im.Codecs, im.Params
	info.Duration = time.Duration(uint64(end) * uint64(time.Second) / uint64(im.TimeScale))
	info.SHA256 = hashHex(data[:keep])
	return info, nil
}
