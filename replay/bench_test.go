package replay_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/postgres"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/replay"
)

// BenchmarkReplay seeds a log of JOBBOARD_REPLAY_EVENTS events (default
// 1,000,000: accounts, jobs posted, updated, closed, reopened and deleted,
// and applications, in the mix of seeder.generate) and measures a full
// replay of every projection: events/s, wall time (and the rebuild's and
// the index builds' shares of it), the rows rebuilt, and the process's peak
// heap during the replay and peak resident memory (seeding included).
//
// The seeder writes the personal fields of UserRegistered and
// ApplicationSubmitted in clear, as a log written before encryption holds
// them; postgres.SealPersonalData then seals them in place, as `jobboard
// migrate` does once for such a log, so that the replay reads a log like a
// real one (every personal event opened with its person's data key). The
// sealing is timed on its own (seal-s, sealed-events: it is the one-off
// migration's cost for that many events) and is not part of the replay's
// figures. Run it once:
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
		// Seal the personal fields, as the one-off migration does.
		var personal []string // the event types that hold personal fields
		for _, t := range domain.EventTypes() {
			if _, ok := domain.PersonalFieldsOf(t); ok {
				personal = append(personal, t)
			}
		}
		var sealed int64
		if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM events WHERE subject_id IS NULL AND event_type = ANY($1)`,
			personal).Scan(&sealed); err != nil {
			b.Fatal(err)
		}
		sealStart := time.Now()
		if err := postgres.SealPersonalData(ctx, db.OwnerURL, testdb.Keyring(),
			slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
			b.Fatal(err)
		}
		sealTook := time.Since(sealStart)
		var left int64
		if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM events WHERE subject_id IS NULL AND event_type = ANY($1)`,
			personal).Scan(&left); err != nil {
			b.Fatal(err)
		}
		if left != 0 {
			b.Fatalf("%d personal events left in clear after sealing", left)
		}
		// As the owner: the service's role may not vacuum the log, and
		// PostgreSQL only warns (the statement succeeds having done
		// nothing). The sealing rewrote a third of the rows.
		if _, err := db.Owner.Exec(ctx, `VACUUM ANALYZE events`); err != nil {
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
		cpu0 := sampleCPU(db.Name)
		b.StartTimer()
		start := time.Now()
		rowsInMemory, _ := strconv.Atoi(os.Getenv("JOBBOARD_REPLAY_ROWS_IN_MEMORY"))
		verbose := os.Getenv("JOBBOARD_REPLAY_VERBOSE") != ""
		// began is when each phase began, for the time each took.
		began := map[string]time.Duration{}
		var last replay.Progress
		opts := replay.Options{RowsInMemory: rowsInMemory, Keys: testdb.Keyring(), Progress: func(p replay.Progress) {
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
		cpu1 := sampleCPU(db.Name)
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
		// Where the wall time went: this process's CPU, this database's
		// backends' CPU, and how busy the whole machine was (all cores, %
		// of one core: another user's work shows here and not in ours).
		b.ReportMetric(cpu1.self-cpu0.self, "go-cpu-s")
		b.ReportMetric(cpu1.pg-cpu0.pg, "pg-cpu-s")
		b.ReportMetric(100*(cpu1.busy-cpu0.busy)/elapsed.Seconds(), "machine-busy-%")
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
		b.ReportMetric(float64(sealed), "sealed-events")
		b.ReportMetric(sealTook.Seconds(), "seal-s")
		b.ReportMetric(float64(peakHeap.Load())/float64(rows), "peak-heap-B/row")
		for typ, n := range counts {
			b.Logf("%s: %d", typ, n)
		}
		if err := db.Drop(); err != nil {
			b.Error(err)
		}
	}
}

// cpuSample is CPU time in seconds: this process's, the live PostgreSQL
// backends connected to one database (a backend that ends between two
// samples takes its time with it), and the whole machine's busy time (all
// cores, /proc/stat: user, nice, system, irq, softirq, steal).
type cpuSample struct{ self, pg, busy float64 }

func sampleCPU(database string) cpuSample {
	const hz = 100 // USER_HZ on Linux
	var s cpuSample
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
			if i < len(f) {
				n, _ := strconv.ParseFloat(f[i], 64)
				s.busy += n / hz
			}
		}
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || !strings.HasPrefix(string(cmd), "postgres:") || !strings.Contains(string(cmd), " "+database+" ") {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			k, _ := strconv.ParseFloat(f[12], 64)
			s.pg += (u + k) / hz
		}
	}
	return s
}
