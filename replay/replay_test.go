package replay_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/replay"
)

func TestMain(m *testing.M) {
	var db *testdb.DB
	testdb.Main(m, &db) // fails the run with a hint when PostgreSQL is down; each test makes its own database
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// projectAll applies the whole log to the live read models the way the
// live projectors do (Project: a savepoint, the checkpoint claim, Apply).
func projectAll(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	t.Helper()
	store := eventstore.New(pool, eventstore.WithKeyring(testdb.Keyring()))
	var after eventstore.Checkpoint
	last := lastEvent(t, ctx, pool)
	deadline := time.Now().Add(time.Minute)
	for after != last {
		records, err := store.ReadAll(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(records) == 0 {
			// Hidden for a moment behind another transaction on the
			// cluster; look again.
			if time.Now().After(deadline) {
				t.Fatal("the end of the log stayed hidden for a minute")
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			for _, p := range projections.All() {
				if err := projections.Project(ctx, tx, p, r); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		after = records[len(records)-1].Checkpoint()
	}
}

func indexNames(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []string {
	t.Helper()
	// Names with their storage settings, and the tables' own settings: a
	// rebuilt table must keep them (the jobs table's fillfactor, its GIN
	// indexes' pending lists).
	rows, err := pool.Query(ctx, `
SELECT i.schemaname || '.' || i.tablename || '.' || i.indexname || ' ' || coalesce(c.reloptions::text, '')
FROM pg_indexes i JOIN pg_class c ON c.oid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass
WHERE i.tablename IN ('users', 'jobs', 'job_search', 'applications')
UNION ALL
SELECT n.nspname || '.' || c.relname || ' ' || coalesce(c.reloptions::text, '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relname IN ('users', 'jobs', 'job_search', 'applications') AND n.nspname = 'public'
ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

// seededLog is a fresh database whose log holds about n generated events
// (nothing projected yet).
func seededLog(t *testing.T, ctx context.Context, seed uint64, n int) *testdb.DB {
	t.Helper()
	db := testdb.New(t)
	s := newSeeder(seed)
	s.generate(n)
	if err := s.write(ctx, db.Pool); err != nil {
		t.Fatal(err)
	}
	return db
}

// projectedLog is seededLog with the live projectors run over it, and the
// views they built.
func projectedLog(t *testing.T, ctx context.Context, seed uint64, n int) (*testdb.DB, replay.Snapshot) {
	t.Helper()
	db := seededLog(t, ctx, seed, n)
	projectAll(t, ctx, db.Pool)
	views, err := replay.Take(ctx, db.Pool, projections.All())
	if err != nil {
		t.Fatal(err)
	}
	return db, views
}

// lastEvent is the checkpoint of the newest event, visible or not to
// readers yet (every writer has finished when it is called).
func lastEvent(t *testing.T, ctx context.Context, pool *pgxpool.Pool) eventstore.Checkpoint {
	t.Helper()
	var cp eventstore.Checkpoint
	var txID int64
	if err := pool.QueryRow(ctx, `SELECT tx_id::text::bigint, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1`).Scan(&txID, &cp.Position); err != nil {
		t.Fatal(err)
	}
	cp.TxID = uint64(txID)
	return cp
}

func leftoverSchemas(t *testing.T, ctx context.Context, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'replay\_%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func checkpoints(t *testing.T, ctx context.Context, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT name, position FROM checkpoints`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			t.Fatal(err)
		}
		out[name] = pos
	}
	return out
}

// The views rebuilt from the log are the views the live projectors built.
func TestReplayRebuildsTheSameViews(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	db, before := projectedLog(t, ctx, 1, 3000) // a log of 3,000 events
	ps := projections.All()
	is.True(len(before["jobs"]) > 50 && len(before["applications"]) > 100 && len(before["users"]) > 10) // every view has rows
	indexesBefore := indexNames(t, ctx, db.Pool)
	cpBefore := checkpoints(t, ctx, db.Pool)

	var phases []string
	res, err := replay.Run(ctx, db.Owner, ps, replay.Options{Keys: testdb.Keyring(), BatchSize: 700, Progress: func(p replay.Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	}})
	is.NoErr(err)                     // the replay succeeds
	is.Equal(res.Events, int64(3000)) // over every event
	is.Equal(phases, []string{replay.PhasePrepare, replay.PhaseRebuild, replay.PhaseIndex, replay.PhaseCatchUp, replay.PhaseSwitch, replay.PhaseDone})

	after, err := replay.Take(ctx, db.Pool, ps)
	is.NoErr(err)
	if d := before.Diff(after); d != "" {
		t.Fatalf("the rebuilt views differ from the live ones:\n%s", d)
	}
	is.Equal(indexNames(t, ctx, db.Pool), indexesBefore)                   // the same indexes, under the same names, with the same settings
	is.True(slices.Contains(indexesBefore, "public.jobs {fillfactor=80}")) // (which the jobs table has)
	is.Equal(checkpoints(t, ctx, db.Pool), cpBefore)                       // the checkpoints where the live projectors had them
	is.Equal(leftoverSchemas(t, ctx, db.Pool), 0)                          // nothing left behind

	// Replaying again changes nothing.
	_, err = replay.Run(ctx, db.Owner, ps[:1], replay.Options{Keys: testdb.Keyring()})
	is.NoErr(err)
	again, err := replay.Take(ctx, db.Pool, ps)
	is.NoErr(err)
	is.Equal(before.Diff(again), "")
}

// A read model larger than RowsInMemory is built in parts, one read of the
// log each, into the same views; and views lost altogether (the live
// tables emptied, so nothing says how large they were) are rebuilt too,
// the parts split as the rows turn out not to fit.
func TestReplayInPartsRebuildsTheSameViews(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	db, before := projectedLog(t, ctx, 6, 3000)
	ps := projections.All()
	rows := len(before["users"]) + len(before["jobs"]) + len(before["applications"])

	res, err := replay.Run(ctx, db.Owner, ps, replay.Options{Keys: testdb.Keyring(), RowsInMemory: rows / 4})
	is.NoErr(err)           // the replay succeeds
	is.True(res.Parts >= 5) // in parts, planned from the live tables' size
	is.Equal(res.Events, int64(3000))
	after, err := replay.Take(ctx, db.Pool, ps)
	is.NoErr(err)
	if d := before.Diff(after); d != "" {
		t.Fatalf("the views rebuilt in parts differ from the live ones:\n%s", d)
	}

	_, err = db.Pool.Exec(ctx, `DELETE FROM users; DELETE FROM jobs; DELETE FROM job_search; DELETE FROM applications`)
	is.NoErr(err) // the views are lost
	var totals []int64
	overshot := false
	res, err = replay.Run(ctx, db.Owner, ps, replay.Options{Keys: testdb.Keyring(), RowsInMemory: rows / 3, Progress: func(p replay.Progress) {
		if len(totals) == 0 || totals[len(totals)-1] != p.Total {
			totals = append(totals, p.Total)
		}
		overshot = overshot || (p.Phase == replay.PhaseRebuild && p.Applied > p.Total)
	}})
	is.NoErr(err)                                                 // the replay succeeds
	is.True(res.Parts >= 3)                                       // in parts it had to split
	is.True(len(totals) > 2 && totals[len(totals)-1] > totals[1]) // the work to do grew as parts were split
	is.True(!overshot)                                            // and the progress never passed it
	restored, err := replay.Take(ctx, db.Pool, ps)
	is.NoErr(err)
	if d := before.Diff(restored); d != "" {
		t.Fatalf("the views rebuilt from nothing differ from the lost ones:\n%s", d)
	}
	is.Equal(leftoverSchemas(t, ctx, db.Pool), 0)
}

// An interrupted replay leaves the live views as they were, and the next
// one finishes.
func TestInterruptedReplayCanRunAgain(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	db, before := projectedLog(t, ctx, 2, 2000)
	ps := projections.All()

	interrupted, stop := context.WithCancel(ctx)
	_, err := replay.Run(interrupted, db.Owner, ps, replay.Options{Keys: testdb.Keyring(), BatchSize: 200, Progress: func(p replay.Progress) {
		if p.Phase == replay.PhaseRebuild && p.Applied >= 600 {
			stop() // Ctrl-C in the middle of the rebuild
		}
	}})
	is.True(errors.Is(err, context.Canceled)) // the replay stops
	now, err := replay.Take(ctx, db.Pool, ps)
	is.NoErr(err)
	is.Equal(before.Diff(now), "") // and the live views are untouched

	_, err = replay.Run(ctx, db.Owner, ps, replay.Options{Keys: testdb.Keyring(), BatchSize: 200})
	is.NoErr(err) // the next replay starts over and finishes
	after, err := replay.Take(ctx, db.Pool, ps)
	is.NoErr(err)
	is.Equal(before.Diff(after), "")
	is.Equal(leftoverSchemas(t, ctx, db.Pool), 0)
}

// Two replays of one projection at once: the second is refused.
func TestConcurrentReplayIsRefused(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	db := seededLog(t, ctx, 3, 1000)

	var second error
	var once sync.Once
	_, err := replay.Run(ctx, db.Owner, projections.All(), replay.Options{Keys: testdb.Keyring(), BatchSize: 100, Progress: func(p replay.Progress) {
		if p.Phase == replay.PhaseRebuild {
			once.Do(func() {
				_, second = replay.Run(ctx, db.Owner, []projections.Projector{projections.JobsProjector{}}, replay.Options{Keys: testdb.Keyring()})
			})
		}
	}})
	is.NoErr(err)                              // the first finishes
	is.True(errors.Is(second, replay.ErrBusy)) // the second was refused while it ran
	_, err = replay.Run(ctx, db.Owner, []projections.Projector{projections.JobsProjector{}}, replay.Options{Keys: testdb.Keyring()})
	is.NoErr(err) // and is accepted once the first is done
}

// A replay while writes keep coming and the live projectors keep running
// ends with views that match the log.
func TestReplayWhileWritesContinue(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	db := testdb.New(t)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	relay := bus.NewRelay(db.Pool, log)
	relayCtx, stopRelay := context.WithCancel(ctx)
	var running sync.WaitGroup
	running.Go(func() { relay.Run(relayCtx) })
	t.Cleanup(func() { stopRelay(); running.Wait() })
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()), eventstore.OnAppended(relay.Appended))

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NewSlogLogger(log))
	is.NoErr(err)
	ps := projections.All()
	is.NoErr(projections.Register(router, db.Pool, relay, bus.SubscriberConfig{Keys: testdb.Keyring()}, ps...))
	routerDone := make(chan error, 1)
	go func() { routerDone <- router.Run(context.Background()) }()
	<-router.Running()
	t.Cleanup(func() { router.Close(); <-routerDone })

	s := newSeeder(4)
	s.generate(1500)
	is.NoErr(s.appendAll(ctx, store)) // a log the live projectors have seen

	// Writers keep appending while the replay runs. They stop between appends: an append cancelled while its commit
	// is in flight can still commit after the writer has returned, which
	// would move the end of the log after the test has read it.
	writing, stopWriting := context.WithCancel(ctx)
	var writers sync.WaitGroup
	var writeErr error
	writers.Go(func() {
		w := newSeeder(5)
		w.generate(50) // users and jobs to write about
		if writeErr = w.appendAll(ctx, store); writeErr != nil {
			return
		}
		for writing.Err() == nil {
			start := len(w.events)
			w.update()
			w.apply()
			w.toggle()
			if len(w.events) == start {
				continue
			}
			batch := &seeder{events: w.events[start:]}
			if err := batch.appendAll(ctx, store); err != nil {
				writeErr = err
				return
			}
		}
	})

	res, err := replay.Run(ctx, db.Owner, ps, replay.Options{Keys: testdb.Keyring(), BatchSize: 300})
	stopWriting()
	writers.Wait()
	is.NoErr(err) // the replay succeeds under writes
	if writeErr != nil && !errors.Is(writeErr, context.Canceled) {
		t.Fatalf("writing failed: %v", writeErr)
	}
	is.True(res.Events >= 1500) // it applied at least the log it started with

	// The live projectors carry on over the new tables; once they have
	// the whole log, the views must be what a fresh rebuild makes.
	tracker := projections.NewTracker(db.Pool, relay, 30*time.Second)
	head := lastEvent(t, ctx, db.Pool)
	names := []string{projections.Users, projections.Jobs}
	is.NoErr(tracker.WaitFor(ctx, head, names...)) // the live projectors catch up
	live, err := replay.Take(ctx, db.Pool, ps)
	is.NoErr(err)

	router.Close() // quiet, then rebuild once more
	var rebuilt replay.Snapshot
	// Any transaction on the cluster (another test package creating its
	// database) can hide the newest events from a reader for a moment; the
	// comparison needs a rebuild that reached the last one.
	for attempt := 0; ; attempt++ {
		res, err := replay.Run(ctx, db.Owner, ps, replay.Options{Keys: testdb.Keyring()})
		is.NoErr(err)
		if res.Checkpoint == head || attempt == 20 {
			is.Equal(res.Checkpoint, head) // the rebuild reached the end of the log
			break
		}
	}
	rebuilt, err = replay.Take(ctx, db.Pool, ps)
	is.NoErr(err)
	if d := live.Diff(rebuilt); d != "" {
		t.Fatalf("after a replay under writes, the live views do not match the log:\n%s", d)
	}
}
