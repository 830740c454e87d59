-- bench/jobs/seed.sql writes its jobs straight into the jobs table, after
-- the migrations: a database migrated to 0010 or later needs the same jobs
-- in job_search too, as migration 0010 copies them for an existing
-- deployment. A database migrated before 0010 has no job_search and is
-- left alone (the code before the change reads jobs only).
SELECT to_regclass('job_search') IS NOT NULL AS has_job_search \gset
\if :has_job_search
INSERT INTO job_search (id, recruiter_id, status, created_at, title, company, location, employment_type, remote)
SELECT id, recruiter_id, status, created_at, title, company, location, employment_type, remote FROM jobs
ON CONFLICT (id) DO NOTHING;
VACUUM (ANALYZE) job_search;
CHECKPOINT;
SELECT count(*) AS job_search_rows, pg_size_pretty(pg_total_relation_size('job_search')) AS size FROM job_search;
\endif
