-- Seeds the event log of a write benchmark database with real events:
-- :recruiters recruiters and :seekers job seekers register (UserRegistered),
-- then :jobs jobs are posted by the recruiters (JobPosted), spread over the
-- last year. Nothing else is written: the read models (users, jobs) are then
-- built from this log by `jobboard replay --all` (see seed() in run.sh), and
-- the commands load their aggregates from it, as they would in production.
--
-- The events are inserted straight into `events`, in the shape the event
-- store gives them (eventstore.Store.insert):
--   * data is the JSON that encoding/json makes of the domain's event
--     structs (domain/user.go UserRegistered, domain/job.go JobPosted):
--     the same keys, `omitempty` fields left out when empty (company of a
--     job seeker; salary_min, salary_max, salary_currency of a job without
--     a salary), times in RFC 3339 with the trailing zeros of the fraction
--     cut and "Z" (time.Time's MarshalJSON, see pg_temp.go_time);
--   * schema_version: UserRegistered 1, JobPosted 2 (the registerEvent
--     calls in domain/user.go and domain/job.go);
--   * stream_type: 'user' (domain.StreamUser), 'job' (domain.StreamJob);
--     stream_id the user's or job's id; stream_version 1 (one event each);
--   * actor_id: the new user for UserRegistered (commands.RegisterUser
--     appends with WithActor(ctx, id)), the posting recruiter for JobPosted
--     (the authenticated caller, http.authenticated);
--   * request_id = correlation_id = causation_id: a UUIDv7 as the HTTP
--     middleware makes one for a request without X-Request-Id;
--   * ids (users, jobs, events) are UUIDv7 made from the event's time, as
--     uuid.NewV7 makes them; occurred_at is the event's own time.
-- Events are inserted in time order, so positions follow occurred_at. They
-- are NOT published to the message bus (watermill_events): the subscribers
-- never see them, which is what we want for history whose read models the
-- replay builds. If the bus's tables change, nothing here needs to: only
-- `events` is written.
--
-- Run on a freshly migrated database (it refuses an event log that is not
-- empty):
--   psql -v recruiters=200 -v seekers=2000 -v jobs=100000 -f bench/writes/seed.sql jobboard_writes
--
-- Deterministic: the same numbers on the same UTC day give the same events
-- (setseed; ids and times are relative to the start of the current day).
\set ON_ERROR_STOP on
\if :{?recruiters}
\else
  \set recruiters 200
\endif
\if :{?seekers}
\else
  \set seekers 2000
\endif
\if :{?jobs}
\else
  \set jobs 100000
\endif

SET TIME ZONE 'UTC';
-- A serial plan, so that random() is called in the same order every time.
SET max_parallel_workers_per_gather = 0;

BEGIN;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM events) THEN
    RAISE EXCEPTION 'the event log is not empty: seed a freshly migrated database';
  END IF;
END $$;
SELECT setseed(0.3141) \g /dev/null

-- time.Time's JSON form: RFC 3339 in UTC with "Z", the fraction without
-- trailing zeros (none at all for a whole second).
CREATE FUNCTION pg_temp.go_time(t timestamptz) RETURNS text LANGUAGE sql AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
      || CASE WHEN to_char(t AT TIME ZONE 'UTC', 'US') = '000000' THEN ''
              ELSE '.' || rtrim(to_char(t AT TIME ZONE 'UTC', 'US'), '0') END
      || 'Z'
$$;

-- A UUIDv7 for time t: 48 bits of Unix milliseconds, version 7, the RFC
-- 9562 variant, and "random" bits taken from md5(tag) so that the same tag
-- gives the same id.
CREATE FUNCTION pg_temp.uuid7(t timestamptz, tag text) RETURNS uuid LANGUAGE sql AS $$
  SELECT (substr(ms, 1, 8) || '-' || substr(ms, 9, 4) || '-7' || substr(h, 1, 3) || '-'
          || substr('89ab', 1 + get_byte(decode(substr(h, 4, 2), 'hex'), 0) % 4, 1) || substr(h, 6, 3)
          || '-' || substr(h, 9, 12))::uuid
  FROM (SELECT lpad(to_hex(floor(extract(epoch FROM t) * 1000)::bigint), 12, '0') AS ms, md5(tag) AS h) AS x
$$;

CREATE TEMP TABLE params ON COMMIT DROP AS
SELECT date_trunc('day', now()) AS anchor;

CREATE TEMP TABLE vocab ON COMMIT DROP AS SELECT
  ARRAY['Anna', 'Ben', 'Chiara', 'David', 'Elif', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jonas', 'Kemi', 'Lars',
        'Maya', 'Nikolai', 'Olga', 'Pedro', 'Quinn', 'Rosa', 'Samir', 'Tara', 'Umar', 'Vera', 'Wei', 'Ximena',
        'Yusuf', 'Zoe', 'Marta', 'Tomasz', 'Aiko', 'Lena']
    AS first_name,
  ARRAY['Schmidt', 'Rossi', 'Novak', 'Garcia', 'Okafor', 'Andersson', 'Kowalski', 'Dubois', 'Silva', 'Yilmaz',
        'Nguyen', 'Murphy', 'Jansen', 'Horvat', 'Tanaka', 'Costa', 'Fischer', 'Lopez', 'Petrov', 'Haddad',
        'Berg', 'Moreau', 'Walsh', 'Kaur', 'Ivanova', 'Brown', 'Martin', 'Sato', 'Weber', 'Popescu']
    AS last_name,
  ARRAY['Acme', 'Northwind', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay', 'Tyrell', 'Aperture',
        'Nakatomi', 'Oceanic', 'Monarch', 'Sterling', 'Bluth', 'Dunder', 'Wonka', 'Soylent', 'Cyberdyne',
        'Massive Dynamic', 'Pied Piper']
    AS company_a,
  ARRAY['Systems', 'Labs', 'Health', 'Logistics', 'Software', 'Robotics', 'Energy', 'Foods', 'Media',
        'Capital', 'Retail', 'Networks', 'Insurance', 'Studios', 'Biotech']
    AS company_b,
  ARRAY['', '', '', 'Junior ', 'Senior ', 'Senior ', 'Staff ', 'Lead ', 'Principal ']
    AS seniority,
  ARRAY['Backend', 'Frontend', 'Full Stack', 'Data', 'Machine Learning', 'DevOps', 'Mobile', 'Security',
        'Cloud', 'QA', 'Platform', 'Go', 'Python', 'Java', 'Product', 'UX', 'Sales', 'Marketing', 'Finance',
        'Operations']
    AS field,
  ARRAY['Engineer', 'Engineer', 'Developer', 'Analyst', 'Architect', 'Manager', 'Designer', 'Scientist',
        'Specialist', 'Consultant']
    AS job_role,
  ARRAY['Registered Nurse', 'Truck Driver', 'Accountant', 'Recruiter', 'Store Manager', 'Electrician',
        'Pharmacist', 'Technical Writer', 'Paralegal', 'Barista']
    AS plain_title,
  ARRAY['London, United Kingdom', 'Berlin, Germany', 'New York, NY', 'Paris, France', 'Amsterdam, Netherlands',
        'San Francisco, CA', 'Toronto, Canada', 'Munich, Germany', 'Dublin, Ireland', 'Madrid, Spain',
        'Stockholm, Sweden', 'Austin, TX', 'Warsaw, Poland', 'Lisbon, Portugal', 'Vienna, Austria',
        'Zurich, Switzerland', 'Chicago, IL', 'Copenhagen, Denmark', 'Prague, Czechia', 'Milan, Italy',
        'Seattle, WA', 'Boston, MA', 'Hamburg, Germany', 'Oslo, Norway', 'Helsinki, Finland', 'Tallinn, Estonia',
        'Singapore', 'Tokyo, Japan', 'Sydney, Australia', 'Bangalore, India']
    AS city,
  -- %1$s is the title, %2$s the company.
  ARRAY['We are looking for a %1$s to join our growing team at %2$s.',
        '%2$s is hiring a %1$s who enjoys hard problems and clear writing.',
        'As a %1$s at %2$s you will own your work from design to production.',
        'Join %2$s as our next %1$s and help us serve customers in twelve countries.']
    AS opening,
  ARRAY['You have several years of experience in a similar role and communicate well in English.',
        'We offer flexible hours, a learning budget and thirty days of paid leave.',
        'Our stack includes PostgreSQL, Kubernetes, Terraform and plenty of automated tests.',
        'You care about reliability, observability and keeping things simple.',
        'Experience with customer-facing work is a plus, but not required.',
        'We value mentoring, code review and writing things down.',
        'The team is spread over three time zones and meets in person twice a year.',
        'We support visa sponsorship and relocation for this position.',
        'Benefits include health insurance, a pension plan and a commuter allowance.',
        'You will report to the head of the department and work with a small team.']
    AS sentence;

-- Accounts: recruiters registered first (over a month, about 400 days ago),
-- job seekers at any time since.
CREATE TEMP TABLE seed_users ON COMMIT DROP AS
SELECT role, no, pg_temp.uuid7(at, 'user-' || role || '-' || no) AS id,
       first || ' ' || last AS name,
       CASE WHEN role = 'recruiter'
         THEN lower(first) || '.' || lower(last) || '.' || no || '@' || lower(regexp_replace(company, '[^A-Za-z]', '', 'g'))
              || '.example.com'
         ELSE lower(first) || '.' || lower(last) || '.' || no || '@mail.example.org'
       END AS email,
       company, at
FROM (
  SELECT 'recruiter' AS role, i AS no,
         p.anchor - interval '400 days' + (i - 1) * (interval '30 days' / :recruiters) + random() * interval '1 hour' AS at,
         v.first_name[1 + floor(random() * array_length(v.first_name, 1))::int] AS first,
         v.last_name[1 + floor(random() * array_length(v.last_name, 1))::int] AS last,
         v.company_a[1 + floor(random() * array_length(v.company_a, 1))::int] || ' '
           || v.company_b[1 + floor(random() * array_length(v.company_b, 1))::int] AS company
  FROM generate_series(1, :recruiters) AS i CROSS JOIN vocab AS v CROSS JOIN params AS p
  UNION ALL
  SELECT 'job_seeker', i,
         p.anchor - interval '370 days' + random() * interval '370 days',
         v.first_name[1 + floor(random() * array_length(v.first_name, 1))::int],
         v.last_name[1 + floor(random() * array_length(v.last_name, 1))::int],
         NULL
  FROM generate_series(1, :seekers) AS i CROSS JOIN vocab AS v CROSS JOIN params AS p
) AS u;

-- Jobs: posted over the last year, a few recruiters posting many of them,
-- always under the recruiter's company.
CREATE TEMP TABLE seed_jobs ON COMMIT DROP AS
SELECT j.no, pg_temp.uuid7(j.at, 'job-' || j.no) AS id, r.id AS recruiter_id, r.company, j.title,
       format(v.opening[1 + j.s0 % array_length(v.opening, 1)], j.title, r.company)
         || ' ' || v.sentence[1 + j.s1 % 10] || ' ' || v.sentence[1 + (j.s1 + 1 + j.s2 % 9) % 10]
         || CASE WHEN j.s2 % 10 < 7 THEN ' ' || v.sentence[1 + (j.s1 + 5) % 10] ELSE '' END
         AS description,
       j.location, j.employment_type, j.remote,
       j.salary_min, j.salary_min + j.salary_span AS salary_max,
       CASE WHEN j.salary_min IS NOT NULL THEN j.currency END AS currency,
       j.at
FROM (
  SELECT i AS no,
         p.anchor - interval '365 days' + random() * interval '365 days' AS at,
         1 + floor(:recruiters * power(random(), 1.5))::int AS recruiter_no,
         CASE WHEN random() < 0.1
           THEN v.plain_title[1 + floor(random() * array_length(v.plain_title, 1))::int]
           ELSE v.seniority[1 + floor(random() * array_length(v.seniority, 1))::int]
                || v.field[1 + floor(random() * array_length(v.field, 1))::int] || ' '
                || v.job_role[1 + floor(random() * array_length(v.job_role, 1))::int]
         END AS title,
         v.city[1 + floor(array_length(v.city, 1) * power(random(), 1.7))::int] AS location,
         (ARRAY['full_time', 'full_time', 'full_time', 'full_time', 'full_time', 'full_time', 'full_time',
                'contract', 'part_time', 'internship', 'temporary'])[1 + floor(random() * 11)::int] AS employment_type,
         random() < 0.25 AS remote,
         CASE WHEN random() < 0.6 THEN (30 + floor(random() * 120)::bigint) * 1000 END AS salary_min,
         (5 + floor(random() * 40)::bigint) * 1000 AS salary_span,
         (ARRAY['EUR', 'EUR', 'USD', 'USD', 'GBP', 'CHF', 'CAD', 'SEK'])[1 + floor(random() * 8)::int] AS currency,
         floor(random() * 1000)::int AS s0, floor(random() * 1000)::int AS s1, floor(random() * 1000)::int AS s2
  FROM generate_series(1, :jobs) AS i CROSS JOIN vocab AS v CROSS JOIN params AS p
) AS j
CROSS JOIN vocab AS v
JOIN seed_users AS r ON r.role = 'recruiter' AND r.no = j.recruiter_no;

INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data,
                    actor_id, correlation_id, causation_id, request_id, occurred_at)
SELECT pg_temp.uuid7(at, 'event-' || tag), stream_type, stream_id, 1, event_type, schema_version, data,
       actor_id, request_id, request_id, request_id, at
FROM (
  SELECT 'user-' || role || '-' || no AS tag, 'user' AS stream_type, id AS stream_id,
         'UserRegistered' AS event_type, 1 AS schema_version,
         jsonb_strip_nulls(jsonb_build_object(
           'user_id', id, 'email', email, 'name', name, 'role', role, 'company', company,
           'registered_at', pg_temp.go_time(at))) AS data,
         id AS actor_id, pg_temp.uuid7(at, 'request-user-' || role || '-' || no)::text AS request_id, at
  FROM seed_users
  UNION ALL
  SELECT 'job-' || no, 'job', id, 'JobPosted', 2,
         jsonb_strip_nulls(jsonb_build_object(
           'job_id', id, 'recruiter_id', recruiter_id, 'title', title, 'description', description,
           'company', company, 'location', location, 'employment_type', employment_type, 'remote', remote,
           'salary_min', salary_min, 'salary_max', salary_max, 'salary_currency', currency,
           'posted_at', pg_temp.go_time(at))),
         recruiter_id, pg_temp.uuid7(at, 'request-job-' || no)::text, at
  FROM seed_jobs
) AS e
ORDER BY at, tag;

SELECT (SELECT count(*) FROM seed_users WHERE role = 'recruiter') AS recruiters,
       (SELECT count(*) FROM seed_users WHERE role = 'job_seeker') AS seekers,
       (SELECT count(*) FROM seed_jobs) AS jobs,
       (SELECT round(avg(length(description))) FROM seed_jobs) AS avg_description,
       (SELECT round(avg(octet_length(data::text))) FROM events WHERE event_type = 'JobPosted') AS avg_job_event_bytes;
COMMIT;
