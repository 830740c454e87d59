package webhooks

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// What the queue's tests drive directly, as a worker would: a claim, and
// the outcomes of the attempt it was for.

// Claimed is a delivery a test has leased.
type Claimed struct{ c claimed }

// ID is the delivery's id; Attempt the attempt the lease was taken for.
func (c Claimed) ID() uuid.UUID { return c.c.id }
func (c Claimed) Attempt() int  { return c.c.attempt }

// Claim is claim.
func (q *Queue) Claim(ctx context.Context, lease time.Duration) (Claimed, bool, error) {
	c, ok, err := q.claim(ctx, lease)
	return Claimed{c}, ok, err
}

// Delivered records c's attempt as answered with status.
func (q *Queue) Delivered(ctx context.Context, c Claimed, status int) error {
	return q.delivered(ctx, c.c, outcome{statusCode: status})
}

// RetryAt records c's attempt as failed with status, due again at next.
func (q *Queue) RetryAt(ctx context.Context, c Claimed, status int, next time.Time) error {
	return q.retryAt(ctx, c.c, outcome{statusCode: status, err: &attemptError{public: "answered", err: context.Canceled}}, next)
}

// NextDue is nextDue.
func (q *Queue) NextDue(ctx context.Context) (time.Time, bool, error) { return q.nextDue(ctx) }
