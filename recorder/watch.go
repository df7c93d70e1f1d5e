package recorder

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"vahti/registry"
)

// settle is how long a new .mp4 must stay unchanged before the watcher
// looks at it: a copy in progress is not a segment yet, and the recorder's
// own rename is catalogued within that time.
const settle = 2 * time.Second

// watcher follows storage.root while recording: a segment file removed
// behind Vahti's back marks its row missing; a valid segment copied in is
// adopted; both are audited. Only regular files are looked at (Lstat):
// symbolic links and fifos are ignored. fsnotify is not recursive, so every new
// directory gets its own watch.
type watcher struct {
	root string
	db   *registry.DB
	log  *slog.Logger
	fw   *fsnotify.Watcher
	// pending maps a path to when it last changed. This debounce runs on
	// the real clock (time.Now), not the injected one: it measures how long
	// the file system has been quiet, not a time in the footage.
	pending map[string]time.Time
}

func newWatcher(root string, db *registry.DB, log *slog.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{root: root, db: db, log: log, fw: fw, pending: map[string]time.Time{}}
	w.addTree(root, false)
	return w, nil
}

func (w *watcher) close() { w.fw.Close() }

// addTree watches dir and every directory below it. With queue, the
// segment files already there are queued too: they may have been created
// before the watch existed.
func (w *watcher) addTree(dir string, queue bool) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if err := w.fw.Add(p); err != nil {
				w.log.Warn("watch: cannot watch directory", "path", p, "error", err)
			}
			return nil
		}
		if queue && d.Type().IsRegular() && strings.HasSuffix(p, registry.SegmentExt) {
			w.pending[p] = time.Now()
		}
		return nil
	})
}

func (w *watcher) run(ctx context.Context) {
	tick := time.NewTicker(settle / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			w.log.Warn("watch: error (a full reconcile at next start catches up)", "error", err)
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			w.handle(ctx, ev)
		case <-tick.C:
			w.adoptSettled(ctx)
		}
	}
}

func (w *watcher) handle(ctx context.Context, ev fsnotify.Event) {
	switch {
	case ev.Has(fsnotify.Create):
		fi, err := os.Lstat(ev.Name)
		if err != nil {
			return // gone already
		}
		if fi.IsDir() {
			w.addTree(ev.Name, true)
			return
		}
		// Only regular files can be footage: a symbolic link (to footage
		// elsewhere, or to /dev/zero) or a fifo is never opened.
		if fi.Mode().IsRegular() && strings.HasSuffix(ev.Name, registry.SegmentExt) {
			w.pending[ev.Name] = time.Now()
		}
	case ev.Has(fsnotify.Write):
		if _, ok := w.pending[ev.Name]; ok {
			w.pending[ev.Name] = time.Now()
		}
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		delete(w.pending, ev.Name)
		if !strings.HasSuffix(ev.Name, registry.SegmentExt) {
			return
		}
		rel, err := filepath.Rel(w.root, ev.Name)
		if err != nil {
			return
		}
		rel = filepath.ToSlash(rel)
		// Retention's own deletes are in state doomed (or their row is
		// gone): markMissing leaves those alone.
		marked, err := markMissing(ctx, w.db, rel, foundByWatcher)
		if err != nil {
			w.log.Error("watch: cannot mark segment missing", "path", rel, "error", err)
		} else if marked {
			w.log.Warn("segment file removed behind Vahti's back; catalog row marked missing", "path", rel)
		}
	}
}

// adoptSettled adopts files that have not changed for settle and are not
// catalogued; invalid files are reported and left alone.
func (w *watcher) adoptSettled(ctx context.Context) {
	for p, t := range w.pending {
		if time.Since(t) < settle {
			continue
		}
		delete(w.pending, p)
		rel, err := filepath.Rel(w.root, p)
		if err != nil {
			continue
		}
		rel = filepath.ToSlash(rel)
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			continue // gone, or replaced by a link or fifo: not footage
		}
		var row registry.Segment
		err = w.db.View(ctx, func(tx *registry.Tx) error {
			var err error
			row, err = tx.SegmentByPath(rel)
			return err
		})
		if err == nil && row.State == registry.SegmentOK {
			continue // the recorder's own segment
		}
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			w.log.Error("watch: catalog lookup", "path", rel, "error", err)
			continue
		}
		if err == nil {
			continue // missing or doomed rows: the next reconcile decides
		}
		adopted, reason, err := adopt(ctx, w.root, rel, w.db, foundByWatcher)
		switch {
		case err != nil:
			w.log.Error("watch: cannot adopt", "path", rel, "error", err)
		case adopted:
			w.log.Info("watch: adopted a segment file that appeared on disk", "path", rel)
		case reason != "":
			w.log.Warn("watch: file is not a valid segment; left alone", "path", rel, "reason", reason)
		}
	}
}
