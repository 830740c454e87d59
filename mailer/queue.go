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

// Delivery is one row of the email queue.
type Delivery struct {
	ApplicationID uuid.UUID
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

// ErrNotFound: no delivery for that application.
var ErrNotFound = errors.New("no such delivery")

// execer runs a statement that needs no answer: a transaction, or the
// subscriber's queue of staged writes (bus.Queue).
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// enqueue queues the email about an application, once however often it is
// called.
func enqueue(ctx context.Context, q execer, applicationID uuid.UUID) error {
	_, err := q.Exec(ctx, `INSERT INTO email_deliveries (application_id) VALUES ($1) ON CONFLICT DO NOTHING`, applicationID)
	return err
}

// claim takes the pending delivery that has been due longest and that no
// live lease holds, and leases it until now + lease. The claim is one
// statement, committed before anything is sent: no transaction stays open
// while the mail server is talked to. SKIP LOCKED lets concurrent workers
// take different rows; the attempt number it returns fences the outcome
// (a worker whose lease ran out cannot record over the next one's).
func (q *Queue) claim(ctx context.Context, lease time.Duration) (id uuid.UUID, attempt int, ok bool, err error) {
	err = q.pool.QueryRow(ctx, `
UPDATE email_deliveries d SET attempts = d.attempts + 1, lease_until = now() + make_interval(secs => $1), updated_at = now()
WHERE d.application_id = (
    SELECT application_id FROM email_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until <= now())
    ORDER BY next_attempt_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
RETURNING d.application_id, d.attempts`, lease.Seconds()).Scan(&id, &attempt)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, 0, false, nil
	}
	if err != nil {
		return uuid.Nil, 0, false, fmt.Errorf("claim a delivery: %w", err)
	}
	return id, attempt, true, nil
}

// claimed is a delivery a worker has leased: its id and the attempt.
type claimed struct {
	id      uuid.UUID
	attempt int
}

// claimIDs leases those of ids that are pending, due and not leased, as
// claim does, by their key: the cost of a claim does not grow with the
// queue's history. The lease is checked again on each row once locked, so
// a scanning claim that took one of them first keeps it.
func (q *Queue) claimIDs(ctx context.Context, ids []uuid.UUID, lease time.Duration) ([]claimed, error) {
	rows, err := q.pool.Query(ctx, `
UPDATE email_deliveries SET attempts = attempts + 1, lease_until = now() + make_interval(secs => $2), updated_at = now()
WHERE application_id = ANY($1) AND status = 'pending' AND next_attempt_at <= now()
  AND (lease_until IS NULL OR lease_until <= now())
RETURNING application_id, attempts`, ids, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
		var c claimed
		err := row.Scan(&c.id, &c.attempt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// sent records that attempt delivered the mail.
func (q *Queue) sent(ctx context.Context, id uuid.UUID, attempt int) error {
	return q.record(ctx, `UPDATE email_deliveries SET status = 'sent', sent_at = now(), lease_until = NULL, updated_at = now()
WHERE application_id = $1 AND attempts = $2`, id, attempt)
}

// retryAt records a transient failure: the delivery is due again at next.
func (q *Queue) retryAt(ctx context.Context, id uuid.UUID, attempt int, next time.Time, reason string) error {
	return q.record(ctx, `UPDATE email_deliveries SET next_attempt_at = $3, lease_until = NULL, last_error = $4, updated_at = now()
WHERE application_id = $1 AND attempts = $2 AND status = 'pending'`, id, attempt, next, reason)
}

// failed records a permanent failure.
func (q *Queue) failed(ctx context.Context, id uuid.UUID, attempt int, reason string) error {
	return q.record(ctx, `UPDATE email_deliveries SET status = 'failed', lease_until = NULL, last_error = $3, updated_at = now()
WHERE application_id = $1 AND attempts = $2 AND status = 'pending'`, id, attempt, reason)
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
SELECT application_id, status, attempts, next_attempt_at, coalesce(last_error, ''), created_at, updated_at, sent_at
FROM email_deliveries WHERE $1 = '' OR status = $1
ORDER BY created_at DESC, application_id LIMIT $2`, string(status), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := row.Scan(&d.ApplicationID, &d.Status, &d.Attempts, &d.NextAttemptAt, &d.LastError, &d.CreatedAt, &d.UpdatedAt, &d.SentAt)
		return d, err
	})
}

// Retry queues a failed delivery again, due now. A pending one is made due
// now; a sent one is refused (ErrNotFound when there is none).
func (q *Queue) Retry(ctx context.Context, id uuid.UUID) error {
	var status Status
	err := q.pool.QueryRow(ctx, `
UPDATE email_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now()
WHERE application_id = $1 AND status <> 'sent'
RETURNING status`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM email_deliveries WHERE application_id = $1)`, id).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("the mail about application %s was sent already", id)
		}
		return ErrNotFound
	}
	return err
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
