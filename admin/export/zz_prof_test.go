package export

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vahti/registry"
)

func BenchmarkPlanHour(b *testing.B) {
	dir := os.Getenv("VAHTI_BENCH_DIR")
	if dir == "" {
		b.Skip()
	}
	db, _ := registry.Open(filepath.Join(dir, "state"), time.Now)
	defer db.Close()
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var segs []registry.Segment
	db.View(context.Background(), func(tx *registry.Tx) error { segs, _ = tx.SegmentsIn("yard", base, base.Add(time.Hour)); return nil })
	for i := 0; i < b.N; i++ {
		if _, err := makePlan(filepath.Join(dir, "rec"), "yard", base, base.Add(time.Hour), segs, planOpts{}); err != nil {
			b.Fatal(err)
		}
	}
}
