-- One trigram index over title, location and company instead of one per
-- column (0002), found with the GET /jobs benchmark (bench/jobs/README.md).
--
-- With one index per column, GET /jobs?title=engineer&location=berlin
-- built two bitmaps and ANDed them: the title bitmap alone held every job
-- whose title contains "engineer" (18,813 of 100,000, 6.5 ms to build),
-- only to be thrown away by the AND, which kept 910. A GIN index over
-- several columns answers both conditions in one scan that skips through
-- the posting lists of all their trigrams together, so its cost follows
-- the jobs that match both (1.8 ms here). A single-column filter uses the
-- same index as before: GIN keys are per column, no column has to come
-- first.
--
-- fastupdate is off: with it on, new entries wait in a pending list (up to
-- gin_pending_list_limit, 4 MB) that every filtered listing scans in full
-- until a vacuum merges it, and that the planner counts against the index
-- (with 20,000 pending rows it chose to read the whole table instead). Jobs
-- are written rarely and listed constantly, so the small cost moves to the
-- write.
CREATE INDEX jobs_filters_trgm ON jobs
    USING gin (title gin_trgm_ops, location gin_trgm_ops, company gin_trgm_ops)
    WITH (fastupdate = off);
DROP INDEX jobs_title_trgm;
DROP INDEX jobs_location_trgm;
DROP INDEX jobs_company_trgm;
