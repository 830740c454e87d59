-- The database's floor for POST /jobs/{id}/apply: the rows any
-- event-sourced application with this read model and mail queue writes,
-- and nothing else, in one transaction per application: the
-- ApplicationSubmitted event into a copy of `events` (with the append's
-- version check on the real log) and the one-per-job claim; the
-- application's row and its job's count; the mail's queue row, and its
-- being marked sent. No subscriber read, checkpoint, horizon, stream reads,
-- mail composition or HTTP. floor.sh creates the copies (floor_events,
-- floor_claims, floor_applications, floor_jobs, floor_deliveries) and
-- floor_job_ids (n, id) to pick jobs from.
\set j random(1, 100000)
BEGIN;
INSERT INTO floor_events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, actor_id, occurred_at)
SELECT gen_random_uuid(), 'application', x.stream, 1, 'ApplicationSubmitted', 1,
       ('{"application_id": "' || x.stream || '", "job_id": "019ae71f-9cce-7188-bad0-49fca8190e3d", "applicant_id": "019aa90c-d623-7620-a347-7a09ee48d6cd", "recruiter_id": "019aa90c-d623-7620-a347-7a09ee48d6ce", "name": "Ada King", "email": "ada.king@example.com", "cover_letter": "Dear team, I would love to join you. I have built and run services like yours for years, from the first design to the pager, and I like small teams that own what they ship. I write tests, I read query plans, and I answer the phone at night when I must. I would be glad to tell you more.", "submitted_at": "2026-12-03T02:10:00.014892Z"}')::jsonb,
       '019aa90c-d623-7620-a347-7a09ee48d6cd', now()
FROM (SELECT gen_random_uuid() AS stream) x
WHERE events_expect_version(x.stream, 0);
INSERT INTO floor_claims (job_id, applicant_id, application_id) VALUES (gen_random_uuid(), gen_random_uuid(), gen_random_uuid());
WITH a AS (
  INSERT INTO floor_applications (id, job_id, applicant_id, recruiter_id, name, email, cover_letter, status, created_at, version)
  SELECT gen_random_uuid(), id, gen_random_uuid(), gen_random_uuid(), 'Ada King', 'ada.king@example.com',
         'Dear team, I would love to join you. I have built and run services like yours for years, from the first design to the pager, and I like small teams that own what they ship. I write tests, I read query plans, and I answer the phone at night when I must. I would be glad to tell you more.',
         'submitted', now(), 1
  FROM floor_job_ids WHERE n = :j
  RETURNING id, job_id)
UPDATE floor_jobs SET application_count = application_count + 1 FROM a WHERE floor_jobs.id = a.job_id;
INSERT INTO floor_deliveries (application_id) VALUES (gen_random_uuid()) RETURNING application_id AS delivery \gset
UPDATE floor_deliveries SET status = 'sent', sent_at = now(), attempts = 1 WHERE application_id = :delivery;
COMMIT;
