-- Failed logins, counted per email and per client address to throttle
-- password guessing. Kept in the database so that every API instance sees
-- the same counts; rows older than the window are deleted as new ones come.
CREATE TABLE login_failures (
    key       text        NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key ON login_failures (key, failed_at);
CREATE INDEX login_failures_age ON login_failures (failed_at);
