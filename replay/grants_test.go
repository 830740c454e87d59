package replay_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/replay"
)

// The tables a replay swaps in carry the live tables' privileges: the
// service's role keeps writing its views, and a role granted a view (a
// reporting user) keeps reading it.
func TestReplayKeepsPrivileges(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	db, _ := projectedLog(t, ctx, 3, 300)
	_, err := db.Owner.Exec(ctx, `GRANT SELECT ON jobs TO PUBLIC`)
	is.NoErr(err) // anyone may read the jobs view (a grant other than the service's)
	before := privileges(t, ctx, db.Owner)
	is.True(slices.Contains(before, "jobs "+testdb.ServiceRole+" INSERT")) // the service writes its views
	is.True(slices.Contains(before, "jobs PUBLIC SELECT"))                 // and the grant above

	_, err = replay.Run(ctx, db.Owner, projections.All(), replay.Options{Keys: testdb.Keyring()})
	is.NoErr(err) // the replay succeeds

	after := privileges(t, ctx, db.Owner)
	is.Equal(after, before) // every grant is there again
	var n int
	is.NoErr(db.Pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&n)) // the service reads the rebuilt view
	tag, err := db.Pool.Exec(ctx, `UPDATE jobs SET version = version WHERE id = (SELECT id FROM jobs LIMIT 1)`)
	is.NoErr(err)                          // and may write it
	is.Equal(tag.RowsAffected(), int64(1)) // (a row of it)
}

// privileges lists the grants on the projections' tables, one string each.
func privileges(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT c.relname || ' ' || CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END || ' ' || a.privilege_type
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.grantee <> c.relowner
  AND c.relname IN ('users', 'jobs', 'applications', 'checkpoints')
ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return list
}
