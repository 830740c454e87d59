-- Fills the jobs read model of a benchmark database with :n (default
-- 100000) realistic jobs, straight into the projected table. For a read
-- benchmark this is what matters: GET /jobs reads only `jobs`, and the
-- projector writes exactly these columns (the tsvector is a generated
-- column, computed here as it is for a projected row). No events are
-- appended, so /jobs/{id}/history and a replay would not know these jobs.
--
-- Run after `jobboard migrate` on an empty database:
--   psql -v n=100000 -f bench/jobs/seed.sql jobboard_bench
--
-- Deterministic: the same seed gives the same rows.
\set ON_ERROR_STOP on
\if :{?n}
\else
  \set n 100000
\endif

BEGIN;
SELECT setseed(0.4242);
TRUNCATE jobs;

CREATE TEMP TABLE vocab ON COMMIT DROP AS SELECT
  -- Seniority, then a field, then a role: "Senior Backend Engineer".
  ARRAY['', '', '', 'Junior ', 'Senior ', 'Senior ', 'Staff ', 'Lead ', 'Principal ', 'Head of ']
    AS seniority,
  ARRAY['Backend', 'Frontend', 'Full Stack', 'Data', 'Machine Learning', 'DevOps', 'Site Reliability',
        'Mobile', 'iOS', 'Android', 'Security', 'Cloud', 'QA', 'Embedded', 'Platform', 'Go', 'Python',
        'Java', 'Rust', 'React', 'Product', 'UX', 'Sales', 'Marketing', 'Customer Success', 'Finance',
        'People', 'Operations', 'Supply Chain', 'Clinical']
    AS field,
  ARRAY['Engineer', 'Engineer', 'Engineer', 'Developer', 'Developer', 'Analyst', 'Architect', 'Manager',
        'Designer', 'Scientist', 'Consultant', 'Specialist', 'Administrator', 'Coordinator']
    AS role,
  -- Jobs whose title is not of the pattern above.
  ARRAY['Registered Nurse', 'Truck Driver', 'Warehouse Associate', 'Account Executive',
        'Customer Support Representative', 'Accountant', 'Office Manager', 'Recruiter',
        'Technical Writer', 'Electrician', 'Pharmacist', 'Chef de Partie', 'Store Manager',
        'Mathematics Teacher', 'Physiotherapist', 'Paralegal', 'Executive Assistant', 'Barista']
    AS plain_title,
  -- About 50 cities; earlier ones are picked more often.
  ARRAY['London, United Kingdom', 'Berlin, Germany', 'New York, NY', 'San Francisco, CA', 'Paris, France',
        'Amsterdam, Netherlands', 'Toronto, Canada', 'Austin, TX', 'Seattle, WA', 'Munich, Germany',
        'Dublin, Ireland', 'Madrid, Spain', 'Barcelona, Spain', 'Stockholm, Sweden', 'Zurich, Switzerland',
        'Boston, MA', 'Chicago, IL', 'Los Angeles, CA', 'Denver, CO', 'Warsaw, Poland', 'Prague, Czechia',
        'Vienna, Austria', 'Copenhagen, Denmark', 'Oslo, Norway', 'Helsinki, Finland', 'Lisbon, Portugal',
        'Milan, Italy', 'Rome, Italy', 'Brussels, Belgium', 'Hamburg, Germany', 'Manchester, United Kingdom',
        'Edinburgh, United Kingdom', 'Vancouver, Canada', 'Montreal, Canada', 'Atlanta, GA', 'Miami, FL',
        'Portland, OR', 'Raleigh, NC', 'Tallinn, Estonia', 'Krakow, Poland', 'Budapest, Hungary',
        'Bucharest, Romania', 'Athens, Greece', 'Sydney, Australia', 'Melbourne, Australia',
        'Singapore', 'Tokyo, Japan', 'Bangalore, India', 'Sao Paulo, Brazil', 'Cape Town, South Africa']
    AS city,
  ARRAY['Acme', 'Blue Harbor', 'Northwind', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Cyberdyne',
        'Soylent', 'Hooli', 'Pied Piper', 'Vandelay', 'Tyrell', 'Wonka', 'Aperture', 'Black Mesa', 'Gringotts',
        'Oceanic', 'Massive Dynamic', 'Nakatomi', 'Monarch', 'Sterling', 'Bluth', 'Dunder']
    AS company_a,
  ARRAY['Systems', 'Labs', 'Analytics', 'Health', 'Logistics', 'Software', 'Robotics', 'Energy',
        'Foods', 'Media', 'Capital', 'Retail', 'Networks', 'Bank', 'Insurance', 'Studios', 'Mobility',
        'Biotech', 'Consulting', 'Group']
    AS company_b,
  ARRAY['We are looking for a %s to join our growing team at %s.',
        '%s is hiring a %s who enjoys hard problems and clear writing.',
        'As a %s at %s you will own features from design to production.',
        'You will work closely with product, design and engineering to ship %s work that customers love at %s.',
        'Join %s as our next %s and help us scale a product used by millions.']
    AS opening,
  ARRAY['You have several years of experience in a similar role and communicate well in English.',
        'We offer flexible hours, a learning budget and 30 days of paid leave.',
        'Our stack includes PostgreSQL, Kubernetes, Terraform and a lot of automated tests.',
        'You care about reliability, observability and keeping things simple.',
        'Experience with customer-facing work is a plus, but not required.',
        'We value mentoring, code review and writing things down.',
        'The team is distributed across several time zones and meets in person twice a year.',
        'You will be on call one week in six, with generous compensation.',
        'We support visa sponsorship and relocation for this position.',
        'A background in healthcare, finance or logistics helps you understand our customers.',
        'You will report to the head of the department and lead a small team.',
        'Benefits include health insurance, a pension plan and a commuter allowance.']
    AS sentence;

INSERT INTO jobs (id, recruiter_id, title, description, company, location, employment_type, remote,
                  salary_min, salary_max, salary_currency, status, created_at, updated_at, version)
SELECT
  -- A version 7 UUID made from created_at, as the application makes them.
  (substr(ts_hex, 1, 8) || '-' || substr(ts_hex, 9, 4) || '-7' || substr(h, 1, 3) || '-8' || substr(h, 4, 3)
     || '-' || substr(h, 7, 12))::uuid,
  recruiter_id, title, description, company, location, employment_type, remote,
  salary_min, salary_min + salary_span, CASE WHEN salary_min IS NOT NULL THEN currency END,
  status, created_at, created_at + updated_after, version
FROM (
  SELECT
    lpad(to_hex((extract(epoch FROM created_at) * 1000)::bigint), 12, '0') AS ts_hex,
    md5('job' || i) AS h,
    ('00000000-0000-4000-8000-' || lpad(to_hex(recruiter_no), 12, '0'))::uuid AS recruiter_id,
    title, company, location, created_at,
    format(v.opening[1 + (i % array_length(v.opening, 1))],
           CASE WHEN i % array_length(v.opening, 1) = 1 OR i % array_length(v.opening, 1) = 4 THEN company ELSE title END,
           CASE WHEN i % array_length(v.opening, 1) = 1 OR i % array_length(v.opening, 1) = 4 THEN title ELSE company END)
      || ' ' || v.sentence[1 + (s1 % 12)] || ' ' || v.sentence[1 + ((s1 + 1 + s2 % 11) % 12)]
      || CASE WHEN s2 % 3 > 0 THEN ' ' || v.sentence[1 + ((s1 + 5) % 12)] ELSE '' END
      AS description,
    CASE WHEN r_type < 0.70 THEN 'full_time' WHEN r_type < 0.82 THEN 'contract'
         WHEN r_type < 0.90 THEN 'part_time' WHEN r_type < 0.95 THEN 'internship' ELSE 'temporary' END
      AS employment_type,
    random() < 0.25 AS remote,
    CASE WHEN random() < 0.6 THEN (30 + floor(random() * 120)::int) * 1000 END AS salary_min,
    (5 + floor(random() * 40)::int) * 1000 AS salary_span,
    (ARRAY['EUR', 'EUR', 'USD', 'USD', 'GBP', 'CAD', 'CHF', 'AUD'])[1 + floor(random() * 8)::int] AS currency,
    CASE WHEN random() < 0.10 THEN 'closed' ELSE 'open' END AS status,
    CASE WHEN random() < 0.8 THEN interval '0' ELSE random() * interval '20 days' END AS updated_after,
    CASE WHEN random() < 0.8 THEN 1 ELSE 2 + floor(random() * 3)::int END AS version
  FROM (
    SELECT i,
      CASE WHEN random() < 0.12
        THEN v.plain_title[1 + floor(random() * array_length(v.plain_title, 1))::int]
        ELSE v.seniority[1 + floor(random() * array_length(v.seniority, 1))::int]
             || v.field[1 + floor(random() * array_length(v.field, 1))::int] || ' '
             || v.role[1 + floor(random() * array_length(v.role, 1))::int]
      END AS title,
      v.company_a[1 + floor(random() * 25)::int] || ' ' || v.company_b[1 + floor(random() * 20)::int] AS company,
      v.city[1 + floor(50 * power(random(), 1.6))::int] AS location,
      now() - random() * interval '365 days' AS created_at,
      1 + floor(random() * 2000)::int AS recruiter_no,
      floor(random() * 1000)::int AS s1, floor(random() * 1000)::int AS s2,
      random() AS r_type
    FROM generate_series(1, :n) AS i CROSS JOIN vocab AS v
  ) AS base
  CROSS JOIN vocab AS v
) AS rows;
COMMIT;

VACUUM (ANALYZE) jobs;
-- Write the seeded pages out now: otherwise the first minutes of a read
-- benchmark pay for it, evicting dirty buffers (and flushing WAL) as they
-- read.
CHECKPOINT;
SELECT count(*) AS jobs, count(*) FILTER (WHERE status = 'open') AS open,
       count(DISTINCT company) AS companies, count(DISTINCT location) AS cities,
       count(DISTINCT title) AS titles, round(avg(length(description))) AS avg_description,
       pg_size_pretty(pg_total_relation_size('jobs')) AS size
FROM jobs;
