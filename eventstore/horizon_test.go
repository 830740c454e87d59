package eventstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
)

// holdTransaction begins a transaction on pool, runs sql in it and keeps
// it open until the test ends; it returns the transaction's id.
func holdTransaction(t *testing.T, ctx context.Context, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, sql string) (pgx.Tx, uint64) {
	t.Helper()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.WithoutCancel(ctx)) }) //nolint:errcheck // a no-op once ended
	if _, err := tx.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var xid uint64
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	return tx, xid
}

func snapshotXmin(t *testing.T, ctx context.Context) uint64 {
	t.Helper()
	var xmin uint64
	if err := db.Pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())`).Scan(&xmin); err != nil {
		t.Fatal(err)
	}
	return xmin
}

// The horizon waits for running appends only: a transaction in another
// database of the server (a batch job, a migration, a CREATE DATABASE) and
// one in this database that does not write to the log hold no reader back,
// though both hold back pg_snapshot_xmin, the bound readers used before.
func TestHorizonWaitsOnlyForAppends(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))

	elsewhere := testdb.New(t)
	_, foreign := holdTransaction(t, ctx, elsewhere.Owner, `CREATE TABLE batch_job (i int)`)
	_, local := holdTransaction(t, ctx, db.Pool, `CREATE TEMPORARY TABLE scratch (i int) ON COMMIT DROP; INSERT INTO scratch VALUES (1)`)

	stream, events := someEvents(t, 1)
	a, err := store.Append(ctx, stream, 0, events)
	is.NoErr(err)                                             // append while both are open
	is.True(foreign < a.Last().TxID && local < a.Last().TxID) // they are older than the append
	is.True(snapshotXmin(t, ctx) <= min(foreign, local))      // and hold back the server-wide xmin

	h, err := eventstore.Horizon(ctx, db.Pool)
	is.NoErr(err)              // read the horizon
	is.True(h > a.Last().TxID) // it has passed the append
	head, err := store.Head(ctx)
	is.NoErr(err)                 // read the head
	is.True(!head.Less(a.Last())) // which includes the append
	first := a.Records[0]
	read, err := store.ReadAll(ctx, eventstore.Checkpoint{TxID: first.TxID, Position: first.Position - 1}, 10)
	is.NoErr(err)           // read the log from just before the event
	is.True(len(read) >= 1) // the reader sees it at once
	is.Equal(read[0].EventID, a.Records[0].EventID)
}

// A running append holds the horizon at its own transaction id, however it
// writes to the log, until it ends; then the horizon moves past.
func TestHorizonStopsAtARunningAppend(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))

	running, xid := holdTransaction(t, ctx, db.Pool, `
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, occurred_at)
VALUES ('`+uuid.NewString()+`', 'user', '`+uuid.NewString()+`', 1, 'Never', 1, '{}', now())`)
	stream, events := someEvents(t, 1)
	later, err := store.Append(ctx, stream, 0, events)
	is.NoErr(err) // an append that commits while the first runs

	h, err := eventstore.Horizon(ctx, db.Pool)
	is.NoErr(err)    // read the horizon
	is.Equal(h, xid) // it stops at the running append
	head, err := store.Head(ctx)
	is.NoErr(err)                    // read the head
	is.True(head.Less(later.Last())) // the later append is not visible to followers yet
	is.NoErr(running.Commit(ctx))    // the running append commits
	h, err = eventstore.Horizon(ctx, db.Pool)
	is.NoErr(err)                  // read the horizon again
	is.True(h > later.Last().TxID) // it has moved past both
	head, err = store.Head(ctx)
	is.NoErr(err)                     // read the head
	is.True(!head.Less(later.Last())) // which now includes the later append
}

// The lock table shows 32-bit transaction ids: the horizon widens them to
// the 64-bit id nearest the next one, across a wrap of the 32-bit counter
// in either direction.
func TestHorizonWidensTransactionIDs(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	const epoch = uint64(1) << 32
	for _, c := range []struct{ next, low32, want uint64 }{
		{next: 5*epoch + 1000, low32: 990, want: 5*epoch + 990},              // the same epoch
		{next: 5*epoch + 1000, low32: 1000, want: 5*epoch + 1000},            // the next id itself
		{next: 5*epoch + 10, low32: epoch - 6, want: 5*epoch - 6},            // begun before the counter wrapped
		{next: 5*epoch - 3, low32: 2, want: 5*epoch + 2},                     // beyond the next id, across the wrap
		{next: 1000, low32: 1003, want: 1003},                                // beyond the next id
		{next: 5*epoch + 1<<31, low32: 1 << 30, want: 5*epoch + 1<<30},       // far, but less than 2^31 away
		{next: 5*epoch + 100, low32: epoch - 1<<30, want: 4*epoch + 3<<30},   // far back, across the wrap
		{next: 5*epoch + 1<<31 + 100, low32: 1 << 31, want: 5*epoch + 1<<31}, // in the upper half of an epoch
	} {
		var got uint64
		err := db.Pool.QueryRow(ctx, `SELECT `+eventstore.WidenSQL+` FROM (VALUES ($1::bigint)) next (xid), (VALUES ($2::bigint)) l (xid)`,
			int64(c.next), int64(c.low32)).Scan(&got)
		is.NoErr(err)         // widen
		is.Equal(got, c.want) // to the nearest id
	}
}

// A transaction that holds the write lock on events but has no id yet
// (here one that only locked the table) sends the horizon looking for ids
// the lock table does not show yet; a foreign transaction, whose id the
// lock table shows, still holds nothing back.
func TestHorizonWithAnIdlessHolderOfTheLock(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	elsewhere := testdb.New(t)
	_, foreign := holdTransaction(t, ctx, elsewhere.Owner, `CREATE TABLE batch_job (i int)`)
	idless, err := db.Pool.Begin(ctx)
	is.NoErr(err)                                     // begin
	defer idless.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // only ever rolled back
	_, err = idless.Exec(ctx, `LOCK TABLE events IN ROW EXCLUSIVE MODE`)
	is.NoErr(err) // it holds the lock, and no id

	stream, events := someEvents(t, 1)
	a, err := store.Append(ctx, stream, 0, events)
	is.NoErr(err) // append
	h, err := eventstore.Horizon(ctx, db.Pool)
	is.NoErr(err)              // read the horizon
	is.True(h > foreign)       // not held back by the foreign transaction
	is.True(h > a.Last().TxID) // and past the append
}

// Many appends at once, and a reader that follows the log below the
// horizon: it sees every event exactly once, in log order. (An appender
// caught between getting its id and recording the lock on it was once
// passed by the horizon; bench/horizon/ has the longer stress test that
// found it.)
func TestFollowingTheLogUnderConcurrentAppendsSkipsNothing(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	own := testdb.New(t)
	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()))

	const writers = 8
	deadline := time.Now().Add(2 * time.Second)
	appended := make(chan uuid.UUID, 100_000)
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				stream, events := someEvents(t, 1+len(appended)%2)
				a, err := store.Append(ctx, stream, 0, events)
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				for _, r := range a.Records {
					appended <- r.EventID
				}
			}
		}()
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()

	seen := map[uuid.UUID]int{}
	var at eventstore.Checkpoint
	follow := func() {
		page, err := store.ReadAll(ctx, at, 1000)
		is.NoErr(err) // read the next page
		for _, r := range page {
			is.True(at.Less(r.Checkpoint())) // in log order
			at = r.Checkpoint()
			seen[r.EventID]++
		}
	}
	for done := false; !done; {
		select {
		case <-writing:
			done = true
		default:
		}
		follow()
	}
	close(appended)
	var want []uuid.UUID
	for id := range appended {
		want = append(want, id)
	}
	eventually(t, 10*time.Second, "the reader catches up", func() bool {
		follow()
		return len(seen) >= len(want)
	})
	for _, id := range want {
		if seen[id] != 1 {
			t.Fatalf("event %s seen %d times", id, seen[id])
		}
	}
	is.Equal(len(seen), len(want)) // nothing else
	t.Logf("%d events from %d writers, each seen once", len(want), writers)
}
