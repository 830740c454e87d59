package replay

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jobboard/jobboard/eventstore"
)

// pipeline queues statements to be sent to the server together, in one
// round trip, instead of one round trip each: the catch-up applies
// thousands of events at a time. It is a projections.Execer whose Exec
// answers with an empty command tag and no error; a statement's error
// comes from send, which says which one failed. That suits projectors,
// whose changes need no answer.
type pipeline struct {
	batch  pgx.Batch
	labels []label // what each queued statement is for, for errors
	label  label
}

// label says what a queued statement is for. It is formatted only when
// the statement fails: a replay queues millions.
type label struct {
	what  string             // the projection, or the step
	event *eventstore.Record // the event applied, if any
}

func (l label) String() string {
	if l.event == nil {
		return l.what
	}
	return fmt.Sprintf("%s: event %d (%s)", l.what, l.event.Position, l.event.Type)
}

// describe sets what the statements queued from now on are for: what, and
// the event being applied (nil for none).
func (p *pipeline) describe(what string, event *eventstore.Record) {
	p.label = label{what, event}
}

func (p *pipeline) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	p.batch.Queue(sql, args...)
	p.labels = append(p.labels, p.label)
	return pgconn.CommandTag{}, nil
}

// send runs what is queued through tx and reports the first failure.
func (p *pipeline) send(ctx context.Context, tx pgx.Tx) error {
	results := tx.SendBatch(ctx, &p.batch)
	for i := range p.batch.Len() {
		if _, err := results.Exec(); err != nil {
			results.Close()
			return fmt.Errorf("%s: %w", p.labels[i], err)
		}
	}
	return results.Close()
}
