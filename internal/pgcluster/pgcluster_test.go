package pgcluster_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/pgcluster"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// count returns how many rows of items have the given name.
func count(t *testing.T, ctx context.Context, conn *pgx.Conn, name string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM items WHERE name = $1`, name).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", name, err)
	}
	return n
}

// insert adds a row on the primary and returns the LSN after its commit.
func insert(t *testing.T, ctx context.Context, primary *pgcluster.Cluster, conn *pgx.Conn, name string) pgcluster.LSN {
	t.Helper()
	if _, err := conn.Exec(ctx, `INSERT INTO items (name) VALUES ($1)`, name); err != nil {
		t.Fatalf("insert %s: %v", name, err)
	}
	lsn, err := primary.CurrentLSN(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// One pair for every subtest: starting one takes seconds. The subtests
// run in order and leave the replica running and replaying.
func TestPair(t *testing.T) {
	primary, replica := pgcluster.NewPair(t)
	ctx := testContext(t)
	is := is.New(t)
	is.True(!primary.IsReplica())
	is.True(replica.IsReplica())
	is.True(replica.Primary() == primary)
	is.True(primary.Port() != replica.Port())
	is.Equal(primary.URL("x"), "postgres://postgres@127.0.0.1:"+strconv.Itoa(primary.Port())+"/x?sslmode=disable")

	onPrimary := connect(t, ctx, primary.URL("postgres"))
	if _, err := onPrimary.Exec(ctx, `CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL)`); err != nil {
		t.Fatal(err)
	}

	t.Run("a table written on the primary appears on the replica", func(t *testing.T) {
		is := is.New(t)
		lsn := insert(t, ctx, primary, onPrimary, "first")
		is.NoErr(replica.WaitReplayed(ctx, lsn))
		replayed, err := replica.ReplayLSN(ctx)
		is.NoErr(err)
		is.True(replayed >= lsn)
		is.Equal(count(t, ctx, connect(t, ctx, replica.URL("postgres")), "first"), 1)
	})

	t.Run("with replay paused a new row reaches the replica but shows only after resume", func(t *testing.T) {
		is := is.New(t)
		onReplica := connect(t, ctx, replica.URL("postgres"))
		is.NoErr(replica.PauseReplay(ctx))
		resumed := false
		t.Cleanup(func() {
			if !resumed {
				replica.ResumeReplay(context.Background()) //nolint:errcheck // the test has failed already
			}
		})
		paused, err := replica.ReplayLSN(ctx)
		is.NoErr(err)

		lsn := insert(t, ctx, primary, onPrimary, "while paused")
		is.Equal(count(t, ctx, onPrimary, "while paused"), 1)
		// Received, so that its absence below is replay's doing and
		// not a network delay.
		is.NoErr(replica.WaitReceived(ctx, lsn))
		is.Equal(count(t, ctx, onReplica, "while paused"), 0)
		now, err := replica.ReplayLSN(ctx)
		is.NoErr(err)
		is.Equal(now, paused) // replay has not moved

		// A bounded wait for it fails, and says why.
		// Long enough to connect on a loaded machine; replay stays paused.
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		err = replica.WaitReplayed(short, lsn)
		is.True(errors.Is(err, context.DeadlineExceeded))
		is.True(strings.Contains(err.Error(), "replay paused"))

		is.NoErr(replica.ResumeReplay(ctx))
		resumed = true
		is.NoErr(replica.WaitReplayed(ctx, lsn))
		is.Equal(count(t, ctx, onReplica, "while paused"), 1)
	})

	t.Run("the replica refuses writes", func(t *testing.T) {
		is := is.New(t)
		_, err := connect(t, ctx, replica.URL("postgres")).Exec(ctx, `INSERT INTO items (name) VALUES ('on the replica')`)
		var pgErr *pgconn.PgError
		is.True(errors.As(err, &pgErr))
		is.Equal(pgErr.Code, "25006") // read_only_sql_transaction
		_, err = replica.CurrentLSN(ctx)
		is.True(err != nil) // recovery is in progress
		_, err = primary.ReplayLSN(ctx)
		is.True(err != nil) // not a replica
	})

	t.Run("the replica stops and starts again and catches up", func(t *testing.T) {
		is := is.New(t)
		port := replica.Port()
		is.NoErr(replica.Stop(ctx))
		is.True(!replica.Running())
		_, err := pgx.Connect(ctx, replica.URL("postgres"))
		is.True(err != nil) // down

		// Written while it is down: its slot keeps the WAL for it.
		lsn := insert(t, ctx, primary, onPrimary, "while down")

		is.NoErr(replica.Start(ctx))
		is.True(replica.Running())
		is.Equal(replica.Port(), port)
		is.NoErr(replica.WaitReplayed(ctx, lsn))
		is.Equal(count(t, ctx, connect(t, ctx, replica.URL("postgres")), "while down"), 1)

		// Killed (a crash) rather than stopped, it comes back too.
		replica.Kill()
		is.True(!replica.Running())
		lsn = insert(t, ctx, primary, onPrimary, "after a crash")
		is.NoErr(replica.Start(ctx))
		is.NoErr(replica.WaitReplayed(ctx, lsn))
		is.Equal(count(t, ctx, connect(t, ctx, replica.URL("postgres")), "after a crash"), 1)
	})

	t.Run("a migrated job board database reaches the replica", func(t *testing.T) {
		is := is.New(t)
		is.NoErr(primary.SetupJobBoard(ctx, "jobboard_x"))
		is.NoErr(replica.WaitCaughtUp(ctx))
		// The service's role reads the migrated schema on the replica.
		onReplica := connect(t, ctx, replica.ServiceURL("jobboard_x"))
		var user string
		var migrations int
		is.NoErr(onReplica.QueryRow(ctx, `SELECT current_user, (SELECT count(*) FROM schema_migrations)`).Scan(&user, &migrations))
		is.Equal(user, "jobboard_app")
		is.True(migrations > 0)
		// And writes on the primary as the service.
		onPrimary := connect(t, ctx, primary.ServiceURL("jobboard_x"))
		_, err := onPrimary.Exec(ctx, `SELECT 1 FROM events LIMIT 1`)
		is.NoErr(err)
	})
}

func TestParseLSN(t *testing.T) {
	is := is.New(t)
	for _, s := range []string{"0/0", "0/3000148", "16/B374D848", "FFFFFFFF/FFFFFFFF"} {
		lsn, err := pgcluster.ParseLSN(s)
		is.NoErr(err)
		is.Equal(lsn.String(), s)
	}
	a, _ := pgcluster.ParseLSN("1/0")
	b, _ := pgcluster.ParseLSN("0/FFFFFFFF")
	is.True(a > b)
	for _, s := range []string{"", "0", "x/1", "1/", "100000000/0"} {
		_, err := pgcluster.ParseLSN(s)
		is.True(err != nil)
	}
}

// Without the server programs, starting fails and says what to install.
func TestMissingPrograms(t *testing.T) {
	is := is.New(t)
	t.Setenv("PGCLUSTER_BINDIR", t.TempDir())
	_, err := pgcluster.StartPrimary(testContext(t), t.TempDir())
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "has no initdb, postgres, pg_basebackup"))
	is.True(strings.Contains(err.Error(), "apt-get install -y postgresql-15"))
}
