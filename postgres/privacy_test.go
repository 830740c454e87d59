package postgres_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/postgres"
)

// A log written before personal data was encrypted: events with their
// personal fields in clear and no subject, and credentials keyed by the
// email in clear, as the build before migration 0015 wrote them.
func writeOldLog(t *testing.T, db *testdb.DB) (user, application uuid.UUID) {
	t.Helper()
	is := is.New(t)
	ctx := testContext(t)
	user, application, job := uuid.New(), uuid.New(), uuid.New()
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	insert := func(stream uuid.UUID, streamType string, version int, e domain.Event) {
		data, err := json.Marshal(e)
		is.NoErr(err)
		_, err = db.Owner.Exec(ctx, `
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, uuid.New(), streamType, stream, version, e.EventType(), domain.SchemaVersion(e), data, at)
		is.NoErr(err)
	}
	insert(user, domain.StreamUser, 1, domain.UserRegistered{UserID: user, Email: "old.timer@example.org", Name: "Olde Tymer",
		Role: domain.RoleJobSeeker, RegisteredAt: at})
	insert(application, domain.StreamApplication, 1, domain.ApplicationSubmitted{ApplicationID: application, JobID: job,
		ApplicantID: user, RecruiterID: uuid.New(), Name: "Olde Tymer", Email: "old.timer@example.org",
		CoverLetter: "A letter from before encryption", SubmittedAt: at,
		Resume: &domain.ResumeFile{FileName: "olde-tymer-cv.pdf", ContentType: "application/pdf", Size: 10, SHA256: strings.Repeat("ab", 32)}})
	_, err := db.Owner.Exec(ctx, `INSERT INTO credentials (user_id, email, password_hash) VALUES ($1, $2, 'hash')`, user, "old.timer@example.org")
	is.NoErr(err)
	return user, application
}

func TestSealPersonalDataEncryptsAnOldLogOnceAndRecordsIt(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	db := testdb.New(t)
	user, application := writeOldLog(t, db)
	keys := testdb.Keyring()
	store := eventstore.New(db.Pool, eventstore.WithKeyring(keys))
	before, err := store.ReadStreams(ctx, user, application)
	is.NoErr(err)
	is.True(strings.Contains(string(before[application][0].Data), "A letter from before encryption")) // read in clear before

	is.NoErr(postgres.SealPersonalData(ctx, db.OwnerURL, keys, slog.New(slog.DiscardHandler)))

	// Nothing personal is left in clear in the rows; each names its subject.
	var clear int
	is.NoErr(db.Owner.QueryRow(ctx, `SELECT count(*) FROM events WHERE data::text ~ '(Olde Tymer|old\.timer|before encryption|olde-tymer)'`).Scan(&clear))
	is.Equal(clear, 0)
	var sealed int
	is.NoErr(db.Owner.QueryRow(ctx, `SELECT count(*) FROM events WHERE subject_id = $1 AND data ? 'personal'`, user).Scan(&sealed))
	is.Equal(sealed, 2)
	// The events read as they were written.
	after, err := store.ReadStreams(ctx, user, application)
	is.NoErr(err)
	for _, id := range []uuid.UUID{user, application} {
		var was, is_ map[string]any
		is.NoErr(json.Unmarshal(before[id][0].Data, &was))
		is.NoErr(json.Unmarshal(after[id][0].Data, &is_))
		is.Equal(was, is_) // the same event, opened
	}
	// The credentials are found by the keyed hash; the address is gone.
	var email *string
	var hash []byte
	is.NoErr(db.Owner.QueryRow(ctx, `SELECT email, email_hash FROM credentials WHERE user_id = $1`, user).Scan(&email, &hash))
	is.True(email == nil)
	is.Equal(hash, keys.EmailIndex("old.timer@example.org"))

	// The change is in the log, and says what it changed.
	records, err := store.ReadStream(ctx, domain.SystemStreamID)
	is.NoErr(err)
	is.Equal(len(records), 1)
	e, err := records[0].Event()
	is.NoErr(err)
	encrypted := e.(domain.PersonalDataEncrypted)
	is.Equal(encrypted.Events, int64(2))
	is.Equal(encrypted.Subjects, int64(1))
	is.Equal(encrypted.Credentials, int64(1))
	is.Equal(encrypted.ByType, map[string]int64{"UserRegistered": 1, "ApplicationSubmitted": 1})

	// The trigger is back: the log is append-only again.
	_, err = db.Owner.Exec(ctx, `UPDATE events SET data = data WHERE stream_id = $1`, user)
	is.True(err != nil && strings.Contains(err.Error(), "append-only"))

	// Run again, it finds nothing to do and records nothing.
	is.NoErr(postgres.SealPersonalData(ctx, db.OwnerURL, keys, slog.New(slog.DiscardHandler)))
	records, err = store.ReadStream(ctx, domain.SystemStreamID)
	is.NoErr(err)
	is.Equal(len(records), 1)
}

func TestSealPersonalDataChangesNothingWhenItFails(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	db := testdb.New(t)
	user, _ := writeOldLog(t, db)
	// An event it cannot read: no subject where one must be.
	_, err := db.Owner.Exec(ctx, `
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, occurred_at)
VALUES ($1, 'user', $2, 1, 'UserRegistered', 1, '{"email":"broken@example.org"}', now())`, uuid.New(), uuid.New())
	is.NoErr(err)

	err = postgres.SealPersonalData(ctx, db.OwnerURL, testdb.Keyring(), slog.New(slog.DiscardHandler))
	is.True(err != nil) // it stops

	var clear, keys int
	is.NoErr(db.Owner.QueryRow(ctx, `SELECT count(*) FROM events WHERE subject_id IS NULL AND data::text LIKE '%old.timer%'`).Scan(&clear))
	is.Equal(clear, 2) // every event as it was
	is.NoErr(db.Owner.QueryRow(ctx, `SELECT count(*) FROM data_keys`).Scan(&keys))
	is.Equal(keys, 0)
	var email string
	is.NoErr(db.Owner.QueryRow(ctx, `SELECT email FROM credentials WHERE user_id = $1`, user).Scan(&email))
	is.Equal(email, "old.timer@example.org")
	_, err = db.Owner.Exec(ctx, `UPDATE events SET data = data WHERE stream_id = $1`, user)
	is.True(err != nil && strings.Contains(err.Error(), "append-only")) // the trigger was never lifted outside it
}
