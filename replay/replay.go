// Package replay rebuilds read models from the event log while the service
// keeps serving from the old ones, then switches to the new ones at once.
//
// For each projection, the rebuild goes into a schema of its own
// (replay_<name>) holding empty copies of the projection's tables and of
// checkpoints. The bulk of the log, up to where it ended when
// the replay began, is folded in memory by the projection's own Apply
// (projections.MemoryWriter) and copied into the copies with COPY: a row
// that a thousand events changed is written once. Secondary indexes are
// built after that, which is much faster than keeping them up to date row
// by row. The events appended meanwhile are applied as SQL (Apply with a
// projections.SQLWriter, search_path pointing at the copies first, the
// statements pipelined). Then, in one transaction, the live checkpoints
// are locked (which holds the live projectors back), the last events are
// applied, the live tables are moved aside and the new ones moved into
// public, and the live checkpoints are set to where the rebuild got. The
// old tables are dropped afterwards.
//
// A read model too large for memory (Options.RowsInMemory) is built in
// parts, each from one read of the log: the events whose partition key
// (projections.Partitioner) falls in the part.
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
	// BatchSize is how many of the events appended during the rebuild are
	// read, and applied, at a time; and how often the rebuild reports its
	// progress.
	BatchSize int
	// RowsInMemory bounds how many read-model rows the rebuild holds in
	// memory at once (about 1 KB of heap each at the peak, the garbage
	// collector's headroom included; checked after every thousand events
	// or so, so a part can overshoot it by what those add): a larger read
	// model is built in parts, reading the log once per part.
	RowsInMemory int
	// Progress, when set, is called every BatchSize events and at each
	// change of phase.
	Progress func(Progress)
	Log      *slog.Logger
	// Keys opens the personal fields of the events replayed (those of
	// erased people read as null, as they do live). Required when the log
	// holds personal data.
	Keys *eventstore.Keyring
}

// Defaults of Options.
const (
	DefaultBatchSize    = 5000
	DefaultRowsInMemory = 1_000_000
)

// Phases of a replay, as Progress reports them.
const (
	PhasePrepare = "prepare" // empty copies of the tables
	PhaseRebuild = "rebuild" // the log folded and copied into the copies
	PhaseIndex   = "index"   // secondary indexes built, statistics gathered
	PhaseCatchUp = "catch-up"
	PhaseSwitch  = "switch" // the copies become the live tables
	PhaseDone    = "done"
)

// Progress is how far a replay has got.
type Progress struct {
	Phase string
	// Applied is how many events have been applied to the copies (in the
	// rebuild phase, an event counts once for each part it was read for).
	Applied int64
	// Total is the size of the rebuild phase: the events the log held when
	// the replay began, times the parts the read models are built in.
	Total   int64
	Elapsed time.Duration
}

// Result describes a finished replay.
type Result struct {
	Projections []string
	// Events is how many events the rebuilt read models are made of.
	Events   int64
	Duration time.Duration
	// Parts is how many parts the read models were built in (reads of the
	// log in the rebuild phase).
	Parts      int
	Checkpoint eventstore.Checkpoint
}

// ErrBusy is returned when a replay of one of the projections is already
// running.
var ErrBusy = errors.New("a replay of that projection is already running")

// Run rebuilds ps from the log. It is safe to interrupt (the live tables
// are untouched until the switch, which is one transaction) and to run
// again (it starts over, dropping what an interrupted run left).
func Run(ctx context.Context, pool *pgxpool.Pool, ps []projections.Projector, opt Options) (Result, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.RowsInMemory <= 0 {
		opt.RowsInMemory = DefaultRowsInMemory
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	r := &run{pool: pool, opt: opt, start: time.Now()}
	for _, p := range ps {
		r.targets = append(r.targets, &target{p: p, shadow: "replay_" + p.Name(), old: "replay_old_" + p.Name()})
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
	head, err := eventstore.New(pool).Head(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE (tx_id, position) <= ($1::text::xid8, $2)`,
		fmt.Sprint(head.TxID), head.Position).Scan(&r.logSize); err != nil {
		return Result{}, fmt.Errorf("count events: %w", err)
	}
	r.report(PhasePrepare)
	for _, t := range r.targets {
		if err := r.prepare(ctx, t); err != nil {
			return Result{}, err
		}
	}
	if err := r.rebuild(ctx, head); err != nil {
		return Result{}, err
	}
	r.report(PhaseIndex)
	if err := r.index(ctx); err != nil {
		return Result{}, err
	}
	r.report(PhaseCatchUp)
	for {
		n, err := r.applyBatch(ctx, r.pool)
		if err != nil {
			return Result{}, err
		}
		if n < r.opt.BatchSize {
			break
		}
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
	r.result.Events = r.events
	r.result.Duration = time.Since(r.start)
	r.result.Checkpoint = r.cp
	return r.result, nil
}

type run struct {
	pool    *pgxpool.Pool
	opt     Options
	targets []*target
	start   time.Time
	// logSize is how many events the log held when the replay began.
	logSize int64
	// events is how many events the copies are made of; applied and total
	// are what Progress reports.
	events, applied, total int64
	cp                     eventstore.Checkpoint
	result                 Result
	phase                  string
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
	// secondary indexes, for the copies, by table.
	deferred map[string][]string
	// rows holds the part of the read model being folded.
	rows *projections.MemoryWriter
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
// them, which the catch-up's upserts need), but without its other
// indexes, whose definitions are kept for after the bulk of the log.
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
	t.deferred = map[string][]string{}
	names := []string{"checkpoints"}
	for _, table := range tables {
		names = append(names, table.Name)
	}
	for _, table := range names {
		if _, err := r.pool.Exec(ctx, `CREATE TABLE `+shadow+`.`+ident(table)+` (LIKE public.`+ident(table)+` INCLUDING ALL)`); err != nil {
			return fmt.Errorf("replay %s: copy table %s: %w", name, table, err)
		}
		// LIKE copies columns, constraints and indexes (with their
		// settings), not the table's own storage settings (fillfactor).
		var options []string
		if err := r.pool.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = $1::regclass`,
			"public."+ident(table)).Scan(&options); err != nil {
			return fmt.Errorf("replay %s: settings of %s: %w", name, table, err)
		}
		if len(options) > 0 {
			// Catalog text (name=value), not client input.
			if _, err := r.pool.Exec(ctx, `ALTER TABLE `+shadow+`.`+ident(table)+` SET (`+strings.Join(options, ", ")+`)`); err != nil {
				return fmt.Errorf("replay %s: settings of %s: %w", name, table, err)
			}
		}
		// Nor its privileges: the service's role (and any other granted
		// one) must find the rebuilt table as it found the live one.
		if err := copyGrants(ctx, r.pool, table, t.shadow); err != nil {
			return fmt.Errorf("replay %s: privileges on %s: %w", name, table, err)
		}
		if table == "checkpoints" {
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
			t.deferred[table] = append(t.deferred[table], def)
		}
	}
	if _, err := r.pool.Exec(ctx, `INSERT INTO `+shadow+`.checkpoints (name) VALUES ($1)`, name); err != nil {
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

// index builds the copies' secondary indexes, a table per connection at
// once, and gathers their statistics, so that the planner knows the new
// tables from their first query (the live tables' statistics stay with
// the live tables).
func (r *run) index(ctx context.Context) error {
	var builds []func(context.Context) error
	for _, t := range r.targets {
		for _, table := range t.p.Tables() {
			builds = append(builds, func(ctx context.Context) error {
				for _, def := range t.deferred[table.Name] {
					// Room to sort in memory: the builds are what this
					// phase is.
					if _, err := r.pool.Exec(ctx, `SET maintenance_work_mem = '256MB'; `+def+`; RESET maintenance_work_mem`); err != nil {
						return fmt.Errorf("replay %s: build index: %w", t.p.Name(), err)
					}
				}
				if _, err := r.pool.Exec(ctx, `ANALYZE `+ident(t.shadow)+`.`+ident(table.Name)); err != nil {
					return fmt.Errorf("replay %s: analyze %s: %w", t.p.Name(), table.Name, err)
				}
				return nil
			})
		}
	}
	return inParallel(ctx, builds)
}

// applyBatch reads the next batch of the log through q and applies it.
func (r *run) applyBatch(ctx context.Context, q interface {
	eventstore.Querier
	Begin(context.Context) (pgx.Tx, error)
}) (int, error) {
	records, err := eventstore.ReadAll(ctx, q, r.opt.Keys, r.cp, r.opt.BatchSize)
	if err != nil || len(records) == 0 {
		return 0, err
	}
	return len(records), r.applyRecords(ctx, q, records)
}

// applyRecords applies records to every copy as SQL, in one transaction
// (a nested one when q is a transaction), with each copy's checkpoint
// moved in the same transaction. The statements are queued and sent
// together.
func (r *run) applyRecords(ctx context.Context, q interface {
	Begin(context.Context) (pgx.Tx, error)
}, records []eventstore.Record) error {
	var pl pipeline
	pl.describe("replay", nil)
	_, _ = pl.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`)
	last := records[len(records)-1].Checkpoint()
	for _, t := range r.targets {
		what := "replay " + t.p.Name()
		pl.describe(what, nil)
		_, _ = pl.Exec(ctx, `SELECT set_config('search_path', $1, true)`, ident(t.shadow)+", public")
		w := projections.NewSQLWriter(ctx, &pl)
		for i, rec := range records {
			pl.describe(what, &records[i])
			if err := t.p.Apply(rec, w); err != nil {
				return fmt.Errorf("replay %s: event %d (%s): %w", t.p.Name(), rec.Position, rec.Type, err)
			}
		}
		pl.describe(what+": checkpoint", nil)
		_, _ = pl.Exec(ctx, t.checkpointSQL(), t.checkpointArgs(last)...)
	}
	pl.describe("replay: restore search_path", nil)
	_, _ = pl.Exec(ctx, `SELECT set_config('search_path', $1, true)`, r.searchPath)

	tx, err := q.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := pl.send(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	r.cp = last
	r.events += int64(len(records))
	r.applied += int64(len(records))
	r.progress()
	return nil
}

// checkpointSQL moves the copy's checkpoint; checkpointArgs are its values.
func (t *target) checkpointSQL() string {
	return `UPDATE ` + ident(t.shadow) + `.checkpoints SET tx_id = $1::text::xid8, position = $2, updated_at = now() WHERE name = $3`
}

func (t *target) checkpointArgs(cp eventstore.Checkpoint) []any {
	return []any{fmt.Sprint(cp.TxID), cp.Position, t.p.Name()}
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
	if _, err := tx.Exec(ctx, `SELECT 1 FROM public.checkpoints WHERE name = ANY($1) ORDER BY name FOR UPDATE`, names); err != nil {
		return err
	}
	saved, events, applied := r.cp, r.events, r.applied
	restore := func() { r.cp, r.events, r.applied = saved, events, applied }
	for {
		n, err := r.applyBatch(ctx, tx)
		if err != nil {
			restore()
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
				`ALTER TABLE public.`+ident(table.Name)+` SET SCHEMA `+ident(t.old),
				`ALTER TABLE `+ident(t.shadow)+`.`+ident(table.Name)+` SET SCHEMA public`)
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				restore()
				return fmt.Errorf("replay %s: switch: %w", t.p.Name(), err)
			}
		}
		tag, err := tx.Exec(ctx, `
INSERT INTO public.checkpoints AS c (name, tx_id, position) VALUES ($1, $2::text::xid8, $3)
ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, position = excluded.position, updated_at = now()
WHERE (c.tx_id, c.position) <= (excluded.tx_id, excluded.position)`, t.p.Name(), fmt.Sprint(r.cp.TxID), r.cp.Position)
		if err == nil && tag.RowsAffected() != 1 {
			err = errors.New("the live projection is ahead of the rebuilt one")
		}
		if err != nil {
			restore()
			return fmt.Errorf("replay %s: checkpoint: %w", t.p.Name(), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		restore()
		return err
	}
	return nil
}

// partOf is the part, of parts, that key falls in.
func partOf(key [16]byte, parts uint32) uint32 {
	return binary.BigEndian.Uint32(key[12:]) % parts
}

// ident quotes a name for SQL.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// Describe says in words what a replay of ps will rebuild, for logs.
func Describe(ps []projections.Projector) string {
	var parts []string
	for _, p := range ps {
		var tables []string
		for _, t := range p.Tables() {
			tables = append(tables, t.Name)
		}
		parts = append(parts, p.Name()+" ("+strings.Join(tables, ", ")+")")
	}
	return strings.Join(parts, ", ")
}

// copyGrants grants on schema.table what is granted on public.table, to
// every role but its owner (whose rights come with owning it). The server
// writes the statements (format's %I quotes the names).
func copyGrants(ctx context.Context, pool *pgxpool.Pool, table, schema string) error {
	rows, err := pool.Query(ctx, `SELECT format('GRANT %s ON %I.%I TO %s%s', a.privilege_type, $2::text, $3::text,
	CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
	CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = $1::regclass AND a.grantee <> c.relowner`, "public."+ident(table), schema, table)
	if err != nil {
		return err
	}
	grants, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, g := range grants {
		if _, err := pool.Exec(ctx, g); err != nil {
			return err
		}
	}
	return nil
}
