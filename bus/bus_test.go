package bus

import (
	"context"
	stdsql "database/sql"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
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

func newBackoff(cfg SubscriberConfig) (*wakingBackoff, *Signal) {
	cfg.setDefaults()
	s := NewSignal()
	return &wakingBackoff{signal: s, cfg: cfg}, s
}

// handleAsync runs HandleError for an empty query on its own goroutine, as
// the subscriber does, and returns the backoff it chose when it returns.
func handleAsync(b *wakingBackoff) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	go func() { out <- b.HandleError(watermill.NopLogger{}, true, nil) }()
	return out
}

func TestWakingBackoffReturnsPromptlyAfterNotify(t *testing.T) {
	is := is.New(t)
	b, appended := newBackoff(SubscriberConfig{IdlePoll: time.Minute, HotWindow: time.Minute})

	returned := handleAsync(b)
	select {
	case d := <-returned:
		t.Fatalf("returned %s without a wake-up or the idle poll", d)
	case <-time.After(100 * time.Millisecond): // it is waiting for the signal
	}
	start := time.Now()
	appended.Notify()
	select {
	case d := <-returned:
		is.Equal(d, time.Duration(0))              // query again at once
		is.True(time.Since(start) < 2*time.Second) // promptly, not after the idle poll
	case <-time.After(10 * time.Second):
		t.Fatal("HandleError did not return after Notify")
	}

	// The wake-up starts the hot window: an empty query right after it
	// (the new events may be hidden behind an older open transaction) polls
	// fast instead of sleeping.
	is.Equal(b.HandleError(watermill.NopLogger{}, true, nil), b.cfg.HotPoll) // fast polling after a wake-up
}

func TestWakingBackoffNoticesANotifyDuringTheQuery(t *testing.T) {
	is := is.New(t)
	b, appended := newBackoff(SubscriberConfig{IdlePoll: time.Minute, HotWindow: time.Minute})
	appended.Notify() // events appended while the subscriber was querying
	select {
	case d := <-handleAsync(b):
		is.Equal(d, time.Duration(0)) // query again at once, no wait
	case <-time.After(10 * time.Second):
		t.Fatal("a Notify before HandleError was lost")
	}
	is.Equal(b.HandleError(watermill.NopLogger{}, true, nil), b.cfg.HotPoll) // and poll fast for a while
}

func TestWakingBackoffFallsBackOnTheIdlePoll(t *testing.T) {
	is := is.New(t)
	const idle = 50 * time.Millisecond
	b, _ := newBackoff(SubscriberConfig{IdlePoll: idle, HotWindow: time.Millisecond})
	start := time.Now()
	select {
	case d := <-handleAsync(b):
		is.Equal(d, time.Duration(0))      // then queries
		is.True(time.Since(start) >= idle) // after waiting the idle poll for a wake-up that never came
	case <-time.After(10 * time.Second):
		t.Fatal("HandleError waited past the idle poll")
	}
}

func TestWakingBackoffHotWindowEnds(t *testing.T) {
	is := is.New(t)
	b, appended := newBackoff(SubscriberConfig{IdlePoll: time.Minute, HotWindow: 300 * time.Millisecond})
	appended.Notify()
	is.Equal(b.HandleError(watermill.NopLogger{}, true, nil), time.Duration(0)) // woken: query now
	is.Equal(b.HandleError(watermill.NopLogger{}, true, nil), b.cfg.HotPoll)    // within the window: poll fast
	hotUntil := func() time.Time { b.mu.Lock(); defer b.mu.Unlock(); return b.hotUntil }
	deadline := time.Now().Add(10 * time.Second)
	for !time.Now().After(hotUntil()) {
		is.True(time.Now().Before(deadline)) // the hot window ends
		time.Sleep(time.Millisecond)
	}
	// After the window it waits again, until the next Notify.
	returned := handleAsync(b)
	select {
	case d := <-returned:
		t.Fatalf("returned %s after the hot window without a wake-up", d)
	case <-time.After(50 * time.Millisecond):
	}
	appended.Notify()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("HandleError did not return after Notify")
	}
}

func TestWakingBackoffOnResultsAndErrors(t *testing.T) {
	is := is.New(t)
	b, _ := newBackoff(SubscriberConfig{IdlePoll: time.Minute})
	nop := watermill.NopLogger{}
	is.Equal(b.HandleError(nop, false, nil), time.Duration(0)) // messages were found: there may be more
	for _, msg := range []string{
		"ERROR: deadlock detected (SQLSTATE 40P01)",
		"could not serialize access due to concurrent update",
	} {
		is.Equal(b.HandleError(nop, false, errors.New(msg)), time.Duration(0)) // a lost lock race is retried at once
	}
	is.Equal(b.HandleError(nop, false, errors.New("connection refused")), time.Second) // other errors back off
}

func TestSubscriberConfigDefaults(t *testing.T) {
	is := is.New(t)
	var c SubscriberConfig
	c.setDefaults()
	is.True(c.IdlePoll > 0 && c.HotPoll > 0 && c.HotWindow > 0 && c.BatchSize > 0) // everything set
	is.True(c.HotPoll < c.HotWindow && c.HotWindow < c.IdlePoll)                   // fast polling is briefer than the idle wait
	set := SubscriberConfig{IdlePoll: time.Second, HotPoll: 2 * time.Millisecond, HotWindow: time.Millisecond, BatchSize: 7}
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

func TestTxReportsOnlyAcknowledgingCommits(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	var mu sync.Mutex
	commits := 0
	b := &beginner{pool: db.Pool, committed: func() { mu.Lock(); commits++; mu.Unlock() }}
	reported := func() int { mu.Lock(); defer mu.Unlock(); return commits }

	tx, err := b.BeginTx(ctx, nil)
	is.NoErr(err) // begin
	rows, err := tx.QueryContext(ctx, `SELECT 1`)
	is.NoErr(err) // a query (the subscriber's select)
	is.NoErr(rows.Close())
	is.NoErr(tx.Commit())   // commit without an ack
	is.Equal(reported(), 0) // is not progress

	tx, err = b.BeginTx(ctx, nil)
	is.NoErr(err) // begin
	_, err = tx.ExecContext(ctx, `SELECT 1`)
	is.NoErr(err)           // an ack
	is.NoErr(tx.Rollback()) // rolled back
	is.Equal(reported(), 0) // is not progress either

	tx, err = b.BeginTx(ctx, nil)
	is.NoErr(err) // begin
	_, err = tx.ExecContext(ctx, `SELECT 1`)
	is.NoErr(err)           // an ack
	is.NoErr(tx.Commit())   // committed
	is.Equal(reported(), 1) // is reported once
}

func TestInTxOutsideAHandler(t *testing.T) {
	is := is.New(t)
	err := InTx(context.Background(), func(pgx.Tx) error { return nil })
	is.True(errors.Is(err, ErrNoTx)) // no subscriber transaction outside a handler
}

// The subscriber commits on its own goroutine when it closes, without
// waiting for the handler. The commit must wait for a handler inside InTx,
// so that it never commits half of the handler's work, and a handler that
// comes after it must be told.
func TestCommitWaitsForTheHandler(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	_, err := db.Pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS tx_race (step int)`)
	is.NoErr(err) // a table
	b := &beginner{pool: db.Pool, committed: func() {}}
	wtx, err := b.BeginTx(ctx, nil)
	is.NoErr(err)            // begin
	handler := wtx.(*Tx).run // what InTx calls for a message delivered in wtx

	inside, release := make(chan struct{}), make(chan struct{})
	handled := make(chan error, 1)
	go func() {
		handled <- handler(func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO tx_race VALUES (1)`); err != nil {
				return err
			}
			close(inside)
			<-release // the handler is between two writes that belong together
			_, err := tx.Exec(ctx, `INSERT INTO tx_race VALUES (2)`)
			return err
		})
	}()
	is.True(closedWithin(inside, 10*time.Second)) // the handler is at work

	committed := make(chan error, 1)
	go func() { committed <- wtx.Commit() }()
	select {
	case <-committed:
		t.Fatal("the commit did not wait for the handler")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	is.NoErr(<-handled)   // the handler finished its work
	is.NoErr(<-committed) // and then the commit went through

	var steps int
	is.NoErr(db.Pool.QueryRow(ctx, `SELECT count(*) FROM tx_race`).Scan(&steps))
	is.Equal(steps, 2) // both writes committed, not one

	err = handler(func(pgx.Tx) error { return nil })
	is.True(errors.Is(err, ErrTxDone)) // a handler after the commit is told
}

// A serialization failure leaves a REPEATABLE READ transaction unable to
// succeed: the handler is not made to retry inside it; the acknowledgement
// fails instead, so that the subscriber rolls it back and starts over.
func TestSerializationFailureRestartsTheTransaction(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	_, err := db.Pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS tx_doomed (id int PRIMARY KEY, n int); INSERT INTO tx_doomed VALUES (1, 0) ON CONFLICT DO NOTHING`)
	is.NoErr(err)
	b := &beginner{pool: db.Pool, committed: func() {}}
	wtx, err := b.BeginTx(ctx, &stdsql.TxOptions{Isolation: stdsql.LevelRepeatableRead})
	is.NoErr(err)
	handler := wtx.(*Tx).run
	is.NoErr(handler(func(tx pgx.Tx) error { // the snapshot is taken
		_, err := tx.Exec(ctx, `SELECT n FROM tx_doomed`)
		return err
	}))
	_, err = db.Pool.Exec(ctx, `UPDATE tx_doomed SET n = n + 1 WHERE id = 1`)
	is.NoErr(err) // another transaction changes the row and commits

	calls := 0
	write := func(tx pgx.Tx) error {
		calls++
		_, err := tx.Exec(ctx, `UPDATE tx_doomed SET n = n + 10 WHERE id = 1`)
		return err
	}
	is.NoErr(handler(write)) // the handler is not told to retry in this transaction
	is.NoErr(handler(write)) // nor is the next one run in it
	is.Equal(calls, 1)
	_, err = wtx.ExecContext(ctx, `SELECT 1`)
	is.True(err != nil)                                           // the acknowledgement fails
	is.True(strings.Contains(err.Error(), "could not serialize")) // in words the backoff retries at once
	is.NoErr(wtx.Rollback())

	var n int
	is.NoErr(db.Pool.QueryRow(ctx, `SELECT n FROM tx_doomed WHERE id = 1`).Scan(&n))
	is.Equal(n, 1) // nothing of the doomed transaction was kept
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
	api.Appended()
	is.True(isClosed(local))                     // the appending process is woken at once
	is.True(closedWithin(heard, 10*time.Second)) // the other process hears of the append
	genAfter, _ := worker.Signals().Appended.Wait()
	is.True(genAfter > genBefore) // in a new generation
	localAfter, _ := api.Signals().Appended.Wait()
	is.True(localAfter > localBefore)

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
			r.Appended() // nobody runs the relay: nothing drains the queue
		}
	}()
	is.True(closedWithin(done, 10*time.Second)) // yet appends go on
	gen, _ := r.Signals().Appended.Wait()
	is.Equal(gen, uint64(10000)) // and each one woke this process
}

// A subscriber hands each message over inside its transaction, and once
// the acknowledging transaction commits, the relay hears of the progress.
func TestSubscriberDeliversInItsTransactionAndReportsProgress(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	relay := NewRelay(db.Pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sub, err := NewSubscriber(db.Pool, "bus-test-"+uuid.NewString(), relay, SubscriberConfig{IdlePoll: 200 * time.Millisecond}, watermill.NopLogger{})
	is.NoErr(err) // new subscriber
	defer sub.Close()
	messages, err := sub.Subscribe(ctx, eventstore.Topic)
	is.NoErr(err) // subscribe to the events topic

	id := uuid.New()
	_, events, err := domain.RegisterUser(id, "bus-"+id.String()+"@example.com", "Bus Test", domain.RoleJobSeeker, nil, time.Now())
	is.NoErr(err) // decide a registration
	store := eventstore.New(db.Pool, eventstore.OnAppended(relay.Appended))
	appended, err := store.Append(ctx, eventstore.Stream{Type: domain.StreamUser, ID: id}, 0, events)
	is.NoErr(err) // append it

	deadline := time.After(15 * time.Second)
	for {
		var msg *message.Message
		select {
		case msg = <-messages:
		case <-deadline:
			t.Fatal("the appended event was not delivered")
		}
		var one int
		is.NoErr(InTx(msg.Context(), func(tx pgx.Tx) error { // the handler gets the subscriber's transaction
			return tx.QueryRow(msg.Context(), `SELECT 1`).Scan(&one) // and can use it
		}))
		r, err := eventstore.RecordFromMessage(msg)
		is.NoErr(err) // the payload is a record
		if r.EventID != appended.Records[0].EventID {
			msg.Ack() // left by another test in this database
			continue
		}
		_, progressed := relay.Signals().Progressed.Wait()
		msg.Ack()
		is.True(closedWithin(progressed, 10*time.Second)) // the committed ack is reported as progress
		return
	}
}
