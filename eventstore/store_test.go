package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
)

var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

// testContext bounds a test's database calls, so that a hung query fails
// the test instead of the whole run.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, and fails the test if it does not
// within the deadline. Readers of the whole log only see a commit once every
// older transaction in the cluster has finished (other test packages run at
// the same time), so what they see is waited for, never assumed.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// registration returns a stream for a new user and the event that opens it.
func registration(t *testing.T) (eventstore.Stream, domain.UserRegistered) {
	t.Helper()
	id := uuid.New()
	company := "Initech"
	_, events, err := domain.RegisterUser(id, fmt.Sprintf("user-%s@example.com", id), "Ada Lovelace",
		domain.RoleRecruiter, &company, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
	if err != nil {
		t.Fatalf("register user: %v", err)
	}
	return eventstore.Stream{Type: domain.StreamUser, ID: id}, events[0].(domain.UserRegistered)
}

// someEvents returns n events for stream; the store does not care that a
// real user would only ever register once.
func someEvents(t *testing.T, n int) (eventstore.Stream, []domain.Event) {
	t.Helper()
	stream, first := registration(t)
	events := make([]domain.Event, n)
	for i := range events {
		e := first
		e.Name = fmt.Sprintf("Name %d", i+1)
		events[i] = e
	}
	return stream, events
}

// waitVisible waits until readers of the whole log can see cp.
func waitVisible(t *testing.T, ctx context.Context, store *eventstore.Store, cp eventstore.Checkpoint) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("log head reaches %s", cp), func() bool {
		head, err := store.Head(ctx)
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		return !head.Less(cp)
	})
}

func TestAppendToNewStreamAndReadIt(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	now := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()), eventstore.WithClock(func() time.Time { return now }))
	stream, events := someEvents(t, 3)
	actor := uuid.New()
	ctx = eventstore.WithMetadata(ctx, eventstore.Metadata{
		CorrelationID: "correlation-1",
		CausationID:   "causation-1",
		RequestID:     "request-1",
	})
	ctx = eventstore.WithActor(ctx, actor) // keeps the rest of the metadata

	appended, err := store.Append(ctx, stream, 0, events)
	is.NoErr(err)                      // append to a new stream at version 0
	is.Equal(len(appended.Records), 3) // one record per event
	is.Equal(appended.Last(), appended.Records[2].Checkpoint())

	read, err := store.ReadStream(ctx, stream.ID)
	is.NoErr(err)          // read the stream back
	is.Equal(len(read), 3) // every appended event is stored
	wantMeta := eventstore.Metadata{ActorID: actor, CorrelationID: "correlation-1", CausationID: "causation-1", RequestID: "request-1"}
	wantAt := now.UTC().Truncate(time.Microsecond)
	for i, r := range read {
		is.Equal(r.Version, int64(i+1))                    // versions count from 1 without gaps
		is.Equal(r.StreamType, domain.StreamUser)          // stream type stored
		is.Equal(r.StreamID, stream.ID)                    // stream id stored
		is.Equal(r.Type, "UserRegistered")                 // event type stored
		is.Equal(r.SchemaVersion, 1)                       // schema version of UserRegistered
		is.Equal(r.Metadata, wantMeta)                     // actor, correlation, causation and request ids from the context
		is.True(r.OccurredAt.Equal(wantAt))                // occurred_at is the store's clock, to the microsecond
		is.Equal(r.OccurredAt.Location(), time.UTC)        // and read back in UTC
		is.Equal(r.EventID, appended.Records[i].EventID)   // the event id Append returned
		is.Equal(r.Position, appended.Records[i].Position) // the position Append returned
		is.Equal(r.TxID, appended.Records[i].TxID)         // the transaction Append returned
		is.Equal(r.TxID, appended.Records[0].TxID)         // one append is one transaction
		if i > 0 {
			is.True(read[i-1].Position < r.Position) // positions grow within the append
		}
		e, err := r.Event()
		is.NoErr(err)                                          // the stored data decodes
		is.Equal(e, events[i])                                 // into the event that was appended
		is.Equal(r.OccurredAt, appended.Records[i].OccurredAt) // Append reports what it stored
	}

	more, err := store.Append(ctx, stream, 3, events[:2])
	is.NoErr(err)                               // append at the current version
	is.Equal(more.Records[0].Version, int64(4)) // continues the stream
	is.Equal(more.Records[1].Version, int64(5))
}

func TestAppendWithoutMetadataStoresNoActor(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	stream, events := someEvents(t, 1)

	_, err := store.Append(ctx, stream, 0, events)
	is.NoErr(err) // append without metadata
	var actorIsNull bool
	err = db.Pool.QueryRow(ctx, `SELECT actor_id IS NULL FROM events WHERE stream_id = $1`, stream.ID).Scan(&actorIsNull)
	is.NoErr(err)        // read actor column
	is.True(actorIsNull) // no actor is NULL, not the nil uuid
	read, err := store.ReadStream(ctx, stream.ID)
	is.NoErr(err)                                     // read the stream
	is.Equal(read[0].Metadata, eventstore.Metadata{}) // and it has no metadata
}

func TestAppendOfNoEventsFails(t *testing.T) {
	is := is.New(t)
	stream, _ := someEvents(t, 1)
	_, err := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring())).Append(testContext(t), stream, 0, nil)
	is.True(err != nil) // nothing to append is a caller's mistake
}

func TestReadUnknownStreamIsEmpty(t *testing.T) {
	is := is.New(t)
	read, err := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring())).ReadStream(testContext(t), uuid.New())
	is.NoErr(err)          // an unknown stream is not an error
	is.Equal(len(read), 0) // it has no events
}

func TestStaleExpectedVersionConflicts(t *testing.T) {
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	stream, events := someEvents(t, 2)
	if _, err := store.Append(ctx, stream, 0, events); err != nil {
		t.Fatalf("append: %v", err)
	}
	for _, expected := range []int64{0, 1, 3, 10} {
		t.Run(fmt.Sprintf("expected %d", expected), func(t *testing.T) {
			is := is.New(t)
			_, more := someEvents(t, 1)
			_, err := store.Append(ctx, stream, expected, more)
			is.True(err != nil)                               // the stream is at version 2
			is.True(errors.Is(err, eventstore.ErrConflict))   // the cause is a version conflict
			is.Equal(domain.KindOf(err), domain.KindConflict) // and the caller sees a conflict
			read, err := store.ReadStream(ctx, stream.ID)
			is.NoErr(err)          // read the stream
			is.Equal(len(read), 2) // nothing was appended
		})
	}
}

func TestConcurrentAppendsToOneStreamOneWins(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	stream, _ := someEvents(t, 1)

	const writers = 20
	type result struct {
		appended eventstore.Appended
		err      error
	}
	results := make(chan result, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		_, events := someEvents(t, 2)
		for i := range events {
			e := events[i].(domain.UserRegistered)
			e.Name = fmt.Sprintf("writer %d", w)
			events[i] = e
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, err := store.Append(ctx, stream, 0, events)
			results <- result{a, err}
		}()
	}
	close(start)
	wg.Wait()
	close(results)

	var winners []eventstore.Appended
	conflicts := 0
	for r := range results {
		switch {
		case r.err == nil:
			winners = append(winners, r.appended)
		case errors.Is(r.err, eventstore.ErrConflict) && domain.KindOf(r.err) == domain.KindConflict:
			conflicts++
		default:
			t.Errorf("append failed with something other than a conflict: %v", r.err)
		}
	}
	is.Equal(len(winners), 1)      // exactly one writer wins
	is.Equal(conflicts, writers-1) // every other one is told it lost
	read, err := store.ReadStream(ctx, stream.ID)
	is.NoErr(err)          // read the stream
	is.Equal(len(read), 2) // only the winner's two events are stored
	for i, r := range read {
		is.Equal(r.EventID, winners[0].Records[i].EventID) // both from the winner, not interleaved
		is.Equal(r.Version, int64(i+1))
	}
}

// The log is the topic: the subscribers deliver each stored record as a
// Watermill message, and a handler reads the same record back from it.
func TestRecordTravelsAsAMessage(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	stream, events := someEvents(t, 2)
	ctx = eventstore.WithMetadata(ctx, eventstore.Metadata{ActorID: uuid.New(), CorrelationID: "c", CausationID: "d", RequestID: "r"})
	_, err := store.Append(ctx, stream, 0, events)
	is.NoErr(err) // append
	stored, err := store.ReadStream(ctx, stream.ID)
	is.NoErr(err) // read them back as the log stores them

	for i, want := range stored {
		msg := want.Message()
		is.Equal(msg.UUID, want.EventID.String())                                // the message id is the event id
		is.Equal(msg.Metadata.Get(eventstore.MetaEventType), "UserRegistered")   // handlers can filter on the type
		is.Equal(msg.Metadata.Get(eventstore.MetaStreamType), domain.StreamUser) // and on the stream type
		got, err := eventstore.RecordFromMessage(msg)
		is.NoErr(err) // the message is a record
		is.True(got.OccurredAt.Equal(want.OccurredAt))
		got.OccurredAt = want.OccurredAt
		is.Equal(got, want) // the same record
		cp, err := eventstore.CheckpointFromMessage(msg)
		is.NoErr(err)                   // its place in the log reads alone
		is.Equal(cp, want.Checkpoint()) // too
		e, err := got.Event()
		is.NoErr(err)          // the data decodes
		is.Equal(e, events[i]) // into the appended event
	}
	without := stored[0]
	without.Metadata = eventstore.Metadata{}
	got, err := eventstore.RecordFromMessage(without.Message())
	is.NoErr(err)                                 // a record without metadata
	is.Equal(got.Metadata, eventstore.Metadata{}) // reads back without

	_, err = eventstore.RecordFromMessage(message.NewMessage("not-a-uuid", []byte(`{}`)))
	is.True(err != nil) // a message that is not a record is refused
}

func TestWithinRunsInTheAppendTransaction(t *testing.T) {
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	writeCredentials := func(id uuid.UUID) eventstore.AppendOption {
		return eventstore.Within(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO credentials (user_id, email_hash, password_hash) VALUES ($1, $2, 'hash')`,
				id, testdb.Keyring().EmailIndex(id.String()+"@example.com"))
			return err
		})
	}
	credentials := func(t *testing.T, id uuid.UUID) int {
		var n int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM credentials WHERE user_id = $1`, id).Scan(&n); err != nil {
			t.Fatalf("count credentials: %v", err)
		}
		return n
	}

	t.Run("commits with the events", func(t *testing.T) {
		is := is.New(t)
		stream, events := someEvents(t, 1)
		_, err := store.Append(ctx, stream, 0, events, writeCredentials(stream.ID))
		is.NoErr(err)                          // append with a hook
		is.Equal(credentials(t, stream.ID), 1) // the hook's write committed
		read, err := store.ReadStream(ctx, stream.ID)
		is.NoErr(err)          // read the stream
		is.Equal(len(read), 1) // and so did the event
	})

	t.Run("an error rolls everything back", func(t *testing.T) {
		is := is.New(t)
		stream, events := someEvents(t, 2)
		errRefused := errors.New("refused")
		var sawOwnEvents int
		_, err := store.Append(ctx, stream, 0, events,
			writeCredentials(stream.ID),
			eventstore.Within(func(ctx context.Context, tx pgx.Tx) error {
				// The hook runs after the insert: it sees the events.
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id = $1`, stream.ID).Scan(&sawOwnEvents); err != nil {
					return err
				}
				return errRefused
			}))
		is.True(errors.Is(err, errRefused)) // the hook's error is returned as is
		is.Equal(sawOwnEvents, 2)           // the hook ran inside the append
		read, err := store.ReadStream(ctx, stream.ID)
		is.NoErr(err)                          // read the stream
		is.Equal(len(read), 0)                 // no event was stored
		is.Equal(credentials(t, stream.ID), 0) // and the earlier hook's write was undone
	})
}

// A statement added With an append travels with the events' inserts, in
// one implicit transaction: both commit or neither does, and its error can
// be turned into the caller's.
func TestWithRunsInTheAppendTransaction(t *testing.T) {
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	// Credentials keep the email's keyed hash, unique
	// (credentials_email_hash_key), not the address.
	credential := func(id uuid.UUID, email string, onError func(error) error) eventstore.AppendOption {
		return eventstore.With(eventstore.Statement{
			SQL:     `INSERT INTO credentials (user_id, email_hash, password_hash) VALUES ($1, $2, 'hash')`,
			Args:    []any{id, testdb.Keyring().EmailIndex(email)},
			OnError: onError,
		})
	}
	count := func(t *testing.T, table string, id uuid.UUID) int {
		var n int
		column := map[string]string{"credentials": "user_id", "events": "stream_id"}[table]
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE `+column+` = $1`, id).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		return n
	}
	email := uuid.NewString() + "@example.com"

	t.Run("commits with the events", func(t *testing.T) {
		is := is.New(t)
		stream, events := someEvents(t, 2)
		a, err := store.Append(ctx, stream, 0, events, credential(stream.ID, email, nil))
		is.NoErr(err)                                     // append with a statement
		is.Equal(count(t, "credentials", stream.ID), 1)   // the statement committed
		is.Equal(count(t, "events", stream.ID), 2)        // with the events
		is.True(a.Records[0].Checkpoint().Less(a.Last())) // which got their places in the log
		is.Equal(a.Records[0].TxID, a.Last().TxID)        // in one transaction
	})

	t.Run("its error rolls the events back", func(t *testing.T) {
		is := is.New(t)
		stream, events := someEvents(t, 1)
		errTaken := errors.New("email taken")
		_, err := store.Append(ctx, stream, 0, events, credential(stream.ID, email, func(err error) error {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "credentials_email_hash_key" {
				return errTaken
			}
			return err
		}))
		is.True(errors.Is(err, errTaken))               // the statement's error, as OnError made it
		is.Equal(count(t, "events", stream.ID), 0)      // no event was stored
		is.Equal(count(t, "credentials", stream.ID), 0) // nor the credential
	})
}

func TestLogIsAppendOnly(t *testing.T) {
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	stream, events := someEvents(t, 1)
	appended, err := store.Append(ctx, stream, 0, events)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	id := appended.Records[0].EventID

	for _, sql := range []string{
		`UPDATE events SET event_type = 'Tampered' WHERE event_id = $1`,
		`UPDATE events SET data = '{}' WHERE event_id = $1`,
		`DELETE FROM events WHERE event_id = $1`,
		`TRUNCATE events`,
	} {
		t.Run(sql, func(t *testing.T) {
			is := is.New(t)
			// In a transaction that is rolled back, so that a missing guard
			// fails this test without wrecking the others.
			tx, err := db.Pool.Begin(ctx)
			is.NoErr(err) // begin
			defer tx.Rollback(ctx)
			var args []any
			if sql != `TRUNCATE events` {
				args = append(args, id)
			}
			_, err = tx.Exec(ctx, sql, args...)
			var pgErr *pgconn.PgError
			is.True(errors.As(err, &pgErr)) // the database refuses
			is.Equal(pgErr.Code, "42501")   // as insufficient privilege
		})
	}
	is := is.New(t)
	read, err := store.ReadStream(ctx, stream.ID)
	is.NoErr(err)                            // read the stream
	is.Equal(len(read), 1)                   // the event is still there
	is.Equal(read[0].Type, "UserRegistered") // unchanged
}

func TestReadAllPagesThroughTheLogInOrder(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))

	var appendedIDs []uuid.UUID
	var last eventstore.Checkpoint
	for i := range 9 {
		stream, events := someEvents(t, i%3+1)
		a, err := store.Append(ctx, stream, 0, events)
		is.NoErr(err) // append
		for _, r := range a.Records {
			appendedIDs = append(appendedIDs, r.EventID)
		}
		last = a.Last()
	}
	is.Equal(len(appendedIDs), 18)
	waitVisible(t, ctx, store, last)

	const limit = 7
	var all []eventstore.Record
	after := eventstore.Checkpoint{}
	for pages := 0; ; pages++ {
		is.True(pages < 1000) // the paging ends
		page, err := store.ReadAll(ctx, after, limit)
		is.NoErr(err)               // read a page
		is.True(len(page) <= limit) // never more than asked for
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			is.True(after.Less(r.Checkpoint())) // strictly after the previous page, in log order
			after = r.Checkpoint()
		}
		all = append(all, page...)
	}

	is.True(!all[len(all)-1].Checkpoint().Less(last)) // the whole log up to the last append was read
	seen := map[uuid.UUID]bool{}
	var ours []uuid.UUID
	for _, r := range all {
		is.True(!seen[r.EventID]) // no event twice
		seen[r.EventID] = true
		for _, id := range appendedIDs {
			if id == r.EventID {
				ours = append(ours, id)
			}
		}
	}
	// Sequential appends commit in order, so the log has them in order.
	is.Equal(ours, appendedIDs) // every appended event, once, in append order
}

// TestReaderSkipsNothingWhenTransactionsCommitOutOfOrder is the case the
// (tx_id, position) order and the snapshot-xmin rule exist for: transaction 1
// takes the lower position but commits after transaction 2. A reader that
// went by position alone would pass transaction 2's event and never see
// transaction 1's.
func TestReaderSkipsNothingWhenTransactionsCommitOutOfOrder(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	own := testdb.New(t) // an empty log of its own
	store := eventstore.New(own.Pool, eventstore.WithKeyring(testdb.Keyring()))

	head, err := store.Head(ctx)
	is.NoErr(err)                           // head of an empty log
	is.Equal(head, eventstore.Checkpoint{}) // is the start
	page, err := store.ReadAll(ctx, eventstore.Checkpoint{}, 100)
	is.NoErr(err)          // read an empty log
	is.Equal(len(page), 0) // it has nothing

	// A reader that has already seen one committed event.
	firstStream, firstEvents := someEvents(t, 1)
	first, err := store.Append(ctx, firstStream, 0, firstEvents)
	is.NoErr(err) // append the first event
	waitVisible(t, ctx, store, first.Last())
	var seen []eventstore.Record
	checkpoint := eventstore.Checkpoint{}
	read := func() {
		t.Helper()
		page, err := store.ReadAll(ctx, checkpoint, 100)
		if err != nil {
			t.Fatalf("read log after %s: %v", checkpoint, err)
		}
		for _, r := range page {
			seen = append(seen, r)
			checkpoint = r.Checkpoint()
		}
	}
	read()
	is.Equal(len(seen), 1) // the reader has the first event
	is.Equal(checkpoint, first.Last())

	// Transaction 1 inserts its event, then waits inside the append.
	type inserted struct {
		position int64
		txID     uint64
	}
	tx1Inserted := make(chan inserted, 1)
	releaseTx1 := make(chan struct{})
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(releaseTx1) }) }
	defer release()
	type result struct {
		appended eventstore.Appended
		err      error
	}
	tx1Done := make(chan result, 1)
	stream1, events1 := someEvents(t, 1)
	go func() {
		a, err := store.Append(ctx, stream1, 0, events1, eventstore.Within(func(ctx context.Context, tx pgx.Tx) error {
			var in inserted
			var txID int64
			if err := tx.QueryRow(ctx, `SELECT position, tx_id::text::bigint FROM events WHERE stream_id = $1`, stream1.ID).
				Scan(&in.position, &txID); err != nil {
				return err
			}
			in.txID = uint64(txID)
			tx1Inserted <- in
			select {
			case <-releaseTx1:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}))
		tx1Done <- result{a, err}
	}()
	var tx1 inserted
	select {
	case tx1 = <-tx1Inserted:
	case r := <-tx1Done:
		t.Fatalf("transaction 1 ended before it was held open: %v", r.err)
	case <-ctx.Done():
		t.Fatal("transaction 1 never inserted its event")
	}

	// Transaction 2 takes a higher position and commits first.
	stream2, events2 := someEvents(t, 1)
	tx2Committing := make(chan struct{})
	second, err := store.Append(ctx, stream2, 0, events2, eventstore.Within(func(context.Context, pgx.Tx) error {
		close(tx2Committing)
		return nil
	}))
	is.NoErr(err) // transaction 2 commits while transaction 1 is open
	<-tx2Committing
	tx2 := second.Records[0]
	is.True(tx1.position < tx2.Position) // transaction 1 took the lower position
	is.True(tx1.txID < tx2.TxID)         // and the lower transaction id
	committed, err := store.ReadStream(ctx, stream2.ID)
	is.NoErr(err)               // transaction 2's event is committed
	is.Equal(len(committed), 1) // and readable by stream

	// While transaction 1 runs, readers of the whole log do not see
	// transaction 2: it is not below the oldest running transaction.
	for range 3 {
		read()
		is.Equal(len(seen), 1) // nothing new while transaction 1 is open
		all, err := store.ReadAll(ctx, eventstore.Checkpoint{}, 100)
		is.NoErr(err) // read from the start
		for _, r := range all {
			is.True(r.EventID != tx2.EventID) // transaction 2 is hidden even from the start
		}
		head, err := store.Head(ctx)
		is.NoErr(err)                        // read the head
		is.True(head.Less(tx2.Checkpoint())) // the head does not reach transaction 2 either
	}

	release()
	var r1 result
	select {
	case r1 = <-tx1Done:
	case <-ctx.Done():
		t.Fatal("transaction 1 did not finish")
	}
	is.NoErr(r1.err) // transaction 1 commits after transaction 2
	tx1Record := r1.appended.Records[0]
	is.Equal(tx1Record.Position, tx1.position)
	is.True(tx1Record.Checkpoint().Less(tx2.Checkpoint())) // in log order, transaction 1 comes first

	// The reader resumes from its checkpoint and gets both, in log order.
	eventually(t, 10*time.Second, "the reader sees both transactions", func() bool {
		read()
		return len(seen) >= 3
	})
	is.Equal(len(seen), 3) // no event skipped, none twice
	is.Equal(seen[0].EventID, first.Records[0].EventID)
	is.Equal(seen[1].EventID, tx1Record.EventID) // transaction 1's event first
	is.Equal(seen[2].EventID, tx2.EventID)       // then transaction 2's
	head, err = store.Head(ctx)
	is.NoErr(err)                    // read the head
	is.Equal(head, tx2.Checkpoint()) // the head is the last event in log order

	all, err := store.ReadAll(ctx, eventstore.Checkpoint{}, 100)
	is.NoErr(err)         // read the whole log
	is.Equal(len(all), 3) // a reader from the start sees the same
	for i := range all {
		is.Equal(all[i].EventID, seen[i].EventID)
	}
}

func TestHeadFollowsAppends(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	for range 3 {
		stream, events := someEvents(t, 2)
		a, err := store.Append(ctx, stream, 0, events)
		is.NoErr(err) // append
		waitVisible(t, ctx, store, a.Last())
		head, err := store.Head(ctx)
		is.NoErr(err)                                 // read the head
		is.True(!head.Less(a.Last()))                 // the head has reached the append's last event
		is.True(a.Records[0].Checkpoint().Less(head)) // which is after its first
	}
}

func TestCheckpointOrder(t *testing.T) {
	is := is.New(t)
	a := eventstore.Checkpoint{TxID: 10, Position: 50}
	is.True(eventstore.Checkpoint{}.IsZero())                      // the start of the log
	is.True(!a.IsZero())                                           // is the only zero checkpoint
	is.True(a.Less(eventstore.Checkpoint{TxID: 11, Position: 1}))  // a later transaction comes after, whatever its position
	is.True(a.Less(eventstore.Checkpoint{TxID: 10, Position: 51})) // within a transaction, position decides
	is.True(!a.Less(a))                                            // nothing comes before itself
	is.True(!eventstore.Checkpoint{TxID: 11, Position: 1}.Less(a))
	is.Equal(a.String(), "10/50")
	is.Equal(eventstore.Appended{}.Last(), eventstore.Checkpoint{}) // an empty append has no last event
}

func TestMetadataFromContext(t *testing.T) {
	is := is.New(t)
	is.Equal(eventstore.MetadataFrom(context.Background()), eventstore.Metadata{}) // none by default
	actor := uuid.New()
	ctx := eventstore.WithActor(context.Background(), actor)
	is.Equal(eventstore.MetadataFrom(ctx), eventstore.Metadata{ActorID: actor}) // WithActor alone
	ctx = eventstore.WithMetadata(ctx, eventstore.Metadata{RequestID: "r"})
	is.Equal(eventstore.MetadataFrom(ctx), eventstore.Metadata{RequestID: "r"}) // WithMetadata replaces
}

// TestAuditQueryIsNotHeldBackByRunningTransactions: a one-off audit
// question sees every committed event, even while an append is still
// running (which hides later commits from followers); a follower's query
// keeps to what it can never have to go back for, and waits for running
// appends only, not for other transactions.
func TestAuditQueryIsNotHeldBackByRunningTransactions(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))

	// A transaction that holds an id, but appends nothing, stays open
	// throughout: it holds back no one.
	other, err := db.Pool.Begin(ctx)
	is.NoErr(err)                                    // begin another transaction
	defer other.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // only ever rolled back
	_, err = other.Exec(ctx, `SELECT pg_current_xact_id()`)
	is.NoErr(err) // take a transaction id

	// An append that stays open while the event is appended and queried.
	running, err := db.Pool.Begin(ctx)
	is.NoErr(err)                                      // begin the running append
	defer running.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // only ever rolled back
	_, err = running.Exec(ctx, `
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, occurred_at)
VALUES ($1, 'user', $2, 1, 'Never', 1, '{}', now())`, uuid.New(), uuid.New())
	is.NoErr(err) // it has inserted an event

	stream, events := someEvents(t, 1)
	_, err = store.Append(ctx, stream, 0, events)
	is.NoErr(err) // append behind the running one

	got, err := store.Query(ctx, eventstore.Filter{StreamID: stream.ID})
	is.NoErr(err)         // audit query
	is.Equal(len(got), 1) // the committed event is there
	is.Equal(got[0].StreamID, stream.ID)

	held, err := store.Query(ctx, eventstore.Filter{StreamID: stream.ID, Follow: true})
	is.NoErr(err)          // follower's query
	is.Equal(len(held), 0) // waits for the running append: a later page might otherwise skip its event

	is.NoErr(running.Rollback(ctx)) // the running append ends
	held, err = store.Query(ctx, eventstore.Filter{StreamID: stream.ID, Follow: true})
	is.NoErr(err)          // follower's query
	is.Equal(len(held), 1) // sees the event at once, though the other transaction still runs
}

func TestReadStreamsReadsSeveralAtOnce(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	a, eventsA := someEvents(t, 2)
	b, eventsB := someEvents(t, 1)
	_, err := store.Append(ctx, a, 0, eventsA)
	is.NoErr(err) // append to a
	_, err = store.Append(ctx, b, 0, eventsB)
	is.NoErr(err) // append to b
	unknown := uuid.New()

	streams, err := store.ReadStreams(ctx, a.ID, b.ID, unknown)
	is.NoErr(err)             // read three streams
	is.Equal(len(streams), 2) // the two that have events
	is.Equal(len(streams[unknown]), 0)
	for id, want := range map[uuid.UUID]int{a.ID: 2, b.ID: 1} {
		got := streams[id]
		is.Equal(len(got), want) // each stream whole
		for i, r := range got {
			is.Equal(r.StreamID, id)        // and only its own events
			is.Equal(r.Version, int64(i+1)) // oldest first
		}
		one, err := store.ReadStream(ctx, id)
		is.NoErr(err)
		is.Equal(one, got) // as ReadStream reads it
	}
}
