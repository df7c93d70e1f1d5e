package recorder

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"vahti/registry"
)

// Footage is 0640 in 0750 folders: the service's group may read it (a
// backup account), others may not even list it.
func TestSegmentFilesAndFoldersAreNotWorldReadable(t *testing.T) {
	root := t.TempDir()
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	s := newSegment(root, "yard", start, 0, []byte("init"), "p", "h264")
	if _, err := s.writePart([][]byte{[]byte("frag")}, fragMeta{}, start, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.f.Close()
	tmp := filepath.Join(root, filepath.FromSlash(registry.UnfinishedPath("yard", start)))
	want := map[string]os.FileMode{tmp: 0o640}
	for d := filepath.Dir(tmp); d != root; d = filepath.Dir(d) {
		want[d] = 0o750
	}
	for p, m := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != m {
			t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), m)
		}
	}
}
