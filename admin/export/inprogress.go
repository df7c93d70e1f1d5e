package export

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"vahti/registry"
)

// markInProgress relabels a trailing gap that the recorder is still
// filling: the camera has an unfinished segment that started before the
// gap ends, so the footage exists but is not finished yet. Calling that
// "no-recording" would tell a court the camera recorded nothing.
func markInProgress(root string, p *plan) {
	if len(p.gaps) == 0 {
		return
	}
	g := &p.gaps[len(p.gaps)-1]
	if g.Cause != GapNoRecording || !g.Range.ToUTC.Equal(p.to) {
		return
	}
	// Unfinished segments sit in the folder of their UTC start day; one
	// started the day before may still be open just after midnight.
	for _, day := range []time.Time{g.Range.ToUTC, g.Range.ToUTC.Add(-24 * time.Hour)} {
		dir := filepath.Join(root, p.camera, day.UTC().Format("2006/01/02"))
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), registry.UnfinishedSuffix) {
				continue
			}
			rel := path.Join(p.camera, day.UTC().Format("2006/01/02"), e.Name())
			if _, start, fin, err := registry.ParseSegmentPath(rel); err == nil && !fin && start.Before(p.to) {
				g.Cause = GapInProgress
				return
			}
		}
	}
}
