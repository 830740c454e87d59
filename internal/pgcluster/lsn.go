package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LSN is a position in the write-ahead log, as PostgreSQL's pg_lsn: a byte
// offset, printed as two hexadecimal halves ("16/B374D848"). Being a number,
// two LSNs compare with < and >=.
type LSN uint64

// ParseLSN reads an LSN as PostgreSQL prints it.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("pgcluster: LSN %q: no '/'", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("pgcluster: LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("pgcluster: LSN %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// String prints l as PostgreSQL does.
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xFFFFFFFF)
}

// pollInterval is how often the waits below ask the replica again: short,
// because tests wait on it often, and cheap (one query on an open
// connection).
const pollInterval = 5 * time.Millisecond

// connect opens a connection to the cluster's postgres database.
func (c *Cluster) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return nil, fmt.Errorf("pgcluster: connect to %s: %w", c.dir, err)
	}
	return conn, nil
}

// queryLSN runs a query returning one pg_lsn on conn; a NULL is an error
// that names what the query asked for.
func queryLSN(ctx context.Context, conn *pgx.Conn, fn string) (LSN, error) {
	var s *string
	if err := conn.QueryRow(ctx, `SELECT `+fn+`()::text`).Scan(&s); err != nil {
		return 0, fmt.Errorf("pgcluster: %s: %w", fn, err)
	}
	if s == nil {
		return 0, fmt.Errorf("pgcluster: %s is NULL: the server is not a replica", fn)
	}
	return ParseLSN(*s)
}

func (c *Cluster) lsn(ctx context.Context, fn string) (LSN, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return queryLSN(ctx, conn, fn)
}

// CurrentLSN is the primary's current WAL write position
// (pg_current_wal_lsn): every transaction committed before the call ends at
// or before it, so a replica that has replayed up to it has them all.
func (c *Cluster) CurrentLSN(ctx context.Context) (LSN, error) {
	return c.lsn(ctx, "pg_current_wal_lsn")
}

// ReplayLSN is how far a replica has replayed its primary's WAL
// (pg_last_wal_replay_lsn): what its queries see.
func (c *Cluster) ReplayLSN(ctx context.Context) (LSN, error) {
	return c.lsn(ctx, "pg_last_wal_replay_lsn")
}

// ReceiveLSN is how far a replica has received its primary's WAL and
// written it to disk (pg_last_wal_receive_lsn), replayed or not: with replay
// paused, a test can wait for a write to reach the replica and then show
// that it is still not visible there.
func (c *Cluster) ReceiveLSN(ctx context.Context) (LSN, error) {
	return c.lsn(ctx, "pg_last_wal_receive_lsn")
}

// WaitReplayed waits until the replica has replayed the WAL up to lsn, so
// that its queries see every transaction the primary had committed by then.
// It fails when ctx ends first (after DefaultTimeout when ctx has no
// deadline), saying how far replay got and whether it is paused.
func (c *Cluster) WaitReplayed(ctx context.Context, lsn LSN) error {
	return c.waitLSN(ctx, "pg_last_wal_replay_lsn", lsn)
}

// WaitReceived waits until the replica has received the WAL up to lsn,
// whether or not it has replayed it; it fails as WaitReplayed does.
func (c *Cluster) WaitReceived(ctx context.Context, lsn LSN) error {
	return c.waitLSN(ctx, "pg_last_wal_receive_lsn", lsn)
}

// WaitCaughtUp waits until the replica has replayed everything its primary
// had written when it was called: after a setup on the primary, the replica
// has it too.
func (c *Cluster) WaitCaughtUp(ctx context.Context) error {
	if c.primary == nil {
		return errors.New("pgcluster: WaitCaughtUp is for a replica; this is a primary")
	}
	lsn, err := c.primary.CurrentLSN(ctx)
	if err != nil {
		return err
	}
	return c.WaitReplayed(ctx, lsn)
}

// waitLSN polls fn on one connection until it reaches target.
func (c *Cluster) waitLSN(ctx context.Context, fn string, target LSN) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		got, err := queryLSN(ctx, conn, fn)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil && got >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			state, _ := c.replayPauseState(context.WithoutCancel(ctx))
			return fmt.Errorf("pgcluster: %s: %s reached %s, not %s, in time (replay %s): %w",
				c.dir, fn, got, target, state, ctx.Err())
		case <-tick.C:
		}
	}
}

// PauseReplay stops the replica from applying the WAL it receives
// (pg_wal_replay_pause), and returns once replay has actually stopped: until
// ResumeReplay, what the primary commits reaches the replica but is not
// visible there, as on a replica lagging behind.
func (c *Cluster) PauseReplay(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		return fmt.Errorf("pgcluster: pause replay: %w", err)
	}
	// The call only asks: the startup process stops at its next record,
	// reporting "pause requested" until then.
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		var state string
		if err := conn.QueryRow(ctx, `SELECT pg_get_wal_replay_pause_state()`).Scan(&state); err != nil {
			return fmt.Errorf("pgcluster: pause replay: %w", err)
		}
		if state == "paused" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: pause replay: still %q: %w", state, ctx.Err())
		case <-tick.C:
		}
	}
}

// ResumeReplay lets a paused replica apply WAL again (pg_wal_replay_resume).
func (c *Cluster) ResumeReplay(ctx context.Context) error {
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		return fmt.Errorf("pgcluster: resume replay: %w", err)
	}
	return nil
}

// replayPauseState is pg_get_wal_replay_pause_state(), for error messages.
func (c *Cluster) replayPauseState(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := c.connect(ctx)
	if err != nil {
		return "state unknown", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var state string
	if err := conn.QueryRow(ctx, `SELECT pg_get_wal_replay_pause_state()`).Scan(&state); err != nil {
		return "state unknown", err
	}
	return state, nil
}
