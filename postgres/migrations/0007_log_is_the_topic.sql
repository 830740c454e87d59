-- Delivery reads the event log itself. Until now every append also copied
-- its events into watermill_events (watermill-sql's topic table), and each
-- consumer group kept its place there, in a numbering of its own; the
-- projections kept theirs a second time in projection_checkpoints. Now the
-- events table is the topic: the subscribers read it through a schema
-- adapter of their own, and one row per consumer group (a projection, the
-- mailer) says how far it has got, in the log's own order. That row is what
-- a subscriber locks while it delivers a batch, what it moves when the
-- batch is acknowledged, what a replay sets when it switches, and what a
-- write waits for to read its own write.
ALTER TABLE projection_checkpoints RENAME TO checkpoints;
ALTER TABLE checkpoints RENAME CONSTRAINT projection_checkpoints_pkey TO checkpoints_pkey;

-- The mailer's place, translated from watermill's numbering to the log's:
-- the message it last acknowledged is the event with the same id. A mailer
-- that never acknowledged anything starts from the beginning, which queues
-- nothing twice (the queue is keyed by application).
INSERT INTO checkpoints (name, tx_id, position)
SELECT 'mailer', e.tx_id, e.position
FROM watermill_offsets_events o
JOIN watermill_events w ON w.transaction_id = o.last_processed_transaction_id AND w."offset" = o.offset_acked
JOIN events e ON e.event_id = w.uuid::uuid
WHERE o.consumer_group = 'mailer'
ON CONFLICT (name) DO NOTHING;

DROP TABLE watermill_events, watermill_offsets_events;

-- An append names the version it expects the stream to be at. The unique
-- (stream_id, stream_version) turns a lost race into a conflict; this check,
-- called by the append's first insert, also refuses an expected version
-- beyond the stream's end, which would otherwise leave a gap. It fails the
-- way a lost race does, so that callers see one kind of conflict.
CREATE FUNCTION events_expect_version(stream uuid, expected bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    current bigint;
BEGIN
    SELECT coalesce(max(stream_version), 0) INTO current FROM events WHERE stream_id = stream;
    IF current <> expected THEN
        RAISE EXCEPTION 'stream % is at version %, not %', stream, current, expected
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'events_stream_version_key';
    END IF;
    RETURN true;
END $$;
