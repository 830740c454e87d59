-- (A) the appender horizon H, as briefed: the lowest xid8 that a transaction
-- holding a write-mode lock on events may still commit events under, or the
-- snapshot's xmax when none does. Run it as its own statement; read events
-- with tx_id < H in a LATER statement (a newer snapshot).
WITH snap AS (
    SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS nxt
), l AS MATERIALIZED (
    SELECT locktype, mode, virtualtransaction, transactionid
    FROM pg_locks
    WHERE (locktype = 'relation'
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND relation = 'events'::regclass
           AND mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'))
       OR (locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted)
), holders AS (
    SELECT x.transactionid::text::bigint AS x
    FROM l r JOIN l x ON x.virtualtransaction = r.virtualtransaction AND x.locktype = 'transactionid'
    WHERE r.locktype = 'relation'
)
SELECT least(snap.nxt,
             min(snap.nxt + (((h.x - (snap.nxt & 4294967295)) + 6442450944) % 4294967296 - 2147483648)))::text::xid8 AS h
FROM snap LEFT JOIN holders h ON true
GROUP BY snap.nxt;
