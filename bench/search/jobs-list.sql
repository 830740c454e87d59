-- pgbench script for bench/jobs/run.sh (LIST_SQL=bench/search/jobs-list.sql):
-- bench/jobs/list.sql's listing, GET /jobs?title=…&location=…, as
-- projections.JobsView.List sends it since migration 0010 (the statements
-- of bench/search/sql/after/normal.sql): the same random title word and
-- city, looked up the same way, then the batch in one pipeline.
\set ti random(1, 12)
\set li random(1, 12)
SELECT 'open' AS status,
       (ARRAY['engineer', 'developer', 'senior', 'manager', 'data', 'python',
              'designer', 'analyst', 'nurse', 'react', 'sales', 'backend'])[:ti] AS title,
       (ARRAY['london', 'berlin', 'new york', 'san francisco', 'paris', 'amsterdam',
              'toronto', 'austin', 'munich', 'dublin', 'lisbon', 'tokyo'])[:li] AS location,
       21 AS lim \gset
\startpipeline
SELECT set_config('plan_cache_mode', 'force_custom_plan', true);
WITH m AS MATERIALIZED (SELECT id, created_at FROM job_search WHERE status = :status AND title_lower LIKE '%' || lower(:title) || '%' AND location_lower LIKE '%' || lower(:location) || '%' LIMIT 2000), p AS MATERIALIZED ((SELECT id FROM m WHERE (SELECT count(*) FROM m) < 2000 ORDER BY created_at DESC, id DESC LIMIT :lim) UNION ALL (SELECT id FROM job_search WHERE status = :status AND title_lower LIKE '%' || lower(:title) || '%' AND location_lower LIKE '%' || lower(:location) || '%' AND NOT (SELECT count(*) FROM m) < 2000 ORDER BY created_at DESC, id DESC LIMIT :lim)) SELECT id, recruiter_id, title, description, company, location, employment_type, remote, salary_min, salary_max, salary_currency, status, created_at, updated_at, version, application_count, CASE WHEN (SELECT count(*) FROM m) < 2000 THEN (SELECT count(*) FROM m) ELSE (SELECT count(*) FROM job_search WHERE status = :status AND title_lower LIKE '%' || lower(:title) || '%' AND location_lower LIKE '%' || lower(:location) || '%') END FROM jobs WHERE id = ANY (ARRAY(SELECT id FROM p)) ORDER BY created_at DESC, id DESC;
\endpipeline
