package eventstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
)

// Filter selects events for audit queries. Zero fields select everything.
type Filter struct {
	StreamID uuid.UUID
	ActorID  uuid.UUID
	Type     string
	// Since and Until bound occurred_at: Since <= occurred_at < Until.
	Since, Until time.Time
	// After skips the events at or before a checkpoint (for following
	// the log).
	After Checkpoint
	// Follow keeps to the events below the horizon (as ReadAll does), so
	// that the next query, After the last one returned, skips nothing.
	// Without it every committed event is selected: an audit question must
	// not miss events because an append is still running.
	Follow bool
	Limit  int
}

// Query returns the events that f selects, in log order. Every value is a
// parameter.
func (s *Store) Query(ctx context.Context, f Filter) ([]Record, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	var since, until *time.Time
	if !f.Since.IsZero() {
		since = &f.Since
	}
	if !f.Until.IsZero() {
		until = &f.Until
	}
	// Without Follow, a horizon above every id reads every committed event.
	horizon := uint64(math.MaxInt64)
	if f.Follow {
		h, err := Horizon(ctx, s.pool)
		if err != nil {
			return nil, err
		}
		horizon = h
	}
	rows, err := s.pool.Query(ctx, selectRecordSQL+`
WHERE (tx_id, position) > ($1::text::xid8, $2)
  AND tx_id < $9::text::xid8
  AND ($3::uuid IS NULL OR stream_id = $3)
  AND ($4::uuid IS NULL OR actor_id = $4)
  AND ($5 = '' OR event_type = $5)
  AND ($6::timestamptz IS NULL OR occurred_at >= $6)
  AND ($7::timestamptz IS NULL OR occurred_at < $7)
ORDER BY tx_id, position
LIMIT $8`, fmt.Sprint(f.After.TxID), f.After.Position, nullUUID(f.StreamID), nullUUID(f.ActorID), f.Type, since, until, limit, fmt.Sprint(horizon))
	if err != nil {
		return nil, fmt.Errorf("query log: %w", err)
	}
	return scanRecords(rows, s.keys)
}

// ScanAbout calls fn with every event about a person, in log order, from
// one query whose rows are read as they arrive: the events of streams
// (theirs: their account, applications, jobs), the events they caused, and
// those that hold their personal data. fn's error stops the scan.
func (s *Store) ScanAbout(ctx context.Context, person uuid.UUID, streams []uuid.UUID, fn func(Record) error) error {
	rows, err := s.pool.Query(ctx, selectRecordSQL+`
WHERE stream_id = ANY($1) OR actor_id = $2 OR subject_id = $2
ORDER BY tx_id, position`, streams, person)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	return eachRecord(rows, s.keys, fn)
}
