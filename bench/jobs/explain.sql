-- The plans of GET /jobs's statements over the benchmark database, as the
-- application gets them: the statement texts projections.listQueries
-- builds, prepared (pgx prepares every statement), each run five times with
-- other values first, so that PostgreSQL has made its choice between a plan
-- per value (custom) and one plan for all (generic) as it does on a pooled
-- connection. Recorded in bench/jobs/README.md.
--
--   psql -X -f bench/jobs/explain.sql jobboard_bench
\set ON_ERROR_STOP on
\pset pager off
\set cols 'id, recruiter_id, title, description, company, location, employment_type, remote,\nsalary_min, salary_max, salary_currency, status, created_at, updated_at, version, application_count'
\set jcols 'j.id, j.recruiter_id, j.title, j.description, j.company, j.location, j.employment_type, j.remote, j.salary_min, j.salary_max, j.salary_currency, j.status, j.created_at, j.updated_at, j.version, j.application_count, p.total'

-- With a text filter: one statement, the page with the count of all matches.
PREPARE tl(text, text, text, bigint) AS SELECT :jcols FROM (SELECT id, created_at, total FROM (SELECT id, created_at, count(*) OVER () AS total FROM jobs WHERE status = $1 AND title ILIKE '%' || $2 || '%' AND location ILIKE '%' || $3 || '%') m ORDER BY created_at DESC, id DESC LIMIT $4) p JOIN jobs j ON j.id = p.id ORDER BY p.created_at DESC, p.id DESC;
PREPARE tl_next(text, text, text, timestamptz, uuid, bigint) AS SELECT :jcols FROM (SELECT id, created_at, total FROM (SELECT id, created_at, count(*) OVER () AS total FROM jobs WHERE status = $1 AND title ILIKE '%' || $2 || '%' AND location ILIKE '%' || $3 || '%') m WHERE (created_at, id) < ($4, $5) ORDER BY created_at DESC, id DESC LIMIT $6) p JOIN jobs j ON j.id = p.id ORDER BY p.created_at DESC, p.id DESC;
PREPARE q(text, text, bigint) AS SELECT :jcols FROM (SELECT id, created_at, total FROM (SELECT id, created_at, count(*) OVER () AS total FROM jobs WHERE status = $1 AND search @@ websearch_to_tsquery('english', $2)) m ORDER BY created_at DESC, id DESC LIMIT $3) p JOIN jobs j ON j.id = p.id ORDER BY p.created_at DESC, p.id DESC;
PREPARE c(text, text, bigint) AS SELECT :jcols FROM (SELECT id, created_at, total FROM (SELECT id, created_at, count(*) OVER () AS total FROM jobs WHERE status = $1 AND company ILIKE '%' || $2 || '%') m ORDER BY created_at DESC, id DESC LIMIT $3) p JOIN jobs j ON j.id = p.id ORDER BY p.created_at DESC, p.id DESC;
-- Without one: the page and the count, two statements in one batch.
PREPARE all_page(text, bigint) AS SELECT :cols FROM jobs WHERE status = $1 ORDER BY created_at DESC, id DESC LIMIT $2;
PREPARE all_count(text) AS SELECT count(*) FROM jobs WHERE status = $1;
PREPARE all_next(text, timestamptz, uuid, bigint) AS SELECT :cols FROM jobs WHERE status = $1 AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $4;

-- Five runs of each with other values.
\o /dev/null
SELECT created_at AS c1, id AS i1 FROM jobs WHERE status = 'open' ORDER BY created_at DESC, id DESC OFFSET 200 LIMIT 1 \gset
EXECUTE tl('open', 'developer', 'london', 21); EXECUTE tl('open', 'nurse', 'paris', 21); EXECUTE tl('open', 'data', 'tokyo', 21); EXECUTE tl('open', 'senior', 'austin', 21); EXECUTE tl('open', 'python', 'dublin', 21);
EXECUTE tl_next('open', 'developer', 'london', :'c1', :'i1', 21); EXECUTE tl_next('open', 'nurse', 'paris', :'c1', :'i1', 21); EXECUTE tl_next('open', 'data', 'tokyo', :'c1', :'i1', 21); EXECUTE tl_next('open', 'senior', 'austin', :'c1', :'i1', 21); EXECUTE tl_next('open', 'python', 'dublin', :'c1', :'i1', 21);
EXECUTE q('open', 'golang', 21); EXECUTE q('open', 'senior engineer', 21); EXECUTE q('open', 'nurse', 21); EXECUTE q('open', 'kubernetes', 21); EXECUTE q('open', '"machine learning"', 21);
EXECUTE c('open', 'globex', 21); EXECUTE c('open', 'labs', 21); EXECUTE c('open', 'wonka foods', 21); EXECUTE c('open', 'stark', 21); EXECUTE c('open', 'bank', 21);
EXECUTE all_page('open', 21); EXECUTE all_page('open', 21); EXECUTE all_page('open', 21); EXECUTE all_page('open', 21); EXECUTE all_page('open', 21);
EXECUTE all_count('open'); EXECUTE all_count('open'); EXECUTE all_count('open'); EXECUTE all_count('open'); EXECUTE all_count('open');
EXECUTE all_next('open', :'c1', :'i1', 21); EXECUTE all_next('open', :'c1', :'i1', 21); EXECUTE all_next('open', :'c1', :'i1', 21); EXECUTE all_next('open', :'c1', :'i1', 21); EXECUTE all_next('open', :'c1', :'i1', 21);
-- The cursors of second pages: the 20th job of the first.
SELECT created_at AS cursor_t, id AS cursor_i FROM jobs WHERE status = 'open' ORDER BY created_at DESC, id DESC OFFSET 19 LIMIT 1 \gset
SELECT created_at AS tl_cursor_t, id AS tl_cursor_i FROM jobs WHERE status = 'open' AND title ILIKE '%engineer%' AND location ILIKE '%berlin%' ORDER BY created_at DESC, id DESC OFFSET 19 LIMIT 1 \gset
\o

\echo '### 1. title=engineer&location=berlin (page and count)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE tl('open', 'engineer', 'berlin', 21);
\echo '### 1b. title=engineer&location=berlin, second page (keyset cursor)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE tl_next('open', 'engineer', 'berlin', :'tl_cursor_t', :'tl_cursor_i', 21);
\echo '### 1c. title=engineer&location=london (the most matches of the 144 combinations)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE tl('open', 'engineer', 'london', 21);
\echo '### 1d. title=nurse&location=lisbon (few matches)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE tl('open', 'nurse', 'lisbon', 21);
\echo '### 2. q=python developer (page and count)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE q('open', 'python developer', 21);
\echo '### 3. company=acme (page and count)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE c('open', 'acme', 21);
\echo '### 4. no filter, first page: page'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE all_page('open', 21);
\echo '### 4b. no filter: count (the same on every page)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE all_count('open');
\echo '### 5. no filter, second page (keyset cursor): page'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE all_next('open', :'cursor_t', :'cursor_i', 21);
