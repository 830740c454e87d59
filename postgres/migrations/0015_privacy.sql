-- Personal data: crypto-shredding, export and erasure.
--
-- Each person has a data key, kept here wrapped by the key-encryption key
-- of the configuration (DATA_KEY). The personal fields of their events are
-- stored encrypted under it; erasing the person sets wrapped to NULL, which
-- leaves every such field unreadable while the events stay. The row stays,
-- as a tombstone: no key is ever made again for an erased person.
CREATE TABLE data_keys (
    subject_id uuid PRIMARY KEY,
    wrapped    bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz,
    CONSTRAINT data_keys_erased CHECK ((wrapped IS NULL) = (erased_at IS NOT NULL))
);

-- Whose key an event's personal fields are sealed with; NULL for an event
-- that holds none (or that was written before this and is not migrated
-- yet: the migration in postgres/privacy.go seals those). Adding a
-- nullable column rewrites nothing.
ALTER TABLE events ADD COLUMN subject_id uuid;
CREATE INDEX events_subject ON events (subject_id) WHERE subject_id IS NOT NULL;
-- The export reads every event of a person's streams and every event they
-- caused; the actor index has occurred_at second, which serves that too.

-- The login index keeps a keyed hash of the email (HMAC-SHA256 under a key
-- derived from DATA_KEY), not the address: unique, looked up by the hash of
-- what is typed. The address column is emptied by the migration and no
-- longer written.
ALTER TABLE credentials
    ALTER COLUMN email DROP NOT NULL,
    ADD COLUMN email_hash bytea CHECK (length(email_hash) = 32);
CREATE UNIQUE INDEX credentials_email_hash_key ON credentials (email_hash);
ALTER TABLE credentials DROP CONSTRAINT credentials_email_key;

-- An erased applicant's applications stay, without their name (shown as
-- "Erased applicant"), email, cover letter or resume.
ALTER TABLE applications ALTER COLUMN email DROP NOT NULL;
-- An erased account leaves the users view; nothing to change there.

-- The login throttle's rows that name an email say whose email in a column
-- of their own (the same keyed hash), so that an erasure can delete them:
-- their key mixes the email with the client and cannot be found otherwise.
ALTER TABLE login_attempts ADD COLUMN email_hash bytea;
CREATE INDEX login_attempts_email ON login_attempts (email_hash) WHERE email_hash IS NOT NULL;

-- The throttle's table before login_attempts (migration 0009), kept then for
-- processes of the version before it, keyed by the email in clear. No
-- process of this version or the one before reads or writes it.
DROP TABLE login_failures;
