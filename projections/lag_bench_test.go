package projections_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/projections"
)

// lagStrategy is one way of getting appended events to the projectors.
type lagStrategy struct {
	name string
	cfg  bus.SubscriberConfig
	// wake: the store tells the relay about every append, which wakes the
	// subscribers. Without it they only poll, every cfg.IdlePoll.
	wake bool
	// extraGroups is how many consumer groups run besides the job board's
	// own projectors (projections.All: users and jobs), each a projector
	// that only advances its checkpoint.
	extraGroups int
	// twoProcesses: the writer and its tracker use one relay, the
	// projectors another, as an API process and a worker process would, so
	// that every wake-up and every progress report goes through
	// LISTEN/NOTIFY.
	twoProcesses bool
	// maxGap: before each append the writer pauses a random time up to
	// maxGap, so that appends find the subscribers in every state (asleep,
	// hot polling, mid-query). A writer that waits for each event and
	// appends the next at once would otherwise always find them just
	// woken, or, when they poll, always just gone back to sleep.
	maxGap time.Duration
	// maxSamples caps the number of events, for strategies too slow to
	// sample thousands of times (0: b.N).
	maxSamples int
	// stall: another connection keeps taking a transaction id and holding
	// it for this long, at random moments (on average every 5 stalls), as
	// a slow writer or DDL in the same database would. It appends nothing,
	// so it should hold back no subscriber.
	stall time.Duration
	// appendStall: the same, but the stalling transaction is an append
	// (through the store, so its end is announced): events committed
	// meanwhile are hidden from every subscriber until it ends, which the
	// horizon cannot avoid.
	appendStall time.Duration
	// foreign: for the whole run, a write transaction is open for
	// foreignHold at a time, one after the other: in another database of
	// the server ("other-db") or in the benchmark's own database without
	// touching the log ("same-db"), as a batch job or a long migration
	// would be.
	foreign     string
	foreignHold time.Duration
}

var lagStrategies = []lagStrategy{
	// The default: woken on append, fallback poll every 250 ms.
	{name: "wake", wake: true, maxGap: 50 * time.Millisecond},
	// The same with two more consumer groups working at the same time:
	// their subscriber transactions hold transaction ids (which can hide a
	// fresh event from the others) and compete for the cores.
	{name: "wake-4-groups", wake: true, extraGroups: 2, maxGap: 50 * time.Millisecond},
	// The default while other transactions of the database hold a
	// transaction id for 50 ms a fifth of the time.
	{name: "wake-stalls-50ms", wake: true, stall: 50 * time.Millisecond, maxGap: 50 * time.Millisecond},
	// The default while appends hold their transaction open for 50 ms a
	// fifth of the time.
	{name: "wake-append-stalls-50ms", wake: true, appendStall: 50 * time.Millisecond, maxGap: 50 * time.Millisecond},
	// The default while a 10 s write transaction is always open in another
	// database of the server, or in this one without touching the log.
	{name: "wake-foreign-10s-other-db", wake: true, foreign: "other-db", foreignHold: 10 * time.Second, maxGap: 50 * time.Millisecond},
	{name: "wake-foreign-10s-same-db", wake: true, foreign: "same-db", foreignHold: 10 * time.Second, maxGap: 50 * time.Millisecond},
	// The default, split into an API and a worker process.
	{name: "wake-two-processes", wake: true, twoProcesses: true, maxGap: 50 * time.Millisecond},
	// The default, but waiting for each subscriber commit to be flushed.
	{name: "wake-sync-commit", cfg: bus.SubscriberConfig{SynchronousCommit: true}, wake: true, maxGap: 50 * time.Millisecond},
	// Appends back to back: each lands while the subscribers are still
	// busy with or hot after the previous one.
	{name: "wake-back-to-back", wake: true},
	// Plain polling, tuned, and as watermill-sql does it out of the box.
	{name: "poll-10ms", cfg: bus.SubscriberConfig{IdlePoll: 10 * time.Millisecond}, maxGap: 20 * time.Millisecond},
	{name: "poll-1s", cfg: bus.SubscriberConfig{IdlePoll: time.Second}, maxGap: time.Second, maxSamples: 100},
}

// BenchmarkProjectionLag measures, with one writer and the job board's
// projectors running (users and jobs, each its own consumer group), how
// long after an append of a UserRegistered event its users row is visible:
// the time from Append's return until Tracker.WaitFor(users) returns for
// the append's last checkpoint (the row and the checkpoint commit in one
// transaction; the row is checked as well). Reported per strategy as p50,
// p99 and max in milliseconds; all-p50-ms and all-p99-ms are the time until
// every consumer group that acts on registrations has the event. Run it with a fixed count:
//
//	go test -run '^$' -bench ProjectionLag -benchtime 3000x ./projections/
func BenchmarkProjectionLag(b *testing.B) {
	benchQuietMigrations(b)
	for _, s := range lagStrategies {
		b.Run(s.name, func(b *testing.B) { benchmarkLag(b, s) })
	}
}

func benchmarkLag(b *testing.B, s lagStrategy) {
	ctx := context.Background()
	db := testdb.New(b)
	relay := benchStartRelay(b, db.Pool)
	workerRelay := relay
	if s.twoProcesses {
		workerRelay = benchStartRelay(b, db.Pool)
		benchAwaitListening(b, relay, workerRelay)
	}
	groups := projections.All()
	for i := range s.extraGroups {
		groups = append(groups, benchCheckpointOnly(fmt.Sprintf("bench-%d", i+1)))
	}
	benchStartProjectors(b, db.Pool, workerRelay, s.cfg, groups...)
	opts := []eventstore.Option{eventstore.WithKeyring(testdb.Keyring())}
	if s.wake {
		opts = append(opts, eventstore.OnAppended(relay.Appended))
	}
	store := eventstore.New(db.Pool, opts...)
	if s.appendStall > 0 {
		benchStallAppends(b, store, s.appendStall)
	}
	tracker := projections.NewTracker(db.Pool, relay, 10*time.Second)
	users := projections.NewUsersView(db.Pool)
	// Every group that acts on a registration; a selective group that does
	// not (jobs) moves past it lazily, see bus.SubscriberConfig.Interest.
	var acting []projections.Projector
	for _, g := range groups {
		if sel, ok := g.(projections.Selective); !ok || slices.Contains(sel.EventTypes(), "UserRegistered") {
			acting = append(acting, g)
		}
	}
	all := benchNames(acting)

	if s.stall > 0 {
		benchStallTransactions(b, db.Pool, s.stall)
	}
	switch s.foreign {
	case "other-db":
		benchForeignTransactions(b, testdb.New(b).Pool, s.foreignHold)
	case "same-db":
		benchForeignTransactions(b, db.Pool, s.foreignHold)
	}

	n := b.N
	if s.maxSamples > 0 && n > s.maxSamples {
		n = s.maxSamples
	}
	rng := rand.New(rand.NewPCG(1, 2)) // the same pauses every run
	lags := make([]time.Duration, 0, n)
	allLags := make([]time.Duration, 0, n)
	appendTimes := make([]time.Duration, 0, n)
	b.ResetTimer()
	for range n {
		if s.maxGap > 0 {
			time.Sleep(time.Duration(rng.Int64N(int64(s.maxGap))))
		}
		id := uuid.New()
		stream, events := benchRegistration(b, id)
		began := time.Now()
		appended, err := store.Append(ctx, stream, 0, events)
		committed := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		if err := tracker.WaitFor(ctx, appended.Last(), projections.Users); err != nil {
			b.Fatal(err)
		}
		lags = append(lags, time.Since(committed))
		appendTimes = append(appendTimes, committed.Sub(began))
		if len(all) > 1 {
			if err := tracker.WaitFor(ctx, appended.Last(), all...); err != nil {
				b.Fatal(err)
			}
			allLags = append(allLags, time.Since(committed))
		}
		if _, err := users.Get(ctx, id); err != nil {
			b.Fatalf("the projections reached %s but user %s is not visible: %v", appended.Last(), id, err)
		}
	}
	b.StopTimer()
	slices.Sort(lags)
	slices.Sort(appendTimes)
	b.ReportMetric(benchMS(benchPercentile(lags, 0.50)), "p50-ms")
	b.ReportMetric(benchMS(benchPercentile(lags, 0.90)), "p90-ms")
	b.ReportMetric(benchMS(benchPercentile(lags, 0.99)), "p99-ms")
	b.ReportMetric(benchMS(lags[len(lags)-1]), "max-ms")
	if len(allLags) > 0 {
		slices.Sort(allLags)
		b.ReportMetric(benchMS(benchPercentile(allLags, 0.50)), "all-p50-ms")
		b.ReportMetric(benchMS(benchPercentile(allLags, 0.99)), "all-p99-ms")
	}
	b.ReportMetric(benchMS(benchPercentile(appendTimes, 0.50)), "append-p50-ms")
	b.ReportMetric(float64(n), "events")
	// Per event measured, pauses included (b.N events are not all run
	// when maxSamples caps them).
	b.ReportMetric(float64(b.Elapsed())/float64(n), "ns/op")
}

// benchRegistration returns a new user's stream and the events that open it.
func benchRegistration(b *testing.B, id uuid.UUID) (eventstore.Stream, []domain.Event) {
	_, events, err := domain.RegisterUser(id, "u-"+id.String()+"@example.com", "Bench User", domain.RoleJobSeeker, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return eventstore.Stream{Type: domain.StreamUser, ID: id}, events
}

// benchPercentile returns the q-quantile of sorted (nearest rank).
func benchPercentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func benchMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchCheckpointOnly is a consumer group that reads every event and only
// advances its checkpoint, like a projector with nothing to write.
type benchCheckpointOnly string

func (p benchCheckpointOnly) Name() string { return string(p) }

func (benchCheckpointOnly) Tables() []*projections.Table { return nil }

func (benchCheckpointOnly) Apply(eventstore.Record, projections.Writer) error { return nil }

// benchQuietMigrations keeps the migration log of every fresh database out of
// the benchmark output.
func benchQuietMigrations(b *testing.B) {
	old := slog.SetLogLoggerLevel(slog.LevelWarn)
	b.Cleanup(func() { slog.SetLogLoggerLevel(old) })
}

func benchLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// benchStartRelay runs a relay over pool until the benchmark ends.
func benchStartRelay(b *testing.B, pool *pgxpool.Pool) *bus.Relay {
	ctx, cancel := context.WithCancel(context.Background())
	relay := bus.NewRelay(pool, benchLogger())
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	return relay
}

// benchStallAppends keeps an append running for stall at random moments,
// a fifth of the time on average, until the benchmark ends: a registration
// whose transaction waits (Within) before it commits.
func benchStallAppends(b *testing.B, store *eventstore.Store, stall time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(5, 6))
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(rng.Int64N(int64(8 * stall)))):
			}
			stream, events := benchRegistration(b, uuid.New())
			_, err := store.Append(ctx, stream, 0, events, eventstore.Within(func(ctx context.Context, _ pgx.Tx) error {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(stall):
					return nil
				}
			}))
			if err != nil && ctx.Err() == nil {
				b.Error(err)
			}
		}
	}()
	b.Cleanup(func() { cancel(); <-done })
}

// benchStallTransactions keeps a transaction id held for stall at random
// moments, a fifth of the time on average, until the benchmark ends.
func benchStallTransactions(b *testing.B, pool *pgxpool.Pool, stall time.Duration) {
	const take = `SELECT pg_current_xact_id()`
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(3, 4))
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(rng.Int64N(int64(8 * stall)))):
			}
			tx, err := pool.Begin(ctx)
			if err != nil {
				continue
			}
			if _, err := tx.Exec(ctx, take); err == nil {
				select {
				case <-ctx.Done():
				case <-time.After(stall):
				}
			}
			tx.Rollback(context.Background()) //nolint:errcheck // it wrote nothing
		}
	}()
	b.Cleanup(func() { cancel(); <-done })
}

// benchForeignTransactions keeps a write transaction open on pool until
// the benchmark ends, each for hold, the next begun as soon as the last has
// ended.
func benchForeignTransactions(b *testing.B, pool *pgxpool.Pool, hold time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	opened := make(chan struct{}, 1)
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			tx, err := pool.Begin(ctx)
			if err != nil {
				continue
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE bench_foreign_`+strings.ReplaceAll(uuid.NewString(), "-", "")+` (i int)`); err != nil {
				b.Error(err)
			}
			select {
			case opened <- struct{}{}:
			default:
			}
			select {
			case <-ctx.Done():
			case <-time.After(hold):
			}
			tx.Rollback(context.Background()) //nolint:errcheck // nothing of it is kept
		}
	}()
	<-opened
	b.Cleanup(func() { cancel(); <-done })
}

// benchAwaitListening returns once every relay listens: each announces its
// connection locally.
func benchAwaitListening(b *testing.B, relays ...*bus.Relay) {
	for _, r := range relays {
		if gen, listening := r.Signals().Appended.Wait(); gen == 0 {
			select {
			case <-listening:
			case <-time.After(10 * time.Second):
				b.Fatal("a relay did not start listening")
			}
		}
	}
}

// benchStartProjectors runs a router with projectors until the benchmark ends.
func benchStartProjectors(b *testing.B, pool *pgxpool.Pool, relay *bus.Relay, cfg bus.SubscriberConfig, projectors ...projections.Projector) {
	if cfg.Keys == nil {
		cfg.Keys = testdb.Keyring() // the log holds registrations: personal data
	}
	ctx := context.Background()
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NewSlogLogger(benchLogger()))
	if err != nil {
		b.Fatal(err)
	}
	if err := projections.Register(router, pool, relay, cfg, projectors...); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	select {
	case <-router.Running():
	case err := <-done:
		b.Fatalf("router stopped: %v", err)
	}
	b.Cleanup(func() {
		if err := router.Close(); err != nil {
			b.Error(err)
		}
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
}
