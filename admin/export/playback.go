package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"vahti/mp4read"
	"vahti/registry"
)

// MaxPlayback bounds one playback window (one clip's limit).
const MaxPlayback = DefaultMaxClipDuration

// Playback streams the stitched progressive MP4 of one camera over
// [from, to) with Range support (206, multiple ranges, If-Range), so a
// browser <video> can seek. The layout (moov) is computed from the
// segments' moof boxes without reading payloads; each byte range is then
// read straight from the segment files. The caller authenticates and
// audits; Playback only validates its parameters.
//
// Unlike an export, a recording gap does not end the clip: the timeline
// jumps (the last frame before the gap is held), so the seek bar stays
// wall-clock. A codec parameter change or a damaged segment does end it;
// the response serves the clip that contains from (or the first after it)
// and says where it ends in X-Vahti-Clip-End, so the UI can ask for the
// next window. Segment hashes are not checked here (that is the export's
// job); nothing is cached by the browser (Cache-Control: no-store).
func (e *Exporter) Playback(w http.ResponseWriter, r *http.Request, camera string, from, to time.Time) {
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case camera == "" || strings.ContainsAny(camera, "/\\"):
		http.Error(w, "camera required", http.StatusBadRequest)
		return
	case len(e.Cameras) > 0 && !contains(e.Cameras, camera):
		http.Error(w, "unknown camera", http.StatusNotFound)
		return
	case from.IsZero() || to.IsZero() || !to.After(from):
		http.Error(w, "from must be before to", http.StatusBadRequest)
		return
	case to.Sub(from) > MaxPlayback:
		http.Error(w, fmt.Sprintf("window longer than %s", MaxPlayback), http.StatusBadRequest)
		return
	}
	p, c, etag, err := e.playbackClip(r.Context(), camera, from.UTC(), to.UTC())
	if errors.Is(err, errNoFootage) {
		http.Error(w, "no footage in this window", http.StatusNotFound)
		return
	}
	rd := &clipReader{p: p, c: c, files: map[int32]*mp4read.File{}}
	defer rd.Close()
	if err == nil {
		// Open the clip's first source before any header goes out: a
		// layout cached while the keys were there must not start a
		// response that stops at the first sealed byte.
		err = rd.open(c.sources[0])
	}
	if errors.Is(err, mp4read.ErrLocked) {
		http.Error(w, mp4read.ErrLocked.Error(), http.StatusLocked)
		return
	}
	if err != nil {
		e.log().Error("playback", "camera", camera, "err", err)
		http.Error(w, "playback failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("ETag", etag)
	h.Set("X-Vahti-Clip-Start", c.start.Format(time.RFC3339Nano))
	h.Set("X-Vahti-Clip-End", c.end.Format(time.RFC3339Nano))
	http.ServeContent(w, r, "", time.Time{}, rd)
}

type playKey struct {
	camera   string
	from, to int64
}

type playEntry struct {
	fp   string
	p    *plan
	c    *clipPlan
	used time.Time
}

// playCache keeps recent layouts: a browser sends many range requests for
// one window, and the layout is the only costly part.
type playCache struct {
	mu sync.Mutex
	m  map[playKey]*playEntry
}

func (e *Exporter) cache() *playCache {
	e.playOnce.Do(func() { e.play = &playCache{m: map[playKey]*playEntry{}} })
	return e.play
}

const playCacheSize = 16

func (e *Exporter) playbackClip(ctx context.Context, camera string, from, to time.Time) (*plan, *clipPlan, string, error) {
	var segs []registry.Segment
	err := e.DB.View(ctx, func(tx *registry.Tx) error {
		var err error
		segs, err = tx.SegmentsIn(camera, from, to)
		return err
	})
	if err != nil {
		return nil, nil, "", fmt.Errorf("catalog: %w", err)
	}
	if len(segs) == 0 {
		return nil, nil, "", errNoFootage
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d|%d", camera, from.UnixNano(), to.UnixNano())
	for _, s := range segs {
		fmt.Fprintf(h, "|%d:%s:%d:%s", s.ID, s.SHA256, s.Bytes, s.Params)
	}
	fp := hex.EncodeToString(h.Sum(nil))
	key := playKey{camera, from.UnixNano(), to.UnixNano()}
	pc := e.cache()
	pc.mu.Lock()
	if ent, ok := pc.m[key]; ok && ent.fp == fp {
		ent.used = time.Now()
		pc.mu.Unlock()
		return ent.p, ent.c, `"` + fp[:32] + `"`, nil
	}
	pc.mu.Unlock()
	p, err := makePlan(e.Root, camera, from, to, segs, planOpts{splitOnGap: false, unwrap: e.Unwrap})
	if err != nil {
		return nil, nil, "", err
	}
	var c *clipPlan
	for _, cl := range p.clips {
		if cl.end.After(from) {
			c = cl
			break
		}
	}
	if c == nil {
		return nil, nil, "", errNoFootage
	}
	pc.mu.Lock()
	if len(pc.m) >= playCacheSize {
		var oldest playKey
		var ot time.Time
		for k, v := range pc.m {
			if ot.IsZero() || v.used.Before(ot) {
				oldest, ot = k, v.used
			}
		}
		delete(pc.m, oldest)
	}
	pc.m[key] = &playEntry{fp: fp, p: p, c: c, used: time.Now()}
	pc.mu.Unlock()
	return p, c, `"` + fp[:32] + `"`, nil
}

// clipReader is an io.ReadSeeker over a planned clip: header bytes from
// memory, the rest read from the source segment files (decrypted, if
// sealed), each opened once per request.
type clipReader struct {
	p     *plan
	c     *clipPlan
	pos   int64
	files map[int32]*mp4read.File
}

func (r *clipReader) open(src int32) error {
	if r.files[src] != nil {
		return nil
	}
	f, err := mp4read.OpenSegment(r.p.sources[src].abs, r.p.unwrap)
	if err != nil {
		return err
	}
	r.files[src] = f
	return nil
}

func (r *clipReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += r.pos
	case io.SeekEnd:
		off += r.c.size
	default:
		return r.pos, errors.New("seek: bad whence")
	}
	if off < 0 {
		return r.pos, errors.New("seek: negative position")
	}
	r.pos = off
	return off, nil
}

func (r *clipReader) Read(b []byte) (int, error) {
	if r.pos >= r.c.size {
		return 0, io.EOF
	}
	pcs := r.c.pieces
	i := sort.Search(len(pcs), func(i int) bool { return pcs[i].dst+pcs[i].n > r.pos })
	pc := pcs[i]
	in := r.pos - pc.dst
	if int64(len(b)) > pc.n-in {
		b = b[:pc.n-in]
	}
	var n int
	var err error
	if pc.src < 0 {
		n = copy(b, r.c.header[in:])
	} else {
		if err := r.open(pc.src); err != nil {
			return 0, err
		}
		n, err = r.files[pc.src].ReadAt(b, pc.srcOff+in)
		if err == io.EOF && n == len(b) {
			err = nil
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF // the file shrank since the layout was made
		}
	}
	r.pos += int64(n)
	return n, err
}

func (r *clipReader) Close() error {
	for _, f := range r.files {
		f.Close()
	}
	return nil
}
