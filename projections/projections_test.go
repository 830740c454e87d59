package projections_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/projections"
)

// db is shared by the tests that leave the users projection's checkpoint
// alone; a test that moves it gets a database of its own.
var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitUntil polls cond until it holds, or fails the test at the deadline.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newUser decides a registration with domain.RegisterUser.
func newUser(t *testing.T, role domain.Role, company *string) (eventstore.Stream, domain.UserRegistered) {
	t.Helper()
	id := uuid.New()
	_, events, err := domain.RegisterUser(id, fmt.Sprintf("  User-%s@Example.com ", id), " Grace Hopper ", role, company,
		time.Now().Truncate(time.Second))
	if err != nil {
		t.Fatalf("register user: %v", err)
	}
	return eventstore.Stream{Type: domain.StreamUser, ID: id}, events[0].(domain.UserRegistered)
}

func appendUser(t *testing.T, ctx context.Context, store *eventstore.Store) (eventstore.Appended, domain.UserRegistered) {
	t.Helper()
	company := "Acme"
	stream, e := newUser(t, domain.RoleRecruiter, &company)
	a, err := store.Append(ctx, stream, 0, []domain.Event{e})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return a, e
}

// projectCommitted delivers r to p in a transaction of its own, as one
// subscriber transaction would.
func projectCommitted(t *testing.T, ctx context.Context, pool *pgxpool.Pool, p projections.Projector, r eventstore.Record) error {
	t.Helper()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback(ctx)
	if err := projections.Project(ctx, tx, p, r); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return nil
}

type checkpointRow struct {
	cp        eventstore.Checkpoint
	updatedAt time.Time
}

// checkpointOf reads a projection's checkpoint; ok is false when it has none.
func checkpointOf(t *testing.T, ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) (checkpointRow, bool) {
	t.Helper()
	var c checkpointRow
	var txID int64
	err := q.QueryRow(ctx, `SELECT tx_id::text::bigint, position, updated_at FROM checkpoints WHERE name = $1`, name).
		Scan(&txID, &c.cp.Position, &c.updatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return checkpointRow{}, false
	}
	if err != nil {
		t.Fatalf("read checkpoint of %s: %v", name, err)
	}
	c.cp.TxID = uint64(txID)
	return c, true
}

func usersWithID(t *testing.T, ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id uuid.UUID) int {
	t.Helper()
	var n int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM users WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatalf("count users: %v", err)
	}
	return n
}

// countingProjector counts the events its projector is asked to apply.
type countingProjector struct {
	projections.Projector
	applied atomic.Int32
}

func (c *countingProjector) Apply(r eventstore.Record, w projections.Writer) error {
	c.applied.Add(1)
	return c.Projector.Apply(r, w)
}

// renamedProjector is a projector under a name of its own, so that a test
// on the shared database has a checkpoint nobody else moves.
type renamedProjector struct {
	projections.Projector
	name string
}

func (r renamedProjector) Name() string { return r.name }

func TestProjectTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t)
	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()))
	appended, registered := appendUser(t, ctx, store)
	r := appended.Records[0]
	users := &countingProjector{Projector: projections.UsersProjector{}}

	_, started := checkpointOf(t, ctx, own.Pool, projections.Users)
	is.True(!started) // never registered: no checkpoint yet

	is.NoErr(projectCommitted(t, ctx, own.Pool, users, r)) // first delivery
	is.Equal(users.applied.Load(), int32(1))               // is applied
	is.Equal(usersWithID(t, ctx, own.Pool, registered.UserID), 1)
	first, ok := checkpointOf(t, ctx, own.Pool, projections.Users)
	is.True(ok)                        // the checkpoint was created
	is.Equal(first.cp, r.Checkpoint()) // at the event
	user, err := projections.NewUsersView(own.Pool).Get(ctx, registered.UserID)
	is.NoErr(err) // the user is readable

	// Delivery is at least once: the same record again, in a later
	// transaction, then twice within one (a nack re-sends in the same one).
	is.NoErr(projectCommitted(t, ctx, own.Pool, users, r)) // a redelivery is not an error
	tx, err := own.Pool.Begin(ctx)
	is.NoErr(err)                                    // begin
	is.NoErr(projections.Project(ctx, tx, users, r)) // redelivered within a transaction
	is.NoErr(projections.Project(ctx, tx, users, r)) // and again
	is.NoErr(tx.Commit(ctx))                         // commit

	is.Equal(users.applied.Load(), int32(1))                      // the projector never saw it again
	is.Equal(usersWithID(t, ctx, own.Pool, registered.UserID), 1) // still one row
	var total int
	is.NoErr(own.Pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&total)) // count all users
	is.Equal(total, 1)                                                          // and no other
	again, ok := checkpointOf(t, ctx, own.Pool, projections.Users)
	is.True(ok)                                     // the checkpoint is still there
	is.Equal(again.cp, r.Checkpoint())              // neither moved back nor forward
	is.True(again.updatedAt.Equal(first.updatedAt)) // and not even touched
	sameUser, err := projections.NewUsersView(own.Pool).Get(ctx, registered.UserID)
	is.NoErr(err)            // the user is still readable
	is.Equal(sameUser, user) // unchanged
}

func TestProjectIgnoresEventsOlderThanItsCheckpoint(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t)
	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()))
	older, olderUser := appendUser(t, ctx, store)
	newer, newerUser := appendUser(t, ctx, store)
	is.True(older.Last().Less(newer.Last())) // appended one after the other
	users := &countingProjector{Projector: projections.UsersProjector{}}

	is.NoErr(projectCommitted(t, ctx, own.Pool, users, newer.Records[0])) // the newer event first
	is.NoErr(projectCommitted(t, ctx, own.Pool, users, older.Records[0])) // an older one is not an error

	is.Equal(users.applied.Load(), int32(1))                     // only the newer one was applied
	is.Equal(usersWithID(t, ctx, own.Pool, newerUser.UserID), 1) // its row is there
	is.Equal(usersWithID(t, ctx, own.Pool, olderUser.UserID), 0) // the older one was ignored
	c, ok := checkpointOf(t, ctx, own.Pool, projections.Users)
	is.True(ok)                  // the checkpoint exists
	is.Equal(c.cp, newer.Last()) // and was not moved back
}

// failOnce fails its first Apply with an SQL error, which aborts the
// transaction it runs in, and applies normally afterwards.
type failOnce struct {
	projections.Projector
	failed atomic.Bool
}

func (f *failOnce) Apply(r eventstore.Record, w projections.Writer) error {
	if f.failed.CompareAndSwap(false, true) {
		return w.Delete(projections.NewTable("no_such_table", "id"), uuid.New())
	}
	return f.Projector.Apply(r, w)
}

// A nack re-sends the message within the same subscriber transaction, so a
// failed Apply must leave that transaction usable and the checkpoint where
// it was.
func TestProjectFailureLeavesTheTransactionUsable(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t)
	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()))
	appended, registered := appendUser(t, ctx, store)
	r := appended.Records[0]
	flaky := &failOnce{Projector: projections.UsersProjector{}}

	tx, err := own.Pool.Begin(ctx)
	is.NoErr(err) // begin the subscriber's transaction
	defer tx.Rollback(ctx)
	err = projections.Project(ctx, tx, flaky, r)
	is.True(err != nil) // the first attempt fails
	_, claimed := checkpointOf(t, ctx, tx, projections.Users)
	is.True(!claimed) // and did not claim the event

	is.NoErr(projections.Project(ctx, tx, flaky, r)) // the redelivery in the same transaction works
	is.NoErr(tx.Commit(ctx))                         // and commits
	is.Equal(usersWithID(t, ctx, own.Pool, registered.UserID), 1)
	c, ok := checkpointOf(t, ctx, own.Pool, projections.Users)
	is.True(ok)                    // the checkpoint exists
	is.Equal(c.cp, r.Checkpoint()) // at the event
}

func TestUsersView(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	own := testdb.New(t)
	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()))
	view := projections.NewUsersView(own.Pool)
	company := "  Initech  "

	for _, c := range []struct {
		name    string
		role    domain.Role
		company *string
		want    string
	}{
		{"recruiter", domain.RoleRecruiter, &company, "Initech"},
		{"job seeker", domain.RoleJobSeeker, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			stream, e := newUser(t, c.role, c.company)
			a, err := store.Append(ctx, stream, 0, []domain.Event{e})
			is.NoErr(err)                                                                            // append
			is.NoErr(projectCommitted(t, ctx, own.Pool, projections.UsersProjector{}, a.Records[0])) // project

			u, err := view.Get(ctx, e.UserID)
			is.NoErr(err) // the projected user is found
			is.Equal(u.ID, e.UserID)
			is.Equal(u.Email, "user-"+e.UserID.String()+"@example.com") // normalised by the domain
			is.Equal(u.Name, "Grace Hopper")                            // trimmed by the domain
			is.Equal(u.Role, c.role)
			is.Equal(u.Company, c.want)                // no company is ""
			is.True(u.CreatedAt.Equal(e.RegisteredAt)) // created when registered
			is.Equal(u.CreatedAt.Location(), time.UTC) // in UTC
		})
	}

	t.Run("unknown id", func(t *testing.T) {
		is := is.New(t)
		_, err := view.Get(ctx, uuid.New())
		is.True(err != nil)                               // nobody has this id
		is.Equal(domain.KindOf(err), domain.KindNotFound) // which is a not found
	})
}

func TestUsersProjectorIgnoresOtherStreams(t *testing.T) {
	is := is.New(t)
	w := projections.NewMemoryWriter()
	r := eventstore.Record{StreamType: "job", Type: "SomethingElse", Data: []byte(`{`)}
	is.NoErr(projections.UsersProjector{}.Apply(r, w)) // not its stream: not even decoded
	is.Equal(w.Len(), 0)                               // and nothing written
}

func TestTrackerWaitFor(t *testing.T) {
	ctx := testCtx(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	appended, _ := appendUser(t, ctx, store)
	cp := appended.Last()

	t.Run("times out when no projector runs", func(t *testing.T) {
		is := is.New(t)
		const timeout = 300 * time.Millisecond
		tracker := projections.NewTracker(db.Pool, bus.NewRelay(db.Pool, slog.New(slog.DiscardHandler)), timeout)
		for _, names := range [][]string{{projections.Users}, {"never-registered"}} {
			start := time.Now()
			err := tracker.WaitFor(ctx, cp, names...)
			elapsed := time.Since(start)
			is.True(err != nil)                                  // nobody projects
			is.Equal(domain.KindOf(err), domain.KindUnavailable) // so the read is unavailable for now
			is.True(errors.Is(err, context.DeadlineExceeded))    // because the wait ran out
			is.True(elapsed >= timeout)                          // after the timeout
			is.True(elapsed < timeout+5*time.Second)             // and not much later
		}
	})

	t.Run("returns once the projection has caught up", func(t *testing.T) {
		is := is.New(t)
		relay := bus.NewRelay(db.Pool, slog.New(slog.DiscardHandler))
		tracker := projections.NewTracker(db.Pool, relay, 10*time.Second)
		name := "tracker-test-" + uuid.NewString()
		p := renamedProjector{Projector: projections.UsersProjector{}, name: name}

		done := make(chan error, 1)
		go func() { done <- tracker.WaitFor(ctx, cp, name) }()
		is.NoErr(projectCommitted(t, ctx, db.Pool, p, appended.Records[0])) // the projection catches up
		relay.Signals().Progressed.Notify()
		select {
		case err := <-done:
			is.NoErr(err) // the waiter is released
		case <-time.After(9 * time.Second):
			t.Fatal("WaitFor did not return after the projection caught up")
		}
		is.NoErr(tracker.WaitFor(ctx, cp, name))                             // a caught-up projection needs no wait
		is.NoErr(tracker.WaitFor(ctx, eventstore.Checkpoint{TxID: 1}, name)) // nor does an older checkpoint
	})
}

func TestTrackerLagging(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t)
	tracker := projections.NewTracker(own.Pool, bus.NewRelay(own.Pool, slog.New(slog.DiscardHandler)), time.Second)
	names := []string{projections.Users}

	lagging, err := tracker.Lagging(ctx, names, time.Minute)
	is.NoErr(err)                                  // read the lag
	is.Equal(lagging, []string{projections.Users}) // a projection that never started lags
	_, err = own.Pool.Exec(ctx, `INSERT INTO checkpoints (name) VALUES ($1)`, projections.Users)
	is.NoErr(err) // start it, as Register does
	lagging, err = tracker.Lagging(ctx, names, time.Minute)
	is.NoErr(err)             // read the lag
	is.Equal(len(lagging), 0) // an empty log has nothing to catch up with

	// An event that occurred an hour ago and was never projected.
	hourAgo := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()), eventstore.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	old, _ := appendUser(t, ctx, hourAgo)
	waitUntil(t, 10*time.Second, "users lags behind an hour-old event", func() bool {
		lagging, err = tracker.Lagging(ctx, names, time.Minute)
		return err == nil && len(lagging) == 1
	})
	is.Equal(lagging, []string{projections.Users}) // behind an event older than a minute
	lagging, err = tracker.Lagging(ctx, names, 2*time.Hour)
	is.NoErr(err)             // read the lag
	is.Equal(len(lagging), 0) // but not behind one older than two hours

	is.NoErr(projectCommitted(t, ctx, own.Pool, projections.UsersProjector{}, old.Records[0])) // catch up
	lagging, err = tracker.Lagging(ctx, names, time.Minute)
	is.NoErr(err)             // read the lag
	is.Equal(len(lagging), 0) // nothing lags once the projection has applied it

	// A fresh event not yet projected is not lag yet.
	fresh, _ := appendUser(t, eventstore.WithActor(ctx, uuid.New()), eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring())))
	waitUntil(t, 10*time.Second, "the fresh event is visible", func() bool {
		head, err := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring())).Head(ctx)
		return err == nil && !head.Less(fresh.Last())
	})
	lagging, err = tracker.Lagging(ctx, names, time.Minute)
	is.NoErr(err)             // read the lag
	is.Equal(len(lagging), 0) // an event younger than maxAge is not lag
	lagging, err = tracker.Lagging(ctx, []string{projections.Users, "never-registered"}, time.Minute)
	is.NoErr(err)                                   // read the lag of two
	is.Equal(lagging, []string{"never-registered"}) // only the one that never started
}

// pipeline is the worker side of the service on one database: a relay and
// a router running the users projector, and a store that wakes them.
type pipeline struct {
	store   *eventstore.Store
	relay   *bus.Relay
	tracker *projections.Tracker
}

func startPipeline(t *testing.T, pool *pgxpool.Pool) *pipeline {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	relay := bus.NewRelay(pool, logger)
	relayCtx, stopRelay := context.WithCancel(context.Background())
	var relayDone sync.WaitGroup
	relayDone.Add(1)
	go func() { defer relayDone.Done(); relay.Run(relayCtx) }()
	t.Cleanup(func() { stopRelay(); relayDone.Wait() })

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NewSlogLogger(logger))
	if err != nil {
		t.Fatalf("new router: %v", err)
	}
	ctx := testCtx(t)
	if err := projections.Register(router, pool, relay, bus.SubscriberConfig{Keys: testdb.Keyring()}, projections.UsersProjector{}); err != nil {
		t.Fatalf("register projectors: %v", err)
	}
	routerDone := make(chan error, 1)
	go func() { routerDone <- router.Run(context.Background()) }()
	select {
	case <-router.Running():
	case err := <-routerDone:
		t.Fatalf("router stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("router did not start")
	}
	t.Cleanup(func() {
		if err := router.Close(); err != nil {
			t.Errorf("close router: %v", err)
		}
		if err := <-routerDone; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	return &pipeline{
		store:   eventstore.New(pool, eventstore.WithKeyring(testdb.Keyring()), eventstore.OnAppended(relay.Appended)),
		relay:   relay,
		tracker: projections.NewTracker(pool, relay, 15*time.Second),
	}
}

// testWriter sends log lines to the test's log, so that they show only for
// a failing test.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	own := testdb.New(t)
	p := startPipeline(t, own.Pool)
	view := projections.NewUsersView(own.Pool)

	t.Run("Register starts the projection's checkpoint", func(t *testing.T) {
		is := is.New(t)
		_, ok := checkpointOf(t, ctx, own.Pool, projections.Users)
		is.True(ok) // created before the first event
	})

	t.Run("an appended registration becomes readable", func(t *testing.T) {
		is := is.New(t)
		company := "Acme"
		stream, e := newUser(t, domain.RoleRecruiter, &company)
		appended, err := p.store.Append(eventstore.WithActor(ctx, stream.ID), stream, 0, []domain.Event{e})
		is.NoErr(err) // append the registration

		is.NoErr(p.tracker.WaitFor(ctx, appended.Last(), projections.Users)) // the projection catches up
		u, err := view.Get(ctx, e.UserID)
		is.NoErr(err) // and the user is there
		is.Equal(u.Email, e.Email)
		is.Equal(u.Name, e.Name)
		is.Equal(u.Role, domain.RoleRecruiter)
		is.Equal(u.Company, "Acme")
		c, ok := checkpointOf(t, ctx, own.Pool, projections.Users)
		is.True(ok)                          // the checkpoint exists
		is.True(!c.cp.Less(appended.Last())) // and has reached the event
	})

	t.Run("concurrent registrations all become readable", func(t *testing.T) {
		is := is.New(t)
		const writers = 10
		errs := make(chan error, writers)
		ids := make(chan uuid.UUID, writers)
		for range writers {
			stream, e := newUser(t, domain.RoleJobSeeker, nil)
			go func() {
				appended, err := p.store.Append(ctx, stream, 0, []domain.Event{e})
				if err == nil {
					err = p.tracker.WaitFor(ctx, appended.Last(), projections.Users)
				}
				ids <- e.UserID
				errs <- err
			}()
		}
		for range writers {
			is.NoErr(<-errs) // each write is projected in time
			_, err := view.Get(ctx, <-ids)
			is.NoErr(err) // and readable right after
		}
	})

	// Transaction 1 takes the lower position and commits after transaction
	// 2: the projector must wait for it rather than pass it by.
	t.Run("out-of-order commits are not skipped", func(t *testing.T) {
		is := is.New(t)
		stream1, e1 := newUser(t, domain.RoleJobSeeker, nil)
		stream2, e2 := newUser(t, domain.RoleJobSeeker, nil)
		inserted := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		releaseTx1 := func() { once.Do(func() { close(release) }) }
		defer releaseTx1()
		type result struct {
			appended eventstore.Appended
			err      error
		}
		tx1 := make(chan result, 1)
		go func() {
			a, err := p.store.Append(ctx, stream1, 0, []domain.Event{e1}, eventstore.Within(func(ctx context.Context, _ pgx.Tx) error {
				close(inserted)
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}))
			tx1 <- result{a, err}
		}()
		select {
		case <-inserted:
		case r := <-tx1:
			t.Fatalf("transaction 1 ended early: %v", r.err)
		}

		second, err := p.store.Append(ctx, stream2, 0, []domain.Event{e2})
		is.NoErr(err) // transaction 2 commits first

		// While transaction 1 is open, the projection cannot reach
		// transaction 2's event.
		impatient := projections.NewTracker(own.Pool, p.relay, 300*time.Millisecond)
		err = impatient.WaitFor(ctx, second.Last(), projections.Users)
		is.Equal(domain.KindOf(err), domain.KindUnavailable) // held back behind transaction 1
		_, err = view.Get(ctx, e2.UserID)
		is.Equal(domain.KindOf(err), domain.KindNotFound) // transaction 2's user is not projected yet

		releaseTx1()
		r1 := <-tx1
		is.NoErr(r1.err)                                                      // transaction 1 commits last
		is.True(r1.appended.Records[0].Position < second.Records[0].Position) // with the lower position
		is.True(r1.appended.Last().Less(second.Last()))                       // and first in log order

		is.NoErr(p.tracker.WaitFor(ctx, second.Last(), projections.Users)) // the projection gets past both
		_, err = view.Get(ctx, e1.UserID)
		is.NoErr(err) // transaction 1's user was not skipped
		_, err = view.Get(ctx, e2.UserID)
		is.NoErr(err) // nor transaction 2's
	})
}

// A projector that names the event types it acts on (Selective) writes
// nothing for any other: its consumer group moves past those lazily, and
// must lose nothing by it.
func TestSelectiveProjectorsIgnoreTheRest(t *testing.T) {
	for _, p := range projections.All() {
		s, ok := p.(projections.Selective)
		if !ok {
			continue
		}
		t.Run(p.Name(), func(t *testing.T) {
			is := is.New(t)
			acts := map[string]bool{}
			for _, typ := range s.EventTypes() {
				acts[typ] = true
			}
			for _, typ := range domain.EventTypes() {
				if acts[typ] {
					continue
				}
				for _, stream := range []string{domain.StreamUser, domain.StreamJob, domain.StreamApplication} {
					w := projections.NewMemoryWriter()
					r := eventstore.Record{Type: typ, StreamType: stream, StreamID: uuid.New(), Version: 1,
						SchemaVersion: domain.SchemaVersion(domainEvent(t, typ)), Data: []byte(`{}`)}
					_ = p.Apply(r, w)    // whatever it makes of it
					is.Equal(w.Len(), 0) // it writes nothing
				}
			}
		})
	}
}

// domainEvent is a zero event of type typ, for its schema version.
func domainEvent(t *testing.T, typ string) domain.Event {
	t.Helper()
	e, err := domain.DecodeEvent(typ, 1, []byte(`{}`))
	if err != nil {
		t.Fatalf("decode %s: %v", typ, err)
	}
	return e
}
