-- The hiring pipeline: an application moves between statuses, and its
-- job's owner sees how many are at each.

-- When the application last changed, and the recruiter's reason when they
-- rejected it (shown to them only). Rows written before the pipeline had
-- only ever been submitted.
ALTER TABLE applications
    ADD COLUMN updated_at       timestamptz,
    ADD COLUMN rejection_reason text;
UPDATE applications SET updated_at = created_at;
ALTER TABLE applications ALTER COLUMN updated_at SET NOT NULL;

-- A job's applications filtered by status, newest first.
CREATE INDEX applications_job_status ON applications (job_id, status, created_at DESC, id DESC);

-- Per-status counts beside application_count, kept by the same projector
-- in the same change as the application's row. Every application before
-- this migration was submitted.
ALTER TABLE jobs
    ADD COLUMN applications_submitted bigint NOT NULL DEFAULT 0,
    ADD COLUMN applications_screening bigint NOT NULL DEFAULT 0,
    ADD COLUMN applications_interview bigint NOT NULL DEFAULT 0,
    ADD COLUMN applications_offer     bigint NOT NULL DEFAULT 0,
    ADD COLUMN applications_hired     bigint NOT NULL DEFAULT 0,
    ADD COLUMN applications_rejected  bigint NOT NULL DEFAULT 0,
    ADD COLUMN applications_withdrawn bigint NOT NULL DEFAULT 0,
    -- A deleted job keeps its row, marked, so that its applications stay
    -- readable by their two parties and movable (hiring goes on after a
    -- posting is withdrawn); every query of jobs skips it. Jobs deleted
    -- before this migration lost their rows: a replay brings them back.
    ADD COLUMN deleted_at timestamptz;
UPDATE jobs SET applications_submitted = application_count;
