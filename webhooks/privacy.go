package webhooks

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/commands"
)

// Forgetter deletes what webhooks keep about people being erased
// (commands.Forgetter): an erased recruiter's subscriptions, with their
// deliveries and attempts, and every delivery of an event about an erased
// job seeker's applications, whose body carries their name and email.
type Forgetter struct{}

func (Forgetter) Forget(ctx context.Context, tx pgx.Tx, p commands.Person) (func(), error) {
	var b pgx.Batch
	b.Queue(`DELETE FROM webhook_subscriptions WHERE owner_id = $1`, p.ID)
	b.Queue(`DELETE FROM webhook_deliveries WHERE event_id IN (SELECT event_id FROM events WHERE stream_id = ANY($1))`, p.Applications)
	return nil, tx.SendBatch(ctx, &b).Close()
}
