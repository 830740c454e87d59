package mailer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Status is where a delivery stands.
type Status string

const (
	StatusPending Status = "pending"
	StatusSent    Status = "sent"
	StatusFailed  Status = "failed"
)

// Delivery is one row of the email queue: one mail.
type Delivery struct {
	// ID is the mail's own: its Message-ID is derived from it. The
	// recruiter's mail about a new application has the application's id.
	ID            uuid.UUID
	Kind          Kind
	ApplicationID uuid.UUID
	// EventID is the event the mail is about (uuid.Nil for a recruiter's
	// mail queued before mails were keyed by event, whose event was not
	// found), EventPosition its place in the log.
	EventID       uuid.UUID
	EventPosition int64
	Status        Status
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	SentAt        *time.Time
}

// Queue is the email_deliveries table.
type Queue struct {
	pool *pgxpool.Pool
}

// NewQueue returns the queue in pool's database.
func NewQueue(pool *pgxpool.Pool) *Queue { return &Queue{pool: pool} }

// ErrNotFound: no delivery with that id.
var ErrNotFound = errors.New("no such delivery")

// execer runs a statement that needs no answer: a transaction, or the
// subscriber's queue of staged writes (bus.Queue).
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// enqueue queues a mail, once however often it is called: its id is
// derived from its event and kind (see Ref), and (event_id, kind) is
// unique besides.
func enqueue(ctx context.Context, q execer, r Ref) error {
	var eventID any
	if r.EventID != uuid.Nil {
		eventID = r.EventID
	}
	_, err := q.Exec(ctx, `
INSERT INTO email_deliveries (id, kind, application_id, event_id, event_position) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING`, r.ID, string(r.Kind), r.ApplicationID, eventID, r.EventPosition)
	return err
}

// claimed is a delivery a worker has leased, and the attempt.
type claimed struct {
	Ref
	attempt int
}

// returningClaimed is what a claim returns, for scanClaimed.
const returningClaimed = `RETURNING d.id, d.kind, d.application_id, coalesce(d.event_id, '00000000-0000-0000-0000-000000000000'), coalesce(d.event_position, 0), d.attempts`

func scanClaimed(row pgx.Row) (claimed, error) {
	var c claimed
	var kind string
	err := row.Scan(&c.ID, &kind, &c.ApplicationID, &c.EventID, &c.EventPosition, &c.attempt)
	c.Kind = Kind(kind)
	return c, err
}

// claim takes the pending delivery that has been due longest and that no
// live lease holds, and leases it until now + lease. The claim is one
// statement, committed before anything is sent: no transaction stays open
// while the mail server is talked to. SKIP LOCKED lets concurrent workers
// take different rows; the attempt number it returns fences the outcome
// (a worker whose lease ran out cannot record over the next one's).
func (q *Queue) claim(ctx context.Context, lease time.Duration) (claimed, bool, error) {
	c, err := scanClaimed(q.pool.QueryRow(ctx, `
UPDATE email_deliveries d SET attempts = d.attempts + 1, lease_until = now() + make_interval(secs => $1), updated_at = now()
WHERE d.id = (
    SELECT id FROM email_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until <= now())
    ORDER BY next_attempt_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
`+returningClaimed, lease.Seconds()))
	if errors.Is(err, pgx.ErrNoRows) {
		return claimed{}, false, nil
	}
	if err != nil {
		return claimed{}, false, fmt.Errorf("claim a delivery: %w", err)
	}
	return c, true, nil
}

// claimIDs leases those of ids that are pending, due and not leased, as
// claim does, by their key: the cost of a claim does not grow with the
// queue's history. The lease is checked again on each row once locked, so
// a scanning claim that took one of them first keeps it.
func (q *Queue) claimIDs(ctx context.Context, ids []uuid.UUID, lease time.Duration) ([]claimed, error) {
	rows, err := q.pool.Query(ctx, `
UPDATE email_deliveries d SET attempts = attempts + 1, lease_until = now() + make_interval(secs => $2), updated_at = now()
WHERE id = ANY($1) AND status = 'pending' AND next_attempt_at <= now()
  AND (lease_until IS NULL OR lease_until <= now())
`+returningClaimed, ids, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) { return scanClaimed(row) })
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// sent records that attempt delivered the mail.
func (q *Queue) sent(ctx context.Context, id uuid.UUID, attempt int) error {
	return q.record(ctx, `UPDATE email_deliveries SET status = 'sent', sent_at = now(), lease_until = NULL, updated_at = now()
WHERE id = $1 AND attempts = $2`, id, attempt)
}

// retryAt records a transient failure: the delivery is due again at next.
func (q *Queue) retryAt(ctx context.Context, id uuid.UUID, attempt int, next time.Time, reason string) error {
	return q.record(ctx, `UPDATE email_deliveries SET next_attempt_at = $3, lease_until = NULL, last_error = $4, updated_at = now()
WHERE id = $1 AND attempts = $2 AND status = 'pending'`, id, attempt, next, reason)
}

// failed records a permanent failure.
func (q *Queue) failed(ctx context.Context, id uuid.UUID, attempt int, reason string) error {
	return q.record(ctx, `UPDATE email_deliveries SET status = 'failed', lease_until = NULL, last_error = $3, updated_at = now()
WHERE id = $1 AND attempts = $2 AND status = 'pending'`, id, attempt, reason)
}

func (q *Queue) record(ctx context.Context, sql string, args ...any) error {
	// The outcome must be written even when the worker is being stopped:
	// the mail went (or did not), and forgetting it means sending again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := q.pool.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("record a delivery's outcome: %w", err)
	}
	return nil
}

// nextDue is when the earliest pending delivery is due, if any.
func (q *Queue) nextDue(ctx context.Context) (time.Time, bool, error) {
	var due *time.Time
	err := q.pool.QueryRow(ctx, `
SELECT min(greatest(next_attempt_at, coalesce(lease_until, next_attempt_at))) FROM email_deliveries WHERE status = 'pending'`).Scan(&due)
	if err != nil || due == nil {
		return time.Time{}, false, err
	}
	return *due, true, nil
}

// List returns deliveries, newest first; with status set, only those.
func (q *Queue) List(ctx context.Context, status Status, limit int) ([]Delivery, error) {
	rows, err := q.pool.Query(ctx, `
SELECT id, kind, application_id, coalesce(event_id, '00000000-0000-0000-0000-000000000000'), coalesce(event_position, 0),
       status, attempts, next_attempt_at, coalesce(last_error, ''), created_at, updated_at, sent_at
FROM email_deliveries WHERE $1 = '' OR status = $1
ORDER BY created_at DESC, event_position DESC NULLS LAST, id LIMIT $2`, string(status), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		var kind string
		err := row.Scan(&d.ID, &kind, &d.ApplicationID, &d.EventID, &d.EventPosition,
			&d.Status, &d.Attempts, &d.NextAttemptAt, &d.LastError, &d.CreatedAt, &d.UpdatedAt, &d.SentAt)
		d.Kind = Kind(kind)
		return d, err
	})
}

// Retry queues again, due now, the mails that id names and that were not
// sent: the delivery with that id, or every delivery about the
// application with that id (the recruiter's mail about a new application
// has the application's id: it is both). A pending one is made due now.
// It says how many; when every mail id names was sent, it refuses (an
// error), and when id names none, it returns ErrNotFound.
func (q *Queue) Retry(ctx context.Context, id uuid.UUID) (int64, error) {
	tag, err := q.pool.Exec(ctx, `
UPDATE email_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now()
WHERE (id = $1 OR application_id = $1) AND status <> 'sent'`, id)
	if err != nil {
		return 0, err
	}
	if n := tag.RowsAffected(); n > 0 {
		return n, nil
	}
	var exists bool
	if err := q.pool.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM email_deliveries WHERE id = $1 OR application_id = $1)`, id).Scan(&exists); err != nil {
		return 0, err
	}
	if exists {
		return 0, fmt.Errorf("the mails of %s were sent already", id)
	}
	return 0, ErrNotFound
}

// RetryFailed queues every failed delivery again and says how many.
func (q *Queue) RetryFailed(ctx context.Context) (int64, error) {
	tag, err := q.pool.Exec(ctx, `
UPDATE email_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now() WHERE status = 'failed'`)
	return tag.RowsAffected(), err
}

// OldestPendingAge is how long the oldest pending delivery has waited (0
// when none waits).
func (q *Queue) OldestPendingAge(ctx context.Context) (time.Duration, error) {
	var seconds float64
	err := q.pool.QueryRow(ctx, `
SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM email_deliveries WHERE status = 'pending'`).Scan(&seconds)
	return time.Duration(seconds * float64(time.Second)), err
}
