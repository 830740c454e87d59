-- The email queue: one row per application whose recruiter is to be told.
-- The mailer's Watermill handler inserts it (in its subscriber transaction,
-- so a delivered ApplicationSubmitted is never lost and, the key being the
-- application id, never queued twice); workers claim due rows one at a
-- time with a lease, send outside any transaction, and record the outcome.
CREATE TABLE email_deliveries (
    application_id  uuid PRIMARY KEY,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A worker that claimed the row owns it until then; a worker that died
    -- mid-send loses it, and the mail is tried again (with the same
    -- Message-ID).
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);

-- What workers look for: pending rows by due time.
CREATE INDEX email_deliveries_due ON email_deliveries (next_attempt_at) WHERE status = 'pending';
