-- Today's horizon, for comparison.
SELECT pg_snapshot_xmin(pg_current_snapshot());
