package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Replicas sends reads to PostgreSQL streaming replicas without giving up
// read-your-writes for any client, in any process.
//
// The rule that makes it safe is one of time, so that processes need not
// agree on which replica serves:
//
//   - A process reads from a replica only while the replica is fresh: it
//     has replayed the primary's WAL position as it was at most MaxLag ago.
//     Each process learns that by itself: every poll it notes the time,
//     then reads the primary's position, and later sees the replica pass
//     that position.
//   - A write answers only once every replica has replayed it, or once
//     MaxLag (and a margin) has passed since it committed, whichever comes
//     first. After that, a replica that has not replayed the write has not
//     replayed any position of the primary from after the write's commit,
//     so it is older than MaxLag to every process, which reads from the
//     primary instead.
//
// So a replica that lags or is down costs each write up to MaxLag, and
// serves no reads until it has caught up; the primary serves them.
type Replicas struct {
	primary  *pgxpool.Pool
	replicas []*replica
	maxLag   time.Duration
	poll     time.Duration
	log      *slog.Logger
	next     atomic.Uint64
	// primaryReads counts the reads sent to the primary because no
	// replica was fresh.
	primaryReads atomic.Uint64
	stop         context.CancelFunc
	done         sync.WaitGroup
}

// ReplicaOptions tune Replicas.
type ReplicaOptions struct {
	// MaxLag is how far behind the primary a replica may be and still
	// serve reads, and so the longest a write waits for a replica.
	MaxLag time.Duration
	// Poll is how often each replica's progress is read (default MaxLag/10,
	// at least 10 ms).
	Poll time.Duration
	Log  *slog.Logger
}

// replica is one read server and what this process knows of it.
type replica struct {
	name string
	pool *pgxpool.Pool
	// fresh is the monotonic time (ns since start) at which the primary
	// was at a position this replica has replayed: the replica serves
	// while it is within MaxLag.
	fresh atomic.Int64
	// replayed is the last replay position read.
	replayed atomic.Uint64
	up       atomic.Bool
	reads    atomic.Uint64
}

// sample is the primary's position at a time.
type sample struct {
	at  int64 // monotonic ns since start
	lsn uint64
}

// clockStart is the origin of since, the monotonic clock the follower and
// the readers compare their times on.
var clockStart = time.Now()

func since() int64 { return int64(time.Since(clockStart)) }

// OpenReplicas opens a pool per replica URL and starts following them. The
// pools are opened lazily: a replica that is down at start serves nothing
// until it answers.
func OpenReplicas(ctx context.Context, primary *pgxpool.Pool, urls []string, o ReplicaOptions) (*Replicas, error) {
	if o.MaxLag <= 0 {
		return nil, errors.New("replicas: MaxLag must be positive")
	}
	if o.Poll <= 0 {
		o.Poll = max(o.MaxLag/10, 10*time.Millisecond)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	r := &Replicas{primary: primary, maxLag: o.MaxLag, poll: o.Poll, log: o.Log}
	for _, url := range urls {
		// A short connect timeout: a replica that does not answer is
		// passed over, and its reads go elsewhere.
		cfg, err := poolConfig(url, DefaultMaxConns, 2*time.Second)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("DATABASE_READ_URLS: %w", err)
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("DATABASE_READ_URLS: %w", err)
		}
		name := fmt.Sprintf("%s:%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port)
		rep := &replica{name: name, pool: pool}
		rep.fresh.Store(-int64(o.MaxLag) * 2) // not fresh until seen
		r.replicas = append(r.replicas, rep)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	for _, rep := range r.replicas {
		r.done.Add(1)
		go func() { defer r.done.Done(); r.follow(bg, rep) }()
	}
	return r, nil
}

// follow polls one replica's replay position against the primary's.
func (r *Replicas) follow(ctx context.Context, rep *replica) {
	var pending []sample
	tick := time.NewTicker(r.poll)
	defer tick.Stop()
	for {
		// The time first, then the primary's position: the position is at
		// least where the primary was at that time.
		at := since()
		lsn, err := currentLSN(ctx, r.primary)
		if err == nil {
			pending = append(pending, sample{at: at, lsn: lsn})
		}
		replayed, err := replayLSN(ctx, rep.pool)
		if err != nil {
			if rep.up.Swap(false) && ctx.Err() == nil {
				r.log.Warn("read replica unreachable; reads go to the primary", "replica", rep.name, "err", err)
			}
		} else {
			if !rep.up.Swap(true) {
				r.log.Info("read replica answers", "replica", rep.name)
			}
			rep.replayed.Store(replayed)
			kept := pending[:0]
			for _, s := range pending {
				if s.lsn <= replayed {
					if s.at > rep.fresh.Load() {
						rep.fresh.Store(s.at)
					}
					continue
				}
				kept = append(kept, s)
			}
			pending = kept
		}
		// Samples older than MaxLag can no longer make the replica fresh.
		for len(pending) > 0 && since()-pending[0].at > int64(r.maxLag) {
			pending = pending[1:]
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// serving reports whether rep may serve reads now.
func (r *Replicas) serving(rep *replica) bool {
	return rep.up.Load() && since()-rep.fresh.Load() <= int64(r.maxLag)
}

// pick returns a fresh replica, in turn, or nil for the primary.
func (r *Replicas) pick() *replica {
	if r == nil {
		return nil
	}
	n := r.next.Add(1)
	for i := range r.replicas {
		rep := r.replicas[(int(n)+i)%len(r.replicas)]
		if r.serving(rep) {
			rep.reads.Add(1)
			return rep
		}
	}
	r.primaryReads.Add(1)
	return nil
}

// failed is told that a read on rep failed without an answer from the
// server: rep serves nothing more until the follower reaches it again.
func (r *Replicas) failed(rep *replica, err error) bool {
	if rep == nil || !lostConnection(err) {
		return false
	}
	if rep.up.Swap(false) {
		r.log.Warn("a read replica failed a read; reads go elsewhere until it answers", "replica", rep.name, "err", err)
	}
	r.primaryReads.Add(1)
	return true
}

// lostConnection says whether err is the server's connection failing (it
// could not be reached, or went away), rather than an answer of the server
// (an SQL error), a scan's mistake or the caller giving up.
func lostConnection(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var connect *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connect) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// WaitReplayed returns once every replica has replayed the primary's
// current WAL position (which includes every commit before the call), or
// once MaxLag and a margin have passed since committed: then a replica that
// has not replayed it serves no process's reads (see Replicas).
func (r *Replicas) WaitReplayed(ctx context.Context, committed time.Time) error {
	if r == nil || len(r.replicas) == 0 {
		return nil
	}
	// The projectors commit with synchronous_commit off, and the primary
	// sends replicas only WAL that is on disk: without more, their commits
	// wait for the WAL writer (wal_writer_delay, 200 ms by default) before
	// a replica can even receive them. This update commits synchronously,
	// which writes out all the WAL before its commit record (migration
	// 0011); the position it returns, where the WAL ended before that
	// commit, the projectors' commits included, is then on disk. A position
	// read afterwards could hold others' asynchronous commits and wait for
	// the WAL writer again.
	var lsn uint64
	if err := r.primary.QueryRow(ctx, `UPDATE wal_flush SET n = n + 1 WHERE slot = $1 RETURNING (pg_current_wal_insert_lsn() - '0/0')::bigint`,
		rand.IntN(64)).Scan(&lsn); err != nil {
		return err
	}
	// After committed+MaxLag, a replica that has not replayed the write is
	// fresh to no process: every position a process saw it replay was
	// sampled before the commit, and so before committed. The margin only
	// absorbs the difference in rate between the clocks of processes on
	// other machines.
	deadline := committed.Add(r.maxLag + 10*time.Millisecond)
	waiting := append([]*replica(nil), r.replicas...)
	// A replica replays a commit within a millisecond or two of receiving
	// it: look again soon, then less often.
	wait := time.Millisecond
	for {
		kept := waiting[:0]
		for _, rep := range waiting {
			if rep.replayed.Load() >= lsn {
				continue
			}
			// Read it afresh: the follower's last reading may be older
			// than the commit. Not a replica the follower finds down: a
			// connection attempt could outlast the deadline.
			if rep.up.Load() {
				qctx, cancel := context.WithDeadline(ctx, deadline)
				replayed, err := replayLSN(qctx, rep.pool)
				cancel()
				if err == nil && replayed >= lsn {
					rep.replayed.Store(replayed)
					continue
				}
			}
			kept = append(kept, rep)
		}
		waiting = kept
		if len(waiting) == 0 || !time.Now().Before(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(wait, time.Until(deadline))):
		}
		wait = min(wait*2, r.poll/2+time.Millisecond)
	}
}

// ReplicaState is what the metrics show of a replica.
type ReplicaState struct {
	Name       string
	Up         bool
	Serving    bool
	LagSeconds float64
	// Reads counts the reads sent to it.
	Reads uint64
}

// PrimaryReads counts the reads sent to the primary because no replica
// was fresh.
func (r *Replicas) PrimaryReads() uint64 {
	if r == nil {
		return 0
	}
	return r.primaryReads.Load()
}

// States returns each replica's state.
func (r *Replicas) States() []ReplicaState {
	if r == nil {
		return nil
	}
	out := make([]ReplicaState, 0, len(r.replicas))
	for _, rep := range r.replicas {
		out = append(out, ReplicaState{Name: rep.name, Up: rep.up.Load(), Serving: r.serving(rep),
			LagSeconds: time.Duration(since() - rep.fresh.Load()).Seconds(), Reads: rep.reads.Load()})
	}
	return out
}

// Close stops following the replicas and closes their pools.
func (r *Replicas) Close() {
	if r == nil {
		return
	}
	if r.stop != nil {
		r.stop()
	}
	r.done.Wait()
	for _, rep := range r.replicas {
		rep.pool.Close()
	}
}

// currentLSN is where the primary's WAL ends, records not yet written out
// included: the projectors commit with synchronous_commit off, so their
// commit may not have been written when the write that waits for it asks,
// and pg_current_wal_lsn() (the write position) would be before it.
func currentLSN(ctx context.Context, pool *pgxpool.Pool) (uint64, error) {
	var lsn uint64
	err := pool.QueryRow(ctx, `SELECT (pg_current_wal_insert_lsn() - '0/0')::bigint`).Scan(&lsn)
	return lsn, err
}

// replayLSN is how far a replica has replayed; on a server that is not a
// replica it is an error.
func replayLSN(ctx context.Context, pool *pgxpool.Pool) (uint64, error) {
	var lsn *int64
	err := pool.QueryRow(ctx, `SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint`).Scan(&lsn)
	if err != nil {
		return 0, err
	}
	if lsn == nil {
		return 0, &pgconn.PgError{Code: "55000", Message: "not a replica: pg_last_wal_replay_lsn() is null"}
	}
	return uint64(*lsn), nil
}

// ReadPool is a pool for reads: each call goes to a fresh replica or the
// primary (Replicas.pick). A replica that fails a read without answering
// it (it went down since the follower last reached it) is taken out of
// service and the read is sent to the primary, when that is safe: a
// single row, or a query or batch that never reached the server.
type ReadPool struct{ r *Replicas }

// Reads returns r's ReadPool.
func (r *Replicas) Reads() ReadPool { return ReadPool{r: r} }

func (p ReadPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rep := p.r.pick()
	if rep == nil {
		return p.r.primary.Query(ctx, sql, args...)
	}
	rows, err := rep.pool.Query(ctx, sql, args...)
	if err != nil && p.r.failed(rep, err) {
		return p.r.primary.Query(ctx, sql, args...)
	}
	return rows, err
}

func (p ReadPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rep := p.r.pick()
	if rep == nil {
		return p.r.primary.QueryRow(ctx, sql, args...)
	}
	return retryRow{Row: rep.pool.QueryRow(ctx, sql, args...), retry: func(err error) pgx.Row {
		if !p.r.failed(rep, err) {
			return nil
		}
		return p.r.primary.QueryRow(ctx, sql, args...)
	}}
}

func (p ReadPool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	rep := p.r.pick()
	if rep == nil {
		return p.r.primary.SendBatch(ctx, b)
	}
	return retryBatch{BatchResults: rep.pool.SendBatch(ctx, b), retry: func(err error) pgx.BatchResults {
		// Only a batch that never reached the server: its callbacks have
		// not run, so it can run again.
		if !pgconn.SafeToRetry(err) || !p.r.failed(rep, err) {
			return nil
		}
		return p.r.primary.SendBatch(ctx, b)
	}}
}

// retryRow scans the row from the primary when the replica failed it.
type retryRow struct {
	pgx.Row
	retry func(error) pgx.Row
}

func (r retryRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if err != nil {
		if again := r.retry(err); again != nil {
			return again.Scan(dest...)
		}
	}
	return err
}

// retryBatch runs the batch on the primary when the replica could not be
// reached.
type retryBatch struct {
	pgx.BatchResults
	retry func(error) pgx.BatchResults
}

func (b retryBatch) Close() error {
	err := b.BatchResults.Close()
	if err != nil {
		if again := b.retry(err); again != nil {
			return again.Close()
		}
	}
	return err
}
