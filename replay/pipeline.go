package replay

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jobboard/jobboard/eventstore"
)

// pipelineTx is a transaction whose Exec calls are queued and sent to the
// server together, in one round trip per flush, instead of one round trip
// each. Replaying a million events one statement at a time would spend
// most of its time waiting for the network; queued, the server works
// through them back to back.
//
// A queued Exec returns an empty command tag and no error: its error comes
// from the next flush, which says which statement failed. A projector
// whose Apply needs an Exec's RowsAffected is wrong under replay, so
// projectors write with statements that decide everything themselves (ON
// CONFLICT, WHERE, CTEs). Query, QueryRow and everything else flush first,
// so they see every write before them; they are correct, only slower.
type pipelineTx struct {
	pgx.Tx
	batch  *pgx.Batch
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

func newPipelineTx(tx pgx.Tx) *pipelineTx { return &pipelineTx{Tx: tx, batch: &pgx.Batch{}} }

// describe sets what the statements queued from now on are for: what, and
// the event being applied (nil for none).
func (p *pipelineTx) describe(what string, event *eventstore.Record) {
	p.label = label{what, event}
}

func (p *pipelineTx) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	p.batch.Queue(sql, args...)
	p.labels = append(p.labels, p.label)
	return pgconn.CommandTag{}, nil
}

// flush sends what is queued and reports the first failure.
func (p *pipelineTx) flush(ctx context.Context) error {
	if p.batch.Len() == 0 {
		return nil
	}
	batch, labels := p.batch, p.labels
	p.batch, p.labels = &pgx.Batch{}, nil
	results := p.Tx.SendBatch(ctx, batch)
	for i := range batch.Len() {
		if _, err := results.Exec(); err != nil {
			results.Close()
			return fmt.Errorf("%s: %w", labels[i], err)
		}
	}
	return results.Close()
}

func (p *pipelineTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return p.Tx.Query(ctx, sql, args...)
}

func (p *pipelineTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := p.flush(ctx); err != nil {
		return errRow{err}
	}
	return p.Tx.QueryRow(ctx, sql, args...)
}

// SendBatch flushes first; if that failed, the transaction is aborted and
// the batch fails with it, so the error still surfaces.
func (p *pipelineTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	_ = p.flush(ctx)
	return p.Tx.SendBatch(ctx, b)
}

func (p *pipelineTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := p.flush(ctx); err != nil {
		return 0, err
	}
	return p.Tx.CopyFrom(ctx, table, columns, src)
}

func (p *pipelineTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return p.Tx.Begin(ctx)
}

func (p *pipelineTx) Commit(ctx context.Context) error {
	if err := p.flush(ctx); err != nil {
		return err
	}
	return p.Tx.Commit(ctx)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
