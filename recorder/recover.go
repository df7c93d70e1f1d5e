package recorder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vahti/mp4read"
	"vahti/registry"
	"vahti/seal"
)

// SegmentInfo is what ProbeSegment reads from a segment file.
type SegmentInfo struct {
	Camera        string        `json:"camera,omitempty"` // from the path
	Start         time.Time     `json:"start,omitzero"`   // from the path
	End           time.Time     `json:"end,omitzero"`     // Start + Duration
	Duration      time.Duration `json:"duration"`         // sum of the video sample durations
	Codecs        string        `json:"codecs"`           // "h264,aac"
	Params        string        `json:"params"`           // hex SHA-256 of the init section
	SHA256        string        `json:"sha256"`           // hex SHA-256 of the whole file
	Bytes         int64         `json:"bytes"`
	Fragments     int           `json:"fragments"`
	KeyframeStart bool          `json:"keyframe_start"`
	// Sealed: a sealed file, whose facts come from its records' clear
	// metadata (no key is needed, none was used).
	Sealed bool `json:"sealed,omitempty"`
}

// RecoverReport says what Recover did with unfinished segments.
type RecoverReport struct {
	Recovered []string  `json:"recovered,omitempty"` // truncated to whole fragments, finished, catalogued
	Removed   []string  `json:"removed,omitempty"`   // held no complete fragment: no footage lost
	Failed    []Garbage `json:"failed,omitempty"`    // left in place, with the reason
}

// Recover finishes every unfinished (.tmp) segment under root, as left by
// a crash or power cut: the file is cut back to its last complete fragment
// (a torn tail is dropped), synced, renamed to its final name and
// catalogued. A file without one complete fragment holds no playable
// footage and is removed. Run it before recording starts: it assumes no
// segment is being written.
func Recover(ctx context.Context, root string, db *registry.DB, log *slog.Logger) (RecoverReport, error) {
	var rep RecoverReport
	if log == nil {
		log = slog.Default()
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			log.Warn("recover: cannot read", "path", p, "error", err)
			return nil // one unreadable directory must not stop the rest
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || !strings.HasSuffix(p, registry.SegmentExt+registry.UnfinishedSuffix) {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if err := recoverOne(ctx, root, rel, db, log, &rep); err != nil {
			log.Error("recover: segment left unfinished", "path", rel, "error", err)
			rep.Failed = append(rep.Failed, Garbage{Path: rel, Reason: err.Error()})
		}
		return nil
	})
	return rep, err
}

func recoverOne(ctx context.Context, root, rel string, db *registry.DB, log *slog.Logger, rep *RecoverReport) error {
	cam, start, finished, err := registry.ParseSegmentPath(rel)
	if err != nil || finished {
		return fmt.Errorf("not an unfinished segment name")
	}
	tmp := filepath.Join(root, filepath.FromSlash(rel))
	data, err := os.ReadFile(tmp)
	if err != nil {
		return err
	}
	var info SegmentInfo
	var complete int64
	sealed := false
	if _, _, herr := seal.ReadHeader(bytes.NewReader(data), int64(len(data))); !errors.Is(herr, seal.ErrNotSealed) {
		sealed = true
		// A sealed file: its records are read without any key, the
		// footage's facts come from their clear metadata.
		var infos []seal.RecordInfo
		var tail seal.Tail
		if herr == nil {
			var h seal.Header
			h, infos, tail, herr = seal.Scan(bytes.NewReader(data), int64(len(data)))
			if herr == nil && (h.Camera != cam || !h.Start.Equal(start)) {
				herr = fmt.Errorf("%w: header names %s %s, the file name %s %s", seal.ErrCorrupt,
					h.Camera, h.Start.Format(time.RFC3339Nano), cam, start.Format(time.RFC3339Nano))
			}
		}
		switch {
		case herr != nil && len(data) <= maxSealHeader:
			// The header itself was cut: no record, no footage.
			return removeUnfinished(ctx, tmp, rel, cam, start, len(data), db, log, rep)
		case herr != nil:
			// Corrupt is not torn: left in place, like an unreadable file.
			return fmt.Errorf("sealed segment unreadable: %w", herr)
		case len(infos) < 2:
			return removeUnfinished(ctx, tmp, rel, cam, start, len(data), db, log, rep)
		}
		complete = tail.Keep
		if info, err = sealedInfo(data, complete, infos); err != nil {
			return err
		}
	} else {
		l, lerr := mp4read.SegmentLayout(bytes.NewReader(data), int64(len(data)))
		complete = l.Complete
		if lerr != nil || l.Fragments == 0 {
			return removeUnfinished(ctx, tmp, rel, cam, start, len(data), db, log, rep)
		}
		if info, err = probeBytes(data[:complete]); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if complete < int64(len(data)) {
		if err := f.Truncate(complete); err != nil {
			f.Close()
			return err
		}
		log.Warn("recover: dropped a torn tail", "path", rel, "bytes_dropped", int64(len(data))-complete)
	}
	errSync, errClose := f.Sync(), f.Close()
	if err := errors.Join(errSync, errClose); err != nil {
		return err
	}
	if !info.KeyframeStart {
		return errors.New("first frame is not a keyframe")
	}
	finalRel := registry.SegmentPath(cam, start)
	final := filepath.Join(root, filepath.FromSlash(finalRel))
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("%s already exists", finalRel)
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return err
	}
	if !sealed {
		// A sealed file's index needs its plaintext, hence its key: its
		// reader builds it.
		indexSegmentBytes(final, data[:complete], info.SHA256)
	}
	row := registry.Segment{Camera: cam, Start: start, End: start.Add(info.Duration).Truncate(time.Microsecond), Path: finalRel,
		Bytes: info.Bytes, Codecs: info.Codecs, Params: info.Params, SHA256: info.SHA256}
	err = db.Update(ctx, func(tx *registry.Tx) error {
		if _, err := tx.SegmentByPath(finalRel); err == nil {
			return nil
		}
		return tx.AddSegment(&row)
	})
	if err != nil {
		return err
	}
	log.Info("recover: finished a torn segment", "path", finalRel, "fragments", info.Fragments, "duration", info.Duration.String())
	rep.Recovered = append(rep.Recovered, finalRel)
	return nil
}

// maxSealHeader is the longest seal header: a file no longer than it holds
// no record.
const maxSealHeader = 41 + seal.MaxCamera

// removeUnfinished removes an unfinished segment that holds no complete
// fragment (the init section alone or less: nothing playable was ever made
// durable, so no footage is lost) and destroys its data key, if it was
// sealed. The key goes first: a crash between the two leaves a file that
// is removed again at the next start, never a key outliving its file.
func removeUnfinished(ctx context.Context, tmp, rel, cam string, start time.Time, size int, db *registry.DB, log *slog.Logger, rep *RecoverReport) error {
	if err := db.Update(ctx, func(tx *registry.Tx) error {
		_, err := tx.DeleteSegmentKeyAt(cam, start)
		return err
	}); err != nil {
		return err
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	log.Warn("recover: removed unfinished segment without a complete fragment", "path", rel, "bytes", size)
	rep.Removed = append(rep.Removed, rel)
	return nil
}
