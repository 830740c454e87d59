-- What a job costs to write (bench/writes/README.md). Profiled under
-- POST /jobs and POST /jobs/{id}/apply:
--
-- * Each application adds one to its job's application_count. The jobs
--   table's pages were full, so the new row version went to another page
--   and every index of the table (both GIN indexes among them) got a new
--   entry: 0.28 ms a count, 0.93 ms in the projector under load. With a
--   fifth of each page kept free, the update stays on its page and touches
--   no index (a HOT update): 0.05-0.07 ms. Rows written before this keep
--   their full pages until the table is rewritten (jobboard replay
--   --projection jobs does, keeping these settings).
--
-- * The trigram index was built with fastupdate off (0004), so each new job
--   put its ~100 trigram entries into the index one by one: 0.92 ms of the
--   projector's time per job, the largest single cost of a POST /jobs. With
--   fastupdate on, entries wait in a pending list and are merged into the
--   index in bulk, 0.3 ms a job. 0004's concern was the pending list's size:
--   every filtered listing scans it, and at the default 4 MB the planner
--   stopped trusting the index. Capped at 256 kB (a few hundred jobs) it is
--   merged often and stays cheap to scan; the full-text index, which had
--   the 4 MB default, gets the same cap.
ALTER TABLE jobs SET (fillfactor = 80);
ALTER INDEX jobs_filters_trgm SET (fastupdate = on, gin_pending_list_limit = 256);
ALTER INDEX jobs_search SET (gin_pending_list_limit = 256);
