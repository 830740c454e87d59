-- The event log. position is the global order of insertion; tx_id is the
-- inserting transaction, and (tx_id, position) is the order readers see.
CREATE TABLE events (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id       uuid        NOT NULL UNIQUE,
    stream_type    text        NOT NULL,
    stream_id      uuid        NOT NULL,
    stream_version bigint      NOT NULL CHECK (stream_version > 0),
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL CHECK (schema_version > 0),
    data           jsonb       NOT NULL,
    actor_id       uuid,
    correlation_id text        NOT NULL DEFAULT '',
    causation_id   text        NOT NULL DEFAULT '',
    request_id     text        NOT NULL DEFAULT '',
    occurred_at    timestamptz NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_log_order ON events (tx_id, position);
CREATE INDEX events_actor ON events (actor_id, occurred_at) WHERE actor_id IS NOT NULL;
CREATE INDEX events_type ON events (event_type, occurred_at);

-- The log is append-only: history is corrected by new events, never edited.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- Watermill's topic and offsets tables for the "events" topic, exactly as
-- watermill-sql's DefaultPostgreSQLSchema and DefaultPostgreSQLOffsetsAdapter
-- define them. They are created here because watermill refuses to create
-- them inside the append transaction.
CREATE TABLE watermill_events (
    "offset"         bigserial,
    "uuid"           varchar(36) NOT NULL,
    "created_at"     timestamp   NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload"        json DEFAULT NULL,
    "metadata"       json DEFAULT NULL,
    "transaction_id" xid8        NOT NULL,
    PRIMARY KEY ("transaction_id", "offset")
);
CREATE TABLE watermill_offsets_events (
    consumer_group                varchar(255) NOT NULL,
    offset_acked                  bigint,
    last_processed_transaction_id xid8 NOT NULL,
    PRIMARY KEY (consumer_group)
);

-- Credentials are not events: they are written in the same transaction as
-- UserRegistered, and the unique email here is what makes a second
-- registration with the same address fail, however concurrent.
CREATE TABLE credentials (
    user_id       uuid PRIMARY KEY,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credentials_email_key UNIQUE (email)
);

-- How far each projection has got, written in the same transaction as the
-- rows it projects.
CREATE TABLE projection_checkpoints (
    name       text PRIMARY KEY,
    tx_id      xid8        NOT NULL DEFAULT '0',
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Read model: accounts.
CREATE TABLE users (
    id         uuid PRIMARY KEY,
    email      text        NOT NULL,
    name       text        NOT NULL,
    role       text        NOT NULL,
    company    text,
    created_at timestamptz NOT NULL,
    version    bigint      NOT NULL
);
