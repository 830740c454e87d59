-- The email queue holds one row per mail, not per application: an
-- application now causes several mails (the recruiter's and the
-- applicant's on submission, one to the applicant per move that tells
-- them, one to the recruiter on a withdrawal), and several quick moves
-- send one mail each. A mail is keyed by the event that caused it and the
-- kind of mail (which names its recipient: see mailer.Kind), so that an
-- event delivered twice still queues each of its mails once.
--
-- The rows already here are all the recruiter's mail about a new
-- application. They keep the application's id as their own, and that mail
-- goes on being keyed so: its Message-ID is derived from the delivery's id,
-- and a mail sent again after a crash must carry the Message-ID it carried
-- before.
ALTER TABLE email_deliveries
    ADD COLUMN id             uuid,
    ADD COLUMN kind           text,
    -- The event the mail is about and its place in the log.
    ADD COLUMN event_id       uuid,
    ADD COLUMN event_position bigint;

UPDATE email_deliveries SET id = application_id, kind = 'new_application';
UPDATE email_deliveries d SET event_id = e.event_id, event_position = e.position
FROM events e
WHERE e.stream_id = d.application_id AND e.event_type = 'ApplicationSubmitted';

ALTER TABLE email_deliveries
    DROP CONSTRAINT email_deliveries_pkey,
    ALTER COLUMN id SET NOT NULL,
    ALTER COLUMN kind SET NOT NULL,
    ADD CONSTRAINT email_deliveries_pkey PRIMARY KEY (id),
    ADD CONSTRAINT email_deliveries_kind CHECK (kind IN (
        'new_application',       -- to the job's recruiter, on ApplicationSubmitted
        'application_received',  -- to the applicant, on ApplicationSubmitted
        'status_changed',        -- to the applicant, on an ApplicationStatusChanged that tells them
        'application_withdrawn'  -- to the job's recruiter, on ApplicationWithdrawn
    )),
    -- Every mail names its event, except a recruiter's mail about a new
    -- application queued before this migration whose event could not be
    -- found: that mail needs none, an application having one submission.
    ADD CONSTRAINT email_deliveries_event CHECK (event_id IS NOT NULL OR kind = 'new_application');

-- One mail of each kind per event, however often the event is delivered.
CREATE UNIQUE INDEX email_deliveries_event_kind ON email_deliveries (event_id, kind);
-- An application's mails (an operator's question; an erasure's).
CREATE INDEX email_deliveries_application ON email_deliveries (application_id);
