package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// Store keeps the recruiters' subscriptions and shows them their
// deliveries: what the API serves.
//
// Subscriptions are configuration, not domain events: they are rows of
// their own table, written and deleted here, and a replay of the log
// neither rebuilds nor touches them.
type Store struct {
	pool *pgxpool.Pool
	// allowPrivate accepts http:// and private hosts (WEBHOOK_ALLOW_PRIVATE).
	allowPrivate bool
}

// NewStore returns the subscriptions in pool's database. allowPrivate
// accepts http:// URLs and private hosts, for tests and local use.
func NewStore(pool *pgxpool.Pool, allowPrivate bool) *Store {
	return &Store{pool: pool, allowPrivate: allowPrivate}
}

// MaxSubscriptions is how many subscriptions one recruiter may have. Each
// costs every matching event a delivery row and a request, and each is a
// head the workers look at (see headsSQL): a few endpoints per recruiter
// is what an ATS, a chat bot and a test receiver need.
const MaxSubscriptions = 25

var (
	errNoSuchWebhook = domain.Errorf(domain.KindNotFound, "no such webhook")
	errNotRecruiter  = domain.Errorf(domain.KindForbidden, "only recruiters subscribe to webhooks")
	errTooMany       = domain.Errorf(domain.KindConflict,
		"you have %d webhooks, the most one recruiter may have: delete one first", MaxSubscriptions)
	errSameURL = domain.Errorf(domain.KindConflict,
		"you already have a webhook for this URL (to change its events, delete it and subscribe again)")
)

// CheckCanSubscribe says whether caller may subscribe to webhooks: a
// recruiter may, about their own jobs; nobody else has anything to be told.
func CheckCanSubscribe(caller auth.Caller) error {
	if caller.Role != domain.RoleRecruiter {
		return errNotRecruiter
	}
	return nil
}

// Create subscribes caller's endpoint at rawURL to events. The secret is in
// what it returns, and nowhere else ever again. A recruiter has at most
// MaxSubscriptions, and one per URL (as written): beyond, a conflict.
func (s *Store) Create(ctx context.Context, caller auth.Caller, rawURL *string, events []string) (Subscription, error) {
	if err := CheckCanSubscribe(caller); err != nil {
		return Subscription{}, err
	}
	if err := CheckSubscription(rawURL, events, s.allowPrivate); err != nil {
		return Subscription{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Subscription{}, err
	}
	sub := Subscription{ID: id, OwnerID: caller.UserID, URL: *rawURL, Events: events, Secret: newSecret()}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One recruiter's subscriptions are made one at a time, so that
		// two requests at once cannot both take the last place, or both
		// add the same URL. The lock is the transaction's: it ends with it.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('webhook_subscriptions:' || $1::text, 0))`,
			sub.OwnerID); err != nil {
			return err
		}
		var n int
		var sameURL bool
		if err := tx.QueryRow(ctx, `
SELECT count(*), coalesce(bool_or(url = $2), false)
FROM webhook_subscriptions WHERE owner_id = $1`, sub.OwnerID, sub.URL).Scan(&n, &sameURL); err != nil {
			return err
		}
		switch {
		case sameURL:
			return errSameURL
		case n >= MaxSubscriptions:
			return errTooMany
		}
		// No read of the subscriptions by the handler runs from here to
		// the commit (see subscriptionsLockSQL).
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('webhook_subscriptions', 0))`); err != nil {
			return err
		}
		// The subscription hears of the events after the log's head
		// below its horizon, compared in the order the consumer group
		// reads them, (tx_id, position). Every event that is not after
		// the head had committed when it was read; every event still to
		// commit (its transaction under way, its position perhaps lower
		// than the newest one's) comes after it. The largest position
		// alone, the first version, skipped such an event. (Events
		// between the head and the horizon that committed just before
		// the subscription was made are sent too: a few events too many
		// at its start, never one missed.) The horizon is read in a
		// statement of its own, as it must be.
		head, err := eventstore.ReadHorizon(ctx, tx)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
INSERT INTO webhook_subscriptions (id, owner_id, url, events, secret, from_tx_id, from_position)
VALUES ($1, $2, $3, $4, $5, $6::text::xid8, $7)
RETURNING created_at`, sub.ID, sub.OwnerID, sub.URL, sub.Events, sub.Secret,
			strconv.FormatUint(head.Head.TxID, 10), head.Head.Position).Scan(&sub.CreatedAt)
	})
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "webhook_subscriptions_owner_url":
		return Subscription{}, errSameURL
	case domain.KindOf(err) == domain.KindConflict:
		return Subscription{}, err
	case err != nil:
		return Subscription{}, fmt.Errorf("save a webhook subscription: %w", err)
	}
	return sub, nil
}

// List returns owner's subscriptions, newest first, without their secrets.
func (s *Store) List(ctx context.Context, owner uuid.UUID) ([]Subscription, error) {
	rows, err := s.pool.Query(ctx, `
SELECT id, owner_id, url, events, created_at FROM webhook_subscriptions
WHERE owner_id = $1 ORDER BY created_at DESC, id DESC`, owner)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanSubscription)
}

// Get returns owner's subscription id, without its secret. Anyone else's
// is not found: ids reveal nothing.
func (s *Store) Get(ctx context.Context, owner, id uuid.UUID) (Subscription, error) {
	rows, err := s.pool.Query(ctx, `
SELECT id, owner_id, url, events, created_at FROM webhook_subscriptions
WHERE id = $1 AND owner_id = $2`, id, owner)
	if err != nil {
		return Subscription{}, err
	}
	sub, err := pgx.CollectExactlyOneRow(rows, scanSubscription)
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, errNoSuchWebhook
	}
	return sub, err
}

// Delete removes owner's subscription id, with its deliveries: nothing
// more is sent to it, not even a retry already due.
func (s *Store) Delete(ctx context.Context, owner, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_subscriptions WHERE id = $1 AND owner_id = $2`, id, owner)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errNoSuchWebhook
	}
	return nil
}

func scanSubscription(row pgx.CollectableRow) (Subscription, error) {
	var sub Subscription
	err := row.Scan(&sub.ID, &sub.OwnerID, &sub.URL, &sub.Events, &sub.CreatedAt)
	return sub, err
}

// Status is where a delivery stands.
type Status string

const (
	StatusPending   Status = "pending"
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed"
)

// Delivery is one event to be sent to one subscription, and how that went.
type Delivery struct {
	ID             uuid.UUID
	SubscriptionID uuid.UUID
	EventID        uuid.UUID
	// EventType is the webhook's name of the event (job.posted, …).
	EventType string
	Status    Status
	Attempts  int
	// LastStatusCode is the last answer's status, nil when no attempt got
	// one; LastError why the last attempt failed, "" when none did.
	LastStatusCode *int
	LastError      string
	NextAttemptAt  time.Time
	CreatedAt      time.Time
	DeliveredAt    *time.Time
}

// DeliveryCursor is where a page of deliveries ended.
type DeliveryCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// DeliveryPage is a page of a subscription's deliveries.
type DeliveryPage struct {
	Items []Delivery
	// Next is where the next page starts, nil on the last page.
	Next  *DeliveryCursor
	Total int
}

// deliveryColumns are what scanDelivery reads.
const deliveryColumns = `id, subscription_id, event_id, event_type, status, attempts, last_status_code,
coalesce(last_error, ''), next_attempt_at, created_at, delivered_at`

func scanDelivery(row pgx.CollectableRow) (Delivery, error) {
	var d Delivery
	err := row.Scan(&d.ID, &d.SubscriptionID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &d.LastStatusCode,
		&d.LastError, &d.NextAttemptAt, &d.CreatedAt, &d.DeliveredAt)
	return d, err
}

// Deliveries returns a page of the deliveries of owner's subscription id,
// newest first: up to limit of them, after the cursor when one is given.
func (s *Store) Deliveries(ctx context.Context, owner, id uuid.UUID, limit int, after *DeliveryCursor) (DeliveryPage, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return DeliveryPage{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	var page DeliveryPage
	err = tx.QueryRow(ctx, `
SELECT (SELECT count(*) FROM webhook_deliveries WHERE subscription_id = s.id)
FROM webhook_subscriptions s WHERE s.id = $1 AND s.owner_id = $2`, id, owner).Scan(&page.Total)
	if errors.Is(err, pgx.ErrNoRows) {
		return DeliveryPage{}, errNoSuchWebhook
	}
	if err != nil {
		return DeliveryPage{}, err
	}
	var afterAt *time.Time
	afterID := uuid.Nil
	if after != nil {
		afterAt, afterID = &after.CreatedAt, after.ID
	}
	rows, err := tx.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
WHERE subscription_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
ORDER BY created_at DESC, id DESC LIMIT $4`, id, afterAt, afterID, limit+1)
	if err != nil {
		return DeliveryPage{}, err
	}
	if page.Items, err = pgx.CollectRows(rows, scanDelivery); err != nil {
		return DeliveryPage{}, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		last := page.Items[limit-1]
		page.Next = &DeliveryCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}
