-- pgbench script: only the value look-up that starts bench/jobs/list.sql,
-- to measure what that extra round trip costs the raw SQL figures.
--
--   pgbench -n -M prepared -c 16 -j 2 -T 20 -f bench/jobs/lookup.sql jobboard_bench
\set ti random(1, 12)
\set li random(1, 12)
SELECT 'open' AS status,
       (ARRAY['engineer', 'developer', 'senior', 'manager', 'data', 'python',
              'designer', 'analyst', 'nurse', 'react', 'sales', 'backend'])[:ti] AS title,
       (ARRAY['london', 'berlin', 'new york', 'san francisco', 'paris', 'amsterdam',
              'toronto', 'austin', 'munich', 'dublin', 'lisbon', 'tokyo'])[:li] AS location,
       21 AS lim \gset
