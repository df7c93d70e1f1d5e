package registry

import (
	"context"
	"os"
	"runtime"
	"strconv"
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

// BenchmarkAuditSince: a year of audit entries (VAHTI_BENCH_AUDIT, default
// 1 000 000: about 2 700 a day of views, exports, logins and deletions),
// then the queries that ask for a recent stretch: the nightly report's
// "segments.delete since yesterday", the keepers' page's grants of the last
// 30 days, and the audit page's one day of entries (first 100).
//
//	go test -run '^$' -bench AuditSince ./registry
func BenchmarkAuditSince(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("VAHTI_BENCH_AUDIT")); err == nil && v > 0 {
		n = v
	}
	db, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	start := end.AddDate(-1, 0, 0)
	step := end.Sub(start) / time.Duration(n)
	kinds := []string{"segment.view", "segment.view", "segment.view", "export.create", "login.ok", "segments.delete", "hold.add", KindKeeperGrant}
	err = db.Update(context.Background(), func(tx *Tx) error {
		st, err := tx.tx.Prepare(`INSERT INTO audit(seq, time_ns, actor, source, kind, object, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		h := strings.Repeat("0", 64)
		for i := 0; i < n; i++ {
			k := kinds[i%len(kinds)]
			if k == KindKeeperGrant && i%(64*len(kinds)) != 7 {
				k = "segment.view" // grants are rare
			}
			_, err := st.Exec(i+1, ns(start.Add(time.Duration(i)*step)), "keeper", "192.0.2.1", k, "camera:yard",
				`{"camera":"yard","from":"2026-11-30T10:00:00Z","to":"2026-11-30T10:05:00Z"}`, h, h)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		f    AuditFilter
	}{
		{"nightly", AuditFilter{Kind: "segments.delete", From: end.Add(-24 * time.Hour)}},
		{"grants", AuditFilter{Kind: KindKeeperGrant, From: end.AddDate(0, 0, -30)}},
		{"page", AuditFilter{From: end.AddDate(0, 0, -100), To: end.AddDate(0, 0, -99), Limit: 100}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var es []Entry
				err := db.View(context.Background(), func(tx *Tx) (err error) { es, err = tx.AuditEntries(c.f); return err })
				if err != nil || len(es) == 0 {
					b.Fatalf("%d entries: %v", len(es), err)
				}
			}
		})
	}
}
