// Package testdb gives tests a fresh, migrated PostgreSQL database of their
// own, on the server named by TEST_DATABASE_URL (by default the local one).
// A test run without a reachable server fails and says how to start it; it
// is never skipped.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/postgres"
)

// DefaultServerURL is used when TEST_DATABASE_URL is not set; the database
// name in it is replaced by a fresh one.
const DefaultServerURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

const howToStart = "PostgreSQL must be running for the tests (set TEST_DATABASE_URL to use another server); " +
	"start the local one with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

// ServiceRole is the role the service runs as in tests, as it does by
// default (app.DefaultDatabaseURL): it may read and append to the log, not
// change it. The server's own role (TEST_DATABASE_URL's) owns the database.
const ServiceRole = "jobboard_app"

// DB is a database that exists for one test package or one test.
type DB struct {
	// URL and Pool connect as ServiceRole, as the service does: what
	// tests run through them has the service's rights and no more.
	URL  string
	Pool *pgxpool.Pool
	// OwnerURL and Owner connect as the database's owner (the role that
	// migrated it), for what only the owner may do: DDL, a look past the
	// service's rights.
	OwnerURL string
	Owner    *pgxpool.Pool
	Name     string
}

// Create makes a new database, migrates it as its owner, and opens a pool
// on it as the owner and one as the service's role.
func Create(ctx context.Context) (*DB, error) {
	server := os.Getenv("TEST_DATABASE_URL")
	if server == "" {
		server = DefaultServerURL
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("TEST_DATABASE_URL: %w", err)
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "jobboard_test_" + hex.EncodeToString(suffix)
	u.Path = "/" + name
	db := &DB{OwnerURL: u.String(), Name: name}
	u.User = url.User(ServiceRole)
	db.URL = u.String()
	if err := postgres.Setup(ctx, db.OwnerURL, db.URL); err != nil {
		if postgres.IsUnavailable(err) {
			return nil, fmt.Errorf("%w\n%s", err, howToStart)
		}
		db.Drop()
		return nil, err
	}
	if db.Owner, err = postgres.Open(ctx, db.OwnerURL); err != nil {
		db.Drop()
		return nil, err
	}
	if db.Pool, err = postgres.Open(ctx, db.URL); err != nil {
		db.Drop()
		return nil, err
	}
	return db, nil
}

// Drop closes the pool and removes the database.
func (db *DB) Drop() error {
	if db.Pool != nil {
		db.Pool.Close()
	}
	if db.Owner != nil {
		db.Owner.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return postgres.DropDatabase(ctx, db.OwnerURL, db.Name)
}

// Main runs a test package's tests against one fresh database, which *shared
// points to while they run, and drops it afterwards. Use it from TestMain:
//
//	var db *testdb.DB
//	func TestMain(m *testing.M) { testdb.Main(m, &db) }
func Main(m *testing.M, shared **DB) {
	// A fuzzing worker (a process that go test -fuzz starts) runs only the
	// fuzz target, which needs no database: it would only leave one behind
	// when the fuzzer stops it.
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	db, err := Create(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testdb:", err)
		os.Exit(1)
	}
	*shared = db
	code := m.Run()
	if err := db.Drop(); err != nil && !strings.Contains(err.Error(), "does not exist") {
		fmt.Fprintln(os.Stderr, "testdb: drop:", err)
	}
	os.Exit(code)
}

// New gives one test a database of its own, dropped when the test ends.
func New(tb testing.TB) *DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := Create(ctx)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Drop(); err != nil {
			tb.Errorf("testdb: drop %s: %v", db.Name, err)
		}
	})
	return db
}

// DataKey is the key-encryption key of personal data in tests (DATA_KEY),
// as 64 hexadecimal digits: a test value, never a real one.
const DataKey = "7465737420646174612d6b6579206f6620746865206a6f62626f617264212121"

// Keyring returns a keyring over DataKey, for tests that read or append
// events holding personal data through a store or reader of their own.
func Keyring() *eventstore.Keyring {
	kek, err := eventstore.ParseKEK(DataKey)
	if err != nil {
		panic(err)
	}
	k, err := eventstore.NewKeyring(kek)
	if err != nil {
		panic(err)
	}
	return k
}
