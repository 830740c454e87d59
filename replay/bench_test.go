package replay_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/replay"
)

// BenchmarkReplay seeds a log of JOBBOARD_REPLAY_EVENTS events (default
// 1,000,000: accounts, jobs posted, updated, closed, reopened and deleted,
// and applications, in the mix of seeder.generate) and measures a full
// replay of every projection: events/s, wall time (and the rebuild's and
// the index builds' shares of it), the rows rebuilt, and the process's peak
// heap during the replay and peak resident memory (seeding included). Run
// it once:
//
//	go test -run '^$' -bench Replay -benchtime 1x -timeout 0 ./replay/
func BenchmarkReplay(b *testing.B) {
	total := 1_000_000
	if v := os.Getenv("JOBBOARD_REPLAY_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("JOBBOARD_REPLAY_EVENTS=%q: want a positive number", v)
		}
		total = n
	}
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		db, err := testdb.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		s := newSeeder(42)
		if err := s.seed(ctx, db.Pool, total); err != nil {
			b.Fatal(err)
		}
		// The seeder's copy of the log is not the replay's memory.
		counts := s.counts
		s = nil
		if _, err := db.Pool.Exec(ctx, `VACUUM ANALYZE events`); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var peakHeap atomic.Uint64
		done := make(chan struct{})
		go func() {
			var m runtime.MemStats
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peakHeap.Load() {
					peakHeap.Store(m.HeapAlloc)
				}
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		rowsInMemory, _ := strconv.Atoi(os.Getenv("JOBBOARD_REPLAY_ROWS_IN_MEMORY"))
		verbose := os.Getenv("JOBBOARD_REPLAY_VERBOSE") != ""
		// began is when each phase began, for the time each took.
		began := map[string]time.Duration{}
		var last replay.Progress
		opts := replay.Options{RowsInMemory: rowsInMemory, Progress: func(p replay.Progress) {
			if _, ok := began[p.Phase]; !ok {
				began[p.Phase] = p.Elapsed
			}
			if verbose && (p.Phase != last.Phase || p.Applied-last.Applied >= 250_000) {
				b.Logf("%6.1fs %-8s %7d events", p.Elapsed.Seconds(), p.Phase, p.Applied)
				last = p
			}
		}}
		res, err := replay.Run(ctx, db.Owner, projections.All(), opts)
		elapsed := time.Since(start)
		b.StopTimer()
		close(done)
		if err != nil {
			b.Fatal(err)
		}
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		b.ReportMetric(float64(res.Events), "events")
		b.ReportMetric(float64(res.Parts), "parts")
		b.ReportMetric(float64(res.Events)/elapsed.Seconds(), "events/s")
		b.ReportMetric(elapsed.Seconds(), "wall-s")
		b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MiB")
		b.ReportMetric((began[replay.PhaseIndex] - began[replay.PhaseRebuild]).Seconds(), "rebuild-s")
		b.ReportMetric((began[replay.PhaseCatchUp] - began[replay.PhaseIndex]).Seconds(), "index-s")
		var rows int64 // in the rebuilt read models
		for _, p := range projections.All() {
			for _, table := range p.Tables() {
				var n int64
				if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table.Name}.Sanitize()).Scan(&n); err != nil {
					b.Fatal(err)
				}
				rows += n
			}
		}
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(peakHeap.Load())/float64(rows), "peak-heap-B/row")
		for typ, n := range counts {
			b.Logf("%s: %d", typ, n)
		}
		if err := db.Drop(); err != nil {
			b.Error(err)
		}
	}
}
