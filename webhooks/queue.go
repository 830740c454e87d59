package webhooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Queue is the webhook_deliveries table as the workers and the operator
// see it.
type Queue struct {
	pool *pgxpool.Pool
}

// NewQueue returns the delivery queue in pool's database.
func NewQueue(pool *pgxpool.Pool) *Queue { return &Queue{pool: pool} }

// ErrNotFound: no such delivery.
var ErrNotFound = errors.New("no such delivery")

// claimed is a delivery a worker has leased, with what it takes to send it.
type claimed struct {
	post
	attempt   int
	retryBase int
}

// headSQL is true of a pending delivery h that no earlier delivery of its
// subscription, still pending, holds back: the only one of a subscription
// a worker may take, so that its deliveries go out in the order of their
// events. Failed deliveries hold nothing back (they wait for an operator,
// and the subscription would otherwise stop for good); delivered ones are
// done.
const headSQL = `NOT EXISTS (
    SELECT 1 FROM webhook_deliveries e
    WHERE e.subscription_id = h.subscription_id AND e.status = 'pending'
      AND (e.event_tx_id, e.event_position) < (h.event_tx_id, h.event_position))`

// claimSQL takes the delivery that has been due longest among the heads of
// their subscriptions that no live lease holds, leases it, and notes the
// attempt's start, in one statement committed before anything is sent: no
// transaction stays open while a receiver is called. SKIP LOCKED lets
// concurrent workers take different rows; a row another worker leased a
// moment ago is seen leased once locked (the lease is checked again on the
// locked row). The attempt number it returns fences the outcome: a worker
// whose lease ran out cannot record over the next one's. Attempts left
// without an outcome by a worker that died are marked so.
const claimSQL = `
WITH claimed AS (
    UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_until = now() + make_interval(secs => $1), updated_at = now()
    WHERE d.id = (
        SELECT h.id FROM webhook_deliveries h
        WHERE h.status = 'pending' AND h.next_attempt_at <= now() AND (h.lease_until IS NULL OR h.lease_until <= now())
          AND ` + headSQL + `
        ORDER BY h.next_attempt_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
    RETURNING d.id, d.subscription_id, d.event_type, d.body, d.attempts, d.retry_base
), started AS (
    INSERT INTO webhook_attempts (delivery_id, attempt) SELECT id, attempts FROM claimed
), abandoned AS (
    UPDATE webhook_attempts a SET error = 'no outcome: the worker stopped, or lost its lease, during the attempt'
    FROM claimed c WHERE a.delivery_id = c.id AND a.attempt < c.attempts AND a.duration_ms IS NULL AND a.error IS NULL
)
SELECT c.id, c.attempts, c.retry_base, c.event_type, c.body, s.url, s.secret
FROM claimed c JOIN webhook_subscriptions s ON s.id = c.subscription_id`

// claim leases the next delivery to try, if any is due, until now + lease.
func (q *Queue) claim(ctx context.Context, lease time.Duration) (claimed, bool, error) {
	var c claimed
	err := q.pool.QueryRow(ctx, claimSQL, lease.Seconds()).Scan(&c.id, &c.attempt, &c.retryBase, &c.eventType, &c.body, &c.url, &c.secret)
	if errors.Is(err, pgx.ErrNoRows) {
		return claimed{}, false, nil
	}
	if err != nil {
		return claimed{}, false, fmt.Errorf("claim a webhook delivery: %w", err)
	}
	return c, true, nil
}

// outcome is how an attempt went.
type outcome struct {
	statusCode int // 0: no answer
	err        error
	duration   time.Duration
}

func (o outcome) code() *int {
	if o.statusCode == 0 {
		return nil
	}
	return &o.statusCode
}

func (o outcome) reason() *string {
	if o.err == nil {
		return nil
	}
	s := o.err.Error()
	return &s
}

// delivered records that c's attempt was answered with a 2xx. It is not
// fenced by the attempt: a success is a success, even from a worker whose
// lease ran out (the next worker's outcome then changes nothing).
func (q *Queue) delivered(ctx context.Context, c claimed, o outcome) error {
	return q.record(ctx, c, o, `
UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), lease_until = NULL,
    last_status_code = $2, last_error = NULL, updated_at = now()
WHERE id = $1 AND status = 'pending'`, c.id, o.code())
}

// retryAt records a failed attempt after which the delivery is due again
// at next.
func (q *Queue) retryAt(ctx context.Context, c claimed, o outcome, next time.Time) error {
	return q.record(ctx, c, o, `
UPDATE webhook_deliveries SET next_attempt_at = $3, lease_until = NULL, last_status_code = $4, last_error = $5, updated_at = now()
WHERE id = $1 AND attempts = $2 AND status = 'pending'`, c.id, c.attempt, next, o.code(), o.reason())
}

// failed records a failed attempt after which no more are made.
func (q *Queue) failed(ctx context.Context, c claimed, o outcome) error {
	return q.record(ctx, c, o, `
UPDATE webhook_deliveries SET status = 'failed', lease_until = NULL, last_status_code = $3, last_error = $4, updated_at = now()
WHERE id = $1 AND attempts = $2 AND status = 'pending'`, c.id, c.attempt, o.code(), o.reason())
}

// record writes the attempt's outcome and what it means for the delivery,
// in one transaction.
func (q *Queue) record(ctx context.Context, c claimed, o outcome, sql string, args ...any) error {
	// The outcome must be written even when the worker is being stopped:
	// the receiver got the delivery (or did not), and forgetting it means
	// sending it again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := pgx.BeginFunc(ctx, q.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
UPDATE webhook_attempts SET status_code = $3, error = $4, duration_ms = $5 WHERE delivery_id = $1 AND attempt = $2`,
			c.id, c.attempt, o.code(), o.reason(), o.duration.Milliseconds())
		return err
	})
	if err != nil {
		return fmt.Errorf("record a webhook attempt: %w", err)
	}
	return nil
}

// nextDue is when the earliest delivery a worker could take is due (or its
// lease runs out), if there is any.
func (q *Queue) nextDue(ctx context.Context) (time.Time, bool, error) {
	var due *time.Time
	err := q.pool.QueryRow(ctx, `
SELECT min(greatest(h.next_attempt_at, coalesce(h.lease_until, h.next_attempt_at)))
FROM webhook_deliveries h WHERE h.status = 'pending' AND `+headSQL).Scan(&due)
	if err != nil || due == nil {
		return time.Time{}, false, err
	}
	return *due, true, nil
}

// QueuedDelivery is a delivery as the operator sees it: with its
// subscription's address and owner.
type QueuedDelivery struct {
	Delivery
	URL     string
	OwnerID uuid.UUID
}

// ListFilter narrows List.
type ListFilter struct {
	// Status, when set, keeps only the deliveries in that status.
	Status Status
	// SubscriptionID, when set, keeps only that subscription's.
	SubscriptionID uuid.UUID
}

// List returns deliveries, newest first.
func (q *Queue) List(ctx context.Context, f ListFilter, limit int) ([]QueuedDelivery, error) {
	rows, err := q.pool.Query(ctx, `
SELECT d.id, d.subscription_id, d.event_id, d.event_type, d.status, d.attempts, d.last_status_code,
    coalesce(d.last_error, ''), d.next_attempt_at, d.created_at, d.delivered_at, s.url, s.owner_id
FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
WHERE ($1 = '' OR d.status = $1) AND ($2 = '00000000-0000-0000-0000-000000000000'::uuid OR d.subscription_id = $2)
ORDER BY d.created_at DESC, d.id DESC LIMIT $3`, string(f.Status), f.SubscriptionID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (QueuedDelivery, error) {
		var d QueuedDelivery
		err := row.Scan(&d.ID, &d.SubscriptionID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &d.LastStatusCode,
			&d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.DeliveredAt, &d.URL, &d.OwnerID)
		return d, err
	})
}

// SubscriptionSummary is a subscription as the operator sees it, with how
// its deliveries stand.
type SubscriptionSummary struct {
	Subscription
	Pending, Delivered, Failed int
}

// Subscriptions returns every recruiter's subscriptions, newest first.
func (q *Queue) Subscriptions(ctx context.Context, limit int) ([]SubscriptionSummary, error) {
	rows, err := q.pool.Query(ctx, `
SELECT s.id, s.owner_id, s.url, s.events, s.created_at,
    count(*) FILTER (WHERE d.status = 'pending'), count(*) FILTER (WHERE d.status = 'delivered'),
    count(*) FILTER (WHERE d.status = 'failed')
FROM webhook_subscriptions s LEFT JOIN webhook_deliveries d ON d.subscription_id = s.id
GROUP BY s.id ORDER BY s.created_at DESC, s.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SubscriptionSummary, error) {
		var s SubscriptionSummary
		err := row.Scan(&s.ID, &s.OwnerID, &s.URL, &s.Events, &s.CreatedAt, &s.Pending, &s.Delivered, &s.Failed)
		return s, err
	})
}

// Attempt is one try at a delivery.
type Attempt struct {
	Number     int
	StartedAt  time.Time
	StatusCode *int
	Error      string
	// Duration is nil for an attempt whose worker stopped before it knew
	// the outcome.
	Duration *time.Duration
}

// Attempts returns the attempts at delivery id, first first.
func (q *Queue) Attempts(ctx context.Context, id uuid.UUID) ([]Attempt, error) {
	rows, err := q.pool.Query(ctx, `
SELECT attempt, started_at, status_code, coalesce(error, ''), duration_ms FROM webhook_attempts
WHERE delivery_id = $1 ORDER BY attempt`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		var ms *int64
		if err := row.Scan(&a.Number, &a.StartedAt, &a.StatusCode, &a.Error, &ms); err != nil {
			return a, err
		}
		if ms != nil {
			d := time.Duration(*ms) * time.Millisecond
			a.Duration = &d
		}
		return a, nil
	})
}

// Retry queues delivery id again, due now. A failed one gets the whole
// retry schedule again; a pending one is only made due now; a delivered
// one is refused (ErrNotFound when there is none).
func (q *Queue) Retry(ctx context.Context, id uuid.UUID) error {
	tag, err := q.pool.Exec(ctx, `
UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now(),
    retry_base = CASE WHEN status = 'failed' THEN attempts ELSE retry_base END
WHERE id = $1 AND status <> 'delivered'`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)`, id).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("delivery %s was delivered already", id)
	}
	return ErrNotFound
}

// RetryFailed queues every failed delivery again (of one subscription,
// when subscription is not uuid.Nil), each with the whole retry schedule,
// and says how many.
func (q *Queue) RetryFailed(ctx context.Context, subscription uuid.UUID) (int64, error) {
	tag, err := q.pool.Exec(ctx, `
UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), retry_base = attempts, updated_at = now()
WHERE status = 'failed' AND ($1 = '00000000-0000-0000-0000-000000000000'::uuid OR subscription_id = $1)`, subscription)
	return tag.RowsAffected(), err
}

// pendingStats are how many deliveries are pending and how long the oldest
// has waited.
func (q *Queue) pendingStats(ctx context.Context) (n int, oldest time.Duration, err error) {
	var seconds float64
	err = q.pool.QueryRow(ctx, `
SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
FROM webhook_deliveries WHERE status = 'pending'`).Scan(&n, &seconds)
	return n, time.Duration(seconds * float64(time.Second)), err
}
