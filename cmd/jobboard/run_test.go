package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testapp"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/postgres"
)

// env is a getenv over a fixed set of variables. DATA_KEY is the tests'
// (testdb.DataKey, which the tests' own stores seal personal data with)
// unless vars name it: without it, the commands would read, or make, a key
// file of their own in the package's directory (./.jobboard/data.key), and
// fail to open what the tests wrote.
func env(vars ...string) func(string) string {
	m := map[string]string{"DATA_KEY": testdb.DataKey}
	for i := 0; i+1 < len(vars); i += 2 {
		m[vars[i]] = vars[i+1]
	}
	return func(name string) string { return m[name] }
}

// lockedBuffer collects what a running command writes from many goroutines.
type lockedBuffer = testapp.LockedBuffer

// runCommand runs the program with args and returns its exit code and
// output.
func runCommand(t *testing.T, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errs lockedBuffer
	code = run(t.Context(), args, getenv, &out, &errs)
	return code, out.String(), errs.String()
}

func TestVersion(t *testing.T) {
	is := is.New(t)
	code, stdout, _ := runCommand(t, env(), "version")
	is.Equal(code, 0) // version succeeds
	v, found := strings.CutPrefix(strings.TrimSpace(stdout), "jobboard ")
	is.True(found)   // version prints the program's name
	is.True(v != "") // and a version

	defer func(old string) { version = old }(version)
	version = "v1.2.3"
	code, stdout, _ = runCommand(t, env(), "version")
	is.Equal(code, 0)
	is.Equal(stdout, "jobboard v1.2.3\n") // the version set at build time wins
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"serve", "migrate", "version", "DATABASE_URL", "HTTP_ADDR", "JWT_SECRET"}},
		{[]string{"-h"}, []string{"serve", "migrate", "version"}},
		{[]string{"help"}, []string{"serve", "migrate", "version"}},
		{[]string{"serve", "--help"}, []string{"Usage: jobboard serve", "-role", "-addr", "SHUTDOWN_TIMEOUT"}},
		{[]string{"serve", "-h"}, []string{"Usage: jobboard serve", "-role", "-addr"}},
		{[]string{"migrate", "--help"}, []string{"Usage: jobboard migrate", "DATABASE_URL"}},
		{[]string{"version", "--help"}, []string{"Usage: jobboard version"}},
		{[]string{"emails", "--help"}, []string{"Usage: jobboard emails", "-status", "retry"}},
		{[]string{"replay", "--help"}, []string{"Usage: jobboard replay", "-all", "-projection", "users, jobs", "interrupt", "no email"}},
		{[]string{"events", "--help"}, []string{"Usage: jobboard events", "-stream", "-actor", "-type", "-since", "-until", "-follow", "-as-of", "JobPosted"}},
		{[]string{"--help"}, []string{"replay", "events"}},
		{[]string{"--help"}, []string{"emails", "SMTP_URL", "MAIL_FROM", "APP_BASE_URL", "MAIL_DIR"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			is := is.New(t)
			// No database: asking for help must not need one.
			code, stdout, stderr := runCommand(t, env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"), tt.args...)
			is.Equal(code, 0)    // asking for help is not an error
			is.Equal(stderr, "") // help that was asked for goes to stdout
			for _, want := range tt.want {
				if !strings.Contains(stdout, want) {
					t.Fatalf("the help does not mention %q:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
		// see is the command whose help a mistake in its flags points to;
		// empty: the whole usage is printed.
		see string
	}{
		{nil, "Usage:", ""},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, ""},
		{[]string{"serve", "--bogus"}, "flag provided but not defined: -bogus", "serve"},
		{[]string{"serve", "--role", "boss"}, `"boss"`, "serve"},
		{[]string{"serve", "extra"}, "unexpected arguments: extra", "serve"},
		{[]string{"migrate", "--bogus"}, "flag provided but not defined: -bogus", "migrate"},
		{[]string{"migrate", "extra"}, "unexpected arguments: extra", "migrate"},
		{[]string{"events", "--type", "Nope"}, `--type "Nope": want one of`, "events"},
		{[]string{"events", "--limit", "many"}, `invalid value "many" for flag -limit`, "events"},
		{[]string{"emails", "--status", "lost"}, `--status "lost"`, "emails"},
		{[]string{"emails", "retry"}, "name application ids or give --failed", "emails retry"},
		{[]string{"replay"}, "give --all or at least one --projection", "replay"},
		{[]string{"replay", "--all", "--batch", "0"}, "--batch: want 1 to 100000", "replay"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			is := is.New(t)
			code, stdout, stderr := runCommand(t, env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none", "JWT_SECRET", "usage test secret, at least 32 bytes long"), tt.args...)
			is.Equal(code, 2)    // a usage error exits with 2
			is.Equal(stdout, "") // and says so on stderr only
			if !strings.Contains(stderr, tt.want) {
				t.Fatalf("stderr does not mention %q:\n%s", tt.want, stderr)
			}
			if tt.see == "" {
				return
			}
			// The mistake and where the help is, not the whole usage.
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			is.Equal(len(lines), 2)                                // two lines: the mistake, the pointer to help
			is.Equal(lines[1], "see 'jobboard "+tt.see+" --help'") // the second says where the help is
		})
	}
}

func TestConfigurationErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  func(string) string
		want string
	}{
		{"short JWT secret", []string{"serve"}, env("JWT_SECRET", "too short"), "JWT_SECRET"},
		{"bad bcrypt cost", []string{"serve"}, env("BCRYPT_COST", "99"), "BCRYPT_COST"},
		{"bad log level", []string{"migrate"}, env("LOG_LEVEL", "loud"), "LOG_LEVEL"},
		{"bad duration", []string{"serve"}, env("SHUTDOWN_TIMEOUT", "soon"), "SHUTDOWN_TIMEOUT"},
		{"bad sender", []string{"serve"}, env("MAIL_FROM", "not an address"), "MAIL_FROM"},
		{"bad base URL", []string{"serve"}, env("APP_BASE_URL", "ftp://x"), "APP_BASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			code, _, stderr := runCommand(t, tt.env, tt.args...)
			is.Equal(code, 1) // a bad configuration is a failure
			if !strings.Contains(stderr, tt.want) {
				t.Fatalf("stderr does not name %s:\n%s", tt.want, stderr)
			}
		})
	}
}

// freshDatabaseURL names a database that does not exist yet, on the test
// server, and drops it when the test ends.
func freshDatabaseURL(t *testing.T) string {
	t.Helper()
	server := os.Getenv("TEST_DATABASE_URL")
	if server == "" {
		server = testdb.DefaultServerURL
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "jobboard_test_cmd_" + hex.EncodeToString(suffix)
	u.Path = "/" + name
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := postgres.DropDatabase(ctx, u.String(), name); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return u.String()
}

func TestMigrate(t *testing.T) {
	is := is.New(t)
	dbURL := freshDatabaseURL(t)
	// The service's role, named for this test so that migrate has to
	// create it.
	u, err := url.Parse(dbURL)
	is.NoErr(err)
	role := "jobboard_cmd_" + strings.TrimPrefix(u.Path, "/jobboard_test_cmd_")
	u.User = url.UserPassword(role, "service password")
	serviceURL := u.String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The role holds privileges in the database until it is gone.
		err := postgres.DropDatabase(ctx, dbURL, strings.TrimPrefix(u.Path, "/"))
		var conn *pgx.Conn
		if err == nil {
			conn, err = pgx.Connect(ctx, dbURL[:strings.LastIndex(dbURL, "/")]+"/postgres")
		}
		if err == nil {
			_, err = conn.Exec(ctx, `DROP ROLE IF EXISTS `+pgx.Identifier{role}.Sanitize())
			conn.Close(ctx)
		}
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	getenv := env("DATABASE_URL", serviceURL, "MIGRATE_DATABASE_URL", dbURL)

	code, stdout, stderr := runCommand(t, getenv, "migrate")
	if code != 0 {
		t.Fatalf("migrate exited with %d:\n%s", code, stderr)
	}
	is.True(strings.Contains(stdout, "up to date")) // migrate says it is done

	ctx := t.Context()
	pool, err := postgres.Open(ctx, serviceURL)
	is.NoErr(err) // the database was created, and the service's role
	defer pool.Close()
	var owner string
	is.NoErr(pool.QueryRow(ctx, `SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'events'::regclass`).Scan(&owner))
	migrating, _ := url.Parse(dbURL)
	is.Equal(owner, migrating.User.Username()) // the log belongs to the migrating role
	can, err := postgres.CheckService(ctx, pool)
	is.NoErr(err)
	is.Equal(len(can), 0) // and the service may only read and append to it
	for _, table := range []string{"schema_migrations", "events", "credentials", "checkpoints", "users", "email_deliveries"} {
		var exists bool
		is.NoErr(pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&exists))
		if !exists {
			t.Fatalf("migrate did not create table %s", table)
		}
	}
	var applied int
	is.NoErr(pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&applied))
	is.True(applied > 0) // the migrations are recorded

	code, _, stderr = runCommand(t, getenv, "migrate")
	if code != 0 {
		t.Fatalf("a second migrate exited with %d:\n%s", code, stderr)
	}
	var again int
	is.NoErr(pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&again))
	is.Equal(again, applied) // migrating twice applies nothing twice
}

// freePort returns an address on the loopback interface that nothing
// listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServe(t *testing.T) {
	is := is.New(t)
	db := testdb.New(t)
	addr := freePort(t)
	getenv := env(
		"DATABASE_URL", db.URL,
		"HTTP_ADDR", addr,
		"JWT_SECRET", "serve test secret, at least 32 bytes",
		"BCRYPT_COST", "4",
		"SHUTDOWN_TIMEOUT", "10s",
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv, &stdout, &stderr) }()

	client := &http.Client{Timeout: 2 * time.Second}
	healthy := func() bool {
		res, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !healthy() {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before answering /healthz:\n%s", code, stderr.String())
		case <-deadline.C:
			t.Fatalf("serve did not answer /healthz on %s within 30s:\n%s", addr, stderr.String())
		case <-tick.C:
		}
	}

	// It is the real service: an account can be opened.
	res, err := client.Post("http://"+addr+"/register", "application/json",
		strings.NewReader(`{"email":"serve@example.com","password":"serve password","name":"Serve","role":"job_seeker"}`))
	is.NoErr(err) // the API answers
	res.Body.Close()
	is.Equal(res.StatusCode, http.StatusCreated) // the API works

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d after its context ended:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30s of its context ending:\n%s", stderr.String())
	}
	is.True(strings.Contains(stderr.String(), "stopped")) // serve logs a clean stop
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("something still listens on %s after serve returned", addr)
	}
}

// JOBBOARD_ROLE picks the parts serve runs, and --role overrides it.
func TestServeRoleFromTheEnvironment(t *testing.T) {
	db := testdb.New(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "role=worker"},
		{[]string{"serve", "--role", "all"}, "role=all"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			getenv := env("DATABASE_URL", db.URL, "HTTP_ADDR", freePort(t), "JWT_SECRET", "serve test secret, at least 32 bytes",
				"BCRYPT_COST", "4", "SHUTDOWN_TIMEOUT", "10s", "JOBBOARD_ROLE", "worker")
			ctx, cancel := context.WithCancel(t.Context())
			var stdout, stderr lockedBuffer
			done := make(chan int, 1)
			go func() { done <- run(ctx, tt.args, getenv, &stdout, &stderr) }()
			defer func() { cancel(); <-done }()
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(stderr.String(), "jobboard started") {
				if time.Now().After(deadline) {
					t.Fatalf("serve did not start within 30s:\n%s", stderr.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("want %s in the start-up log:\n%s", tt.want, stderr.String())
			}
		})
	}
}

// TestReadersCreateNothing runs the commands that only read (and replay,
// which needs a migrated log) against a database that does not exist and
// against one that was never migrated: each is a one-line error naming the
// database, and neither database gains anything.
func TestReadersCreateNothing(t *testing.T) {
	commands := [][]string{{"events"}, {"emails"}, {"emails", "retry", "--failed"}, {"replay", "--all"}}
	exists := func(t *testing.T, dbURL string) bool {
		t.Helper()
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(u.Path, "/")
		u.Path = "/postgres"
		conn, err := pgx.Connect(t.Context(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.WithoutCancel(t.Context()))
		var found bool
		if err := conn.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&found); err != nil {
			t.Fatal(err)
		}
		return found
	}
	t.Run("no database", func(t *testing.T) {
		dbURL := freshDatabaseURL(t)
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(u.Path, "/")
		for _, args := range commands {
			is := is.New(t)
			code, _, stderr := runCommand(t, env("DATABASE_URL", dbURL), args...)
			is.Equal(code, 1)                                                  // a missing database is a failure
			is.Equal(strings.Count(strings.TrimSuffix(stderr, "\n"), "\n"), 0) // of one line
			is.True(strings.Contains(stderr, name))                            // naming the database
			is.True(!exists(t, dbURL))                                         // which is still not there
		}
	})
	t.Run("not migrated", func(t *testing.T) {
		is := is.New(t)
		dbURL := freshDatabaseURL(t)
		is.NoErr(postgres.EnsureDatabase(t.Context(), dbURL))
		for _, args := range commands {
			code, _, stderr := runCommand(t, env("DATABASE_URL", dbURL), args...)
			is.Equal(code, 1)                                                  // an empty database is a failure
			is.True(strings.Contains(stderr, "run jobboard migrate"))          // that says what to do
			is.Equal(strings.Count(strings.TrimSuffix(stderr, "\n"), "\n"), 0) // in one line
		}
		conn, err := pgx.Connect(t.Context(), dbURL)
		is.NoErr(err)
		defer conn.Close(context.WithoutCancel(t.Context()))
		var tables int
		is.NoErr(conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables))
		is.Equal(tables, 0) // nothing was migrated
	})
}

// TestJSONLogs checks that with LOG_FORMAT=json every line serve writes is
// JSON, the migrations' included (they log through slog's default), and
// that durations are in seconds.
func TestJSONLogs(t *testing.T) {
	is := is.New(t)
	getenv := env("DATABASE_URL", freshDatabaseURL(t), "LOG_FORMAT", "json", "HTTP_ADDR", freePort(t),
		"JWT_SECRET", "json logs test secret, at least 32 bytes", "SHUTDOWN_TIMEOUT", "10s")
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv, &stdout, &stderr) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "jobboard started") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start within 30s:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	is.Equal(<-done, 0) // serve stops cleanly
	var migrations int
	var timeout any
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		switch v["msg"] {
		case "applied migration":
			migrations++
		case "shutting down":
			timeout = v["timeout"]
		}
	}
	is.True(migrations >= 10) // the migrations logged in JSON
	is.Equal(timeout, 10.0)   // SHUTDOWN_TIMEOUT, in seconds
}
