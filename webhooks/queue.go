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

// headsSQL is each subscription's head: the first of its deliveries, in
// the order of their events, that is pending or still leased. Only a head
// that is pending, due and unleased may be taken, so that a subscription's
// deliveries go out one at a time in the order of their events. Failed
// deliveries are not heads (they wait for an operator, and the
// subscription would otherwise stop for good); delivered ones are done,
// unless an attempt at them is still in flight (a success reported by an
// earlier attempt whose worker outlived its lease keeps the lease of the
// attempt in flight, see delivered), which holds back the next one until
// that attempt's outcome, or its lease's end.
//
// It costs one probe of webhook_deliveries_order per subscription, however
// many deliveries wait behind the heads: comparing every pending delivery
// with the others of its subscription (the first version) took seconds
// once one subscription's receiver had been down for a while and
// thousands of its deliveries were queued, and every worker of every
// subscription waited on it.
const headsSQL = `
heads AS (
    SELECT h.id, h.status, h.next_attempt_at, h.lease_until
    FROM webhook_subscriptions s
    CROSS JOIN LATERAL (
        SELECT d.id, d.status, d.next_attempt_at, d.lease_until FROM webhook_deliveries d
        WHERE d.subscription_id = s.id AND (d.status = 'pending' OR d.lease_until > now())
        ORDER BY d.event_tx_id, d.event_position
        LIMIT 1) h
)`

// claimSQL takes the delivery that has been due longest among the heads of
// their subscriptions that no live lease holds, leases it, and notes the
// attempt's start, in one statement committed before anything is sent: no
// transaction stays open while a receiver is called.
//
// The heads are found without locks, then the chosen row is locked with
// SKIP LOCKED, so that concurrent workers take different rows. Once it is
// locked, PostgreSQL checks the conditions on c again on the row's newest
// version: a row another worker leased, retried or delivered a moment ago
// is passed over. That c is still its subscription's head is checked there
// too, against the statement's snapshot: nothing but an operator's retry
// of an earlier, failed delivery can make an earlier one pending again,
// and that retry sends an old event after newer ones anyway (see the
// README's Webhooks section).
//
// The attempt number it returns fences the outcome: a worker whose lease
// ran out cannot record a failure over the next one's. Attempts left
// without an outcome by a worker that died are marked so.
const claimSQL = `
WITH` + headsSQL + `, claimed AS (
    UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_until = now() + make_interval(secs => $1), updated_at = now()
    WHERE d.id = (
        SELECT c.id FROM webhook_deliveries c
        WHERE c.id IN (
                SELECT h.id FROM heads h
                WHERE h.status = 'pending' AND h.next_attempt_at <= now() AND (h.lease_until IS NULL OR h.lease_until <= now()))
          AND c.status = 'pending' AND c.next_attempt_at <= now() AND (c.lease_until IS NULL OR c.lease_until <= now())
          AND NOT EXISTS (
                SELECT 1 FROM webhook_deliveries e
                WHERE e.subscription_id = c.subscription_id AND (e.status = 'pending' OR e.lease_until > now())
                  AND (e.event_tx_id, e.event_position) < (c.event_tx_id, c.event_position))
        ORDER BY c.next_attempt_at
        LIMIT 1
        FOR UPDATE OF c SKIP LOCKED)
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
	// err is why the attempt failed (nil: it did not). An *attemptError
	// tells the recruiter less than the operator (see sender.send).
	err      error
	duration time.Duration
}

func (o outcome) code() *int {
	if o.statusCode == 0 {
		return nil
	}
	return &o.statusCode
}

// detail is the attempt's error as the operator sees it, in
// webhook_attempts.error (and the logs).
func (o outcome) detail() *string {
	if o.err == nil {
		return nil
	}
	s := clip(o.err.Error())
	return &s
}

// public is the attempt's error as the delivery's last_error shows it to
// the recruiter, through the API and the CLI: what went wrong, without the
// addresses and resolver messages the operator's detail carries.
func (o outcome) public() *string {
	if o.err == nil {
		return nil
	}
	s := clip(publicReason(o.err))
	return &s
}

// delivered records that c's attempt was answered with a 2xx. It is not
// fenced by the attempt: a success is a success, even from a worker whose
// lease ran out, and even over a delivery that has failed since. But while
// a later attempt is in flight, its lease is kept: the next delivery of
// the subscription waits for that attempt's outcome (or the end of its
// lease), so that the repeat it sends cannot arrive after the next event.
func (q *Queue) delivered(ctx context.Context, c claimed, o outcome) error {
	return q.record(ctx, c, o, `
UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(),
    lease_until = CASE WHEN attempts <> $2 AND lease_until > now() THEN lease_until END,
    last_status_code = $3, last_error = NULL, updated_at = now()
WHERE id = $1 AND status <> 'delivered'`, c.id, c.attempt, o.code())
}

// retryAt records a failed attempt after which the delivery is due again
// at next.
func (q *Queue) retryAt(ctx context.Context, c claimed, o outcome, next time.Time) error {
	return q.record(ctx, c, o, `
UPDATE webhook_deliveries SET next_attempt_at = $3, lease_until = NULL, last_status_code = $4, last_error = $5, updated_at = now()
WHERE id = $1 AND attempts = $2 AND status = 'pending'`, c.id, c.attempt, next, o.code(), o.public())
}

// failed records a failed attempt after which no more are made.
func (q *Queue) failed(ctx context.Context, c claimed, o outcome) error {
	return q.record(ctx, c, o, `
UPDATE webhook_deliveries SET status = 'failed', lease_until = NULL, last_status_code = $3, last_error = $4, updated_at = now()
WHERE id = $1 AND attempts = $2 AND status = 'pending'`, c.id, c.attempt, o.code(), o.public())
}

// record writes the attempt's outcome and what it means for the delivery,
// in one transaction. Whatever that was, the outcome of the attempt a
// lease was taken for ends the lease: the delivery may have been recorded
// delivered meanwhile by an earlier attempt (see delivered), whose lease
// was kept for this one.
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
		if _, err := tx.Exec(ctx, `
UPDATE webhook_deliveries SET lease_until = NULL WHERE id = $1 AND attempts = $2 AND lease_until IS NOT NULL`,
			c.id, c.attempt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
UPDATE webhook_attempts SET status_code = $3, error = $4, duration_ms = $5 WHERE delivery_id = $1 AND attempt = $2`,
			c.id, c.attempt, o.code(), o.detail(), o.duration.Milliseconds())
		return err
	})
	if err != nil {
		return fmt.Errorf("record a webhook attempt: %w", err)
	}
	return nil
}

// nextDue is when the earliest delivery a worker could take is due (or its
// lease runs out), if there is any. It looks at the heads only, at the
// cost of one index probe per subscription (see headsSQL).
func (q *Queue) nextDue(ctx context.Context) (time.Time, bool, error) {
	var due *time.Time
	err := q.pool.QueryRow(ctx, `
WITH`+headsSQL+`
SELECT min(CASE WHEN h.status = 'pending' THEN greatest(h.next_attempt_at, coalesce(h.lease_until, h.next_attempt_at))
                ELSE h.lease_until END)
FROM heads h`).Scan(&due)
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
