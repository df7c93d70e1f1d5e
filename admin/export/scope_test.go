package export

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"vahti/seal"
)

// TestSealedExportUnwrapsEachSourceOnce: an export of sealed footage asks
// the keyring for each source's data key once (seal.Scope), not once per
// opening (planning, reading, decrypting what was read), and a second
// export asks again: nothing is kept between exports.
func TestSealedExportUnwrapsEachSourceOnce(t *testing.T) {
	e := newEnv(t)
	segs := e.addSegments("yard", makeStream(t, streamOpts{codec: "h264", audio: "aac", seconds: 6}), 0, 2)
	ring := e.initKeys()
	e.sealSegments(ring.Public(), segs)
	inner := ring.Unwrapper(e.db.KeyStore(context.Background()))
	var calls atomic.Int32
	e.ex.Unwrap = func(h seal.Header) (*seal.DataKey, error) {
		calls.Add(1)
		return inner(h)
	}
	for round := 1; round <= 2; round++ {
		res, _ := e.export([]string{"yard"}, 0, 6*time.Second)
		if len(res.Manifest.Sources) != len(segs) || len(res.Manifest.Clips) != 1 {
			t.Fatalf("export %d: %d sources, %d clips", round, len(res.Manifest.Sources), len(res.Manifest.Clips))
		}
		if got, want := int(calls.Load()), round*len(segs); got != want {
			t.Errorf("after export %d: %d unwraps for %d sealed sources, want %d", round, got, len(segs), want)
		}
	}
}
