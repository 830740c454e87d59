// Package testapp starts the real job board in-process for tests, as
// cmd/jobboard starts it: the API's, the web pages' and the browser tests
// each run it on a test database with a configuration of their own. Only
// tests import it.
package testapp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"sync"
	"testing"

	"github.com/jobboard/jobboard/app"
	"github.com/jobboard/jobboard/internal/testdb"
)

// JWTSecret is the secret a started service signs tokens with unless env
// sets JWT_SECRET, so that tests can forge tokens that differ from a real
// one in one way only.
const JWTSecret = "in-process tests' secret, at least 32 bytes long"

// App is one running job board.
type App struct {
	App  *app.App
	URL  string        // where it serves, http://127.0.0.1:port
	Logs *LockedBuffer // what it logged
}

// Start runs the job board on db with a test configuration that env
// overrides, and stops it when the test ends, printing what it logged if
// the test failed. Cleanups the caller registers after Start (closing its
// clients' idle connections, say) run before the service stops.
//
// The service logs at debug level, in text, unless env sets LOG_LEVEL or
// LOG_FORMAT.
func Start(t testing.TB, db *testdb.DB, env map[string]string) *App {
	t.Helper()
	vars := map[string]string{
		"DATABASE_URL":         db.URL,
		"MIGRATE_DATABASE_URL": db.OwnerURL,
		// 127.0.0.1, not localhost: the browser tests' cross-origin test
		// serves its forged page from localhost, another site.
		"HTTP_ADDR":   "127.0.0.1:0",
		"BCRYPT_COST": "4",
		"JWT_SECRET":  JWTSecret,
		"DATA_KEY":    testdb.DataKey,
		// Without SMTP_URL, mails about applications go here.
		"MAIL_DIR": t.TempDir(),
		// Every package of the test run shares the machine's cores, under
		// the race detector; a write's wait for its projections can then
		// pass the 5 s default. These tests are about behaviour, so they
		// give it room.
		"CONSISTENCY_TIMEOUT": "30s",
		"LOG_LEVEL":           "debug",
	}
	maps.Copy(vars, env)
	cfg, err := app.ConfigFromEnv(func(name string) string { return vars[name] })
	if err != nil {
		t.Fatalf("the test configuration is invalid: %v", err)
	}

	logs := &LockedBuffer{}
	a := app.New(cfg, app.NewLogger(cfg, logs))
	// The context ends before the cleanup closes the app, as the signal
	// context of cmd/jobboard does before it closes the app.
	if err := a.Run(t.Context()); err != nil {
		t.Fatalf("start the service: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close the service: %v", err)
		}
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	return &App{App: a, URL: "http://" + a.Server.Addr(), Logs: logs}
}

// UniqueEmail returns an address no other test uses, though they share a
// database.
func UniqueEmail(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b) + "@example.com"
}

// LockedBuffer is a buffer that many goroutines may write to: a service's
// log, a running command's output. Its zero value is empty and ready.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what has been written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
