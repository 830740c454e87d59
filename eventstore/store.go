// Package eventstore is the append-only log of domain events in PostgreSQL.
//
// The log is also the Watermill topic the subscribers read (the schema
// adapter in bus reads the events table), so appending an event is
// publishing it: an event is never stored without being published, nor
// published without being stored. Readers of the whole log see events in
// Checkpoint order, stop at the horizon (horizon.go) and never miss one
// that commits late.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
	keys     *Keyring
	now      func() time.Time
	appended func(records []Record)
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store stamp events with now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// OnAppended registers f to run after every append, with the records it
// committed, so that subscribers can be woken instead of waiting for their
// next poll, and tell whether it concerns them. It runs after a failed
// append too, with no records: while it ran, it held back the events of
// appends that committed meanwhile (see Horizon). f must not block.
func OnAppended(f func(records []Record)) Option { return func(s *Store) { s.appended = f } }

// New returns a store over pool.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{
		pool:     pool,
		now:      time.Now,
		appended: func([]Record) {},
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
	statements []Statement
	within     []func(context.Context, pgx.Tx) error
}

// Statement is a write that must commit with the events but does not
// belong in the log (credentials, file bytes). It needs no answer, so it
// travels with the events' inserts, in the same round trip.
type Statement struct {
	SQL  string
	Args []any
	// OnError, when set, turns the statement's error into the append's (a
	// unique violation into a conflict the caller can name, say); nil
	// keeps the error as it is.
	OnError func(error) error
}

// With adds a statement to the append's transaction, after the events'
// inserts. Its error rolls the whole append back.
func With(s Statement) AppendOption {
	return func(c *appendConfig) { c.statements = append(c.statements, s) }
}

// Within runs f inside the append's transaction, after the events and the
// statements of With are written and before the commit. An error from f
// rolls the whole append back and is returned as is. It costs the append a
// transaction of its own making (BEGIN, then COMMIT, each a round trip):
// prefer With for writes that need no answer.
func Within(f func(context.Context, pgx.Tx) error) AppendOption {
	return func(c *appendConfig) { c.within = append(c.within, f) }
}

// Append adds events to stream, provided the stream is at expectedVersion
// (0 for a new stream). A stale expectedVersion, whether the caller read long
// ago or a concurrent writer won the race, gives an error wrapping
// ErrConflict and appends nothing.
//
// The events are the topic the subscribers read (the log is the outbox):
// once the append has committed they are delivered, and nothing is
// delivered that did not commit. Without Within, the whole append is one
// round trip: the inserts and the statements of With are sent together and
// run in one implicit transaction, committed when they all succeed.
func (s *Store) Append(ctx context.Context, stream Stream, expectedVersion int64, events []domain.Event, opts ...AppendOption) (Appended, error) {
	if len(events) == 0 {
		return Appended{}, errors.New("eventstore: append of no events")
	}
	var cfg appendConfig
	for _, o := range opts {
		o(&cfg)
	}
	records, err := s.records(stream, expectedVersion, events, MetadataFrom(ctx))
	if err != nil {
		return Appended{}, err
	}
	stored, keyStatements, err := s.seal(ctx, stream, expectedVersion, records)
	if err != nil {
		return Appended{}, err
	}
	cfg.statements = append(keyStatements, cfg.statements...)
	if len(cfg.within) == 0 {
		err = s.send(ctx, s.pool, stream, expectedVersion, records, stored, cfg.statements)
	} else {
		err = s.appendInTx(ctx, stream, expectedVersion, records, stored, cfg)
	}
	if err != nil {
		// Subscribers are told anyway: a failed append may have held back
		// the events of others while it ran.
		s.appended(nil)
		return Appended{}, err
	}
	s.appended(records)
	return Appended{Records: records}, nil
}

func (s *Store) appendInTx(ctx context.Context, stream Stream, expected int64, records []Record, stored [][]byte, cfg appendConfig) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("begin append: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := s.send(ctx, tx, stream, expected, records, stored, cfg.statements); err != nil {
		return err
	}
	for _, f := range cfg.within {
		if err := f(ctx, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit append: %w", err)
	}
	return nil
}

// records makes the records of events as they will be stored, all but
// their place in the log.
func (s *Store) records(stream Stream, expected int64, events []domain.Event, meta Metadata) ([]Record, error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	records := make([]Record, len(events))
	for i, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		records[i] = Record{
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
	}
	return records, nil
}

// The first insert of an append checks the stream's version: the
// unique (stream_id, stream_version) catches a writer that lost a race,
// events_expect_version one that expected a version the stream has not
// reached. Being the transaction's first write, the insert also takes the
// events table's write lock before the transaction gets its id, which the
// horizon relies on (horizon.go).
const (
	insertColumnsSQL = `
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version,
                    data, actor_id, correlation_id, causation_id, request_id, occurred_at, subject_id)`
	insertFirstEventSQL = insertColumnsSQL + `
SELECT $1::uuid, $2::text, $3::uuid, $4::bigint, $5::text, $6::integer, $7::jsonb, $8::uuid, $9::text, $10::text,
       $11::text, $12::timestamptz, $13::uuid
WHERE events_expect_version($3::uuid, $4::bigint - 1)
RETURNING position, tx_id`
	insertNextEventSQL = insertColumnsSQL + `
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
RETURNING position, tx_id`
)

// batcher sends a batch: the pool (one implicit transaction) or a
// transaction.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// send inserts records, with stored as their data, and runs statements,
// in one round trip, and fills in the records' places in the log.
func (s *Store) send(ctx context.Context, db batcher, stream Stream, expected int64, records []Record, stored [][]byte, statements []Statement) error {
	var b pgx.Batch
	for i, r := range records {
		sql := insertNextEventSQL
		if i == 0 {
			sql = insertFirstEventSQL
		}
		b.Queue(sql, r.EventID, r.StreamType, r.StreamID, r.Version, r.Type, r.SchemaVersion,
			stored[i], nullUUID(r.Metadata.ActorID), r.Metadata.CorrelationID, r.Metadata.CausationID,
			r.Metadata.RequestID, r.OccurredAt, nullUUID(r.Subject))
	}
	for _, st := range statements {
		b.Queue(st.SQL, st.Args...)
	}
	results := db.SendBatch(ctx, &b)
	defer results.Close()
	for i := range records {
		r := &records[i]
		err := results.QueryRow().Scan(&r.Position, &r.TxID)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_key" {
			return conflict(stream, expected)
		}
		if err != nil {
			return fmt.Errorf("insert %s: %w", r.Type, err)
		}
	}
	for _, st := range statements {
		if _, err := results.Exec(); err != nil {
			if st.OnError != nil {
				return st.OnError(err)
			}
			return err
		}
	}
	// Close reports the commit of the implicit transaction.
	if err := results.Close(); err != nil {
		return fmt.Errorf("commit append: %w", err)
	}
	return nil
}

func conflict(stream Stream, expected int64) error {
	cause := fmt.Errorf("%w: %s %s expected at version %d", ErrConflict, stream.Type, stream.ID, expected)
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
       correlation_id, causation_id, request_id, occurred_at,
       coalesce(subject_id, '00000000-0000-0000-0000-000000000000'),
       CASE WHEN subject_id IS NOT NULL THEN (SELECT k.wrapped FROM data_keys k WHERE k.subject_id = events.subject_id) END
FROM events`

// ReadStream returns a stream's events, oldest first. An unknown stream has
// no events, which is not an error.
func (s *Store) ReadStream(ctx context.Context, streamID uuid.UUID) ([]Record, error) {
	rows, err := s.pool.Query(ctx, selectRecordSQL+` WHERE stream_id = $1 ORDER BY stream_version`, streamID)
	if err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	return scanRecords(rows, s.keys)
}

// ReadStreams returns the events of several streams, each oldest first, in
// one round trip. A stream with no events has no entry.
func (s *Store) ReadStreams(ctx context.Context, streamIDs ...uuid.UUID) (map[uuid.UUID][]Record, error) {
	rows, err := s.pool.Query(ctx, selectRecordSQL+` WHERE stream_id = ANY($1) ORDER BY stream_id, stream_version`, streamIDs)
	if err != nil {
		return nil, fmt.Errorf("read streams: %w", err)
	}
	records, err := scanRecords(rows, s.keys)
	if err != nil {
		return nil, err
	}
	streams := make(map[uuid.UUID][]Record, len(streamIDs))
	for _, r := range records {
		streams[r.StreamID] = append(streams[r.StreamID], r)
	}
	return streams, nil
}

// ReadAll returns up to limit events that come after the checkpoint, in log
// order. It only returns events below the horizon, so an append that
// commits later can never have its events land behind a checkpoint a
// reader has already passed.
func (s *Store) ReadAll(ctx context.Context, after Checkpoint, limit int) ([]Record, error) {
	return ReadAll(ctx, s.pool, s.keys, after, limit)
}

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ReadAll is Store.ReadAll through q, so that a reader can read the log
// inside its own transaction, opening personal fields with keys. It reads
// the horizon and then the events, in two statements: q must not be a
// transaction whose snapshot was taken before (REPEATABLE READ after its
// first statement).
func ReadAll(ctx context.Context, q Querier, keys *Keyring, after Checkpoint, limit int) ([]Record, error) {
	h, err := Horizon(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, selectRecordSQL+`
WHERE (tx_id, position) > ($1::text::xid8, $2)
  AND tx_id < $3::text::xid8
ORDER BY tx_id, position
LIMIT $4`, fmt.Sprint(after.TxID), after.Position, fmt.Sprint(h), limit)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return scanRecords(rows, keys)
}

// Head is a checkpoint that no event still to commit can come before: the
// newest event below the horizon, as far as the horizon's own statement
// saw. Reading up to it later reads everything up to it.
func (s *Store) Head(ctx context.Context) (Checkpoint, error) {
	r, err := ReadHorizon(ctx, s.pool)
	return r.Head, err
}

func scanRecords(rows pgx.Rows, keys *Keyring) ([]Record, error) {
	defer rows.Close()
	var records []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		if err := keys.Open(&r); err != nil {
			return nil, err
		}
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return records, nil
}

// SelectRecordSQL selects the columns ScanRecord reads, from the events
// table: add the WHERE and ORDER BY.
const SelectRecordSQL = selectRecordSQL

// ScanRecord reads the row of SelectRecordSQL that row is at, as the log
// stores it: Keyring.Open it before use.
func ScanRecord(row interface{ Scan(...any) error }) (Record, error) { return scanRecord(row) }

// scanRecord reads the row of selectRecordSQL that rows is at.
func scanRecord(rows interface{ Scan(...any) error }) (Record, error) {
	var r Record
	var data []byte
	// tx_id is scanned as it is (pgx reads xid8 into a uint64): a cast
	// through text in the query cost 30 µs a row, most of the time of
	// reading the log. The uuids are scanned as their 16 bytes: into a
	// uuid.UUID, pgx goes through its sql.Scanner, a string formatted and
	// parsed again, a tenth of a replay's time.
	if err := rows.Scan(&r.Position, &r.TxID, (*[16]byte)(&r.EventID), &r.StreamType, (*[16]byte)(&r.StreamID), &r.Version, &r.Type,
		&r.SchemaVersion, &data, (*[16]byte)(&r.Metadata.ActorID), &r.Metadata.CorrelationID, &r.Metadata.CausationID,
		&r.Metadata.RequestID, &r.OccurredAt, (*[16]byte)(&r.Subject), &r.wrappedKey); err != nil {
		return Record{}, fmt.Errorf("scan event: %w", err)
	}
	r.Data = data
	r.sealed = r.Subject != uuid.Nil
	r.OccurredAt = r.OccurredAt.UTC()
	return r, nil
}

// Scan calls fn with every event after `after` up to and including
// through, in log order, opened with keys, from one query whose rows are
// read as they arrive: the whole log can go through it without being held
// in memory. through should be a checkpoint readers can see (Head), so
// that no event at or before it can still commit. fn's error stops the
// scan.
func Scan(ctx context.Context, q Querier, keys *Keyring, after, through Checkpoint, fn func(Record) error) error {
	rows, err := q.Query(ctx, selectRecordSQL+`
WHERE (tx_id, position) > ($1::text::xid8, $2)
  AND (tx_id, position) <= ($3::text::xid8, $4)
ORDER BY tx_id, position`, fmt.Sprint(after.TxID), after.Position, fmt.Sprint(through.TxID), through.Position)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	return eachRecord(rows, keys, fn)
}

// eachRecord calls fn with each row of rows (of selectRecordSQL), opened
// with keys, as it arrives. fn's error stops it.
func eachRecord(rows pgx.Rows, keys *Keyring, fn func(Record) error) error {
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return err
		}
		if err := keys.Open(&r); err != nil {
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
