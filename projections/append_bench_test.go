package projections_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/projections"
)

// appendMode is what runs alongside the writers.
type appendMode struct {
	name string
	// wake: the store calls the relay after every commit, which signals
	// this process at once and other processes through a NOTIFY sent from
	// the relay's own goroutine, at most one per few milliseconds.
	wake bool
	// localWake: the store signals this process only (no NOTIFY), to tell
	// what the NOTIFY costs.
	localWake bool
	// projectors: the job board's projectors (users and jobs) consume
	// while the writers append, polling every projectorPoll if set.
	projectors    bool
	projectorPoll time.Duration
	// notifyInTx: every append sends a NOTIFY inside its own transaction,
	// the alternative the relay exists to avoid.
	notifyInTx bool
}

var appendModes = []appendMode{
	{name: "no-wake"},
	{name: "wake", wake: true},
	{name: "local-wake", localWake: true},
	{name: "notify-in-tx", notifyInTx: true},
	{name: "wake+projectors", wake: true, projectors: true},
	{name: "poll-10ms+projectors", projectors: true, projectorPoll: 10 * time.Millisecond},
}

// BenchmarkAppend measures appends per second (one UserRegistered event
// each, every writer to streams of its own, so there are no conflicts) with
// 1, 8 and 32 concurrent writers: without and with the relay's wake-up hook
// (and with a local one only), with a NOTIFY inside each append transaction
// for comparison, and with the projectors consuming at the same time, woken
// or polling (drain-ms: how long they took to catch up once the writers
// stopped). Run it with a fixed count:
//
//	go test -run '^$' -bench Append -benchtime 3000x ./projections/
//
// The writers share a pool of 20 connections (postgres.Open's least);
// JOBBOARD_BENCH_MAX_CONNS gives them a pool of their own of that size.
func BenchmarkAppend(b *testing.B) {
	benchQuietMigrations(b)
	// Modes inside writer counts, so that the runs to compare follow each
	// other closely (other load on the machine changes by the minute).
	for _, writers := range []int{1, 8, 32} {
		for _, mode := range appendModes {
			b.Run(fmt.Sprintf("writers=%d/%s", writers, mode.name), func(b *testing.B) {
				benchmarkAppend(b, mode, writers)
			})
		}
	}
}

func benchNames(ps []projections.Projector) []string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name()
	}
	return names
}

// benchWriterPool is the pool the writers append through.
func benchWriterPool(b *testing.B, db *testdb.DB) *pgxpool.Pool {
	v := os.Getenv("JOBBOARD_BENCH_MAX_CONNS")
	if v == "" {
		return db.Pool
	}
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		b.Fatal(err)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("JOBBOARD_BENCH_MAX_CONNS=%q: want a number of connections", v)
	}
	cfg.MaxConns = int32(n)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

func benchmarkAppend(b *testing.B, mode appendMode, writers int) {
	ctx := context.Background()
	db := testdb.New(b)
	relay := benchStartRelay(b, db.Pool)
	if mode.projectors {
		benchStartProjectors(b, db.Pool, relay, bus.SubscriberConfig{Keys: testdb.Keyring(), IdlePoll: mode.projectorPoll}, projections.All()...)
	}
	opts := []eventstore.Option{eventstore.WithKeyring(testdb.Keyring())}
	switch {
	case mode.wake:
		opts = append(opts, eventstore.OnAppended(relay.Appended))
	case mode.localWake:
		opts = append(opts, eventstore.OnAppended(func([]eventstore.Record) { relay.Signals().Appended.Notify() }))
	}
	store := eventstore.New(benchWriterPool(b, db), opts...)
	var appendOpts []eventstore.AppendOption
	if mode.notifyInTx {
		appendOpts = append(appendOpts, eventstore.Within(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SELECT pg_notify('jobboard_bench', '')`)
			return err
		}))
	}

	var next atomic.Int64
	var failed atomic.Pointer[error]
	lasts := make([]eventstore.Checkpoint, writers)
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range writers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) && failed.Load() == nil {
				id := uuid.New()
				_, events, err := domain.RegisterUser(id, "u-"+id.String()+"@example.com", "Bench User", domain.RoleJobSeeker, nil, time.Now())
				var appended eventstore.Appended
				if err == nil {
					appended, err = store.Append(ctx, eventstore.Stream{Type: domain.StreamUser, ID: id}, 0, events, appendOpts...)
				}
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lasts[w] = appended.Last()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	if mode.projectors {
		// How far behind the projector was when the writers stopped. (Not
		// store.Head: it does not see events hidden behind the projector's
		// own running transaction, and would be reached too early.)
		last := slices.MaxFunc(lasts, func(a, b eventstore.Checkpoint) int {
			if a.Less(b) {
				return -1
			}
			if b.Less(a) {
				return 1
			}
			return 0
		})
		began := time.Now()
		tracker := projections.NewTracker(db.Pool, relay, time.Minute)
		if err := tracker.WaitFor(ctx, last, benchNames(projections.All())...); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(benchMS(time.Since(began)), "drain-ms")
	}
}
