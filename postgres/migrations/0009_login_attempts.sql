-- Login attempts, counted before the password is compared. login_failures
-- (0003) recorded a failure after bcrypt had run, so that concurrent
-- attempts all passed a check that none of them had yet been counted
-- against; now each attempt is a row from the start, the rows of one that
-- succeeds are deleted, and what is left are the failures (and the
-- attempts in flight). The keys (an email, a client, an email from a
-- client) are SHA-256 digests, so that an email of any length fits the
-- index. login_failures stays for processes of the previous version
-- during a rolling deploy; a later migration drops it.
CREATE TABLE login_attempts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key          bytea       NOT NULL CHECK (length(key) = 32),
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_key ON login_attempts (key, attempted_at);
CREATE INDEX login_attempts_age ON login_attempts (attempted_at);
