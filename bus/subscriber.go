package bus

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SubscriberConfig tunes how a subscriber waits for new events.
type SubscriberConfig struct {
	// IdlePoll is how long a subscriber with nothing to do waits for a
	// wake-up before it looks anyway. It bounds the delay when a wake-up
	// is missed (another process appended and its notification was lost).
	IdlePoll time.Duration
	// HotPoll is the interval at which a subscriber looks again when a
	// committed event is hidden from it: events of a transaction show only
	// once every transaction that took an id before it has ended, anywhere
	// in the cluster (another consumer group's subscriber transaction, a
	// slow writer, a CREATE DATABASE).
	HotPoll time.Duration
	// HotWindow is how long after a wake-up that looking goes on at
	// HotPoll. An event that stays hidden longer is looked for at intervals
	// of a tenth of the time it has been hidden (at most IdlePoll): it shows
	// the moment the transaction holding it back ends, which nobody
	// announces, so it costs at most a tenth more delay, and few queries.
	HotWindow time.Duration
	// BatchSize is how many events one subscriber transaction takes.
	BatchSize int
	// SynchronousCommit makes each subscriber transaction wait for its WAL
	// to reach the disk before it counts as committed. By default it does
	// not (synchronous_commit off for that transaction only), which takes
	// a flush, most of a millisecond on this project's machines, out of
	// every delivery and leaves the disk to the appends. What such a
	// transaction holds is derived from the durable log: the group's offset
	// and what the handler wrote with it. A crash of the database server
	// may undo the last fraction of a second of them (the newest ones,
	// never one without those before it); their events are then delivered
	// again, which an at-least-once handler must take anyway. A later
	// synchronous commit by anyone (an append) makes them durable too.
	// Set it for a handler whose writes must be on disk before anyone can
	// act on them.
	SynchronousCommit bool
}

func (c *SubscriberConfig) setDefaults() {
	if c.IdlePoll <= 0 {
		c.IdlePoll = 250 * time.Millisecond
	}
	if c.HotPoll <= 0 {
		c.HotPoll = time.Millisecond
	}
	if c.HotWindow <= 0 {
		c.HotWindow = 25 * time.Millisecond
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
}

// Subscriber is a watermill-sql subscriber for one consumer group of one
// topic.
type Subscriber struct {
	*wmsql.Subscriber
	backoff *wakingBackoff
}

// NewSubscriber returns a subscriber for one consumer group of the events
// topic. It sleeps until the relay says events were appended (or IdlePoll
// passes) rather than polling at a fixed rate, and tells the relay about
// every transaction in which it acknowledged messages, once committed.
//
// Between deliveries it only runs a read-only probe, which takes no
// transaction id: watermill-sql's own query locks the group's offsets row
// FOR UPDATE, so each one, even an empty one, takes a transaction id (which
// hides newer events from every other subscriber until it ends) and a WAL
// flush at commit. The locking query runs only after a wake-up or when the
// probe has seen an event it can read.
func NewSubscriber(pool *pgxpool.Pool, consumerGroup string, relay *Relay, cfg SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	cfg.setDefaults()
	ackDeadline := 30 * time.Second
	schema := wmsql.DefaultPostgreSQLSchema{SubscribeBatchSize: cfg.BatchSize}
	offsets := wmsql.DefaultPostgreSQLOffsetsAdapter{}
	ctx, stop := context.WithCancel(context.Background())
	backoff := &wakingBackoff{
		signal: relay.signals.Appended,
		cfg:    cfg,
		done:   ctx.Done(),
		stop:   stop,
		newProbe: func(topic string) probe {
			return sqlProbe(ctx, pool, consumerGroup, schema.MessagesTable(topic), offsets.MessagesOffsetsTable(topic))
		},
	}
	sub, err := wmsql.NewSubscriber(
		&beginner{pool: pool, committed: relay.Progressed, synchronousCommit: cfg.SynchronousCommit},
		wmsql.SubscriberConfig{
			ConsumerGroup:  consumerGroup,
			AckDeadline:    &ackDeadline,
			PollInterval:   cfg.IdlePoll,
			ResendInterval: 100 * time.Millisecond,
			RetryInterval:  time.Second,
			BackoffManager: backoff,
			SchemaAdapter:  schema,
			OffsetsAdapter: offsets,
		},
		logger,
	)
	if err != nil {
		stop()
		return nil, err
	}
	return &Subscriber{Subscriber: sub, backoff: backoff}, nil
}

// Subscribe starts delivering topic's messages. A Subscriber serves one
// topic: its probe and its wake-up state are the topic's.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := s.backoff.watch(topic); err != nil {
		return nil, err
	}
	return s.Subscriber.Subscribe(ctx, topic)
}

// Close stops the subscriber without waiting out its idle poll.
func (s *Subscriber) Close() error {
	s.backoff.stop()
	return s.Subscriber.Close()
}

// visibility is what a probe found after the group's offset.
type visibility int

const (
	nothingNew    visibility = iota // no committed event
	eventHidden                     // a committed event the subscriber cannot read yet
	eventReadable                   // an event the subscriber's query will return
)

type probe func() (visibility, error)

// probeSQL finds the first committed event after the group's offset, in
// the subscriber's order, and says whether the subscriber's query would
// return it (it reads only below the oldest running transaction id). It
// runs outside any transaction and takes no lock and no transaction id.
const probeSQL = `
SELECT e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
FROM %s e
WHERE (e.transaction_id, e."offset") > (
    SELECT last_processed_transaction_id, offset_acked FROM %s WHERE consumer_group = $1)
ORDER BY e.transaction_id, e."offset"
LIMIT 1`

func sqlProbe(ctx context.Context, pool *pgxpool.Pool, consumerGroup, messagesTable, offsetsTable string) probe {
	query := fmt.Sprintf(probeSQL, messagesTable, offsetsTable)
	return func() (visibility, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var readable bool
		err := pool.QueryRow(ctx, query, consumerGroup).Scan(&readable)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nothingNew, nil
		case err != nil:
			return 0, err
		case readable:
			return eventReadable, nil
		}
		return eventHidden, nil
	}
}

// wakingBackoff is called by the subscriber after each query, on the
// subscriber's own goroutine, so blocking in it is how the subscriber waits.
type wakingBackoff struct {
	signal *Signal
	cfg    SubscriberConfig
	// done ends every wait at once when the subscriber closes. The wait
	// then returns a long backoff rather than 0, so that the subscriber's
	// loop, which picks at random among what is ready, sees it is closing
	// instead of starting another query.
	done <-chan struct{}
	stop func()
	// newProbe makes the probe for the topic subscribed to. Without one
	// (or when probing fails) the subscriber runs its locking query every
	// HotPoll for HotWindow after a wake-up and waits for the next wake-up
	// after that.
	newProbe func(topic string) probe

	probeMu sync.Mutex
	topic   string
	probe   probe

	mu       sync.Mutex
	seenGen  uint64
	hotUntil time.Time
	// hiddenSince is when the probe first found the event it is waiting
	// for hidden.
	hiddenSince time.Time
	// probedReadable: the last wait ended because the probe saw an event
	// to read. If the query then finds none (another instance of the group
	// took it, or probe and query disagree), the next readable probe is
	// treated as hidden, so that a disagreement can never make the
	// subscriber spin.
	probedReadable bool
}

// watch makes the backoff probe topic.
func (b *wakingBackoff) watch(topic string) error {
	b.probeMu.Lock()
	defer b.probeMu.Unlock()
	if b.topic != "" && b.topic != topic {
		return fmt.Errorf("bus: subscriber already serves topic %s, not %s", b.topic, topic)
	}
	if b.topic == "" && b.newProbe != nil {
		b.topic, b.probe = topic, b.newProbe(topic)
	}
	return nil
}

func (b *wakingBackoff) currentProbe() probe {
	b.probeMu.Lock()
	defer b.probeMu.Unlock()
	return b.probe
}

var deadlockHints = []string{"deadlock", "concurrent update", "could not serialize"}

func (b *wakingBackoff) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return b.cfg.IdlePoll // the subscriber is closing: let it see that rather than query again
		}
		msg := strings.ToLower(err.Error())
		for _, hint := range deadlockHints {
			if strings.Contains(msg, hint) {
				return 0 // another instance of the group held the lock; try again
			}
		}
		logger.Error("Querying events failed", err, nil)
		return time.Second
	}
	disagreed := noMsg && b.probedReadable
	b.probedReadable = false
	if !noMsg {
		b.hiddenSince = time.Time{}
	}
	probe := b.currentProbe()
	if !noMsg && probe == nil {
		return 0
	}
	gen, woken := b.signal.Wait()
	if gen != b.seenGen { // something was appended while we were querying
		b.seenGen = gen
		b.hotUntil = time.Now().Add(b.cfg.HotWindow)
		if noMsg {
			return 0
		}
	}
	if probe != nil {
		return b.awaitReadable(logger, probe, woken, disagreed)
	}
	return b.awaitWakeUp(woken)
}

// awaitReadable returns when the probe sees an event the subscriber can
// read, or when a wake-up comes while nothing new was committed. The
// locking query runs only then.
func (b *wakingBackoff) awaitReadable(logger watermill.LoggerAdapter, probe probe, woken <-chan struct{}, disagreed bool) time.Duration {
	for {
		seen, err := probe()
		if err != nil {
			select {
			case <-b.done:
				return b.cfg.IdlePoll
			default:
			}
			logger.Error("Probing for events failed; querying instead", err, nil)
			return b.awaitWakeUp(woken)
		}
		wait := b.cfg.IdlePoll
		switch now := time.Now(); seen {
		case eventReadable:
			if !disagreed {
				b.probedReadable = true
				return 0
			}
			disagreed = false // pause as for a hidden event, then let the query try again
			fallthrough
		case eventHidden:
			if b.hiddenSince.IsZero() {
				b.hiddenSince = now
			}
			wait = b.cfg.HotPoll
			if !now.Before(b.hotUntil) {
				wait = min(b.cfg.IdlePoll, max(b.cfg.HotPoll, now.Sub(b.hiddenSince)/10))
			}
		default:
			b.hiddenSince = time.Time{}
		}
		timer := time.NewTimer(wait)
		select {
		case <-woken:
			timer.Stop()
			b.seenGen, woken = b.signal.Wait()
			b.hotUntil = time.Now().Add(b.cfg.HotWindow)
			if seen == nothingNew {
				return 0 // a fresh append: query at once, it is almost always readable
			}
			// Still behind a hidden event: the new one is hidden too.
		case <-timer.C:
		case <-b.done:
			timer.Stop()
			return b.cfg.IdlePoll
		}
	}
}

// awaitWakeUp is the waiting without a probe: the locking query runs every
// HotPoll for HotWindow after a wake-up, then the subscriber sleeps until
// the next wake-up or IdlePoll.
func (b *wakingBackoff) awaitWakeUp(woken <-chan struct{}) time.Duration {
	if time.Now().Before(b.hotUntil) {
		return b.cfg.HotPoll
	}
	idle := time.NewTimer(b.cfg.IdlePoll)
	defer idle.Stop()
	select {
	case <-woken:
		b.seenGen, _ = b.signal.Wait()
		b.hotUntil = time.Now().Add(b.cfg.HotWindow)
	case <-idle.C:
	case <-b.done:
		return b.cfg.IdlePoll
	}
	return 0
}

// beginner gives the subscriber pgx transactions that report their commit.
type beginner struct {
	pool              *pgxpool.Pool
	committed         func()
	synchronousCommit bool
}

func (b *beginner) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (wmsql.Tx, error) {
	begin := "BEGIN"
	if opts != nil && opts.Isolation == stdsql.LevelRepeatableRead {
		begin += " ISOLATION LEVEL REPEATABLE READ"
	}
	if !b.synchronousCommit {
		// Sent with the BEGIN, in the same round trip.
		begin += "; SET LOCAL synchronous_commit TO OFF"
	}
	tx, err := b.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return nil, err
	}
	return &Tx{tx: tx, ctx: ctx, committed: b.committed}, nil
}

func (b *beginner) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	tag, err := b.pool.Exec(ctx, query, args...)
	return wmsql.PgxResult{CommandTag: tag}, err
}

func (b *beginner) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	rows, err := b.pool.Query(ctx, query, args...)
	return wmsql.PgxRows{Rows: rows}, err
}

// Tx is the subscriber's transaction. Handlers use it through InTx, so
// that what they write commits together with the acknowledgement of the
// message.
//
// The subscriber ends the transaction on its own goroutine, and it does not
// wait for the handler when it closes or the ack deadline passes: it
// commits what is there. A mutex makes the end wait for a handler that is
// inside InTx, so that a commit never lands in the middle of a handler's
// work (and a pgx connection is never used by two goroutines at once); a
// handler that comes after the end gets ErrTxDone.
type Tx struct {
	tx        pgx.Tx
	ctx       context.Context
	committed func()

	mu    sync.Mutex
	done  bool
	acked bool
	// doomed is the error that made the transaction unusable for good: a
	// serialization failure or a deadlock. See run.
	doomed error
}

// ErrTxDone is returned by InTx once the subscriber has ended the
// transaction: it is closing, or the handler took longer than the ack
// deadline. The message will be delivered again.
var ErrTxDone = errors.New("bus: the subscriber transaction has ended")

// ErrNoTx is returned by InTx for a message that did not come from a
// subscriber of this package.
var ErrNoTx = errors.New("bus: no subscriber transaction in the message's context")

// InTx runs fn with the transaction the message whose context ctx is is
// being delivered in. The subscriber cannot commit or roll it back while fn
// runs.
func InTx(ctx context.Context, fn func(pgx.Tx) error) error {
	wtx, ok := wmsql.TxFromContext(ctx)
	if !ok {
		return ErrNoTx
	}
	t, ok := wtx.(*Tx)
	if !ok {
		return ErrNoTx
	}
	return t.run(fn)
}

func (t *Tx) run(fn func(pgx.Tx) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return ErrTxDone
	}
	if t.doomed != nil {
		return nil // see below: the whole transaction is rolled back
	}
	err := fn(t.tx)
	if mustRestart(err) {
		// The subscriber's transaction is REPEATABLE READ: once another
		// transaction has changed a row this one must write (a replay
		// moving a projection's checkpoint), or a deadlock was broken
		// against it, every retry inside it fails the same way until the
		// ack deadline. Returning the error would only make Watermill
		// resend the message into the same transaction. Instead the
		// handler is told it succeeded, and the acknowledgement fails
		// (ExecContext), which makes the subscriber roll the whole
		// transaction back and deliver its messages again in a new one.
		t.doomed = err
		return nil
	}
	return err
}

// mustRestart reports whether err leaves a transaction that cannot succeed.
func mustRestart(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// ExecContext is used by the subscriber only to acknowledge messages.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.doomed != nil {
		// "could not serialize" is one of the hints that makes the backoff
		// retry at once.
		return nil, fmt.Errorf("bus: could not serialize access, the transaction starts over: %w", t.doomed)
	}
	t.acked = true
	tag, err := t.tx.Exec(ctx, query, args...)
	return wmsql.PgxResult{CommandTag: tag}, err
}

func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	rows, err := t.tx.Query(ctx, query, args...)
	return wmsql.PgxRows{Rows: rows}, err
}

func (t *Tx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	err := t.tx.Commit(t.ctx)
	if err == nil && t.acked {
		t.committed()
	}
	return err
}

func (t *Tx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	return t.tx.Rollback(context.WithoutCancel(t.ctx))
}
