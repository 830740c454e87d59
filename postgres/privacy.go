package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// SealPersonalData brings a log written before personal data was
// encrypted up to date, once: it encrypts, in place, the personal fields
// of the events that hold them in clear, makes their people's data keys,
// and replaces the email kept in clear in credentials by its keyed hash.
//
// It is the one sanctioned exception to the log being append-only. It
// runs in one transaction, as the owner (ownerURL), with the append-only
// trigger lifted inside that transaction alone (ALTER TABLE is
// transactional: no other session ever sees the log without it, and a
// failure puts everything back), and it records what it changed in the log
// itself, as a PersonalDataEncrypted event, in the same transaction. The
// lift locks the events table against appends until the commit. Run again,
// it finds nothing to do and changes nothing.
func SealPersonalData(ctx context.Context, ownerURL string, keys *eventstore.Keyring, log *slog.Logger) error {
	pool, err := openPool(ctx, ownerURL, 1)
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// The migrations' lock: two processes starting at once do this once.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("seal personal data: take lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck // the lock also ends with the session

	var types []string
	for _, t := range domain.EventTypes() {
		if _, ok := domain.PersonalFieldsOf(t); ok {
			types = append(types, t)
		}
	}
	var pending bool
	if err := conn.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM events WHERE subject_id IS NULL AND event_type = ANY($1))
    OR EXISTS (SELECT 1 FROM credentials WHERE email_hash IS NULL)`, types).Scan(&pending); err != nil {
		return fmt.Errorf("seal personal data: %w", err)
	}
	if !pending {
		return nil
	}
	started := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `ALTER TABLE events DISABLE TRIGGER events_no_update`); err != nil {
		return fmt.Errorf("seal personal data: %w", withOwnerHint(err))
	}
	sealed, err := keys.SealInPlace(ctx, tx)
	if err != nil {
		return fmt.Errorf("seal personal data: %w", err)
	}
	if _, err := tx.Exec(ctx, `ALTER TABLE events ENABLE TRIGGER events_no_update`); err != nil {
		return fmt.Errorf("seal personal data: %w", err)
	}
	hashed, err := hashCredentialEmails(ctx, tx, keys)
	if err != nil {
		return fmt.Errorf("seal personal data: %w", err)
	}
	var version int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`,
		domain.SystemStreamID).Scan(&version); err != nil {
		return err
	}
	store := eventstore.New(nil, eventstore.WithKeyring(keys))
	if _, err := store.AppendIn(ctx, tx, eventstore.Stream{Type: domain.StreamSystem, ID: domain.SystemStreamID}, version,
		[]domain.Event{domain.PersonalDataEncrypted{
			Events: sealed.Events, ByType: sealed.ByType, Subjects: sealed.Subjects, Through: sealed.Through,
			Credentials: hashed, EncryptedAt: time.Now().UTC(),
		}}); err != nil {
		return fmt.Errorf("seal personal data: record it: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("seal personal data: %w", err)
	}
	log.Info("encrypted the personal data of the log written before encryption (a one-off migration, recorded as PersonalDataEncrypted)",
		"events", sealed.Events, "people", sealed.Subjects, "credentials", hashed, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// hashCredentialEmails replaces the emails kept in clear in credentials by
// their keyed hashes.
func hashCredentialEmails(ctx context.Context, tx pgx.Tx, keys *eventstore.Keyring) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT user_id, email FROM credentials WHERE email_hash IS NULL`)
	if err != nil {
		return 0, err
	}
	type cred struct {
		id    [16]byte
		email string
	}
	creds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (cred, error) {
		var c cred
		err := r.Scan(&c.id, &c.email)
		return c, err
	})
	if err != nil {
		return 0, err
	}
	var b pgx.Batch
	for _, c := range creds {
		b.Queue(`UPDATE credentials SET email_hash = $2, email = NULL WHERE user_id = $1`, c.id, keys.EmailIndex(c.email))
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return 0, err
	}
	return int64(len(creds)), nil
}
