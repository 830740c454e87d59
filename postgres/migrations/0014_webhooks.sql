-- Webhooks: recruiters' endpoints that are told, by signed HTTP POSTs, what
-- happens to their jobs and applications (package webhooks).
--
-- A subscription is configuration, not a fact of the hiring business: it is
-- a plain row, created and deleted through the API, and never an event. Its
-- secret is kept as the text the recruiter was shown once: the signature is
-- keyed with that text.
CREATE TABLE webhook_subscriptions (
    id            uuid PRIMARY KEY,
    owner_id      uuid        NOT NULL,
    url           text        NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2000),
    events        text[]      NOT NULL CHECK (cardinality(events) > 0),
    secret        text        NOT NULL CHECK (secret ~ '^[0-9a-f]{64}$'),
    -- Where the log stood when it was made, as a checkpoint in the order
    -- the consumer group reads it, (tx_id, position): the log's head below
    -- its visibility horizon (eventstore.ReadHorizon). It is told about
    -- the events after that checkpoint, not about the history before it.
    -- A position alone would not do: an event whose transaction took its
    -- position earlier but committed after the subscription was made
    -- would come before it, and be skipped.
    from_tx_id    xid8        NOT NULL DEFAULT '0',
    from_position bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- A recruiter's subscriptions, newest first; and those an event may match.
CREATE INDEX webhook_subscriptions_owner ON webhook_subscriptions (owner_id, created_at DESC, id DESC);
-- One subscription per address and recruiter (Store.Create checks first,
-- and says so; this is the backstop). Keyed on a digest of the URL: a URL
-- of 2000 characters, some of them multi-byte, can outgrow a btree entry.
CREATE UNIQUE INDEX webhook_subscriptions_owner_url ON webhook_subscriptions (owner_id, md5(url));

-- One row per event and matching subscription, written by the webhooks
-- consumer group in its subscriber transaction (so a delivered event is
-- never lost, and never queued twice for one subscription). The body is
-- built then, once, and kept as bytes: every retry sends (and signs) the
-- very same bytes. Workers claim due rows with a lease, send outside any
-- transaction, and record each attempt. Deleting a subscription deletes
-- its deliveries and their attempts: nothing more is sent to it.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    subscription_id  uuid        NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id         uuid        NOT NULL,
    -- The webhook's name of the event (job.posted, …), not the log's type.
    event_type       text        NOT NULL,
    -- The event's place in the log, in the order the consumer group reads
    -- it: a subscription's deliveries are made in this order.
    event_tx_id      xid8        NOT NULL,
    event_position   bigint      NOT NULL,
    body             bytea       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    -- Attempts made (the one in flight included); retry_base is the count
    -- when it was last queued again by hand, which starts the retry
    -- schedule over.
    attempts         integer     NOT NULL DEFAULT 0,
    retry_base       integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- A worker that claimed the row owns it until then; one that died
    -- mid-send loses it, and the delivery is tried again, with its id.
    -- It is cleared by the outcome of the attempt it was taken for. A
    -- success reported by an earlier attempt (whose worker outlived its
    -- lease) leaves it in place: the row is delivered, but the attempt in
    -- flight still holds back the subscription's next delivery.
    lease_until      timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    CONSTRAINT webhook_deliveries_once UNIQUE (subscription_id, event_id)
);
-- A subscription's deliveries for the API, newest first.
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, created_at DESC, id DESC);
-- What a worker looks for: each subscription's head, the first of its rows
-- in the order of the events that is pending or still leased (see
-- lease_until), found with one probe per subscription (Queue.claim). Only
-- those rows are indexed, so a backlog of deliveries, pending or done,
-- costs the probe nothing.
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (subscription_id, event_tx_id, event_position)
    WHERE status = 'pending' OR lease_until IS NOT NULL;
-- The operator's list of failed deliveries (jobboard webhooks --status failed).
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, created_at DESC);

-- Every attempt, as it went: inserted when a worker claims the delivery,
-- completed when the worker learns the outcome. An attempt without an
-- outcome (duration_ms null) is one whose worker stopped mid-send.
CREATE TABLE webhook_attempts (
    delivery_id  uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text,
    duration_ms  integer,
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, attempt)
);
