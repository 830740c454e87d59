-- A narrow copy of the jobs that GET /jobs's substring filters (title,
-- location, company) read, so that no filter value makes a listing read
-- the wide jobs table (bench/search/README.md).
--
-- A filter of one or two letters (?company=y) has no trigram, so the
-- trigram index cannot narrow it down: every open job has to be looked at
-- to count the matches. In jobs that meant reading 112 MB (descriptions
-- and their tsvector) at 100,000 jobs, and ILIKE lowercasing every value
-- it looked at: 90-160 ms a listing. This table holds only what finding,
-- counting and ordering the matches needs, with the three texts also
-- lowercased once, when written, by lower() (the function ILIKE folds case
-- with, so that LIKE on them is ILIKE on the originals): 19 MB, and a
-- count over all of it takes 10-13 ms (ILIKE over the same rows without
-- the lowercased copies: 37 ms).
--
-- The projector writes it with jobs, in the same transaction
-- (projections.JobsProjector), and a replay rebuilds it with them.
CREATE TABLE job_search (
    id              uuid PRIMARY KEY,
    recruiter_id    uuid        NOT NULL,
    status          text        NOT NULL,
    created_at      timestamptz NOT NULL,
    title           text        NOT NULL,
    company         text        NOT NULL,
    location        text        NOT NULL,
    employment_type text        NOT NULL,
    remote          boolean     NOT NULL,
    title_lower     text GENERATED ALWAYS AS (lower(title)) STORED,
    company_lower   text GENERATED ALWAYS AS (lower(company)) STORED,
    location_lower  text GENERATED ALWAYS AS (lower(location)) STORED
);

-- An existing deployment's jobs, so that it needs no replay.
INSERT INTO job_search (id, recruiter_id, status, created_at, title, company, location, employment_type, remote)
SELECT id, recruiter_id, status, created_at, title, company, location, employment_type, remote FROM jobs;

-- The listing's order, for everyone and per recruiter. A page walks it
-- and stops after its last row, which is cheap when the filter matches
-- many jobs. When it matches few, the walk reads the whole index: it holds
-- what the filters read, so that the walk does not visit the table for
-- every entry (an index-only scan, 12 ms at 100,000 jobs with no match,
-- against 38 ms through the table's rows in the listing's order). It skips
-- the rows only on pages the visibility map has as all-visible, which
-- (auto)vacuum keeps so: the table changes only when a job does, never
-- when someone applies.
CREATE INDEX job_search_listing ON job_search (status, created_at DESC, id DESC)
    INCLUDE (title_lower, location_lower, company_lower, employment_type, remote);
CREATE INDEX job_search_recruiter ON job_search (recruiter_id, status, created_at DESC, id DESC);

-- The trigram index moves here from jobs (0004, 0008), over the lowercased
-- texts, with the same pending-list settings: a filter with a trigram
-- finds its matches here and rechecks them in this table's rows, not in
-- jobs'. One trigram index, not two, for a job write to keep up.
CREATE INDEX job_search_filters_trgm ON job_search
    USING gin (title_lower gin_trgm_ops, location_lower gin_trgm_ops, company_lower gin_trgm_ops)
    WITH (fastupdate = on, gin_pending_list_limit = 256);
DROP INDEX jobs_filters_trgm;

-- No parallel scans of this table: at this size a parallel plan is never
-- faster, and starting its workers cost 10-20 ms on the benchmark machine.
ALTER TABLE job_search SET (parallel_workers = 0);

ANALYZE job_search;
