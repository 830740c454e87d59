package bus

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/eventstore"
)

// SubscriberConfig tunes how a subscriber waits for new events.
type SubscriberConfig struct {
	// IdlePoll is how long a subscriber with nothing to do waits for a
	// wake-up before it looks anyway. It bounds the delay when a wake-up
	// is missed (another process appended and its notification was lost,
	// or an appending process died mid-append).
	IdlePoll time.Duration
	// BatchSize is how many events one subscriber transaction takes.
	BatchSize int
	// Interest, when not nil, are the event types the group's handler
	// acts on. The group then starts a batch when one of those is
	// announced, and for the others only every LazyAdvance: they move its
	// checkpoint and nothing else, and need not cost a transaction each.
	// The handler still gets every event, in order.
	Interest []string
	// LazyAdvance is how long a group with an Interest may stay behind
	// events it does not act on.
	LazyAdvance time.Duration
	// Keys opens the personal fields of the events delivered: a handler
	// sees each event as it was appended, or with those fields null when
	// their person was erased. Without it, a group that meets an event
	// holding personal data fails on it.
	Keys *eventstore.Keyring
	// SynchronousCommit makes each subscriber transaction wait for its WAL
	// to reach the disk before it counts as committed. By default it does
	// not (synchronous_commit off for that transaction only), which takes
	// a flush, most of a millisecond on this project's machines, out of
	// every delivery and leaves the disk to the appends. What such a
	// transaction holds is derived from the durable log: the group's
	// checkpoint and what the handler wrote with it. A crash of the
	// database server may undo the last fraction of a second of them (the
	// newest ones, never one without those before it); their events are
	// then delivered again, which an at-least-once handler must take
	// anyway. A later synchronous commit by anyone (an append) makes them
	// durable too. Set it for a handler whose writes must be on disk before
	// anyone can act on them.
	SynchronousCommit bool
}

func (c *SubscriberConfig) setDefaults() {
	if c.IdlePoll <= 0 {
		c.IdlePoll = 250 * time.Millisecond
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.LazyAdvance <= 0 {
		c.LazyAdvance = time.Second
	}
}

// Subscriber is a watermill-sql subscriber for one consumer group of the
// events topic, which is the event log itself.
//
// It reads the events table through a schema adapter of its own: in log
// order, after the group's checkpoint and below the horizon (see
// eventstore.Horizon), so that only appends still running hold it back,
// never another transaction of the server. The group's checkpoint (a row of
// the checkpoints table) is its offset: locked for the batch, moved when
// the batch is acknowledged, in the transaction that commits what the
// handlers staged (see Stage).
//
// Between batches it sleeps until an append is announced (through the
// relay) and the horizon, read once for all the subscribers of a process
// (or right after its last batch's commit, in that batch's round trip),
// shows an event its group has not reached; or until IdlePoll passes. It
// never begins a batch to find out that there is nothing to do.
type Subscriber struct {
	*wmsql.Subscriber
	group   string
	waiting *waiter
}

// NewSubscriber returns a subscriber for one consumer group of the events
// topic.
func NewSubscriber(pool *pgxpool.Pool, consumerGroup string, relay *Relay, cfg SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	cfg.setDefaults()
	ctx, stop := context.WithCancel(context.Background())
	w := &waiter{
		group:    consumerGroup,
		horizon:  relay.horizon,
		appended: relay.signals.Appended,
		appends:  relay.appends,
		progress: relay.progress,
		cfg:      cfg,
		ctx:      ctx,
		stop:     stop,
	}
	relay.progress.runs(consumerGroup)
	ackDeadline := 30 * time.Second
	sub, err := wmsql.NewSubscriber(
		&beginner{pool: pool, synchronousCommit: cfg.SynchronousCommit, horizon: relay.horizon, committed: func(cp eventstore.Checkpoint) {
			w.committed(cp)
			relay.Progressed()
		}},
		wmsql.SubscriberConfig{
			ConsumerGroup:  consumerGroup,
			AckDeadline:    &ackDeadline,
			PollInterval:   cfg.IdlePoll,
			ResendInterval: 100 * time.Millisecond,
			RetryInterval:  time.Second,
			BackoffManager: w,
			SchemaAdapter:  logSchema{batchSize: cfg.BatchSize, waiting: w, keys: cfg.Keys},
			OffsetsAdapter: checkpointOffsets{},
		},
		logger,
	)
	if err != nil {
		stop()
		return nil, err
	}
	return &Subscriber{Subscriber: sub, group: consumerGroup, waiting: w}, nil
}

// Subscribe starts delivering the log's events. The only topic is
// eventstore.Topic.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic != eventstore.Topic {
		return nil, fmt.Errorf("bus: the only topic is %q, not %q", eventstore.Topic, topic)
	}
	return s.Subscriber.Subscribe(ctx, topic)
}

// Close stops the subscriber without waiting out its idle poll.
func (s *Subscriber) Close() error {
	s.waiting.stop()
	return s.Subscriber.Close()
}

// logSchema is the watermill-sql schema adapter over the event log.
type logSchema struct {
	batchSize int
	waiting   *waiter
	keys      *eventstore.Keyring
}

// selectSQL reads a batch for a consumer group: the events after its
// checkpoint, which it locks for the batch (other instances of the group
// wait, and then read after where this one got), below the horizon. The
// checkpoint is read by scalar subqueries, so that it bounds the index scan
// of events_log_order (joined to it, the planner scanned every event below
// the horizon and filtered).
const selectSQL = `
WITH after AS MATERIALIZED (
    SELECT tx_id, position FROM checkpoints WHERE name = $1 FOR UPDATE
)
` + eventstore.SelectRecordSQL + `
WHERE (tx_id, position) > ((SELECT tx_id FROM after), (SELECT position FROM after)) AND tx_id < $2::text::xid8
ORDER BY tx_id, position
LIMIT $3`

func (s logSchema) SelectQuery(params wmsql.SelectQueryParams) (wmsql.Query, error) {
	horizon, err := s.waiting.queryHorizon()
	if err != nil {
		return wmsql.Query{}, err
	}
	return wmsql.Query{Query: selectSQL, Args: []any{params.ConsumerGroup, strconv.FormatUint(horizon, 10), s.batchSize}}, nil
}

func (s logSchema) UnmarshalMessage(params wmsql.UnmarshalMessageParams) (wmsql.Row, error) {
	r, err := eventstore.ScanRecord(params.Row)
	if err != nil {
		return wmsql.Row{}, err
	}
	// The key came with the row (SelectRecordSQL reads it in the same
	// statement), so a person erased before this batch's snapshot reads as
	// erased, and one erased after it is erased again by the
	// PersonalDataErased that comes later in the log.
	if err := s.keys.Open(&r); err != nil {
		return wmsql.Row{}, err
	}
	msg := r.Message()
	return wmsql.Row{
		Offset:    r.Position,
		UUID:      []byte(msg.UUID),
		Payload:   msg.Payload,
		Msg:       msg,
		ExtraData: map[string]any{"checkpoint": r.Checkpoint()},
	}, nil
}

// InsertQuery refuses: events are published by appending them to the log
// (eventstore.Store.Append), with their stream's version checked.
func (logSchema) InsertQuery(wmsql.InsertQueryParams) (wmsql.Query, error) {
	return wmsql.Query{}, errors.New("bus: events are published by eventstore.Store.Append, not by a Watermill publisher")
}

// SchemaInitializingQueries is empty: the tables come from the migrations.
func (logSchema) SchemaInitializingQueries(wmsql.SchemaInitializingQueriesParams) ([]wmsql.Query, error) {
	return nil, nil
}

// SubscribeIsolationLevel is READ COMMITTED: the horizon was read before
// the transaction began, so its statements see every event below it; and a
// checkpoint moved by another instance of the group, or by a replay's
// switch, while this one waited for its lock is read as it is after that.
func (logSchema) SubscribeIsolationLevel() stdsql.IsolationLevel { return stdsql.LevelReadCommitted }

// checkpointOffsets keeps each consumer group's place in the checkpoints
// table, in the log's own order.
type checkpointOffsets struct{}

func (checkpointOffsets) SchemaInitializingQueries(wmsql.OffsetsSchemaInitializingQueriesParams) ([]wmsql.Query, error) {
	return nil, nil
}

// NextOffsetQuery is not used: selectSQL reads and locks the checkpoint
// itself.
func (checkpointOffsets) NextOffsetQuery(wmsql.NextOffsetQueryParams) (wmsql.Query, error) {
	return wmsql.Query{}, errors.New("bus: the checkpoint is read by the select query")
}

// ackSQL moves a group's checkpoint. Tx.ExecContext reads its arguments:
// the group, then the checkpoint's transaction id and position.
const ackSQL = `UPDATE checkpoints SET tx_id = $2::text::xid8, position = $3, updated_at = now() WHERE name = $1`

func (checkpointOffsets) AckMessageQuery(params wmsql.AckMessageQueryParams) (wmsql.Query, error) {
	cp, ok := params.LastRow.ExtraData["checkpoint"].(eventstore.Checkpoint)
	if !ok {
		return wmsql.Query{}, errors.New("bus: acknowledged row has no checkpoint")
	}
	return wmsql.Query{Query: ackSQL, Args: []any{params.ConsumerGroup, strconv.FormatUint(cp.TxID, 10), cp.Position}}, nil
}

func (checkpointOffsets) ConsumedMessageQuery(wmsql.ConsumedMessageQueryParams) (wmsql.Query, error) {
	return wmsql.Query{}, nil
}

func (checkpointOffsets) BeforeSubscribingQueries(params wmsql.BeforeSubscribingQueriesParams) ([]wmsql.Query, error) {
	return []wmsql.Query{{
		Query: `INSERT INTO checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING`,
		Args:  []any{params.ConsumerGroup},
	}}, nil
}

// waiter is the subscriber's backoff manager: watermill-sql calls it after
// each query, on the subscriber's own goroutine, so blocking in it is how
// the subscriber waits for something to read.
type waiter struct {
	group    string
	horizon  *horizonWatch
	appended *Signal
	appends  *appendLog
	progress *Progress
	cfg      SubscriberConfig
	// ctx ends every wait at once when the subscriber closes (stop). The
	// wait then returns a long backoff rather than 0, so that the
	// subscriber's loop, which picks at random among what is ready, sees
	// it is closing instead of starting another query.
	ctx  context.Context
	stop func()

	mu sync.Mutex
	// known is where the group is known to be: the last checkpoint this
	// subscriber committed, or the head of the horizon it last found
	// nothing below.
	known eventstore.Checkpoint
	// next is the horizon reading the next query reads below, and the one
	// the last query read below.
	next, last horizonState
	// target is the head that made the last batches start: the group
	// reads on until it is there, whatever was announced.
	target eventstore.Checkpoint
	// untypedSeen counts the announcements of unknown types that came
	// before the horizon reading of the group's last batch, and lastBatch
	// is when that batch started: an announced event of a type the group acts on past
	// where it is (or an announcement of unknown types) starts a batch at
	// once, others wait up to LazyAdvance.
	untypedSeen uint64
	lastBatch   time.Time
}

var restartHints = []string{"deadlock", "concurrent update", "could not serialize"}

func (w *waiter) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return w.cfg.IdlePoll // the subscriber is closing: let it see that rather than query again
		}
		msg := strings.ToLower(err.Error())
		for _, hint := range restartHints {
			if strings.Contains(msg, hint) {
				return 0 // lost a lock race (another instance, a replay's switch); try again
			}
		}
		logger.Error("Delivering events failed", err, watermill.LogFields{"consumer_group": w.group})
		return time.Second
	}
	w.mu.Lock()
	if noMsg {
		// Nothing after the checkpoint below the horizon read: the group
		// is at least at that reading's head.
		if w.known.Less(w.last.head) {
			w.known = w.last.head
		}
		w.progress.advance(w.group, w.known)
	}
	w.mu.Unlock()
	return w.await(logger)
}

// await returns when the horizon shows an event the group has not reached
// (for a group with an Interest: when one it acts on was announced, or
// LazyAdvance has passed), and leaves that reading for the next query.
func (w *waiter) await(logger watermill.LoggerAdapter) time.Duration {
	w.mu.Lock()
	catchingUp := w.known.Less(w.target)
	w.mu.Unlock()
	if catchingUp {
		return 0 // the last batch was full: read on
	}
	var notBefore time.Time
	for {
		gen, woken := w.appended.Wait()
		// The last reading will do if it shows something to read (one is
		// taken after every batch's commit, in its round trip); a new one
		// is read only to find out that there is nothing.
		s, ok := w.horizon.latest()
		w.mu.Lock()
		fresh := !ok || !w.known.Less(s.head)
		w.mu.Unlock()
		if fresh {
			var err error
			if s, err = w.horizon.fresh(w.ctx, gen, notBefore); err != nil {
				if w.ctx.Err() != nil {
					return w.cfg.IdlePoll
				}
				logger.Error("Reading the log's horizon failed", err, watermill.LogFields{"consumer_group": w.group})
				return time.Second
			}
		}
		wait := w.cfg.IdlePoll
		w.mu.Lock()
		behind := w.known.Less(s.head)
		if behind && w.cfg.Interest != nil && !w.appends.beyond(w.known, w.cfg.Interest, w.untypedSeen) {
			// Behind only on events this group does not act on: they can
			// wait, unless they have waited long enough.
			if lazy := w.cfg.LazyAdvance - time.Since(w.lastBatch); lazy > 0 {
				behind, wait = false, min(wait, lazy)
			}
		}
		if behind {
			w.next, w.target = s, s.head
		}
		w.mu.Unlock()
		if behind {
			return 0
		}
		idle := time.NewTimer(wait)
		select {
		case <-woken:
			notBefore = time.Time{}
		case <-idle.C:
			// A reading another subscriber of the process took in the
			// last half poll will do: the idle subscribers of a process
			// then share their readings too.
			notBefore = time.Now().Add(-w.cfg.IdlePoll / 2)
		case <-w.ctx.Done():
			idle.Stop()
			return w.cfg.IdlePoll
		}
		idle.Stop()
	}
}

// queryHorizon is the horizon the next query reads below: the reading
// await left, or, for the first query, the latest or a new one. The query
// begins after the reading, as the horizon requires.
func (w *waiter) queryHorizon() (uint64, error) {
	w.mu.Lock()
	s := w.next
	w.mu.Unlock()
	if s.xid == 0 {
		var ok bool
		if s, ok = w.horizon.latest(); !ok {
			var err error
			ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
			defer cancel()
			if s, err = w.horizon.fresh(ctx, 0, time.Time{}); err != nil {
				return 0, err
			}
		}
	}
	w.mu.Lock()
	w.last, w.lastBatch = s, time.Now()
	w.untypedSeen = max(w.untypedSeen, s.untyped)
	w.mu.Unlock()
	return s.xid, nil
}

// committed records a committed batch.
func (w *waiter) committed(cp eventstore.Checkpoint) {
	w.mu.Lock()
	if w.known.Less(cp) {
		w.known = cp
	}
	w.mu.Unlock()
	w.progress.advance(w.group, cp)
}
