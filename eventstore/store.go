// Package eventstore is the append-only log of domain events in PostgreSQL.
//
// Appending an event and publishing it to the Watermill topic happen in one
// pgx transaction: an event is never stored without being published, nor
// published without being stored. Readers of the whole log see events in
// Checkpoint order and never miss one that commits late.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/domain"
)

// Topic is the Watermill topic every event is published to, in log order.
const Topic = "events"

// ErrConflict is the cause of every version conflict: someone else appended
// to the stream since the caller read it.
var ErrConflict = errors.New("stream version conflict")

// Stream names one aggregate's history.
type Stream struct {
	Type string
	ID   uuid.UUID
}

// Store appends to and reads from the log.
type Store struct {
	pool     *pgxpool.Pool
	now      func() time.Time
	appended func()
	schema   wmsql.DefaultPostgreSQLSchema
	logger   watermill.LoggerAdapter
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store stamp events with now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// OnAppended registers f to run after every committed append, so that
// subscribers can be woken instead of waiting for their next poll. f must not
// block.
func OnAppended(f func()) Option { return func(s *Store) { s.appended = f } }

// New returns a store over pool.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{
		pool:     pool,
		now:      time.Now,
		appended: func() {},
		logger:   watermill.NewSlogLogger(slog.Default()),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Appended describes what an Append committed.
type Appended struct {
	Records []Record
}

// Last is the checkpoint of the last appended event: a reader that has
// reached it has seen the whole append.
func (a Appended) Last() Checkpoint {
	if len(a.Records) == 0 {
		return Checkpoint{}
	}
	return a.Records[len(a.Records)-1].Checkpoint()
}

// AppendOption adds work to an append's transaction.
type AppendOption func(*appendConfig)

type appendConfig struct {
	within []func(context.Context, pgx.Tx) error
}

// Within runs f inside the append's transaction, after the events are
// inserted and before the commit: for state that must be written together
// with the events but does not belong in the log (credentials, file bytes).
// An error from f rolls the whole append back and is returned as is.
func Within(f func(context.Context, pgx.Tx) error) AppendOption {
	return func(c *appendConfig) { c.within = append(c.within, f) }
}

// Append adds events to stream, provided the stream is at expectedVersion
// (0 for a new stream). A stale expectedVersion, whether the caller read long
// ago or a concurrent writer won the race, gives an error wrapping
// ErrConflict and appends nothing.
func (s *Store) Append(ctx context.Context, stream Stream, expectedVersion int64, events []domain.Event, opts ...AppendOption) (Appended, error) {
	if len(events) == 0 {
		return Appended{}, errors.New("eventstore: append of no events")
	}
	var cfg appendConfig
	for _, o := range opts {
		o(&cfg)
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return Appended{}, fmt.Errorf("begin append: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit

	records, err := s.insert(ctx, tx, stream, expectedVersion, events, MetadataFrom(ctx))
	if err != nil {
		return Appended{}, err
	}
	for _, f := range cfg.within {
		if err := f(ctx, tx); err != nil {
			return Appended{}, err
		}
	}
	if err := s.publish(ctx, tx, records); err != nil {
		return Appended{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Appended{}, fmt.Errorf("commit append: %w", err)
	}
	s.appended()
	return Appended{Records: records}, nil
}

const currentVersionSQL = `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`

const insertEventSQL = `
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version,
                    data, actor_id, correlation_id, causation_id, request_id, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING position, tx_id::text::bigint`

func (s *Store) insert(ctx context.Context, tx pgx.Tx, stream Stream, expected int64, events []domain.Event, meta Metadata) ([]Record, error) {
	var current int64
	if err := tx.QueryRow(ctx, currentVersionSQL, stream.ID).Scan(&current); err != nil {
		return nil, fmt.Errorf("read stream version: %w", err)
	}
	if current != expected {
		return nil, conflict(stream, expected, current)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	records := make([]Record, 0, len(events))
	for i, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		r := Record{
			EventID:       id,
			StreamType:    stream.Type,
			StreamID:      stream.ID,
			Version:       expected + int64(i) + 1,
			Type:          e.EventType(),
			SchemaVersion: domain.SchemaVersion(e),
			Data:          data,
			Metadata:      meta,
			OccurredAt:    now,
		}
		var txID int64
		err = tx.QueryRow(ctx, insertEventSQL,
			r.EventID, r.StreamType, r.StreamID, r.Version, r.Type, r.SchemaVersion,
			r.Data, nullUUID(meta.ActorID), meta.CorrelationID, meta.CausationID, meta.RequestID, r.OccurredAt,
		).Scan(&r.Position, &txID)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_key" {
			return nil, conflict(stream, expected, -1)
		}
		if err != nil {
			return nil, fmt.Errorf("insert %s: %w", r.Type, err)
		}
		r.TxID = uint64(txID)
		records = append(records, r)
	}
	return records, nil
}

func (s *Store) publish(ctx context.Context, tx pgx.Tx, records []Record) error {
	// A publisher over the transaction is cheap and lives only as long as it.
	pub, err := wmsql.NewPublisher(wmsql.TxFromPgx(tx), wmsql.PublisherConfig{SchemaAdapter: s.schema}, s.logger)
	if err != nil {
		return err
	}
	msgs := make([]*message.Message, len(records))
	for i, r := range records {
		if msgs[i], err = r.message(); err != nil {
			return err
		}
		msgs[i].SetContext(ctx)
	}
	if err := pub.Publish(Topic, msgs...); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	return nil
}

func conflict(stream Stream, expected, current int64) error {
	cause := fmt.Errorf("%w: %s %s expected at version %d", ErrConflict, stream.Type, stream.ID, expected)
	if current >= 0 {
		cause = fmt.Errorf("%w, found %d", cause, current)
	}
	return &domain.Error{
		Kind:    domain.KindConflict,
		Message: "the resource was changed by someone else; reload it and try again",
		Err:     cause,
	}
}

func nullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

const selectRecordSQL = `
SELECT position, tx_id, event_id, stream_type, stream_id, stream_version, event_type,
       schema_version, data, coalesce(actor_id, '00000000-0000-0000-0000-000000000000'),
       correlation_id, causation_id, request_id, occurred_at
FROM events`

// ReadStream returns a stream's events, oldest first. An unknown stream has
// no events, which is not an error.
func (s *Store) ReadStream(ctx context.Context, streamID uuid.UUID) ([]Record, error) {
	rows, err := s.pool.Query(ctx, selectRecordSQL+` WHERE stream_id = $1 ORDER BY stream_version`, streamID)
	if err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	return scanRecords(rows)
}

// ReadAll returns up to limit events that come after the checkpoint, in log
// order. It only returns events of transactions older than every transaction
// still running, so a transaction that commits later can never have its
// events land behind a checkpoint a reader has already passed.
func (s *Store) ReadAll(ctx context.Context, after Checkpoint, limit int) ([]Record, error) {
	return ReadAll(ctx, s.pool, after, limit)
}

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ReadAll is Store.ReadAll through q, so that a reader can read the log
// inside its own transaction.
func ReadAll(ctx context.Context, q Querier, after Checkpoint, limit int) ([]Record, error) {
	rows, err := q.Query(ctx, selectRecordSQL+`
WHERE (tx_id, position) > ($1::text::xid8, $2)
  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY tx_id, position
LIMIT $3`, fmt.Sprint(after.TxID), after.Position, limit)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return scanRecords(rows)
}

// Head is the checkpoint of the newest event that readers can see now.
func (s *Store) Head(ctx context.Context) (Checkpoint, error) {
	var c Checkpoint
	err := s.pool.QueryRow(ctx, `
SELECT tx_id, position FROM events
WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY tx_id DESC, position DESC LIMIT 1`).Scan(&c.TxID, &c.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{}, nil
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read log head: %w", err)
	}
	return c, nil
}

func scanRecords(rows pgx.Rows) ([]Record, error) {
	defer rows.Close()
	var records []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return records, nil
}

// scanRecord reads the row of selectRecordSQL that rows is at.
func scanRecord(rows pgx.Rows) (Record, error) {
	var r Record
	var data []byte
	// tx_id is scanned as it is (pgx reads xid8 into a uint64): a cast
	// through text in the query cost 30 µs a row, most of the time of
	// reading the log. The uuids are scanned as their 16 bytes: into a
	// uuid.UUID, pgx goes through its sql.Scanner, a string formatted and
	// parsed again, a tenth of a replay's time.
	if err := rows.Scan(&r.Position, &r.TxID, (*[16]byte)(&r.EventID), &r.StreamType, (*[16]byte)(&r.StreamID), &r.Version, &r.Type,
		&r.SchemaVersion, &data, (*[16]byte)(&r.Metadata.ActorID), &r.Metadata.CorrelationID, &r.Metadata.CausationID,
		&r.Metadata.RequestID, &r.OccurredAt); err != nil {
		return Record{}, fmt.Errorf("scan event: %w", err)
	}
	r.Data = data
	r.OccurredAt = r.OccurredAt.UTC()
	return r, nil
}

// Scan calls fn with every event after `after` up to and including
// through, in log order, from one query whose rows are read as they
// arrive: the whole log can go through it without being held in memory.
// through should be a checkpoint readers can see (Head), so that no event
// at or before it can still commit. fn's error stops the scan.
func Scan(ctx context.Context, q Querier, after, through Checkpoint, fn func(Record) error) error {
	rows, err := q.Query(ctx, selectRecordSQL+`
WHERE (tx_id, position) > ($1::text::xid8, $2)
  AND (tx_id, position) <= ($3::text::xid8, $4)
ORDER BY tx_id, position`, fmt.Sprint(after.TxID), after.Position, fmt.Sprint(through.TxID), through.Position)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	return nil
}
