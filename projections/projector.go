// Package projections keeps the read models: one projector per table set,
// each fed by its own Watermill consumer group, each idempotent because it
// records how far it got in the same transaction as the rows it writes.
package projections

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/eventstore"
)

// Projector turns events into the rows of one read model.
type Projector interface {
	// Name identifies the projector: its consumer group and its checkpoint.
	Name() string
	// Apply writes what r means for the read model through w. It is called
	// once per event, in log order, for every event in the log; it writes
	// nothing for events it has no interest in. It only writes (a Writer
	// has no reads), to the tables Tables names.
	Apply(r eventstore.Record, w Writer) error
	// Tables are the tables the projector writes and nothing else writes:
	// a replay rebuilds exactly these.
	Tables() []*Table
}

// Selective is implemented by a projector whose Apply writes only for
// some event types. Its consumer group then starts a batch when one of
// those is appended, and moves past the others lazily (see
// bus.SubscriberConfig.Interest). TestSelectiveProjectorsIgnoreTheRest holds
// each one to its word.
type Selective interface {
	EventTypes() []string
}

// Partitioner is implemented by a projector whose read model can be built
// in parts: events with one key write rows that no event with another key
// writes. A replay that cannot hold the whole read model in memory builds
// it one part at a time. False means the projector has no interest in the
// event.
type Partitioner interface {
	PartitionKey(r eventstore.Record) (uuid.UUID, bool)
}

// Names of the projections, which are also their consumer groups.
const (
	Users = "users"
	Jobs  = "jobs"
)

// All returns every projector of the job board.
func All() []Projector {
	return []Projector{UsersProjector{}, JobsProjector{}}
}

// Register adds a handler per projector to router, each with its own
// consumer group on the events topic, named after the projector: its
// checkpoint is the group's place in the log.
func Register(router *message.Router, pool *pgxpool.Pool, relay *bus.Relay, cfg bus.SubscriberConfig, projectors ...Projector) error {
	for _, p := range projectors {
		cfg := cfg
		if s, ok := p.(Selective); ok {
			cfg.Interest = s.EventTypes()
		}
		sub, err := bus.NewSubscriber(pool, p.Name(), relay, cfg, router.Logger())
		if err != nil {
			return err
		}
		router.AddConsumerHandler("project-"+p.Name(), eventstore.Topic, sub, handler(p))
	}
	return nil
}

// handler stages what the event changes in the subscriber's transaction:
// the statements go to the server with the batch's acknowledgement, which
// moves the projector's checkpoint, and commit with it. The subscriber
// delivers only events after the checkpoint, which it holds locked for the
// batch, so each event changes the read model once.
func handler(p Projector) message.NoPublishHandlerFunc {
	what := "projection " + p.Name()
	return func(msg *message.Message) error {
		r, err := eventstore.RecordFromMessage(msg)
		if err != nil {
			return err
		}
		return bus.Stage(msg, what, func(q *bus.Queue) error {
			if err := p.Apply(r, NewSQLWriter(msg.Context(), q)); err != nil {
				return fmt.Errorf("%s: event %d (%s): %w", what, r.Position, r.Type, err)
			}
			return nil
		})
	}
}

// Project applies r to p's read model within tx, unless p's checkpoint says
// it has already been applied, and moves the checkpoint: for applying
// events outside a subscriber (tests, tools). The work happens in a
// savepoint, so a failure leaves tx usable.
func Project(ctx context.Context, tx pgx.Tx, p Projector, r eventstore.Record) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	defer sp.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit

	claimed, err := claim(ctx, sp, p.Name(), r.Checkpoint())
	if err != nil {
		return err
	}
	if !claimed {
		return nil
	}
	if err := p.Apply(r, NewSQLWriter(ctx, sp)); err != nil {
		return fmt.Errorf("projection %s: event %d (%s): %w", p.Name(), r.Position, r.Type, err)
	}
	return sp.Commit(ctx)
}

// claim moves the checkpoint to cp if it is behind it, and reports whether
// it did: false means the event was applied before. A projection without a
// checkpoint row has applied nothing yet, so its row is created rather than
// every event being skipped.
func claim(ctx context.Context, tx pgx.Tx, name string, cp eventstore.Checkpoint) (bool, error) {
	tag, err := tx.Exec(ctx, `
INSERT INTO checkpoints AS c (name, tx_id, position) VALUES ($1, $2::text::xid8, $3)
ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, position = excluded.position, updated_at = now()
WHERE (c.tx_id, c.position) < (excluded.tx_id, excluded.position)`, name, fmt.Sprint(cp.TxID), cp.Position)
	if err != nil {
		return false, fmt.Errorf("projection %s: advance checkpoint: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}
