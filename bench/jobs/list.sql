-- pgbench script: the statement GET /jobs?title=…&location=… sends, as
-- projections.JobsView.List builds it (text, parameters and their order),
-- sent the same way: prepared (-M prepared; pgx caches prepared
-- statements). With a text filter the page and the count are one statement
-- (count(*) OVER (); see listQueries); bench/jobs/list-two.sql is the
-- earlier page + count pair, pipelined as pgx sent it.
--
--   pgbench -n -M prepared -c 16 -j 2 -T 20 -f bench/jobs/list.sql jobboard_bench
--
-- The title word and the city are picked at random from the lists the load
-- tool (bench/jobs/load) rotates through. pgbench variables can only be
-- numbers, so the strings are looked up by a first, table-less statement:
-- one extra round trip per transaction that the HTTP path does not have,
-- measured on its own (bench/jobs/lookup.sql) in bench/jobs/README.md.
\set ti random(1, 12)
\set li random(1, 12)
SELECT 'open' AS status,
       (ARRAY['engineer', 'developer', 'senior', 'manager', 'data', 'python',
              'designer', 'analyst', 'nurse', 'react', 'sales', 'backend'])[:ti] AS title,
       (ARRAY['london', 'berlin', 'new york', 'san francisco', 'paris', 'amsterdam',
              'toronto', 'austin', 'munich', 'dublin', 'lisbon', 'tokyo'])[:li] AS location,
       21 AS lim \gset
SELECT j.id, j.recruiter_id, j.title, j.description, j.company, j.location, j.employment_type, j.remote, j.salary_min, j.salary_max, j.salary_currency, j.status, j.created_at, j.updated_at, j.version, j.application_count, p.total FROM (SELECT id, created_at, total FROM (SELECT id, created_at, count(*) OVER () AS total FROM jobs WHERE status = :status AND title ILIKE '%' || :title || '%' AND location ILIKE '%' || :location || '%') m ORDER BY created_at DESC, id DESC LIMIT :lim) p JOIN jobs j ON j.id = p.id ORDER BY p.created_at DESC, p.id DESC;
