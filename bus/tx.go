package bus

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/eventstore"
)

// beginner gives the subscriber transactions that stage the handlers'
// writes and report their commit.
type beginner struct {
	pool              *pgxpool.Pool
	committed         func(cp eventstore.Checkpoint)
	synchronousCommit bool
	// horizon, when set, is read right after each acknowledging COMMIT, in
	// the same round trip, and given the reading: the group's next batch
	// can start from it without a round trip of its own.
	horizon *horizonWatch
}

// BeginTx takes a connection; the transaction begins with its first
// statement, in the same round trip.
func (b *beginner) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (wmsql.Tx, error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	begin := []string{"BEGIN"}
	if opts != nil && opts.Isolation == stdsql.LevelRepeatableRead {
		begin[0] += " ISOLATION LEVEL REPEATABLE READ"
	}
	if !b.synchronousCommit {
		begin = append(begin, "SET LOCAL synchronous_commit TO OFF")
	}
	return &Tx{conn: conn, ctx: ctx, begin: begin, committed: b.committed, horizon: b.horizon}, nil
}

func (b *beginner) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	tag, err := b.pool.Exec(ctx, query, args...)
	return wmsql.PgxResult{CommandTag: tag}, err
}

func (b *beginner) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	rows, err := b.pool.Query(ctx, query, args...)
	return wmsql.PgxRows{Rows: rows}, err
}

// Tx is the subscriber's transaction for one batch of events, in two round
// trips: the BEGIN goes with the batch's query, and the COMMIT with the
// acknowledgement. Handlers do not write through it as they go: they stage
// their writes (Stage), and the writes of every acknowledged event go to
// the server together with the acknowledgement and the COMMIT.
//
// The subscriber ends the transaction on its own goroutine, and it does not
// wait for a handler when it closes or the ack deadline passes: a mutex
// keeps a handler's staging and the end of the transaction apart, and a
// handler that comes after the end gets ErrTxDone.
type Tx struct {
	conn      *pgxpool.Conn
	ctx       context.Context
	begin     []string
	committed func(cp eventstore.Checkpoint)
	horizon   *horizonWatch

	mu sync.Mutex
	// begun: the BEGIN was sent; ended: the COMMIT or ROLLBACK was, or
	// the transaction failed; done: the subscriber has ended it, and the
	// connection is back in the pool.
	begun, ended, done bool
	// committedInAck: the COMMIT went with the acknowledgement, and
	// succeeded.
	committedInAck bool
	staged         []staged
	// acked is the checkpoint the acknowledgement moved the group to.
	acked *eventstore.Checkpoint
	// after: what the handlers of the acknowledged events asked to run
	// once their writes have committed (Queue.AfterCommit).
	after []func()
}

// staged are the writes one event's handler staged.
type staged struct {
	id     string // the message's id
	cp     eventstore.Checkpoint
	writes []Write
	after  []func()
}

// Write is one staged statement.
type Write struct {
	SQL  string
	Args []any
	// Label says what the statement is for, in errors.
	Label string
}

// ErrTxDone is returned by Stage once the subscriber has ended the
// transaction: it is closing, or the handler took longer than the ack
// deadline. The message will be delivered again.
var ErrTxDone = errors.New("bus: the subscriber transaction has ended")

// ErrNoTx is returned by Stage for a message that did not come from a
// subscriber of this package.
var ErrNoTx = errors.New("bus: no subscriber transaction in the message's context")

// Queue collects the statements a handler stages for one event. Its Exec
// queues a statement and answers at once, with an empty command tag: the
// statement runs later, so a handler's writes must need no answer.
type Queue struct {
	label  string
	writes []Write
	after  []func()
}

// Exec stages sql.
func (q *Queue) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.writes = append(q.writes, Write{SQL: sql, Args: args, Label: q.label})
	return pgconn.CommandTag{}, nil
}

// AfterCommit runs fn once the transaction that applies the staged writes
// has committed, on the subscriber's goroutine (fn must not block): what
// acts on those writes outside the transaction (a worker told which rows
// are new) learns of them only when they are there to be read. fn never
// runs if the transaction does not commit; the event is then delivered
// again, and its handler stages (and asks) again.
func (q *Queue) AfterCommit(fn func()) { q.after = append(q.after, fn) }

// Stage lets a handler of msg stage writes, through the Queue fn is given,
// into the transaction that delivers msg. They run, in the order of the
// events and then in the order staged, just before the transaction moves
// the group's checkpoint past msg, and commit with it: they are applied
// exactly once, however often the event is delivered. If fn fails, or msg
// is delivered again within the transaction (after a nack), what fn staged
// for it before is dropped. what names the handler in errors.
func Stage(msg *message.Message, what string, fn func(*Queue) error) error {
	wtx, ok := wmsql.TxFromContext(msg.Context())
	if !ok {
		return ErrNoTx
	}
	t, ok := wtx.(*Tx)
	if !ok {
		return ErrNoTx
	}
	return t.stage(msg, what, fn)
}

func (t *Tx) stage(msg *message.Message, what string, fn func(*Queue) error) error {
	cp, err := eventstore.CheckpointFromMessage(msg)
	if err != nil {
		return err
	}
	q := &Queue{label: fmt.Sprintf("%s: event %d (%s)", what, cp.Position, msg.Metadata.Get(eventstore.MetaEventType))}
	if err := fn(q); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return ErrTxDone
	}
	for i := range t.staged {
		if t.staged[i].id == msg.UUID {
			t.staged[i].writes, t.staged[i].after = q.writes, q.after
			return nil
		}
	}
	t.staged = append(t.staged, staged{id: msg.UUID, cp: cp, writes: q.writes, after: q.after})
	return nil
}

// statement is one statement of a round trip, and what it is, for errors.
type statement struct {
	sql   string
	args  []any
	label string
}

// send runs statements in one round trip, after the BEGIN if it has not
// been sent; last, when set, reads the result of the statement after them
// (queued by queueLast), and tells whether it leaves the round trip open
// for its caller to end (the rows of a query). It returns the last
// statement's command tag.
func (t *Tx) send(ctx context.Context, statements []statement, queueLast func(*pgx.Batch), last func(pgx.BatchResults) (keepOpen bool, err error)) (pgconn.CommandTag, error) {
	if t.ended {
		return pgconn.CommandTag{}, errors.New("bus: the subscriber transaction has ended")
	}
	var b pgx.Batch
	var labels []string
	if !t.begun {
		for _, s := range t.begin {
			b.Queue(s)
			labels = append(labels, "begin")
		}
	}
	for _, s := range statements {
		b.Queue(s.sql, s.args...)
		labels = append(labels, s.label)
	}
	if queueLast != nil {
		queueLast(&b)
	}
	t.begun = true
	results := t.conn.SendBatch(ctx, &b)
	var tag pgconn.CommandTag
	for i := range labels {
		var err error
		if tag, err = results.Exec(); err != nil {
			results.Close()
			t.ended = true // the transaction is aborted: only a ROLLBACK is left
			return tag, fmt.Errorf("%s: %w", labels[i], err)
		}
	}
	if last != nil {
		keepOpen, err := last(results)
		if err != nil {
			results.Close()
			return tag, err
		}
		if keepOpen {
			return tag, nil
		}
	}
	if err := results.Close(); err != nil {
		t.ended = true
		return tag, err
	}
	return tag, nil
}

// ExecContext is used by the subscriber to acknowledge messages (ackSQL),
// and once, before it subscribes, to create the group's checkpoint. With
// the acknowledgement go, in the same round trip, the staged writes of the
// events it acknowledges, and the COMMIT; those of events it does not (the
// subscriber gave up on them: it is closing) are dropped, and the events
// delivered again.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (wmsql.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if query != ackSQL || len(args) != 3 {
		tag, err := t.send(ctx, []statement{{query, args, "statement"}}, nil, nil)
		return wmsql.PgxResult{CommandTag: tag}, err
	}
	txID, err := strconv.ParseUint(fmt.Sprint(args[1]), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("bus: acknowledgement: %w", err)
	}
	position, _ := args[2].(int64)
	acked := eventstore.Checkpoint{TxID: txID, Position: position}

	var statements []statement
	var after []func()
	for _, s := range t.staged {
		if acked.Less(s.cp) {
			continue
		}
		for _, w := range s.writes {
			statements = append(statements, statement{w.SQL, w.Args, w.Label})
		}
		after = append(after, s.after...)
	}
	statements = append(statements, statement{query, args, "acknowledge"}, statement{"COMMIT", nil, "commit"})
	var queueHorizon func(*pgx.Batch)
	var readHorizon func(pgx.BatchResults) (bool, error)
	if t.horizon != nil {
		// Read after the COMMIT, in a transaction of its own: a reading
		// like any other (it began after everything announced up to gen).
		gen, _ := t.horizon.appended.Wait()
		untyped := t.horizon.appends.untypedCount()
		at := time.Now()
		queueHorizon = func(b *pgx.Batch) { b.Queue(eventstore.HorizonSQL) }
		readHorizon = func(results pgx.BatchResults) (bool, error) {
			if r, err := eventstore.ScanHorizon(results.QueryRow()); err == nil {
				t.horizon.offer(horizonState{xid: r.Horizon, head: r.Head, gen: gen, untyped: untyped, at: at})
			}
			return false, nil // a reading that failed only costs the next batch a reading of its own
		}
	}
	if _, err := t.send(ctx, statements, queueHorizon, readHorizon); err != nil {
		return nil, err
	}
	t.ended, t.committedInAck = true, true
	t.staged = nil
	t.acked = &acked
	t.after = after
	return wmsql.PgxResult{}, nil
}

// QueryContext runs the batch's query, with the BEGIN.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (wmsql.Rows, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var rows *batchRows
	_, err := t.send(ctx, nil, func(b *pgx.Batch) { b.Queue(query, args...) }, func(results pgx.BatchResults) (bool, error) {
		r, err := results.Query()
		if err != nil {
			t.ended = true
			return false, fmt.Errorf("query: %w", err)
		}
		rows = &batchRows{Rows: r, results: results}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// batchRows are the rows of a round trip's last statement. The round trip
// ends once they are read: the subscriber acknowledges before it closes
// them, and the connection must be free by then.
type batchRows struct {
	pgx.Rows
	results pgx.BatchResults
	closed  bool
	err     error
}

func (r *batchRows) Next() bool {
	if r.closed {
		return false
	}
	if r.Rows.Next() {
		return true
	}
	r.end()
	return false
}

func (r *batchRows) end() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.Rows.Err()
	if err := r.results.Close(); r.err == nil {
		r.err = err
	}
}

func (r *batchRows) Close() error {
	r.end()
	return r.err
}

// Commit ends the transaction: the COMMIT went with the acknowledgement,
// or, when nothing was acknowledged, goes now.
func (t *Tx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return stdsql.ErrTxDone
	}
	var err error
	if t.begun && !t.ended {
		_, err = t.conn.Exec(t.ctx, "COMMIT")
		t.ended = true
	} else if t.begun && !t.committedInAck {
		err = errors.New("bus: the subscriber transaction failed; it was rolled back")
		t.rollback()
	}
	t.release()
	if err == nil && t.acked != nil {
		t.committed(*t.acked)
		for _, fn := range t.after {
			fn()
		}
	}
	return err
}

// Rollback ends the transaction without keeping anything of it.
func (t *Tx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return stdsql.ErrTxDone
	}
	if t.committedInAck {
		// Too late: it committed with the acknowledgement. The
		// subscriber rolls back only when a step failed, and the
		// acknowledgement was the last.
		t.release()
		return nil
	}
	err := t.rollback()
	t.release()
	return err
}

func (t *Tx) rollback() error {
	if !t.begun {
		return nil
	}
	_, err := t.conn.Exec(context.WithoutCancel(t.ctx), "ROLLBACK")
	if err != nil {
		// A connection in an unknown state is not handed back.
		t.conn.Conn().Close(context.WithoutCancel(t.ctx)) //nolint:errcheck // closing a broken connection
	}
	return err
}

func (t *Tx) release() {
	t.done = true
	t.conn.Release()
}
