-- pgbench script: GET /jobs?title=…&location=… as List sent it before the
-- benchmark, for comparison (bench/jobs/README.md): the page and the count
-- as two prepared statements, pipelined in one round trip as pgx sends a
-- batch. Values as in list.sql (\gset cannot be used inside a pipeline, so
-- the look-up comes before it).
--
--   pgbench -n -M prepared -c 16 -j 2 -T 20 -f bench/jobs/list-two.sql jobboard_bench
\set ti random(1, 12)
\set li random(1, 12)
SELECT 'open' AS status,
       (ARRAY['engineer', 'developer', 'senior', 'manager', 'data', 'python',
              'designer', 'analyst', 'nurse', 'react', 'sales', 'backend'])[:ti] AS title,
       (ARRAY['london', 'berlin', 'new york', 'san francisco', 'paris', 'amsterdam',
              'toronto', 'austin', 'munich', 'dublin', 'lisbon', 'tokyo'])[:li] AS location,
       21 AS lim \gset
\startpipeline
SELECT id, recruiter_id, title, description, company, location, employment_type, remote,
salary_min, salary_max, salary_currency, status, created_at, updated_at, version, application_count FROM jobs WHERE status = :status AND title ILIKE '%' || :title || '%' AND location ILIKE '%' || :location || '%' ORDER BY created_at DESC, id DESC LIMIT :lim;
SELECT count(*) FROM jobs WHERE status = :status AND title ILIKE '%' || :title || '%' AND location ILIKE '%' || :location || '%';
\endpipeline
