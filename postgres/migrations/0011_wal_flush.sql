-- Rows a write touches, when reads go to streaming replicas, to have its
-- projections' commits written out at once (postgres.Replicas.WaitReplayed).
-- The projectors commit with synchronous_commit off, and a primary sends
-- replicas only WAL that is on disk: without a synchronous commit that
-- wrote WAL, a write would wait for the WAL writer (wal_writer_delay, 200 ms
-- by default) before a replica could even receive what it waits for. A
-- transaction that writes nothing commits asynchronously too, hence an
-- UPDATE. 64 rows, one picked at random, so that concurrent writes seldom
-- wait for each other's row lock.
CREATE TABLE wal_flush (
    slot  smallint PRIMARY KEY,
    n     bigint NOT NULL DEFAULT 0
);
INSERT INTO wal_flush (slot) SELECT generate_series(0, 63);
