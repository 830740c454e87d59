-- The raw insert rate: one job-like JSONB document (the keys and size of a
-- JobPosted event's data, ~640 bytes) inserted as a single row per
-- transaction into a scratch table, prepared (run.sh: pgbench -M prepared).
-- run.sh creates the table: raw_inserts (id bigserial PRIMARY KEY, data jsonb).
\set n random(1, 1000000000)
\set salary random(30, 150)
INSERT INTO raw_inserts (data) VALUES (('{"job_id": "019ae71f-9cce-7188-bad0-49fca8190e3d", "recruiter_id": "019aa90c-d623-7620-a347-7a09ee48d6cd", "title": "Senior Operations Designer ' || :n || '", "description": "As a Senior Operations Designer at Umbrella Capital you will own your work from design to production. You will report to the head of the department and work with a small team. Our stack includes PostgreSQL, Kubernetes, Terraform and plenty of automated tests.", "company": "Umbrella Capital", "location": "Chicago, IL", "employment_type": "contract", "remote": false, "salary_min": ' || :salary || '000, "salary_max": ' || (:salary + 5) || '000, "salary_currency": "CHF", "posted_at": "2026-12-03T02:10:00.014892Z"}')::jsonb);
