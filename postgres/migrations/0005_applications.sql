-- One application per job seeker per job. A row is written in the same
-- transaction as ApplicationSubmitted; the primary key is what turns
-- concurrent applications by one account to one job into one success and
-- conflicts, however many race (a second insert waits for the first
-- transaction and then fails, or goes through if the first rolled back).
CREATE TABLE application_claims (
    job_id         uuid        NOT NULL,
    applicant_id   uuid        NOT NULL,
    application_id uuid        NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT application_claims_pkey PRIMARY KEY (job_id, applicant_id)
);

-- Resume bytes are not events: they are written here, in the same
-- transaction as the ApplicationSubmitted that describes them, so that no
-- file exists without its application nor an application without its file.
-- One resume per application, keyed by the application's id. Kept when a
-- job is deleted, for audit, like the events.
CREATE TABLE resume_blobs (
    application_id uuid PRIMARY KEY,
    sha256         text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size           bigint      NOT NULL CHECK (size = octet_length(content)),
    content        bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- The bytes are already compressed (PDF, DOCX, ODT) or small: do not spend
-- CPU compressing them again.
ALTER TABLE resume_blobs ALTER COLUMN content SET STORAGE EXTERNAL;

-- Read model: one row per application, kept by the jobs projection (in the
-- same consumer group as the jobs table, so that the job's title, company,
-- owner and existence, which applications are shown with, are always in
-- step with them). An application of a deleted job stays here but is no
-- longer shown: queries join the live jobs.
CREATE TABLE applications (
    id                  uuid PRIMARY KEY,
    job_id              uuid        NOT NULL,
    applicant_id        uuid        NOT NULL,
    recruiter_id        uuid        NOT NULL,
    name                text        NOT NULL,
    email               text        NOT NULL,
    cover_letter        text,
    status              text        NOT NULL,
    resume_filename     text,
    resume_content_type text,
    resume_size         bigint,
    resume_sha256       text,
    created_at          timestamptz NOT NULL,
    version             bigint      NOT NULL
);
-- A job's applications and an applicant's, newest first, with keyset
-- pagination.
CREATE INDEX applications_job       ON applications (job_id, created_at DESC, id DESC);
CREATE INDEX applications_applicant ON applications (applicant_id, created_at DESC, id DESC);
