package pgcluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/postgres"
)

// NewPair starts a scratch primary and a streaming replica of it for tb,
// and stops both and removes their directories when tb ends. A failure
// to start fails tb (it is never skipped: see the errors for what to
// install). When tb has failed, the end of each server's log is logged.
//
// A pair takes a few seconds to start (initdb and a base backup): tests of
// a package should share one.
func NewPair(tb testing.TB) (primary, replica *Cluster) {
	tb.Helper()
	// Not tb.TempDir: it is made 0700 for root, and the servers run as
	// the postgres user, which must enter it.
	base, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		tb.Fatalf("pgcluster: %v", err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		tb.Fatalf("pgcluster: %v", err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(base); err != nil {
			tb.Errorf("pgcluster: remove %s: %v", base, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary, err = StartPrimary(ctx, filepath.Join(base, "primary"))
	if err != nil {
		tb.Fatal(err)
	}
	// Registered after the removal, so run before it.
	tb.Cleanup(func() { stopForCleanup(tb, primary) })
	replica, err = primary.StartReplica(ctx, filepath.Join(base, "replica"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stopForCleanup(tb, replica) })
	return primary, replica
}

// stopForCleanup kills c (a cleanup needs no checkpoint) and, when the test
// failed, logs the end of its log, which may say why.
func stopForCleanup(tb testing.TB, c *Cluster) {
	c.Kill()
	if tb.Failed() {
		tb.Logf("pgcluster: the end of %s:\n%s", c.LogPath(), logTail(c.LogPath(), 0, 30))
	}
}

// ServiceURL is the URL of database db on the cluster as the service's role
// (testdb.ServiceRole), which SetupJobBoard creates: what the service would
// be configured with, DATABASE_URL on the primary or one of
// DATABASE_READ_URLS on a replica.
func (c *Cluster) ServiceURL(db string) string {
	return c.urlAs(testdb.ServiceRole, db)
}

// SetupJobBoard creates the job board's database db on the primary,
// migrated by the superuser, with the service's role granted what it
// needs, as testdb.Create does on the machine's own server. Replicas copy
// it, the role included (roles belong to the cluster, which they copy
// whole); call a replica's WaitCaughtUp before reading it there.
func (c *Cluster) SetupJobBoard(ctx context.Context, db string) error {
	return postgres.Setup(ctx, c.URL(db), c.ServiceURL(db))
}
