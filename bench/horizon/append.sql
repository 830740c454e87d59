-- One single-event append per transaction (autocommit), as the appenders of the benchmarks.
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, occurred_at)
VALUES (gen_random_uuid(), 'bench', gen_random_uuid(), 1, 'BenchAppended', 1, '{"n": 1}', now());
