package registry

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkVerifyAuditPeakHeap verifies a chain of large rows (the junk a
// login flood once left: 300 entries of about 512 kB, 150 MB) and reports the
// peak heap during verification, which must stay near one row, not the
// chain. Run it with
//
//	go test -run '^$' -bench VerifyAuditPeakHeap -benchtime 3x ./registry
func BenchmarkVerifyAuditPeakHeap(b *testing.B) {
	db, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	junk := strings.Repeat("x", 256<<10)
	err = db.Update(context.Background(), func(tx *Tx) error {
		for i := 0; i < 300; i++ {
			if _, err := tx.Audit(junk, "192.0.2.1", "login.fail", "session", map[string]any{"name": junk}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var n int
		if err := db.View(context.Background(), func(tx *Tx) error { var err error; n, err = tx.VerifyAudit(); return err }); err != nil || n != 300 {
			b.Fatal(n, err)
		}
	}
	b.StopTimer()
	close(stop)
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), base.HeapInuse))/(1<<20), "peak-heap-MiB")
}
