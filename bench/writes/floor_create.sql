-- The database's floor for POST /jobs: the rows any event-sourced create
-- with this read model writes, and nothing else, in one transaction per
-- job: the JobPosted event into a copy of `events` (with its indexes, and
-- the append's version check on the real log), and the job's row into a
-- copy of `jobs` (its full-text and trigram GIN indexes, the generated
-- tsvector, the listing b-trees). No subscriber read, checkpoint, horizon,
-- account read or HTTP: what is left of a create once all of those cost
-- nothing. floor.sh creates the copies (floor_events, floor_jobs).
\set n random(1, 1000000000)
\set salary random(30, 150)
BEGIN;
INSERT INTO floor_events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, actor_id, occurred_at)
SELECT gen_random_uuid(), 'job', x.stream, 1, 'JobPosted', 1,
       ('{"job_id": "' || x.stream || '", "recruiter_id": "019aa90c-d623-7620-a347-7a09ee48d6cd", "title": "Senior Operations Designer ' || :n || '", "description": "As a Senior Operations Designer at Umbrella Capital you will own your work from design to production. You will report to the head of the department and work with a small team. Our stack includes PostgreSQL, Kubernetes, Terraform and plenty of automated tests.", "company": "Umbrella Capital", "location": "Chicago, IL", "employment_type": "contract", "remote": false, "salary_min": ' || :salary || '000, "salary_max": ' || (:salary + 5) || '000, "salary_currency": "CHF", "posted_at": "2026-12-03T02:10:00.014892Z"}')::jsonb,
       '019aa90c-d623-7620-a347-7a09ee48d6cd', now()
FROM (SELECT gen_random_uuid() AS stream) x
WHERE events_expect_version(x.stream, 0);
INSERT INTO floor_jobs (id, recruiter_id, title, description, company, location, employment_type, remote,
                        salary_min, salary_max, salary_currency, status, created_at, updated_at, version, application_count)
VALUES (gen_random_uuid(), '019aa90c-d623-7620-a347-7a09ee48d6cd', 'Senior Operations Designer ' || :n,
        'As a Senior Operations Designer at Umbrella Capital you will own your work from design to production. You will report to the head of the department and work with a small team. Our stack includes PostgreSQL, Kubernetes, Terraform and plenty of automated tests.',
        'Umbrella Capital', 'Chicago, IL', 'contract', false, :salary * 1000, (:salary + 5) * 1000, 'CHF', 'open', now(), now(), 1, 0);
COMMIT;
