package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/postgres"
)

var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// migrationFiles lists the embedded migrations as the source tree has them.
func migrationFiles(t *testing.T) map[int]string {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found (%v)", err)
	}
	byVersion := map[int]string{}
	for _, f := range files {
		name := filepath.Base(f)
		v, err := strconv.Atoi(name[:strings.IndexByte(name, '_')])
		if err != nil {
			t.Fatalf("migration %s: %v", name, err)
		}
		byVersion[v] = name
	}
	return byVersion
}

type applied struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

func appliedMigrations(t *testing.T, ctx context.Context, conn interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []applied {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[applied])
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return list
}

// freshDatabaseURL names a database that does not exist yet on the test
// server, and drops it when the test ends.
func freshDatabaseURL(t *testing.T) (string, string) {
	t.Helper()
	u, err := url.Parse(db.OwnerURL)
	if err != nil {
		t.Fatalf("parse %s: %v", db.OwnerURL, err)
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "jobboard_test_fresh_" + hex.EncodeToString(suffix)
	u.Path = "/" + name
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := postgres.DropDatabase(ctx, db.OwnerURL, name); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return u.String(), name
}

func databaseExists(t *testing.T, ctx context.Context, name string) bool {
	t.Helper()
	var exists bool
	err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists)
	if err != nil {
		t.Fatalf("look up database %s: %v", name, err)
	}
	return exists
}

func TestMigrateTwiceIsANoOp(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	files := migrationFiles(t)

	before := appliedMigrations(t, ctx, db.Owner) // testdb migrated it once already
	is.Equal(len(before), len(files))             // one row per embedded migration
	for _, m := range before {
		is.Equal(m.Name, files[m.Version]) // named after its file
	}

	is.NoErr(postgres.Migrate(ctx, db.Owner)) // a second run succeeds
	is.NoErr(postgres.Migrate(ctx, db.Pool))  // and one by the service's role, which may change nothing, finds nothing to do
	after := appliedMigrations(t, ctx, db.Owner)
	is.Equal(after, before) // and neither applied anything again
}

// Processes starting at once against a database that does not exist yet
// each create it, migrate it and grant the service's role its rights: every
// one succeeds, and each migration is applied once.
func TestConcurrentSetupOfAFreshDatabase(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	url, name := freshDatabaseURL(t)
	files := migrationFiles(t)

	const processes = 4
	errs := make(chan error, processes)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- postgres.Setup(ctx, url, serviceURL(t, url))
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		is.NoErr(err) // every concurrent setup succeeds
	}

	conn, err := pgx.Connect(ctx, url)
	is.NoErr(err) // connect to the migrated database
	defer conn.Close(ctx)
	got := appliedMigrations(t, ctx, conn)
	is.Equal(len(got), len(files)) // each migration recorded exactly once
	for _, m := range got {
		is.Equal(m.Name, files[m.Version]) // under its own version
	}
	var tables int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'
AND tablename IN ('events', 'credentials', 'checkpoints', 'users', 'jobs', 'email_deliveries')`).Scan(&tables)
	is.NoErr(err)       // look up the tables
	is.Equal(tables, 6) // the schema is there
	is.True(databaseExists(t, ctx, name))
}

func TestEnsureDatabase(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	url, name := freshDatabaseURL(t)

	is.True(!databaseExists(t, ctx, name))              // not there yet
	is.NoErr(postgres.EnsureDatabase(ctx, url))         // creates a missing database
	is.True(databaseExists(t, ctx, name))               // which now exists
	is.NoErr(postgres.EnsureDatabase(ctx, url))         // an existing one is fine
	is.NoErr(postgres.EnsureDatabase(ctx, db.OwnerURL)) // including one in use
}

// Several processes starting against a database that does not exist yet all
// try to create it; the losers must not fail.
func TestEnsureDatabaseRacingCreators(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	url, name := freshDatabaseURL(t)

	const processes = 6
	errs := make(chan error, processes)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- postgres.EnsureDatabase(ctx, url)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		is.NoErr(err) // every racing creator succeeds
	}
	is.True(databaseExists(t, ctx, name)) // and the database is there
}

func TestSetupCreatesTheDatabase(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	url, name := freshDatabaseURL(t)

	_, err := postgres.Open(ctx, url)
	is.True(err != nil)                          // opening does not create a database
	is.True(strings.Contains(err.Error(), name)) // and the error names it
	is.True(!databaseExists(t, ctx, name))       // (still not there)
	is.NoErr(postgres.Setup(ctx, url, url))      // setting it up does
	pool, err := postgres.Open(ctx, url)
	is.NoErr(err) // open the database set up
	defer pool.Close()
	is.True(databaseExists(t, ctx, name)) // it was created
	is.True(pool.Config().MaxConns >= 20) // with room for appends, subscribers and the relay
	var current string
	is.NoErr(pool.QueryRow(ctx, `SELECT current_database()`).Scan(&current)) // the pool works
	is.Equal(current, name)                                                  // on that database
}

// Pool settings in the URL size the pool and are not sent to the server
// (which would refuse them as unknown parameters when creating the
// database).
func TestOpenWithPoolSettings(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	url, name := freshDatabaseURL(t)
	url += "&pool_max_conns=8&pool_min_conns=1"

	is.NoErr(postgres.Setup(ctx, url, url)) // a URL with pool settings sets up a database
	pool, err := postgres.Open(ctx, url)
	is.NoErr(err) // and opens
	defer pool.Close()
	is.True(databaseExists(t, ctx, name))      // it was created
	is.Equal(pool.Config().MaxConns, int32(8)) // the pool has the size asked for
	is.NoErr(postgres.DropDatabase(ctx, url, name))
}

func TestDropDatabase(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	url, name := freshDatabaseURL(t)
	is.NoErr(postgres.EnsureDatabase(ctx, url)) // create the database
	pool, err := postgres.Open(ctx, url)
	is.NoErr(err) // open it
	defer pool.Close()
	is.NoErr(pool.Ping(ctx)) // and keep a connection to it

	is.NoErr(postgres.DropDatabase(ctx, db.OwnerURL, name)) // drop it, connections and all
	is.True(!databaseExists(t, ctx, name))                  // gone
	is.NoErr(postgres.DropDatabase(ctx, db.OwnerURL, name)) // dropping a missing one is fine
}

func TestIsUnavailable(t *testing.T) {
	ctx := testContext(t)
	const refused = "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5"

	_, connectErr := pgx.Connect(ctx, refused)
	ensureErr := postgres.EnsureDatabase(ctx, refused)
	_, openErr := postgres.Open(ctx, refused)
	_, syntaxErr := db.Pool.Exec(ctx, `SELEC 1`)
	_, missingTableErr := db.Pool.Exec(ctx, `SELECT * FROM no_such_table`)

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", connectErr, true},
		{"connection refused, wrapped", fmt.Errorf("load: %w", connectErr), true},
		{"EnsureDatabase on a closed port", ensureErr, true},
		{"Open on a closed port", openErr, true},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"server starting", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"syntax error", syntaxErr, false},
		{"undefined table", missingTableErr, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"connection lost mid-query", fmt.Errorf("list jobs: error preprocessing batch (prepare): %w", io.ErrUnexpectedEOF), true},
		{"no rows", pgx.ErrNoRows, false},
		{"other error", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			if c.name != "nil" {
				is.True(c.err != nil) // the case produces an error
			}
			is.Equal(postgres.IsUnavailable(c.err), c.want) // classified as expected
		})
	}
}

// The migration numbers are unique and ordered, so "applied in order" means
// something.
func TestMigrationFilesAreNumbered(t *testing.T) {
	is := is.New(t)
	files, err := filepath.Glob("migrations/*.sql")
	is.NoErr(err) // list migrations
	versions := map[int]bool{}
	var sorted []int
	for _, f := range files {
		name := filepath.Base(f)
		i := strings.IndexByte(name, '_')
		is.True(i > 0) // named NNN_description.sql
		v, err := strconv.Atoi(name[:i])
		is.NoErr(err)         // starting with a number
		is.True(!versions[v]) // used once
		versions[v] = true
		sorted = append(sorted, v)
	}
	is.True(sort.IntsAreSorted(sorted)) // lexical order is numeric order
}

// serviceURL is url as the service's role.
func serviceURL(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %s: %v", raw, err)
	}
	u.User = url.User(testdb.ServiceRole)
	return u.String()
}
