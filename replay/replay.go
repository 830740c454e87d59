// Package replay rebuilds read models from the event log while the service
// keeps serving from the old ones, then switches to the new ones at once.
//
// For each projection, the rebuild goes into a schema of its own
// (replay_<name>) holding empty copies of the projection's tables and of
// projection_checkpoints. Events are applied there by the projection's own
// Apply, with search_path pointing at that schema first, so the projector's
// SQL lands in the copies without knowing it. Secondary indexes are built
// once the bulk of the log is in, which is much faster than keeping them up
// to date row by row. Then, in one transaction, the live checkpoints are
// locked (which holds the live projectors back), the last events are
// applied, the live tables are moved aside and the new ones moved into
// public, and the live checkpoints are set to where the rebuild got. The old
// tables are dropped afterwards.
//
// Only projections are replayed: the mailer's queue and anything else with
// effects outside the read models is not touched, so a replay sends no
// email.
package replay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
)

// Options tune a replay.
type Options struct {
	// BatchSize is how many events are read, and applied, at a time.
	BatchSize int
	// Workers is how many transactions apply a batch at once, each to its
	// own partition of the events (see projections.Partitioner).
	Workers int
	// Progress, when set, is called after every batch and at each change
	// of phase.
	Progress func(Progress)
	Log      *slog.Logger
}

// Phases of a replay, as Progress reports them.
const (
	PhasePrepare = "prepare" // empty copies of the tables
	PhaseRebuild = "rebuild" // the log applied to the copies
	PhaseIndex   = "index"   // secondary indexes built
	PhaseCatchUp = "catch-up"
	PhaseSwitch  = "switch" // the copies become the live tables
	PhaseDone    = "done"
)

// Progress is how far a replay has got.
type Progress struct {
	Phase string
	// Applied is how many events have been applied to the copies.
	Applied int64
	// Total is how many events the log held when the replay began: the
	// size of the rebuild phase.
	Total   int64
	Elapsed time.Duration
}

// Result describes a finished replay.
type Result struct {
	Projections []string
	Events      int64
	Duration    time.Duration
	Checkpoint  eventstore.Checkpoint
}

// ErrBusy is returned when a replay of one of the projections is already
// running.
var ErrBusy = errors.New("a replay of that projection is already running")

// Run rebuilds ps from the log. It is safe to interrupt (the live tables
// are untouched until the switch, which is one transaction) and to run
// again (it starts over, dropping what an interrupted run left).
func Run(ctx context.Context, pool *pgxpool.Pool, ps []projections.Projector, opt Options) (Result, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 5000
	}
	if opt.Workers <= 0 {
		opt.Workers = 2
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	r := &run{pool: pool, opt: opt, start: time.Now()}
	for _, p := range ps {
		r.targets = append(r.targets, target{p: p, shadow: "replay_" + p.Name(), old: "replay_old_" + p.Name()})
		r.result.Projections = append(r.result.Projections, p.Name())
	}

	lock, err := r.lock(ctx)
	if err != nil {
		return Result{}, err
	}
	defer lock.Release()
	defer func() {
		// The locks are the session's: unlock before the connection goes
		// back to the pool.
		_, _ = lock.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock_all()`)
	}()

	if err := pool.QueryRow(ctx, `SELECT current_setting('search_path')`).Scan(&r.searchPath); err != nil {
		return Result{}, err
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())`).Scan(&r.total); err != nil {
		return Result{}, fmt.Errorf("count events: %w", err)
	}
	r.report(PhasePrepare)
	for i := range r.targets {
		if err := r.prepare(ctx, &r.targets[i]); err != nil {
			return Result{}, err
		}
	}
	r.report(PhaseRebuild)
	if err := r.applyUntilCaughtUp(ctx); err != nil {
		return Result{}, err
	}
	r.report(PhaseIndex)
	for _, t := range r.targets {
		for _, table := range t.p.Tables() {
			if _, err := pool.Exec(ctx, `ALTER TABLE `+ident(t.shadow)+`.`+ident(table)+` SET LOGGED, RESET (fillfactor)`); err != nil {
				return Result{}, fmt.Errorf("replay %s: %w", t.p.Name(), err)
			}
		}
		for _, def := range t.deferred {
			if _, err := pool.Exec(ctx, def); err != nil {
				return Result{}, fmt.Errorf("replay %s: build index: %w", t.p.Name(), err)
			}
		}
	}
	r.report(PhaseCatchUp)
	if err := r.applyUntilCaughtUp(ctx); err != nil {
		return Result{}, err
	}
	r.report(PhaseSwitch)
	if err := r.switchOver(ctx); err != nil {
		return Result{}, err
	}
	for _, t := range r.targets {
		if _, err := pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+ident(t.old)+` CASCADE; DROP SCHEMA IF EXISTS `+ident(t.shadow)+` CASCADE`); err != nil {
			opt.Log.Warn("replay: dropping the old tables failed; the next replay drops them", "projection", t.p.Name(), "err", err)
		}
	}
	r.report(PhaseDone)
	r.result.Events = r.applied
	r.result.Duration = time.Since(r.start)
	r.result.Checkpoint = r.cp
	return r.result, nil
}

type run struct {
	pool    *pgxpool.Pool
	opt     Options
	targets []target
	start   time.Time
	total   int64
	applied int64
	cp      eventstore.Checkpoint
	result  Result
	phase   string
	// searchPath is the connections' own search_path, restored after each
	// batch (a batch inside the switch transaction is a savepoint, and a
	// SET LOCAL there lasts until the outer transaction ends).
	searchPath string
}

type target struct {
	p      projections.Projector
	shadow string // the schema the rebuild goes into
	old    string // the schema the live tables are moved to at the switch
	// deferred are the CREATE INDEX statements of the live tables'
	// secondary indexes, for the copies.
	deferred []string
}

// report enters phase and tells Progress.
func (r *run) report(phase string) {
	r.phase = phase
	r.progress()
}

func (r *run) progress() {
	if r.opt.Progress != nil {
		r.opt.Progress(Progress{Phase: r.phase, Applied: r.applied, Total: r.total, Elapsed: time.Since(r.start)})
	}
}

// lock takes a session advisory lock per projection on a connection of its
// own, so that two replays of one projection cannot run at once.
func (r *run) lock(ctx context.Context) (*pgxpool.Conn, error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range r.targets {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('jobboard.replay:' || $1, 0))`, t.p.Name()).Scan(&got); err != nil {
			conn.Release()
			return nil, err
		}
		if !got {
			_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
			conn.Release()
			return nil, fmt.Errorf("%w: %s", ErrBusy, t.p.Name())
		}
	}
	return conn, nil
}

// prepare makes the empty copies: each table with its columns, defaults,
// generated columns and constraints (with the unique indexes that back
// them, which upserts need), but without its other indexes, whose
// definitions are kept for after the bulk of the log.
func (r *run) prepare(ctx context.Context, t *target) error {
	name := t.p.Name()
	tables := t.p.Tables()
	if len(tables) == 0 {
		return fmt.Errorf("replay %s: the projection names no tables", name)
	}
	shadow := ident(t.shadow)
	if _, err := r.pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+ident(t.old)+` CASCADE; DROP SCHEMA IF EXISTS `+shadow+` CASCADE; CREATE SCHEMA `+shadow); err != nil {
		return fmt.Errorf("replay %s: schema: %w", name, err)
	}
	for _, table := range append([]string{"projection_checkpoints"}, tables...) {
		// Unlogged while the bulk of the log goes in: a row updated a
		// dozen times would otherwise be written to the WAL a dozen times.
		// The table is made logged (written to the WAL once, as it is)
		// before its indexes are built and long before it goes live.
		unlogged := "UNLOGGED "
		if table == "projection_checkpoints" {
			unlogged = ""
		}
		// Half-full pages while the log goes in: a row is updated many
		// times, and with room on its page each update stays there (a HOT
		// update, whose old versions the page prunes by itself) instead of
		// moving the row, bloating the table and its key index. Set back
		// to full pages before the switch.
		with := ""
		if table != "projection_checkpoints" {
			with = " WITH (fillfactor = 50)"
		}
		if _, err := r.pool.Exec(ctx, `CREATE `+unlogged+`TABLE `+shadow+`.`+ident(table)+` (LIKE public.`+ident(table)+` INCLUDING ALL)`+with); err != nil {
			return fmt.Errorf("replay %s: copy table %s: %w", name, table, err)
		}
		if table == "projection_checkpoints" {
			continue
		}
		// Secondary indexes: dropped from the copy, rebuilt later under
		// the live index's name (names are per schema).
		copied, err := secondaryIndexes(ctx, r.pool, t.shadow, table)
		if err != nil {
			return fmt.Errorf("replay %s: %w", name, err)
		}
		for _, idx := range copied {
			if _, err := r.pool.Exec(ctx, `DROP INDEX `+shadow+`.`+ident(idx.name)); err != nil {
				return fmt.Errorf("replay %s: %w", name, err)
			}
		}
		live, err := secondaryIndexes(ctx, r.pool, "public", table)
		if err != nil {
			return fmt.Errorf("replay %s: %w", name, err)
		}
		on := regexp.MustCompile(`\sON (ONLY )?(public\.)?("?)` + regexp.QuoteMeta(table) + `("?)\s`)
		for _, idx := range live {
			def := on.ReplaceAllString(idx.def, " ON "+shadow+"."+ident(table)+" ")
			if def == idx.def {
				return fmt.Errorf("replay %s: cannot place index %s in the copy: %s", name, idx.name, idx.def)
			}
			t.deferred = append(t.deferred, def)
		}
	}
	if _, err := r.pool.Exec(ctx, `INSERT INTO `+shadow+`.projection_checkpoints (name) VALUES ($1)`, name); err != nil {
		return fmt.Errorf("replay %s: checkpoint: %w", name, err)
	}
	return nil
}

type index struct{ name, def string }

// secondaryIndexes lists a table's indexes that back no constraint.
func secondaryIndexes(ctx context.Context, q eventstore.Querier, schema, table string) ([]index, error) {
	rows, err := q.Query(ctx, `
SELECT ic.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE n.nspname = $1 AND c.relname = $2
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
ORDER BY ic.relname`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s.%s: %w", schema, table, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (index, error) {
		var i index
		err := row.Scan(&i.name, &i.def)
		return i, err
	})
}

// applyUntilCaughtUp applies batches until a read comes back short: the
// copies are then within one batch of the log's head. The next batch is
// read while the current one is applied, on another connection: reading
// and decoding a batch costs about half as much as applying it.
func (r *run) applyUntilCaughtUp(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type batch struct {
		records []eventstore.Record
		err     error
	}
	batches := make(chan batch, 1)
	go func() {
		defer close(batches)
		after := r.cp
		for {
			records, err := eventstore.ReadAll(ctx, r.pool, after, r.opt.BatchSize)
			select {
			case batches <- batch{records, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(records) < r.opt.BatchSize {
				return
			}
			after = records[len(records)-1].Checkpoint()
		}
	}()
	for b := range batches {
		if b.err != nil {
			return b.err
		}
		if len(b.records) > 0 {
			if err := r.applyParallel(ctx, b.records); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// applyParallel applies records to the copies in up to Workers
// transactions at once: each projection's events split by the partition
// key its projector gives them (events of one key in order, in one
// transaction; different keys touch different rows). The copies'
// checkpoints move once every part has committed. Should the replay stop
// in between, nothing is lost: an interrupted replay starts over.
func (r *run) applyParallel(ctx context.Context, records []eventstore.Record) error {
	type unit struct {
		t       target
		records []eventstore.Record
	}
	var units []unit
	for _, t := range r.targets {
		parts := make([][]eventstore.Record, r.opt.Workers)
		keyer, _ := t.p.(projections.Partitioner)
		for _, rec := range records {
			k := 0
			if keyer != nil {
				key, ok := keyer.PartitionKey(rec)
				if !ok {
					continue // of no interest to this projection
				}
				k = int(binary.BigEndian.Uint32(key[12:]) % uint32(r.opt.Workers))
			}
			parts[k] = append(parts[k], rec)
		}
		for _, part := range parts {
			if len(part) > 0 {
				units = append(units, unit{t, part})
			}
		}
	}
	errs := make(chan error, len(units))
	sem := make(chan struct{}, r.opt.Workers)
	for _, u := range units {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- r.applyUnit(ctx, u.t, u.records)
		}()
	}
	var first error
	for range units {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	last := records[len(records)-1].Checkpoint()
	for _, t := range r.targets {
		if _, err := r.pool.Exec(ctx, t.checkpointSQL(), t.checkpointArgs(last)...); err != nil {
			return fmt.Errorf("replay %s: checkpoint: %w", t.p.Name(), err)
		}
	}
	r.advance(records)
	return nil
}

// advance records that records have been applied to every copy.
func (r *run) advance(records []eventstore.Record) {
	r.cp = records[len(records)-1].Checkpoint()
	r.applied += int64(len(records))
	r.progress()
}

// queueApply queues what records mean for t's copy: its schema first on
// the search path, then the projector's own statements.
func queueApply(ctx context.Context, pt *pipelineTx, t target, records []eventstore.Record) error {
	what := "replay " + t.p.Name()
	pt.describe(what, nil)
	_, _ = pt.Exec(ctx, `SELECT set_config('search_path', $1, true)`, ident(t.shadow)+", public")
	for i, rec := range records {
		pt.describe(what, &records[i])
		if err := t.p.Apply(ctx, pt, rec); err != nil {
			return fmt.Errorf("replay %s: event %d (%s): %w", t.p.Name(), rec.Position, rec.Type, err)
		}
	}
	return nil
}

// checkpointSQL moves the copy's checkpoint; checkpointArgs are its values.
func (t target) checkpointSQL() string {
	return `UPDATE ` + ident(t.shadow) + `.projection_checkpoints SET tx_id = $1::text::xid8, position = $2, updated_at = now() WHERE name = $3`
}

func (t target) checkpointArgs(cp eventstore.Checkpoint) []any {
	return []any{fmt.Sprint(cp.TxID), cp.Position, t.p.Name()}
}

// applyUnit applies one projection's share of a batch in a transaction of
// its own.
func (r *run) applyUnit(ctx context.Context, t target, records []eventstore.Record) error {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	pt := newPipelineTx(tx)
	// The copies are derived from the durable log: a crash that loses the
	// last of them only means starting the replay again.
	_, _ = pt.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`)
	if err := queueApply(ctx, pt, t, records); err != nil {
		return err
	}
	return pt.Commit(ctx)
}

// applyBatch reads the next batch of the log through q and applies it.
func (r *run) applyBatch(ctx context.Context, q interface {
	eventstore.Querier
	Begin(context.Context) (pgx.Tx, error)
}) (int, error) {
	records, err := eventstore.ReadAll(ctx, q, r.cp, r.opt.BatchSize)
	if err != nil || len(records) == 0 {
		return 0, err
	}
	return len(records), r.applyRecords(ctx, q, records)
}

// applyRecords applies records to every copy in one transaction (a nested
// one when q is a transaction), with each copy's checkpoint moved in the
// same transaction.
func (r *run) applyRecords(ctx context.Context, q interface {
	Begin(context.Context) (pgx.Tx, error)
}, records []eventstore.Record) error {
	tx, err := q.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	pt := newPipelineTx(tx)
	_, _ = pt.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`)
	last := records[len(records)-1].Checkpoint()
	for _, t := range r.targets {
		if err := queueApply(ctx, pt, t, records); err != nil {
			return err
		}
		pt.describe("replay "+t.p.Name()+": checkpoint", nil)
		_, _ = pt.Exec(ctx, t.checkpointSQL(), t.checkpointArgs(last)...)
	}
	pt.describe("replay: restore search_path", nil)
	_, _ = pt.Exec(ctx, `SELECT set_config('search_path', $1, true)`, r.searchPath)
	if err := pt.Commit(ctx); err != nil {
		return err
	}
	r.advance(records)
	return nil
}

// switchAttempts bounds the retries of a switch that lost a deadlock or
// waited too long for a lock (readers and live projectors hold the tables
// briefly all the time).
const switchAttempts = 5

// switchOver makes the copies live, for every projection at once.
func (r *run) switchOver(ctx context.Context) error {
	var err error
	for range switchAttempts {
		if err = r.trySwitch(ctx); err == nil || !retryable(err) {
			return err
		}
		r.opt.Log.Info("replay: switch lost a lock race; trying again", "err", err)
	}
	return err
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	// deadlock_detected, lock_not_available (lock_timeout), serialization_failure
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "55P03" || pgErr.Code == "40001")
}

func (r *run) trySwitch(ctx context.Context) error {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
		return err
	}
	names := make([]string, len(r.targets))
	for i, t := range r.targets {
		names[i] = t.p.Name()
	}
	// The live projectors move their checkpoint before they write: with
	// the rows locked, they wait here until the switch is done, and then
	// skip what the copies already hold.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM public.projection_checkpoints WHERE name = ANY($1) ORDER BY name FOR UPDATE`, names); err != nil {
		return err
	}
	saved := r.cp
	applied := r.applied
	for {
		n, err := r.applyBatch(ctx, tx)
		if err != nil {
			r.cp, r.applied = saved, applied
			return err
		}
		if n < r.opt.BatchSize {
			break
		}
	}
	for _, t := range r.targets {
		stmts := []string{`CREATE SCHEMA ` + ident(t.old)}
		for _, table := range t.p.Tables() {
			stmts = append(stmts,
				`ALTER TABLE public.`+ident(table)+` SET SCHEMA `+ident(t.old),
				`ALTER TABLE `+ident(t.shadow)+`.`+ident(table)+` SET SCHEMA public`)
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				r.cp, r.applied = saved, applied
				return fmt.Errorf("replay %s: switch: %w", t.p.Name(), err)
			}
		}
		tag, err := tx.Exec(ctx, `
INSERT INTO public.projection_checkpoints AS c (name, tx_id, position) VALUES ($1, $2::text::xid8, $3)
ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, position = excluded.position, updated_at = now()
WHERE (c.tx_id, c.position) <= (excluded.tx_id, excluded.position)`, t.p.Name(), fmt.Sprint(r.cp.TxID), r.cp.Position)
		if err == nil && tag.RowsAffected() != 1 {
			err = errors.New("the live projection is ahead of the rebuilt one")
		}
		if err != nil {
			r.cp, r.applied = saved, applied
			return fmt.Errorf("replay %s: checkpoint: %w", t.p.Name(), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		r.cp, r.applied = saved, applied
		return err
	}
	return nil
}

// ident quotes a name for SQL.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// Describe says in words what a replay of ps will rebuild, for logs.
func Describe(ps []projections.Projector) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, p.Name()+" ("+strings.Join(p.Tables(), ", ")+")")
	}
	return strings.Join(parts, ", ")
}
