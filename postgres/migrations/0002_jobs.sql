CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Read model: one row per live job (deleted jobs leave it), with what the
-- listing and its filters need.
CREATE TABLE jobs (
    id                uuid PRIMARY KEY,
    recruiter_id      uuid        NOT NULL,
    title             text        NOT NULL,
    description       text        NOT NULL,
    company           text        NOT NULL,
    location          text        NOT NULL,
    employment_type   text        NOT NULL,
    remote            boolean     NOT NULL,
    salary_min        bigint,
    salary_max        bigint,
    salary_currency   text,
    status            text        NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    version           bigint      NOT NULL,
    application_count integer     NOT NULL DEFAULT 0,
    search            tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') ||
        setweight(to_tsvector('english', company), 'B') ||
        setweight(to_tsvector('english', description), 'C')) STORED
);

-- Case-insensitive substring filters (ILIKE '%…%') use trigram indexes.
CREATE INDEX jobs_title_trgm    ON jobs USING gin (title gin_trgm_ops);
CREATE INDEX jobs_location_trgm ON jobs USING gin (location gin_trgm_ops);
CREATE INDEX jobs_company_trgm  ON jobs USING gin (company gin_trgm_ops);
-- Full-text search (q).
CREATE INDEX jobs_search ON jobs USING gin (search);
-- Listing order and keyset pagination, for everyone and per recruiter.
CREATE INDEX jobs_listing   ON jobs (status, created_at DESC, id DESC);
CREATE INDEX jobs_recruiter ON jobs (recruiter_id, status, created_at DESC, id DESC);
