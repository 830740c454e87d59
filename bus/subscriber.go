package bus

import (
	"context"
	stdsql "database/sql"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SubscriberConfig tunes how a subscriber waits for new events.
type SubscriberConfig struct {
	// IdlePoll is how long a subscriber with nothing to do waits for a
	// wake-up before it queries anyway. It bounds the delay when a wake-up
	// is missed (another process appended and its notification was lost).
	IdlePoll time.Duration
	// HotPoll is the interval of the fast polling that follows a wake-up
	// that found nothing: the new events may still be hidden behind an older
	// transaction that is still running.
	HotPoll time.Duration
	// HotWindow is how long that fast polling goes on.
	HotWindow time.Duration
	// BatchSize is how many events one subscriber transaction takes.
	BatchSize int
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

// NewSubscriber returns a watermill-sql subscriber for one consumer group
// of the events topic. It sleeps until the relay says events were appended
// (or IdlePoll passes) rather than polling at a fixed rate, and tells the
// relay about every transaction in which it acknowledged messages, once
// committed.
func NewSubscriber(pool *pgxpool.Pool, consumerGroup string, relay *Relay, cfg SubscriberConfig, logger watermill.LoggerAdapter) (*wmsql.Subscriber, error) {
	cfg.setDefaults()
	ackDeadline := 30 * time.Second
	return wmsql.NewSubscriber(
		&beginner{pool: pool, committed: relay.Progressed},
		wmsql.SubscriberConfig{
			ConsumerGroup:  consumerGroup,
			AckDeadline:    &ackDeadline,
			PollInterval:   cfg.IdlePoll,
			ResendInterval: 100 * time.Millisecond,
			RetryInterval:  time.Second,
			BackoffManager: &wakingBackoff{signal: relay.signals.Appended, cfg: cfg},
			SchemaAdapter:  wmsql.DefaultPostgreSQLSchema{SubscribeBatchSize: cfg.BatchSize},
			OffsetsAdapter: wmsql.DefaultPostgreSQLOffsetsAdapter{},
		},
		logger,
	)
}

// wakingBackoff is called by the subscriber after each query, on the
// subscriber's own goroutine, so blocking in it is how the subscriber waits.
type wakingBackoff struct {
	signal *Signal
	cfg    SubscriberConfig

	mu       sync.Mutex
	seenGen  uint64
	hotUntil time.Time
}

var deadlockHints = []string{"deadlock", "concurrent update", "could not serialize"}

func (b *wakingBackoff) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		msg := strings.ToLower(err.Error())
		for _, hint := range deadlockHints {
			if strings.Contains(msg, hint) {
				return 0 // another instance of the group held the lock; try again
			}
		}
		logger.Error("Querying events failed", err, nil)
		return time.Second
	}
	if !noMsg {
		return 0
	}
	gen, woken := b.signal.Wait()
	if gen != b.seenGen { // something was appended while we were querying
		b.seenGen = gen
		b.hotUntil = time.Now().Add(b.cfg.HotWindow)
		return 0
	}
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
	}
	return 0
}

// beginner gives the subscriber pgx transactions that report their commit.
type beginner struct {
	pool      *pgxpool.Pool
	committed func()
}

func (b *beginner) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (wmsql.Tx, error) {
	pgxOpts := pgx.TxOptions{}
	if opts != nil && opts.Isolation == stdsql.LevelRepeatableRead {
		pgxOpts.IsoLevel = pgx.RepeatableRead
	}
	tx, err := b.pool.BeginTx(ctx, pgxOpts)
	if err != nil {
		return nil, err
	}
	return &Tx{Tx: tx, ctx: ctx, committed: b.committed}, nil
}

func (b *beginner) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	tag, err := b.pool.Exec(ctx, query, args...)
	return wmsql.PgxResult{CommandTag: tag}, err
}

func (b *beginner) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	rows, err := b.pool.Query(ctx, query, args...)
	return wmsql.PgxRows{Rows: rows}, err
}

// Tx is the subscriber's transaction. Handlers reach it with TxFrom and
// write through its pgx.Tx, so that what they write commits together with
// the acknowledgement of the message.
type Tx struct {
	pgx.Tx
	ctx       context.Context
	acked     bool
	committed func()
}

// ExecContext is used by the subscriber only to acknowledge messages.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	t.acked = true
	tag, err := t.Tx.Exec(ctx, query, args...)
	return wmsql.PgxResult{CommandTag: tag}, err
}

func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	rows, err := t.Tx.Query(ctx, query, args...)
	return wmsql.PgxRows{Rows: rows}, err
}

func (t *Tx) Commit() error {
	err := t.Tx.Commit(t.ctx)
	if err == nil && t.acked {
		t.committed()
	}
	return err
}

func (t *Tx) Rollback() error { return t.Tx.Rollback(context.WithoutCancel(t.ctx)) }

// TxFrom returns the subscriber transaction a message is being handled in.
func TxFrom(ctx context.Context) (pgx.Tx, bool) {
	tx, ok := wmsql.TxFromContext(ctx)
	if !ok {
		return nil, false
	}
	t, ok := tx.(*Tx)
	if !ok {
		return nil, false
	}
	return t.Tx, true
}
