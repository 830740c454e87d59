package replay

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
)

// part is a share of the read models built from one read of the log: the
// events whose partition key k has partOf(k, of) == index. Splitting part
// (i, n) in two gives (i, 2n) and (i+n, 2n), so the parts always divide
// the keys between them, each key to one part.
type part struct{ index, of uint32 }

// maxParts bounds the parts a key is split into (each part is one more
// read of the log): a read model that does not fit in memory in that many
// parts wants a larger RowsInMemory (or has one key with that many rows).
const maxParts = 64

// errPartTooLarge is a part that would hold more rows than RowsInMemory.
var errPartTooLarge = errors.New("the part holds too many rows")

// readChunk is how many events the reader hands to the fold at a time.
const readChunk = 1024

// copyChunk is how many rows one COPY transaction writes: each holds a
// transaction id while it runs, and so holds back the live projectors
// (see bus), so each is kept short.
const copyChunk = 10_000

// rebuild folds the log up to head into the copies, in as many parts as
// RowsInMemory needs, and moves their checkpoints to head.
func (r *run) rebuild(ctx context.Context, head eventstore.Checkpoint) error {
	n, err := r.plan(ctx)
	if err != nil {
		return err
	}
	queue := make([]part, n)
	for i := range queue {
		queue[i] = part{uint32(i), uint32(n)}
	}
	r.total = r.logSize * int64(n)
	r.report(PhaseRebuild)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		applied := r.applied
		err := r.fold(ctx, head, p)
		if errors.Is(err, errPartTooLarge) && 2*p.of <= maxParts {
			// The live tables said it would fit, and it does not: this
			// part again, as two, each one more read of the log (what was
			// read of it so far no longer counts).
			r.opt.Log.Info("replay: a part of the read models is larger than RowsInMemory; splitting it",
				"part", p.index, "of", p.of, "rows_in_memory", r.opt.RowsInMemory)
			queue = append(queue, part{p.index, 2 * p.of}, part{p.index + p.of, 2 * p.of})
			r.applied = applied
			r.total += r.logSize
			r.progress()
			continue
		}
		if errors.Is(err, errPartTooLarge) {
			return fmt.Errorf("replay: the read models do not fit in memory in %d parts of %d rows; give it more rows in memory", p.of, r.opt.RowsInMemory)
		}
		if err != nil {
			return err
		}
		if err := r.load(ctx); err != nil {
			return err
		}
		r.result.Parts++
	}
	for _, t := range r.targets {
		if _, err := r.pool.Exec(ctx, t.checkpointSQL(), t.checkpointArgs(head)...); err != nil {
			return fmt.Errorf("replay %s: checkpoint: %w", t.p.Name(), err)
		}
	}
	r.cp = head
	r.events = r.logSize
	return nil
}

// plan is how many parts the read models need, judged by the rows of the
// live tables (with room for a quarter more).
func (r *run) plan(ctx context.Context) (int, error) {
	var rows int64
	for _, t := range r.targets {
		for _, table := range t.p.Tables() {
			var n int64
			if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM public.`+ident(table.Name)).Scan(&n); err != nil {
				return 0, fmt.Errorf("replay %s: count %s: %w", t.p.Name(), table.Name, err)
			}
			rows += n
		}
	}
	budget := int64(r.opt.RowsInMemory)
	parts := (rows + rows/4 + budget - 1) / budget
	return int(min(max(parts, 1), maxParts)), nil
}

// fold applies the events of part p, up to head, to rows in memory (each
// target's MemoryWriter). The log is read on its own connection while the
// events are folded: reading and decoding cost about the same.
func (r *run) fold(ctx context.Context, head eventstore.Checkpoint, p part) error {
	keyers := make([]projections.Partitioner, len(r.targets))
	for i, t := range r.targets {
		t.rows = projections.NewMemoryWriter()
		keyers[i], _ = t.p.(projections.Partitioner)
	}
	ctx, cancel := context.WithCancel(ctx)
	chunks := make(chan []eventstore.Record, 4)
	var readErr error
	go func() {
		defer close(chunks)
		chunk := make([]eventstore.Record, 0, readChunk)
		send := func() error {
			select {
			case chunks <- chunk:
				chunk = make([]eventstore.Record, 0, readChunk)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		readErr = eventstore.Scan(ctx, r.pool, r.opt.Keys, eventstore.Checkpoint{}, head, func(rec eventstore.Record) error {
			if chunk = append(chunk, rec); len(chunk) == readChunk {
				return send()
			}
			return nil
		})
		if readErr == nil && len(chunk) > 0 {
			readErr = send()
		}
	}()
	// On an early return the reader is stopped and waited for.
	defer func() {
		cancel()
		for range chunks {
		}
	}()

	var unreported int
	for chunk := range chunks {
		for _, rec := range chunk {
			for i, t := range r.targets {
				if p.of > 1 {
					// A projector that cannot be built in parts has its
					// events in the part of the zero key.
					var key uuid.UUID
					if keyers[i] != nil {
						k, ok := keyers[i].PartitionKey(rec)
						if !ok {
							continue
						}
						key = k
					}
					if partOf(key, p.of) != p.index {
						continue
					}
				}
				if err := t.p.Apply(rec, t.rows); err != nil {
					return fmt.Errorf("replay %s: event %d (%s): %w", t.p.Name(), rec.Position, rec.Type, err)
				}
			}
		}
		held := 0
		for _, t := range r.targets {
			held += t.rows.Len()
		}
		if held > r.opt.RowsInMemory {
			for i, t := range r.targets {
				if keyers[i] == nil && t.rows.Len() > r.opt.RowsInMemory {
					// Splitting would not make its part any smaller.
					return fmt.Errorf("replay %s: more than %d rows, and the projection cannot be built in parts; give it more rows in memory",
						t.p.Name(), r.opt.RowsInMemory)
				}
			}
			return errPartTooLarge
		}
		r.applied += int64(len(chunk))
		if unreported += len(chunk); unreported >= r.opt.BatchSize {
			unreported = 0
			r.progress()
		}
	}
	if readErr != nil {
		return fmt.Errorf("replay: %w", readErr)
	}
	r.progress()
	return ctx.Err()
}

// load copies the rows folded in memory into the copies, a table per
// connection at once (the server's work, converting rows and computing
// generated columns, then runs on every core), and lets go of them.
func (r *run) load(ctx context.Context) error {
	var copies []func(context.Context) error
	for _, t := range r.targets {
		for _, table := range t.p.Tables() {
			rows := t.rows.Rows(table)
			copies = append(copies, func(ctx context.Context) error {
				for len(rows) > 0 {
					n := min(len(rows), copyChunk)
					if _, err := r.pool.CopyFrom(ctx, pgx.Identifier{t.shadow, table.Name}, table.Columns, pgx.CopyFromRows(rows[:n])); err != nil {
						return fmt.Errorf("replay %s: copy into %s: %w", t.p.Name(), table.Name, err)
					}
					rows = rows[n:]
				}
				return nil
			})
		}
		t.rows = nil
	}
	return inParallel(ctx, copies)
}

// inParallel runs every fn at once and returns the first error; the
// others are cancelled then.
func inParallel(ctx context.Context, fns []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(fns))
	for _, fn := range fns {
		go func() { errs <- fn(ctx) }()
	}
	var first error
	for range fns {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}
