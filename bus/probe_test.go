package bus

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
)

// probeFixture is a database of its own (the probe looks at the whole
// topic), a consumer group at the start of the log, and its probe.
type probeFixture struct {
	db    *testdb.DB
	store *eventstore.Store
	group string
	probe probe
}

func newProbeFixture(t *testing.T) probeFixture {
	t.Helper()
	is := is.New(t)
	own := testdb.New(t)
	group := "probe-test"
	_, err := own.Pool.Exec(probeCtx(t), `INSERT INTO watermill_offsets_events (consumer_group, offset_acked, last_processed_transaction_id) VALUES ($1, 0, '0')`, group)
	is.NoErr(err) // the group's offsets row, as Subscribe creates it
	schema, offsets := wmsql.DefaultPostgreSQLSchema{}, wmsql.DefaultPostgreSQLOffsetsAdapter{}
	return probeFixture{
		db:    own,
		store: eventstore.New(own.Pool),
		group: group,
		probe: sqlProbe(context.Background(), own.Pool, group, schema.MessagesTable(eventstore.Topic), offsets.MessagesOffsetsTable(eventstore.Topic)),
	}
}

func (f probeFixture) appendUser(t *testing.T) {
	t.Helper()
	id := uuid.New()
	_, events, err := domain.RegisterUser(id, "probe-"+id.String()+"@example.com", "Probe Test", domain.RoleJobSeeker, nil, time.Now())
	if err == nil {
		_, err = f.store.Append(probeCtx(t), eventstore.Stream{Type: domain.StreamUser, ID: id}, 0, events)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// holdTransactionID opens a transaction that takes a transaction id and
// keeps it until the returned function is called: every event committed
// after it is hidden from subscribers until then.
func (f probeFixture) holdTransactionID(t *testing.T) (release func()) {
	t.Helper()
	ctx := probeCtx(t)
	tx, err := f.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	return func() { tx.Rollback(ctx) } //nolint:errcheck // nothing was written
}

func TestProbeTellsNothingHiddenAndReadableApart(t *testing.T) {
	is := is.New(t)
	f := newProbeFixture(t)
	seen, err := f.probe()
	is.NoErr(err)
	is.Equal(seen, nothingNew) // an empty log

	release := f.holdTransactionID(t)
	f.appendUser(t)
	seen, err = f.probe()
	is.NoErr(err)
	is.Equal(seen, eventHidden) // committed, but behind an older running transaction

	release()
	// Readable once that transaction has ended, and any other older one
	// on the cluster (another test package's CREATE DATABASE holds an id
	// too, for up to a second): look until a deadline, never readable
	// before the release.
	deadline := time.Now().Add(15 * time.Second)
	for seen, err = f.probe(); err == nil && seen == eventHidden && time.Now().Before(deadline); seen, err = f.probe() {
		time.Sleep(5 * time.Millisecond)
	}
	is.NoErr(err)
	is.Equal(seen, eventReadable) // shows once that transaction ends

	_, err = f.db.Pool.Exec(probeCtx(t), `
UPDATE watermill_offsets_events SET (last_processed_transaction_id, offset_acked) =
    (SELECT transaction_id, "offset" FROM watermill_events ORDER BY transaction_id DESC, "offset" DESC LIMIT 1)
WHERE consumer_group = $1`, f.group)
	is.NoErr(err) // the group acknowledges it
	seen, err = f.probe()
	is.NoErr(err)
	is.Equal(seen, nothingNew) // and has nothing new again
}

// A subscriber whose wake-up found the new event hidden keeps looking, and
// queries as soon as the event shows, not after the idle poll.
func TestWakingBackoffWaitsOutAHiddenEvent(t *testing.T) {
	is := is.New(t)
	f := newProbeFixture(t)
	b, appended := newProbeBackoff(f, SubscriberConfig{IdlePoll: time.Minute, HotWindow: 10 * time.Millisecond})

	release := f.holdTransactionID(t)
	f.appendUser(t)
	appended.Notify()
	is.Equal(b.HandleError(watermill.NopLogger{}, true, nil), time.Duration(0)) // woken: query at once
	returned := handleProbeAsync(b)                                             // the query found nothing: the event is hidden
	select {
	case d := <-returned:
		t.Fatalf("returned %s while the event was hidden", d)
	case <-time.After(100 * time.Millisecond): // past the hot window, still looking
	}
	release()
	select {
	case d := <-returned:
		is.Equal(d, time.Duration(0)) // query now
	case <-time.After(20 * time.Second): // the idle poll is a minute
		t.Fatal("HandleError did not return once the event showed")
	}
}

// With nothing committed, a subscriber waits for a wake-up without running
// its locking query, and a wake-up sends it to query at once.
func TestWakingBackoffWithProbeSleepsUntilWoken(t *testing.T) {
	is := is.New(t)
	f := newProbeFixture(t)
	b, appended := newProbeBackoff(f, SubscriberConfig{IdlePoll: time.Minute})
	returned := handleProbeAsync(b)
	select {
	case d := <-returned:
		t.Fatalf("returned %s with nothing to read", d)
	case <-time.After(100 * time.Millisecond):
	}
	f.appendUser(t)
	appended.Notify()
	select {
	case d := <-returned:
		is.Equal(d, time.Duration(0)) // query at once
	case <-time.After(10 * time.Second):
		t.Fatal("HandleError did not return after Notify")
	}

	// Messages were found: it queries again only if the probe sees more.
	is.Equal(b.HandleError(watermill.NopLogger{}, false, nil), time.Duration(0)) // the event is still unacknowledged here
}

func newProbeBackoff(f probeFixture, cfg SubscriberConfig) (*wakingBackoff, *Signal) {
	cfg.setDefaults()
	s := NewSignal()
	b := &wakingBackoff{signal: s, cfg: cfg, newProbe: func(string) probe { return f.probe }}
	if err := b.watch(eventstore.Topic); err != nil {
		panic(err)
	}
	return b, s
}

// handleProbeAsync runs HandleError for an empty query on its own
// goroutine, as the subscriber does, and returns the backoff it chose.
func handleProbeAsync(b *wakingBackoff) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	go func() { out <- b.HandleError(watermill.NopLogger{}, true, nil) }()
	return out
}

func probeCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// If the probe keeps seeing an event that the query does not return (an
// instance of the group elsewhere took it, or a bug), the subscriber backs
// off instead of spinning between the two.
func TestWakingBackoffDoesNotSpinWhenProbeAndQueryDisagree(t *testing.T) {
	is := is.New(t)
	probes := 0
	b := &wakingBackoff{signal: NewSignal(), cfg: SubscriberConfig{IdlePoll: time.Minute}, newProbe: func(string) probe {
		return func() (visibility, error) { probes++; return eventReadable, nil }
	}}
	b.cfg.setDefaults()
	is.NoErr(b.watch(eventstore.Topic))

	is.Equal(b.HandleError(watermill.NopLogger{}, true, nil), time.Duration(0)) // readable: query
	start, queries := time.Now(), 0
	for time.Since(start) < 300*time.Millisecond {
		is.Equal(b.HandleError(watermill.NopLogger{}, true, nil), time.Duration(0)) // the query found nothing
		queries++
	}
	t.Logf("%d queries and %d probes in %s", queries, probes, time.Since(start))
	is.True(queries < 100) // far from a spin (thousands)
}
