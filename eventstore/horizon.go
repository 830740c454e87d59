package eventstore

import (
	"context"
	"fmt"
)

// The visibility horizon.
//
// Transactions take their ids in one order and commit in another, so a
// reader that has passed an event in (tx_id, position) order may later see
// an event with a smaller tx_id commit behind it. A reader that follows the
// log must therefore stop below every transaction that may still append to
// it: the horizon.
//
// PostgreSQL's pg_snapshot_xmin is one such bound, but it is the oldest
// transaction of the whole server: any transaction holding an id, in any
// database (a batch job, a CREATE INDEX, a CREATE DATABASE, a subscriber's
// own transaction), held every reader back for as long as it ran. The
// horizon here depends only on the transactions that write to the log:
//
//   - A transaction that writes to the events table holds a write lock on
//     it from before its transaction id is assigned (the lock is taken when
//     its first INSERT is planned, the id when its first row is stored)
//     until after its commit is visible to new snapshots (PostgreSQL marks
//     a transaction finished before it releases its locks).
//   - Horizon reads, in one statement, the next transaction id as of its
//     snapshot (pg_snapshot_xmax: every id assigned after that statement
//     began is at least this) and then the lock table: the smallest id
//     among the transactions holding a write lock on events. The horizon is
//     the lesser of the two.
//   - One gap: PostgreSQL gives a transaction its id (and shows it running
//     in every new snapshot) a moment before it records the lock on that
//     id, so the lock table can show a holder of the events lock with no id
//     although it has one below the next id. Whenever a holder shows no id,
//     the horizon also stays at the oldest id the statement's snapshot saw
//     running that the lock table does not show (the holder's, or one that
//     ended in between). A holder that really has no id yet gets one later,
//     at or above the next id. (Found by the stress test of
//     bench/horizon/: without this, 16 writers lost about one event in
//     30,000.)
//
// Every transaction whose id is below the horizon has then ended, and its
// commit is visible to any snapshot taken after Horizon returned: it got
// its id before the statement began, so it either held the lock when the
// lock table was read (and its id bounds the horizon) or had already
// released it, after its commit became visible. A transaction that takes
// the lock later gets an id at or above the horizon. So a read in a later
// statement (in READ COMMITTED, or a transaction whose snapshot is taken
// later) of the events with tx_id below the horizon sees all of them that
// will ever exist, and a reader that resumes after its checkpoint skips
// nothing.
//
// The one rule for writers: a transaction that writes to events must not
// take a transaction id before its first write to events. Append's first
// statement is its insert into events; any other writer (a migration, a
// repair) must LOCK TABLE events IN ROW EXCLUSIVE MODE before it writes
// anything else.
//
// A horizon stays valid forever (later ones are never smaller), so one
// computed for one reader may serve others, as long as they read after it
// was computed.
const horizonCTE = `
locks AS MATERIALIZED (
    SELECT locktype, virtualtransaction, transactionid::text::bigint AS xid32
    FROM pg_locks
    WHERE granted AND (
        (locktype = 'relation'
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND relation = 'events'::regclass
         AND mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'))
        OR (locktype = 'transactionid' AND mode = 'ExclusiveLock'))
), next AS (
    SELECT pg_current_snapshot() AS snapshot, pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xid
), ids AS (
    -- The lock table shows 32-bit ids (see widenSQL).
    SELECT l.virtualtransaction, ` + widenSQL + ` AS xid
    FROM locks l (locktype, virtualtransaction, xid), next
    WHERE l.locktype = 'transactionid'
), appenders AS (
    SELECT w.virtualtransaction, min(i.xid) AS xid
    FROM locks w LEFT JOIN ids i USING (virtualtransaction)
    WHERE w.locktype = 'relation'
    GROUP BY w.virtualtransaction
), horizon AS (
    SELECT least(next.xid,
                 (SELECT min(xid) FROM appenders),
                 CASE WHEN EXISTS (SELECT FROM appenders WHERE xid IS NULL) THEN (
                     SELECT min(running::text::bigint) FROM pg_snapshot_xip(next.snapshot) AS running
                     WHERE running::text::bigint NOT IN (SELECT xid FROM ids))
                 END) AS xid
    FROM next
)`

// widenSQL widens a.xid, a 32-bit transaction id of a running transaction,
// to 64 bits, next to next.xid: the nearest 64-bit id with those low 32
// bits, which may be in the epoch before next's (a transaction that began
// just before the 32-bit counter wrapped) or after it.
const widenSQL = `next.xid + ((l.xid - (next.xid & 4294967295) + 6442450944) % 4294967296 - 2147483648)`

// horizonSQL reads the horizon, and the newest event below it that the
// statement's snapshot sees: a reader that has not reached that event has
// something to read. (An append that ended between the snapshot and the
// reading of the lock table is below the horizon but not in that head: a
// later look finds it. Its end is announced, see OnAppended.)
const horizonSQL = `WITH` + horizonCTE + `
SELECT horizon.xid, coalesce(head.tx_id, '0'), coalesce(head.position, 0)
FROM horizon LEFT JOIN LATERAL (
    SELECT tx_id, position FROM events WHERE tx_id < horizon.xid::text::xid8
    ORDER BY tx_id DESC, position DESC LIMIT 1
) head ON true`

// Horizon returns the log's visibility horizon (see above): every event
// with a tx_id below it that will ever be committed is committed now. It
// must run as a statement of its own, before the statement that reads
// below it; q may be a pool, a connection or a READ COMMITTED transaction.
func Horizon(ctx context.Context, q Querier) (uint64, error) {
	r, err := ReadHorizon(ctx, q)
	return r.Horizon, err
}

// HorizonReading is what ReadHorizon found.
type HorizonReading struct {
	// Horizon is the horizon.
	Horizon uint64
	// Head is the checkpoint of the newest event below the horizon that
	// was committed when the horizon was read (the zero Checkpoint for
	// none).
	Head Checkpoint
}

// ReadHorizon reads the horizon and the head below it, in one statement.
func ReadHorizon(ctx context.Context, q Querier) (HorizonReading, error) {
	rows, err := q.Query(ctx, horizonSQL)
	if err != nil {
		return HorizonReading{}, fmt.Errorf("read the log's horizon: %w", err)
	}
	defer rows.Close()
	var r HorizonReading
	if rows.Next() {
		r, err = ScanHorizon(rows)
	}
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return HorizonReading{}, fmt.Errorf("read the log's horizon: %w", err)
	}
	return r, nil
}

// HorizonSQL is ReadHorizon's statement, for a reader that sends it with
// others (after its own COMMIT, say); ScanHorizon reads its row.
const HorizonSQL = horizonSQL

// ScanHorizon reads the row of HorizonSQL.
func ScanHorizon(row interface{ Scan(...any) error }) (HorizonReading, error) {
	var h int64
	var r HorizonReading
	if err := row.Scan(&h, &r.Head.TxID, &r.Head.Position); err != nil {
		return HorizonReading{}, err
	}
	r.Horizon = uint64(h)
	return r, nil
}
