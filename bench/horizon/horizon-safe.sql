-- (A') the appender horizon, hardened against one race of horizon.sql: a
-- transaction gets its xid (GetNewTransactionId, visible in snapshots at once)
-- a moment BEFORE it inserts the lock on that xid (XactLockTableInsert), so a
-- holder of the events lock can be seen with no 'transactionid' row although
-- its xid is already below the snapshot's xmax. For such a holder the xid is
-- unknown but, if it predates the snapshot, it is one of the snapshot's running
-- xids that had no 'transactionid' row in the scan; the horizon then stays at
-- the oldest of those (usually only that holder's own xid, or xids that ended
-- between the snapshot and the scan).
WITH snap AS MATERIALIZED (
    SELECT pg_current_snapshot() AS s,
           pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS nxt
), l AS MATERIALIZED (
    SELECT locktype, mode, virtualtransaction, transactionid
    FROM pg_locks
    WHERE (locktype = 'relation'
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND relation = 'events'::regclass
           AND mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'))
       OR (locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted)
), xids AS (
    SELECT virtualtransaction,
           (SELECT nxt FROM snap) + ((((transactionid::text::bigint) - ((SELECT nxt FROM snap) & 4294967295))
                                     + 6442450944) % 4294967296 - 2147483648) AS x
    FROM l WHERE locktype = 'transactionid'
), holders AS (
    SELECT r.virtualtransaction, min(x.x) AS x
    FROM l r LEFT JOIN xids x USING (virtualtransaction)
    WHERE r.locktype = 'relation'
    GROUP BY r.virtualtransaction
)
SELECT least((SELECT nxt FROM snap),
             (SELECT min(x) FROM holders),
             CASE WHEN EXISTS (SELECT FROM holders WHERE x IS NULL) THEN
                 (SELECT min(r::text::bigint) FROM snap, pg_snapshot_xip(snap.s) AS r
                  WHERE r::text::bigint NOT IN (SELECT x FROM xids))
             END)::text::xid8 AS h;
