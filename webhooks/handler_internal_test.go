package webhooks

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/internal/testdb"
)

// TestSubscriptionReadWaitsForCreate: the handler's read of the
// subscriptions waits while a subscription is being made (under the lock
// Store.Create holds from reading its starting checkpoint to its commit),
// and then sees it: its snapshot is taken once the lock is held. That is
// what keeps an event handled meanwhile from being missed (see
// subscriptionsLockSQL).
func TestSubscriptionReadWaitsForCreate(t *testing.T) {
	db := testdb.New(t)
	ctx := t.Context()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('webhook_subscriptions', 0))`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO webhook_subscriptions (id, owner_id, url, events, secret)
VALUES ($1, $2, 'https://hooks.example.com/', '{job.posted}', $3)`, uuid.New(), uuid.New(), strings.Repeat("ab", 32)); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	read := make(chan result, 1)
	go func() {
		n, err := readSubscriptions(ctx, db.Pool, `SELECT count(*) FROM webhook_subscriptions`,
			func(rows pgx.Rows) (int, error) { return pgx.CollectExactlyOneRow(rows, pgx.RowTo[int]) })
		read <- result{n, err}
	}()
	// The read is waiting on the lock once the server shows it so.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting bool
		if err := db.Owner.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case r := <-read:
			t.Fatalf("the read ran while a subscription was being made: %d, %v", r.n, r.err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the read never waited on the lock")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-read
	if r.err != nil || r.n != 1 {
		t.Fatalf("the read after the commit: %d, %v; want the new subscription seen", r.n, r.err)
	}
}
