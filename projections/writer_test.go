package projections_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/projections"
)

// A projector's changes mean the same whether they run as SQL (live) or
// are folded in memory and copied in (replay): the same random changes
// through both leave the same rows. This is what lets a replay use the
// projectors' own code for a bulk rebuild.
func TestMemoryWriterAgreesWithSQLWriter(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	ctx := testCtx(t)
	own := testdb.New(t)
	for _, schema := range []string{"by_sql", "by_memory"} {
		_, err := own.Owner.Exec(ctx, `CREATE SCHEMA `+schema+`;
CREATE TABLE `+schema+`.parents (id uuid PRIMARY KEY, name text NOT NULL, note text, n bigint, flag boolean NOT NULL,
    at timestamptz NOT NULL, children integer NOT NULL DEFAULT 0,
    upper_name text GENERATED ALWAYS AS (upper(name)) STORED);
CREATE TABLE `+schema+`.children (id uuid PRIMARY KEY, parent_id uuid NOT NULL, label text)`)
		is.NoErr(err) // the two schemas
	}
	parents := projections.NewTable("parents", "id", "name", "note", "n", "flag", "at", "children")
	children := projections.NewTable("children", "id", "parent_id", "label")

	// The same changes, in the same order, through both writers.
	rng := rand.New(rand.NewPCG(7, 11))
	keys := make([]uuid.UUID, 40)
	for i := range keys {
		keys[i] = uuid.New()
	}
	childKeys := make([]uuid.UUID, 80)
	for i := range childKeys {
		childKeys[i] = uuid.New()
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC)
	type change func(w projections.Writer) error
	var changes []change
	for range 3000 {
		key := keys[rng.IntN(len(keys))]
		switch rng.IntN(14) {
		case 0, 1, 2, 3:
			var note any
			if rng.IntN(2) == 0 {
				note = "note " + key.String()[:4]
			}
			var n *int64
			if rng.IntN(3) > 0 {
				v := rng.Int64N(1000)
				n = &v
			}
			row := []any{key, "name " + key.String()[:6], note, n, rng.IntN(2) == 0, at.Add(time.Duration(rng.IntN(1e6)) * time.Second), int64(0)}
			changes = append(changes, func(w projections.Writer) error { return w.Insert(parents, row...) })
		case 4, 5:
			set := []projections.Assignment{projections.Set("flag", rng.IntN(2) == 0)}
			if rng.IntN(2) == 0 {
				set = append(set, projections.Set("name", "renamed "+key.String()[:3]))
			}
			if rng.IntN(3) == 0 {
				set = append(set, projections.Set("note", nil), projections.Set("n", rng.Int64N(5)))
			}
			changes = append(changes, func(w projections.Writer) error { return w.Update(parents, key, set...) })
		case 6, 7:
			by := rng.Int64N(5) - 1
			changes = append(changes, func(w projections.Writer) error { return w.Increment(parents, key, "n", by) })
		case 8:
			changes = append(changes, func(w projections.Writer) error { return w.Delete(parents, key) })
		default:
			// Mostly new children, some again (counted once).
			childKey := uuid.New()
			if rng.IntN(4) == 0 {
				childKey = childKeys[rng.IntN(len(childKeys))]
			}
			child := []any{childKey, key, "child"}
			changes = append(changes, func(w projections.Writer) error {
				return w.InsertCounted(children, child, parents, key, "children")
			})
		}
	}

	tx, err := own.Owner.Begin(ctx)
	is.NoErr(err)
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	_, err = tx.Exec(ctx, `SET LOCAL search_path = by_sql`)
	is.NoErr(err)
	sql := projections.NewSQLWriter(ctx, tx)
	memory := projections.NewMemoryWriter()
	for _, c := range changes {
		is.NoErr(c(sql))    // as SQL
		is.NoErr(c(memory)) // in memory
	}
	is.NoErr(tx.Commit(ctx)) // commit the SQL
	for _, table := range []*projections.Table{parents, children} {
		_, err := own.Owner.CopyFrom(ctx, pgx.Identifier{"by_memory", table.Name}, table.Columns, pgx.CopyFromRows(memory.Rows(table)))
		is.NoErr(err) // copy the rows folded in memory
	}

	for _, table := range []string{"parents", "children"} {
		bySQL := tableRows(t, ctx, own.Owner, "by_sql."+table)
		byMemory := tableRows(t, ctx, own.Owner, "by_memory."+table)
		is.True(len(bySQL) > 5) // the changes left rows
		if table == "parents" {
			is.True(strings.Contains(strings.Join(bySQL, ""), `"children": 3`)) // and counted children
		}
		is.Equal(strings.Join(byMemory, "\n"), strings.Join(bySQL, "\n"))
	}
	var live int
	is.NoErr(own.Owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM by_sql.parents) + (SELECT count(*) FROM by_sql.children)`).Scan(&live))
	is.Equal(memory.Len(), live) // Len counts the rows held
}

// tableRows is every row of table as JSON, in order.
func tableRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT to_jsonb(t)::text FROM `+table+` t ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMemoryWriterRefusesWhatSQLWouldRefuse(t *testing.T) {
	is := is.New(t)
	table := projections.NewTable("things", "id", "name", "count")
	w := projections.NewMemoryWriter()
	key := uuid.New()
	is.True(w.Insert(table, key, "only two values") != nil)              // too few values
	is.True(w.Insert(table, key.String(), "name", int64(0)) != nil)      // a key that is not a uuid
	is.NoErr(w.Insert(table, key, "name", "not a number"))               // a row
	is.True(w.Update(table, key, projections.Set("nope", 1)) != nil)     // no such column
	is.True(w.Increment(table, key, "count", 1) != nil)                  // a column that holds no integer
	is.True(w.Increment(table, key, "nope", 1) != nil)                   // no such column
	is.NoErr(w.Increment(table, uuid.New(), "count", 1))                 // no such row: nothing to do
	is.NoErr(w.Update(table, uuid.New(), projections.Set("name", "x")))  // the same
	is.NoErr(w.Delete(table, uuid.New()))                                // the same
	is.Equal(w.Len(), 1)                                                 // the one row
	is.Equal(w.Rows(table), [][]any{{key, "name", "not a number"}})      // as inserted
	is.Equal(w.Rows(projections.NewTable("others", "id")), [][]any(nil)) // another table has none
}
