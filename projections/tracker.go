package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// Tracker lets a write wait until the projections that serve its resource
// have caught up with its events, which is how a client reads its writes.
type Tracker struct {
	pool     *pgxpool.Pool
	signals  bus.Signals
	progress *bus.Progress
	timeout  time.Duration
	poll     time.Duration
}

// NewTracker returns a tracker that learns of progress from relay and
// gives up after timeout.
func NewTracker(pool *pgxpool.Pool, relay *bus.Relay, timeout time.Duration) *Tracker {
	return &Tracker{pool: pool, signals: relay.Signals(), progress: relay.Progress(), timeout: timeout, poll: 50 * time.Millisecond}
}

// WaitFor returns once every named projection has applied the event at cp,
// or an unavailable-kind error when that takes longer than the timeout. The
// events are committed either way; only their visibility is late.
//
// When the projections run in this process, their subscribers say how far
// they got and the database is not asked, unless another process reports
// progress (another instance of the group may have taken the events) or
// the poll interval passes.
func (t *Tracker) WaitFor(ctx context.Context, cp eventstore.Checkpoint, names ...string) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	askDatabase := false
	for {
		_, progressed := t.signals.Progressed.Wait()
		_, elsewhere := t.signals.ProgressedElsewhere.Wait()
		reached, local := t.progress.Reached(cp, names...)
		if reached {
			return nil
		}
		if !local || askDatabase {
			behind, err := t.behind(ctx, cp, names)
			if err == nil && behind == 0 {
				return nil
			}
			if err != nil && ctx.Err() == nil {
				return err
			}
		}
		askDatabase = false
		poll := time.NewTimer(t.poll)
		select {
		case <-progressed:
		case <-elsewhere:
			askDatabase = true
		case <-poll.C:
			askDatabase = true
		case <-ctx.Done():
			poll.Stop()
			return &domain.Error{
				Kind:    domain.KindUnavailable,
				Message: "the change was saved but is taking longer than usual to become visible; retry the read shortly",
				Err:     fmt.Errorf("waiting for projections %v to reach %s: %w", names, cp, ctx.Err()),
			}
		}
		poll.Stop()
	}
}

// behind counts the named projections whose checkpoint is before cp.
func (t *Tracker) behind(ctx context.Context, cp eventstore.Checkpoint, names []string) (int, error) {
	var n int
	err := t.pool.QueryRow(ctx, `
SELECT count(*) FROM unnest($1::text[]) AS wanted(name)
LEFT JOIN checkpoints c USING (name)
WHERE c.name IS NULL OR (c.tx_id, c.position) < ($2::text::xid8, $3)`,
		names, fmt.Sprint(cp.TxID), cp.Position).Scan(&n)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return 0, fmt.Errorf("read projection checkpoints: %w", err)
	}
	return n, err
}

// Lagging returns the projections that have not applied an event committed
// more than maxAge ago (or that have never started). An empty result means
// the read models are caught up.
func (t *Tracker) Lagging(ctx context.Context, names []string, maxAge time.Duration) ([]string, error) {
	horizon, err := eventstore.Horizon(ctx, t.pool)
	if err != nil {
		return nil, err
	}
	rows, err := t.pool.Query(ctx, `
SELECT wanted.name FROM unnest($1::text[]) AS wanted(name)
LEFT JOIN checkpoints c USING (name)
WHERE c.name IS NULL OR EXISTS (
    SELECT 1 FROM events e
    WHERE (e.tx_id, e.position) > (c.tx_id, c.position)
      AND e.tx_id < $3::text::xid8
      AND e.occurred_at < now() - $2::interval)`, names, maxAge, fmt.Sprint(horizon))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var lagging []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		lagging = append(lagging, name)
	}
	return lagging, rows.Err()
}
