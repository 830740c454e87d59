package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
)

// deliveryFixture is a log of its own with a running relay, a store that
// wakes it, and a subscriber of one consumer group that acknowledges every
// event as it comes and reports it.
type deliveryFixture struct {
	db        *testdb.DB
	relay     *Relay
	store     *eventstore.Store
	delivered chan eventstore.Record
}

func newDeliveryFixture(t *testing.T, idlePoll time.Duration) *deliveryFixture {
	t.Helper()
	return newDeliveryFixtureWith(t, SubscriberConfig{IdlePoll: idlePoll})
}

func newDeliveryFixtureWith(t *testing.T, cfg SubscriberConfig) *deliveryFixture {
	t.Helper()
	own := testdb.New(t)
	f := &deliveryFixture{db: own, delivered: make(chan eventstore.Record, 100)}
	f.relay = NewRelay(own.Pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f.relay.Run(ctx) }()
	f.store = eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()), eventstore.OnAppended(f.relay.Appended))
	select {
	case <-f.relay.Listening():
	case <-time.After(10 * time.Second):
		t.Fatal("the relay does not listen")
	}

	// The fixture's registrations hold personal data: the subscriber
	// opens them with a keyring over the log's DATA_KEY.
	cfg.Keys = testdb.Keyring()
	sub, err := NewSubscriber(own.Pool, "delivery-test", f.relay, cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	messages, err := sub.Subscribe(ctx, eventstore.Topic)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for msg := range messages {
			r, err := eventstore.RecordFromMessage(msg)
			if err != nil {
				t.Errorf("delivered a message that is not a record: %v", err)
			}
			msg.Ack()
			f.delivered <- r
		}
	}()
	t.Cleanup(func() {
		stop()
		sub.Close()
		wg.Wait()
	})
	return f
}

// appendUser appends a registration of a new user.
func (f *deliveryFixture) appendUser(t *testing.T, opts ...eventstore.AppendOption) eventstore.Record {
	t.Helper()
	id := uuid.New()
	_, events, err := domain.RegisterUser(id, "d-"+id.String()+"@example.com", "Delivery Test", domain.RoleJobSeeker, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.store.Append(testCtx(t), eventstore.Stream{Type: domain.StreamUser, ID: id}, 0, events, opts...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return a.Records[0]
}

// next returns the next delivered event, failing the test after within.
func (f *deliveryFixture) next(t *testing.T, within time.Duration, what string) eventstore.Record {
	t.Helper()
	select {
	case r := <-f.delivered:
		return r
	case <-time.After(within):
		t.Fatalf("not delivered within %s: %s", within, what)
		return eventstore.Record{}
	}
}

// quiet fails the test if anything is delivered within d.
func (f *deliveryFixture) quiet(t *testing.T, d time.Duration, why string) {
	t.Helper()
	select {
	case r := <-f.delivered:
		t.Fatalf("event %s delivered, but %s", r.Checkpoint(), why)
	case <-time.After(d):
	}
}

// An append that takes the lower transaction id but commits after a later
// one holds the later one back: the subscriber delivers neither until both
// have committed, then both, in log order. Nothing is skipped, although
// the later one was committed, and announced, first.
func TestSubscriberSkipsNothingWhenAppendsCommitOutOfOrder(t *testing.T) {
	is := is.New(t)
	f := newDeliveryFixture(t, time.Minute) // no idle poll to lean on: wake-ups only
	first := f.appendUser(t)
	is.Equal(f.next(t, 10*time.Second, "the first event").EventID, first.EventID)

	// The slow append inserts its event, then waits inside its transaction.
	inserted, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	releaseSlow := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseSlow) // a failing test must not leave the append holding its connection
	slowDone := make(chan eventstore.Record, 1)
	go func() {
		slowDone <- f.appendUser(t, eventstore.Within(func(context.Context, pgx.Tx) error {
			close(inserted)
			<-release
			return nil
		}))
	}()
	select {
	case <-inserted:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow append did not start")
	}
	fast := f.appendUser(t) // commits, and wakes the subscriber, while the slow one runs

	// While the slow append runs, the horizon stays at its transaction, so
	// the fast one, committed and announced, is not delivered.
	f.quiet(t, 300*time.Millisecond, "an older append is still running")

	releaseSlow()
	slow := <-slowDone
	is.True(slow.TxID < fast.TxID)                                              // the slow append took the lower transaction id
	is.True(slow.Checkpoint().Less(fast.Checkpoint()))                          // so it comes first in the log
	is.Equal(f.next(t, 10*time.Second, "the slow event").EventID, slow.EventID) // delivered first
	is.Equal(f.next(t, 10*time.Second, "the fast event").EventID, fast.EventID) // then the fast one
	f.quiet(t, 100*time.Millisecond, "each event is delivered once")
}

// Transactions that append nothing hold delivery back not at all: one in
// another database of the server (a batch job there) and one in this
// database that does not write to the log stay open for the whole test,
// and events appended meanwhile are delivered at once. Before the horizon
// depended on appends only, each of them hid every newer event until it
// ended.
func TestForeignTransactionsDoNotHoldDeliveryBack(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	f := newDeliveryFixture(t, time.Minute)

	elsewhere := testdb.New(t)
	for _, hold := range []struct {
		pool interface {
			Begin(context.Context) (pgx.Tx, error)
		}
		sql string
	}{
		{elsewhere.Owner, `CREATE TABLE batch_job (i int)`},                      // another database's write transaction
		{f.db.Owner, `CREATE TABLE migration_step (i int)`},                      // this database's, not touching the log
		{f.db.Pool, `INSERT INTO checkpoints (name) VALUES ('held-open-group')`}, // even one writing next to the log
	} {
		tx, err := hold.pool.Begin(ctx)
		is.NoErr(err)                                 // begin the foreign transaction
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // only ever rolled back
		_, err = tx.Exec(ctx, hold.sql)
		is.NoErr(err) // it holds a transaction id
	}
	var xmin uint64
	is.NoErr(f.db.Pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())`).Scan(&xmin))

	for i := range 5 {
		start := time.Now()
		r := f.appendUser(t)
		is.True(xmin < r.TxID) // a reader below the server-wide xmin would not see it
		got := f.next(t, 5*time.Second, "an event appended while foreign transactions are open")
		is.Equal(got.EventID, r.EventID) // delivered, in order
		t.Logf("append %d delivered %s after it began", i, time.Since(start))
	}
}

// Subscribers that wake together share one reading of the horizon.
func TestHorizonReadingsAreShared(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	appended := NewSignal()
	w := newHorizonWatch(db.Pool, appended, newAppendLog())
	first, err := w.fresh(ctx, 0, time.Time{})
	is.NoErr(err) // a first reading
	again, err := w.fresh(ctx, 0, time.Time{})
	is.NoErr(err)          // asked again with nothing appended
	is.Equal(again, first) // the same reading serves
	is.Equal(w.queries, 1) // without a query

	appended.Notify()
	gen, _ := appended.Wait()
	var wg sync.WaitGroup
	readings := make([]horizonState, 8)
	for i := range readings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readings[i], _ = w.fresh(ctx, gen, time.Time{})
		}()
	}
	wg.Wait()
	for _, r := range readings {
		is.True(r.gen >= gen)       // every caller got a reading that knows of the append
		is.True(r.xid >= first.xid) // never behind the first
	}
	w.mu.Lock()
	queries := w.queries
	w.mu.Unlock()
	is.Equal(queries, 2) // one reading served them all

	later := time.Now()
	r, err := w.fresh(ctx, gen, later)
	is.NoErr(err)                // asked for a reading no older than now
	is.True(!r.at.Before(later)) // a new one is read
	latest, ok := w.latest()
	is.True(ok) // and kept
	is.Equal(latest.at, r.at)
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType      string     `json:"Node Type"`
	RelationName  string     `json:"Relation Name"`
	IndexCond     string     `json:"Index Cond"`
	ActualRows    float64    `json:"Actual Rows"`
	RemovedByJoin float64    `json:"Rows Removed by Join Filter"`
	RemovedByFilt float64    `json:"Rows Removed by Filter"`
	Plans         []planNode `json:"Plans"`
}

func (n planNode) walk(f func(planNode)) {
	f(n)
	for _, c := range n.Plans {
		c.walk(f)
	}
}

// A batch's query reads the events after the group's checkpoint through
// the log-order index, bounded by the checkpoint: its cost does not grow
// with the log. (Joined to the checkpoint row instead, the planner scanned
// every event below the horizon and filtered them, 50 ms a batch at
// 20,000 events.)
func TestBatchQueryReadsOnlyPastTheCheckpoint(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t)
	_, err := own.Pool.Exec(ctx, `
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, occurred_at)
SELECT gen_random_uuid(), 'user', gen_random_uuid(), 1, 'UserRegistered', 1, '{}', now() FROM generate_series(1, 20000)`)
	is.NoErr(err) // a log of 20,000 events
	_, err = own.Pool.Exec(ctx, `
INSERT INTO checkpoints (name, tx_id, position) SELECT 'plan-test', tx_id, position - 5 FROM events ORDER BY position DESC LIMIT 1`)
	is.NoErr(err) // a group 5 events from the end
	_, err = own.Pool.Exec(ctx, `ANALYZE events`)
	is.NoErr(err)
	h, err := eventstore.Horizon(ctx, own.Pool)
	is.NoErr(err)

	tx, err := own.Pool.Begin(ctx)
	is.NoErr(err)
	defer tx.Rollback(ctx) //nolint:errcheck // only read
	var plan []struct {
		Plan planNode `json:"Plan"`
	}
	var raw []byte
	for range 6 { // past the executions after which PostgreSQL may switch to a generic plan
		is.NoErr(tx.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) `+selectSQL, "plan-test", fmt.Sprint(h), 100).Scan(&raw))
	}
	is.NoErr(json.Unmarshal(raw, &plan)) // the plan
	var scanned, filtered float64
	var cond string
	plan[0].Plan.walk(func(n planNode) {
		filtered += n.RemovedByJoin + n.RemovedByFilt
		if n.RelationName == "events" {
			scanned += n.ActualRows
			cond = n.IndexCond
		}
	})
	is.True(strings.Contains(cond, "ROW(tx_id, \"position\") >")) // the checkpoint bounds the index scan
	is.Equal(scanned, float64(5))                                 // only the events past it are read
	is.Equal(filtered, float64(0))                                // none is read to be thrown away
}

// appendJob appends a job's posting.
func (f *deliveryFixture) appendJob(t *testing.T) eventstore.Record {
	t.Helper()
	id := uuid.New()
	_, events, err := domain.PostJob(id, domain.Poster{ID: uuid.New(), Role: domain.RoleRecruiter, Company: "Acme"},
		domain.JobDraft{Title: ptr("Delivery"), Description: ptr("Test"), Location: ptr("Lyon")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.store.Append(testCtx(t), eventstore.Stream{Type: domain.StreamJob, ID: id}, 0, events)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return a.Records[0]
}

// A group that acts on some event types only starts a batch when one of
// them is appended; the others wait for it, or for LazyAdvance, and are
// then delivered all the same, in log order.
func TestSelectiveGroupMovesPastOtherEventsLazily(t *testing.T) {
	is := is.New(t)
	f := newDeliveryFixtureWith(t, SubscriberConfig{IdlePoll: time.Minute, Interest: []string{"JobPosted"}, LazyAdvance: time.Minute})
	first := f.appendJob(t) // the relay's start counts as news of every type; this is delivered at once
	is.Equal(f.next(t, 10*time.Second, "the first event").EventID, first.EventID)

	other := f.appendUser(t)
	f.quiet(t, 300*time.Millisecond, "the group does not act on registrations and LazyAdvance has not passed")
	job := f.appendJob(t)
	is.Equal(f.next(t, 10*time.Second, "the registration, with the job").EventID, other.EventID) // then both, in order
	is.Equal(f.next(t, 10*time.Second, "the job").EventID, job.EventID)
}

// LazyAdvance bounds how long a selective group stays behind events it
// does not act on.
func TestSelectiveGroupCatchesUpAfterLazyAdvance(t *testing.T) {
	is := is.New(t)
	const lazy = 300 * time.Millisecond
	f := newDeliveryFixtureWith(t, SubscriberConfig{IdlePoll: time.Minute, Interest: []string{"JobPosted"}, LazyAdvance: lazy})
	// The batch that delivers the job starts after the job is appended,
	// and the registration waits LazyAdvance after that batch started.
	jobAppended := time.Now()
	first := f.appendJob(t)
	is.Equal(f.next(t, 10*time.Second, "the first event").EventID, first.EventID)
	other := f.appendUser(t)
	is.Equal(f.next(t, 10*time.Second, "the registration").EventID, other.EventID) // delivered without a job after it
	is.True(time.Since(jobAppended) >= lazy)                                       // but not at once
}

func ptr[T any](v T) *T { return &v }
