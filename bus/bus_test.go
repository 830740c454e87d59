package bus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
)

var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

// closedWithin reports whether ch is closed within d.
func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestSignalGenerations(t *testing.T) {
	is := is.New(t)
	s := NewSignal()
	gen0, woken0 := s.Wait()
	is.Equal(gen0, uint64(0))  // nobody has notified yet
	is.True(!isClosed(woken0)) // so nobody is woken

	again, same := s.Wait()
	is.Equal(again, gen0)   // looking twice changes nothing
	is.True(same == woken0) // and gives the same channel

	s.Notify()
	is.True(isClosed(woken0)) // Notify wakes those who waited before it
	gen1, woken1 := s.Wait()
	is.Equal(gen1, uint64(1))  // and starts a new generation
	is.True(!isClosed(woken1)) // whose waiters wait for the next Notify

	s.Notify()
	s.Notify()
	gen3, _ := s.Wait()
	is.Equal(gen3, uint64(3)) // every Notify counts
	is.True(isClosed(woken1)) // and the earlier generation's waiters are woken
}

// A waiter that checks the generation, then does its work, then waits on
// the channel it got before the work misses nothing that happened meanwhile.
func TestSignalLosesNoWakeUpBetweenCheckAndWait(t *testing.T) {
	is := is.New(t)
	s := NewSignal()
	_, woken := s.Wait()
	s.Notify()                                // while the waiter was busy
	is.True(closedWithin(woken, time.Second)) // the wait returns at once
}

func TestSignalWakesEveryWaiter(t *testing.T) {
	is := is.New(t)
	s := NewSignal()
	const waiters = 20
	var ready, done sync.WaitGroup
	ready.Add(waiters)
	done.Add(waiters)
	for range waiters {
		go func() {
			defer done.Done()
			_, woken := s.Wait()
			ready.Done()
			<-woken
		}()
	}
	ready.Wait()
	s.Notify()
	allDone := make(chan struct{})
	go func() { done.Wait(); close(allDone) }()
	is.True(closedWithin(allDone, 5*time.Second)) // one Notify wakes them all
}

func TestSignalConcurrentNotify(t *testing.T) {
	is := is.New(t)
	s := NewSignal()
	const notifiers, each = 8, 500
	var wg sync.WaitGroup
	for range notifiers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range each {
				s.Notify()
			}
		}()
		go func() { // waiters at the same time, for the race detector
			defer wg.Done()
			for range each {
				s.Wait()
			}
		}()
	}
	wg.Wait()
	gen, _ := s.Wait()
	is.Equal(gen, uint64(notifiers*each)) // no Notify is lost
}

func TestWaiterOnErrors(t *testing.T) {
	is := is.New(t)
	w := &waiter{cfg: SubscriberConfig{IdlePoll: time.Minute}, ctx: context.Background()}
	nop := watermill.NopLogger{}
	for _, msg := range []string{
		"ERROR: deadlock detected (SQLSTATE 40P01)",
		"could not serialize access due to concurrent update",
	} {
		is.Equal(w.HandleError(nop, false, errors.New(msg)), time.Duration(0)) // a lost lock race is retried at once
	}
	is.Equal(w.HandleError(nop, false, errors.New("connection refused")), time.Second) // other errors back off
	is.Equal(w.HandleError(nop, false, context.Canceled), time.Minute)                 // closing: no new query
}

func TestSubscriberConfigDefaults(t *testing.T) {
	is := is.New(t)
	var c SubscriberConfig
	c.setDefaults()
	is.True(c.IdlePoll > 0 && c.BatchSize > 0 && c.LazyAdvance > 0) // everything set
	set := SubscriberConfig{IdlePoll: time.Second, BatchSize: 7, SynchronousCommit: true, Interest: []string{"JobPosted"}, LazyAdvance: time.Minute}
	kept := set
	kept.setDefaults()
	is.Equal(kept, set) // explicit values are kept
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// delivered is a message as the subscriber hands it over: the event at cp.
func delivered(cp eventstore.Checkpoint) *message.Message {
	r := eventstore.Record{EventID: uuid.New(), Type: "Test", TxID: cp.TxID, Position: cp.Position, StreamID: uuid.New(),
		Version: 1, SchemaVersion: 1, Data: []byte(`{}`), OccurredAt: time.Now()}
	return r.Message()
}

// ack runs the acknowledgement of everything up to cp, as the subscriber
// does once its handlers are done.
func ack(ctx context.Context, tx wmsql.Tx, group string, cp eventstore.Checkpoint) error {
	q, err := checkpointOffsets{}.AckMessageQuery(wmsql.AckMessageQueryParams{
		ConsumerGroup: group,
		LastRow:       wmsql.Row{Offset: cp.Position, ExtraData: map[string]any{"checkpoint": cp}},
	})
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, q.Query, q.Args...)
	return err
}

// stagingFixture is a consumer group's checkpoint row and a table for a
// handler to write to.
func stagingFixture(t *testing.T) (group, table string) {
	t.Helper()
	group = "staging-" + uuid.NewString()
	table = "staged_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	_, err := db.Pool.Exec(testCtx(t), `INSERT INTO checkpoints (name) VALUES ($1)`, group)
	if err == nil {
		_, err = db.Owner.Exec(testCtx(t), `CREATE TABLE `+table+` (step int UNIQUE); GRANT SELECT, INSERT ON `+table+` TO `+testdb.ServiceRole)
	}
	if err != nil {
		t.Fatal(err)
	}
	return group, table
}

func readSteps(t *testing.T, table string) []int {
	t.Helper()
	rows, err := db.Pool.Query(testCtx(t), `SELECT step FROM `+table+` ORDER BY step`)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return steps
}

func readCheckpoint(t *testing.T, group string) eventstore.Checkpoint {
	t.Helper()
	var cp eventstore.Checkpoint
	if err := db.Pool.QueryRow(testCtx(t), `SELECT tx_id, position FROM checkpoints WHERE name = $1`, group).Scan(&cp.TxID, &cp.Position); err != nil {
		t.Fatal(err)
	}
	return cp
}

// Handlers stage their writes; they reach the database with the
// acknowledgement, for the acknowledged events only, and commit with the
// moved checkpoint.
func TestStagedWritesGoWithTheAcknowledgement(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	group, table := stagingFixture(t)
	var reported []eventstore.Checkpoint
	var after []int // the first step of each event whose AfterCommit ran, with how much progress was reported by then
	b := &beginner{pool: db.Pool, committed: func(cp eventstore.Checkpoint) { reported = append(reported, cp) },
		horizon: newHorizonWatch(db.Pool, NewSignal(), newAppendLog())}
	tx, err := b.BeginTx(ctx, nil)
	is.NoErr(err) // begin

	first, second := eventstore.Checkpoint{TxID: 10, Position: 1}, eventstore.Checkpoint{TxID: 10, Position: 2}
	stage := func(cp eventstore.Checkpoint, steps ...int) error {
		return tx.(*Tx).stage(delivered(cp), "test", func(q *Queue) error {
			for _, s := range steps {
				if _, err := q.Exec(ctx, `INSERT INTO `+table+` VALUES ($1)`, s); err != nil {
					return err
				}
			}
			q.AfterCommit(func() { after = append(after, steps[0], len(reported)) })
			return nil
		})
	}
	is.NoErr(stage(first, 1, 2))               // the first event's handler stages two writes
	is.NoErr(stage(second, 3))                 // the second's one
	is.Equal(len(readSteps(t, table)), 0)      // nothing is written while handlers run
	is.NoErr(ack(ctx, tx, group, first))       // only the first event is acknowledged (the subscriber gave up on the second)
	is.Equal(len(reported), 0)                 // no progress before the commit
	is.Equal(len(after), 0)                    // nothing run after it either
	is.NoErr(tx.Commit())                      // commit
	is.Equal(readSteps(t, table), []int{1, 2}) // the first event's writes, not the second's
	is.Equal(readCheckpoint(t, group), first)  // and the checkpoint moved with them
	is.Equal(reported, []eventstore.Checkpoint{first})
	is.Equal(after, []int{1, 1}) // and then what the first event's handler asked for, not the second's
	reading, ok := b.horizon.latest()
	is.True(ok && reading.xid > 0) // and the horizon was read after the commit, in the same round trip
	b.horizon.mu.Lock()
	is.Equal(b.horizon.queries, 0) // not by a query of its own
	b.horizon.mu.Unlock()
}

// A handler that fails stages nothing, and a message delivered again in
// the same transaction (after a nack) replaces what it staged before: an
// event's writes run once.
func TestStagingIsPerDelivery(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	group, table := stagingFixture(t)
	b := &beginner{pool: db.Pool, committed: func(eventstore.Checkpoint) {}}
	tx, err := b.BeginTx(ctx, nil)
	is.NoErr(err) // begin
	cp := eventstore.Checkpoint{TxID: 7, Position: 3}
	msg := delivered(cp)
	write := func(step int, fail error) error {
		return tx.(*Tx).stage(msg, "test", func(q *Queue) error {
			if _, err := q.Exec(ctx, `INSERT INTO `+table+` VALUES ($1)`, step); err != nil {
				return err
			}
			return fail
		})
	}
	boom := errors.New("boom")
	is.Equal(write(1, boom), boom)                                                // a failed handler's error is returned
	is.NoErr(write(2, nil))                                                       // redelivered: staged
	is.NoErr(write(3, nil))                                                       // redelivered again: replaces it
	is.NoErr(ack(ctx, tx, group, cp))                                             // acknowledged
	is.NoErr(tx.Commit())                                                         // committed
	is.Equal(readSteps(t, table), []int{3})                                       // only the last delivery's writes
	is.True(errors.Is(write(4, nil), ErrTxDone))                                  // a handler after the end is told
	is.True(errors.Is(Stage(message.NewMessage("x", nil), "test", nil), ErrNoTx)) // no transaction outside a subscriber
}

// A staged write that fails fails the acknowledgement, naming the handler
// and the event, and leaves nothing behind.
func TestFailedStagedWriteFailsTheBatch(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	group, table := stagingFixture(t)
	b := &beginner{pool: db.Pool, committed: func(eventstore.Checkpoint) { t.Error("a failed batch was reported") }}
	tx, err := b.BeginTx(ctx, nil)
	is.NoErr(err) // begin
	ok, bad := eventstore.Checkpoint{TxID: 9, Position: 1}, eventstore.Checkpoint{TxID: 9, Position: 2}
	is.NoErr(tx.(*Tx).stage(delivered(ok), "projection test", func(q *Queue) error {
		_, err := q.Exec(ctx, `INSERT INTO `+table+` VALUES (1)`)
		return err
	}))
	is.NoErr(tx.(*Tx).stage(delivered(bad), "projection test", func(q *Queue) error {
		_, err := q.Exec(ctx, `INSERT INTO `+table+` VALUES (1)`) // the same step again
		return err
	}))
	err = ack(ctx, tx, group, bad)
	is.True(err != nil)                                                       // the acknowledgement fails
	is.True(strings.Contains(err.Error(), "projection test: event 2 (Test)")) // naming the handler and the event
	is.NoErr(tx.Rollback())                                                   // the subscriber rolls back
	is.Equal(len(readSteps(t, table)), 0)                                     // nothing was kept
	is.Equal(readCheckpoint(t, group), eventstore.Checkpoint{})               // the checkpoint did not move
}

// The subscriber ends the transaction on its own goroutine when it closes,
// without waiting for the handler: the end waits for a handler that is
// staging, so that an event's writes are never half staged.
func TestCommitWaitsForStaging(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	_, table := stagingFixture(t)
	b := &beginner{pool: db.Pool, committed: func(eventstore.Checkpoint) {}}
	tx, err := b.BeginTx(ctx, nil)
	is.NoErr(err) // begin
	inside, release := make(chan struct{}), make(chan struct{})
	staged := make(chan error, 1)
	go func() {
		staged <- tx.(*Tx).stage(delivered(eventstore.Checkpoint{TxID: 1, Position: 1}), "test", func(q *Queue) error {
			close(inside)
			<-release
			_, err := q.Exec(ctx, `INSERT INTO `+table+` VALUES (1)`)
			return err
		})
	}()
	is.True(closedWithin(inside, 10*time.Second)) // the handler is at work
	ended := make(chan error, 1)
	go func() { ended <- tx.Commit() }()
	is.True(!closedWithin(make(chan struct{}), 50*time.Millisecond)) // let the commit start
	close(release)
	err = <-staged
	is.NoErr(<-ended) // the transaction ended
	// Either the handler staged before the end (and, unacknowledged, its
	// write was dropped) or it was told the transaction had ended.
	is.True(err == nil || errors.Is(err, ErrTxDone))
	is.Equal(len(readSteps(t, table)), 0) // nothing unacknowledged was written
}

// Two relays on one database stand for two processes: what one signals,
// the other hears through LISTEN/NOTIFY.
func TestRelayCarriesSignalsBetweenProcesses(t *testing.T) {
	is := is.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	api, worker := NewRelay(db.Pool, log), NewRelay(db.Pool, log)

	ctx, stop := context.WithCancel(context.Background())
	var running sync.WaitGroup
	for _, r := range []*Relay{api, worker} {
		running.Add(1)
		go func() { defer running.Done(); r.Run(ctx) }()
	}
	defer func() { stop(); running.Wait() }()

	// Each relay announces a (re)connection locally, so a first wake-up
	// means it is listening.
	for _, r := range []*Relay{api, worker} {
		if gen, listening := r.Signals().Appended.Wait(); gen == 0 {
			is.True(closedWithin(listening, 10*time.Second)) // the relay starts listening
		}
	}

	genBefore, heard := worker.Signals().Appended.Wait()
	localBefore, local := api.Signals().Appended.Wait()
	job := eventstore.Record{Type: "JobPosted", TxID: 1000, Position: 7}
	api.Appended([]eventstore.Record{job})
	is.True(isClosed(local))                     // the appending process is woken at once
	is.True(closedWithin(heard, 10*time.Second)) // the other process hears of the append
	genAfter, _ := worker.Signals().Appended.Wait()
	is.True(genAfter > genBefore) // in a new generation
	localAfter, _ := api.Signals().Appended.Wait()
	is.True(localAfter > localBefore)
	before := eventstore.Checkpoint{TxID: 999}
	is.True(worker.appends.beyond(before, []string{"JobPosted"}, worker.appends.untypedCount()))       // with the type appended, and its place
	is.True(!worker.appends.beyond(before, []string{"UserRegistered"}, worker.appends.untypedCount())) // and only that type
	is.True(!worker.appends.beyond(job.Checkpoint(), []string{"JobPosted"}, worker.appends.untypedCount()))

	_, progressed := api.Signals().Progressed.Wait()
	worker.Progressed()
	is.True(closedWithin(progressed, 10*time.Second)) // and the other way round for progress
}

// Signals are sent from the relay's goroutine and coalesced: many appends
// in a burst never block and are all covered by the notifications sent.
func TestRelayAppendedNeverBlocks(t *testing.T) {
	is := is.New(t)
	r := NewRelay(db.Pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10000 {
			r.Appended(nil) // nobody runs the relay: nothing drains the queue
		}
	}()
	is.True(closedWithin(done, 10*time.Second)) // yet appends go on
	gen, _ := r.Signals().Appended.Wait()
	is.Equal(gen, uint64(10000)) // and each one woke this process
}

// A subscriber delivers the log's events in a transaction of its own,
// commits what its handler staged with the moved checkpoint, and reports
// the progress to the process and to the relay.
func TestSubscriberDeliversStagesAndReportsProgress(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t) // a log of its own: the group starts at its beginning
	relay := NewRelay(own.Pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	group := "bus-test"
	// The registrations below hold personal data: the subscriber opens
	// them with a keyring over the log's DATA_KEY.
	sub, err := NewSubscriber(own.Pool, group, relay, SubscriberConfig{IdlePoll: time.Minute, Keys: testdb.Keyring()}, watermill.NopLogger{})
	is.NoErr(err) // new subscriber
	defer sub.Close()
	_, err = sub.Subscribe(ctx, "other")
	is.True(err != nil) // the log is the only topic
	messages, err := sub.Subscribe(ctx, eventstore.Topic)
	is.NoErr(err) // subscribe to the events topic
	_, err = own.Owner.Exec(ctx, `CREATE TABLE seen (event_id uuid); GRANT SELECT, INSERT ON seen TO `+testdb.ServiceRole)
	is.NoErr(err) // a table for the handler

	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()), eventstore.OnAppended(relay.Appended))
	var appended []eventstore.Record
	for range 3 {
		id := uuid.New()
		_, events, err := domain.RegisterUser(id, "bus-"+id.String()+"@example.com", "Bus Test", domain.RoleJobSeeker, nil, time.Now())
		is.NoErr(err) // decide a registration
		a, err := store.Append(ctx, eventstore.Stream{Type: domain.StreamUser, ID: id}, 0, events)
		is.NoErr(err) // append it
		appended = append(appended, a.Records...)
	}
	last := appended[len(appended)-1].Checkpoint()
	_, progressed := relay.Signals().Progressed.Wait()
	var afterCommit atomic.Int32
	var seenAtCommit atomic.Int64
	for i := range appended {
		var msg *message.Message
		select {
		case msg = <-messages:
		case <-ctx.Done():
			t.Fatal("the appended events were not delivered")
		}
		r, err := eventstore.RecordFromMessage(msg)
		is.NoErr(err)                            // the message is a record
		is.Equal(r.EventID, appended[i].EventID) // in log order
		is.Equal(r.Checkpoint(), appended[i].Checkpoint())
		is.Equal(r.Metadata, appended[i].Metadata)
		is.True(r.OccurredAt.Equal(appended[i].OccurredAt))
		got, err := r.Event()
		is.NoErr(err) // the data decodes
		want, err := appended[i].Event()
		is.NoErr(err)
		is.Equal(got, want) // into the appended event
		is.NoErr(Stage(msg, "test", func(q *Queue) error {
			_, err := q.Exec(msg.Context(), `INSERT INTO seen VALUES ($1)`, r.EventID)
			q.AfterCommit(func() {
				afterCommit.Add(1)
				var n int64
				if err := own.Pool.QueryRow(context.Background(), `SELECT count(*) FROM seen WHERE event_id = $1`, r.EventID).Scan(&n); err == nil {
					seenAtCommit.Add(n)
				}
			})
			return err
		}))
		msg.Ack()
	}
	is.True(closedWithin(progressed, 10*time.Second)) // the commit is reported to the relay
	waitFor(t, "every AfterCommit ran", func() bool { return afterCommit.Load() == 3 })
	is.Equal(seenAtCommit.Load(), int64(3)) // each after its write was there to be read
	waitFor(t, "the process knows the group's progress", func() bool {
		reached, local := relay.Progress().Reached(last, group)
		return reached && local
	})
	var seen int
	is.NoErr(own.Pool.QueryRow(ctx, `SELECT count(*) FROM seen`).Scan(&seen))
	is.Equal(seen, 3) // every staged write committed
	var cp eventstore.Checkpoint
	is.NoErr(own.Pool.QueryRow(ctx, `SELECT tx_id, position FROM checkpoints WHERE name = $1`, group).Scan(&cp.TxID, &cp.Position))
	is.Equal(cp, last) // with the checkpoint at the last event
	_, local := relay.Progress().Reached(last, "another-group")
	is.True(!local) // a group this process does not run is not known here
}

// waitFor polls cond until it holds, and fails the test if it does not
// within 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A relay alone on its database sends no notification: each would cost the
// server a transaction and reach no one. Once another process's relay
// listens, it notifies (within peersCheckEvery).
func TestRelayNotifiesOnlyWhenAnotherProcessListens(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runRelay := func(r *Relay) {
		rctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.Run(rctx) }()
		t.Cleanup(func() { stop(); <-done })
		is.True(closedWithin(r.Listening(), 10*time.Second)) // it listens
	}
	// An eavesdropper: a plain connection listening, not a relay.
	conn, err := own.Pool.Acquire(ctx)
	is.NoErr(err)
	ear := conn.Hijack()
	defer ear.Close(context.WithoutCancel(ctx))
	_, err = ear.Exec(ctx, `LISTEN `+channelAppended)
	is.NoErr(err)
	heard := func(within time.Duration) bool {
		wctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		_, err := ear.WaitForNotification(wctx)
		return err == nil
	}

	alone := NewRelay(own.Pool, log)
	runRelay(alone)
	alone.Appended(nil)
	is.True(!heard(300 * time.Millisecond)) // nobody to tell: nothing sent

	other := NewRelay(own.Pool, log)
	runRelay(other)
	_, otherHeard := other.Signals().Appended.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for !isClosed(otherHeard) {
		is.True(time.Now().Before(deadline)) // the other process hears of appends once the first has seen it listening
		alone.Appended(nil)
		time.Sleep(50 * time.Millisecond)
	}
	is.True(heard(time.Second)) // and so does anyone listening
}
