package eventstore_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
)

// submission returns a new application stream and an ApplicationSubmitted
// on it, whose personal fields belong to applicant.
func submission(applicant uuid.UUID) (eventstore.Stream, domain.ApplicationSubmitted) {
	id := uuid.New()
	return eventstore.Stream{Type: domain.StreamApplication, ID: id}, domain.ApplicationSubmitted{
		ApplicationID: id,
		JobID:         uuid.New(),
		ApplicantID:   applicant,
		RecruiterID:   uuid.New(),
		Name:          "Grace Hopper",
		Email:         "grace-" + applicant.String() + "@example.com",
		CoverLetter:   "I wrote the first compiler.",
		Resume: &domain.ResumeFile{
			FileName: "grace-hopper.pdf", ContentType: "application/pdf", Size: 1234,
			SHA256: strings.Repeat("ab", 32),
		},
		SubmittedAt: time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC),
	}
}

// eraseKey erases subject's data key as an erasure does: the row stays, as
// a tombstone, without its key. Only the owner may do it here.
func eraseKey(t *testing.T, subject uuid.UUID) {
	t.Helper()
	tag, err := db.Owner.Exec(testContext(t), `UPDATE data_keys SET wrapped = NULL, erased_at = now() WHERE subject_id = $1`, subject)
	if err != nil {
		t.Fatalf("erase the data key: %v", err)
	}
	if tag.RowsAffected() != 1 {
		t.Fatalf("erase the data key: %d rows, want 1", tag.RowsAffected())
	}
}

// dataFields decodes a record's data into its JSON members.
func dataFields(t *testing.T, r eventstore.Record) map[string]json.RawMessage {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &fields); err != nil {
		t.Fatalf("decode %s data: %v", r.Type, err)
	}
	return fields
}

// A person's name and email are stored encrypted under their own key: the
// row holds neither in clear, the store reads them back as appended, and
// once the key is erased they read as null, the event staying.
func TestPersonalFieldsAreSealedAndShreddable(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	keys := testdb.Keyring()
	store := eventstore.New(db.Pool, eventstore.WithKeyring(keys))
	stream, registered := registration(t)

	_, err := store.Append(ctx, stream, 0, []domain.Event{registered})
	is.NoErr(err) // append a registration, which holds personal data

	read, err := store.ReadStream(ctx, stream.ID)
	is.NoErr(err)          // read it back
	is.Equal(len(read), 1) // one event
	is.Equal(read[0].Subject, stream.ID)
	is.True(!read[0].Shredded) // its key is there
	e, err := read[0].Event()
	is.NoErr(err)           // it decodes
	is.Equal(e, registered) // into the event appended, personal fields and all
	is.Equal(read[0].Subject, registered.UserID)

	var stored string
	var subject *uuid.UUID
	err = db.Pool.QueryRow(ctx, `SELECT data::text, subject_id FROM events WHERE stream_id = $1`, stream.ID).Scan(&stored, &subject)
	is.NoErr(err)                                                 // read the row as stored
	is.True(!strings.Contains(stored, registered.Email))          // no email in clear
	is.True(!strings.Contains(stored, registered.Name))           // no name in clear
	is.True(!strings.Contains(stored, registered.Company))        // no company in clear
	is.True(strings.Contains(stored, `"personal"`))               // but a sealed member
	is.True(strings.Contains(stored, registered.UserID.String())) // the rest is in clear
	is.True(subject != nil && *subject == stream.ID)              // and the row names whose key

	var keyRows int
	is.NoErr(db.Owner.QueryRow(ctx, `SELECT count(*) FROM data_keys WHERE subject_id = $1 AND wrapped IS NOT NULL`, stream.ID).Scan(&keyRows))
	is.Equal(keyRows, 1) // the registration made the person's key

	// Another process's store, which has read (and keeps) the key.
	elsewhere := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	read, err = elsewhere.ReadStream(ctx, stream.ID)
	is.NoErr(err)
	is.True(!read[0].Shredded)

	eraseKey(t, stream.ID)
	keys.Forget(stream.ID)

	read, err = store.ReadStream(ctx, stream.ID)
	is.NoErr(err)             // an erased person's events still read
	is.Equal(len(read), 1)    // and are all still there
	is.True(read[0].Shredded) // marked as erased
	fields := dataFields(t, read[0])
	is.Equal(string(fields["email"]), "null")   // the email is gone
	is.Equal(string(fields["name"]), "null")    // the name too
	is.Equal(string(fields["company"]), "null") // and the company
	_, sealed := fields["personal"]
	is.True(!sealed) // the sealed member is not shown
	e, err = read[0].Event()
	is.NoErr(err) // the event still decodes
	shredded := e.(domain.UserRegistered)
	is.Equal(shredded.UserID, registered.UserID) // with what was not personal
	is.Equal(shredded.Role, registered.Role)
	is.True(shredded.RegisteredAt.Equal(registered.RegisteredAt))
	is.Equal(shredded.Email, "")
	is.Equal(shredded.Name, "")

	// The other process was not told (no Forget): the key it kept is not
	// used once the table has none.
	again, err := elsewhere.ReadStream(ctx, stream.ID)
	is.NoErr(err)
	is.True(again[0].Shredded)
	is.Equal(string(dataFields(t, again[0])["email"]), "null")
}

// A store whose keyring has another key-encryption key cannot open the
// log's keys: it fails, never reading personal fields as erased.
func TestReadWithAnotherKEKFails(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	stream, registered := registration(t)
	_, err := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring())).Append(ctx, stream, 0, []domain.Event{registered})
	is.NoErr(err) // append with the test DATA_KEY

	other, err := eventstore.NewKeyring(eventstore.NewKEK())
	is.NoErr(err) // a keyring over another KEK
	read, err := eventstore.New(db.Pool, eventstore.WithKeyring(other)).ReadStream(ctx, stream.ID)
	is.True(errors.Is(err, eventstore.ErrWrongKEK)) // the read fails, saying why
	is.Equal(len(read), 0)                          // and returns nothing read as null

	read, err = eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring())).ReadStream(ctx, stream.ID)
	is.NoErr(err) // another keyring over the same KEK opens it
	e, err := read[0].Event()
	is.NoErr(err)
	is.Equal(e, registered)
}

// A store without a keyring neither appends nor reads personal data.
func TestPersonalDataNeedsAKeyring(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	stream, registered := registration(t)
	bare := eventstore.New(db.Pool)
	_, err := bare.Append(ctx, stream, 0, []domain.Event{registered})
	is.True(err != nil && strings.Contains(err.Error(), "keyring")) // a wiring bug, said as such

	_, err = eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring())).Append(ctx, stream, 0, []domain.Event{registered})
	is.NoErr(err)
	_, err = bare.ReadStream(ctx, stream.ID)
	is.True(err != nil && strings.Contains(err.Error(), "keyring")) // never read as erased
}

// No key is made again for an erased person: an append that would store
// their personal data fails, and stores nothing.
func TestAppendForAnErasedSubjectFails(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	keys := testdb.Keyring()
	store := eventstore.New(db.Pool, eventstore.WithKeyring(keys))
	user, registered := registration(t)
	_, err := store.Append(ctx, user, 0, []domain.Event{registered})
	is.NoErr(err) // the person's account, and key
	first, submitted := submission(user.ID)
	_, err = store.Append(ctx, first, 0, []domain.Event{submitted})
	is.NoErr(err) // an application of theirs, sealed with that key (which the keyring keeps)

	eraseKey(t, user.ID)
	keys.Forget(user.ID)

	stream, submitted := submission(user.ID)
	_, err = store.Append(ctx, stream, 0, []domain.Event{submitted})
	is.True(errors.Is(err, eventstore.ErrErased)) // refused: the person was erased
	read, err := store.ReadStream(ctx, stream.ID)
	is.NoErr(err)
	is.Equal(len(read), 0) // nothing was stored

	var wrappedIsNull bool
	is.NoErr(db.Owner.QueryRow(ctx, `SELECT wrapped IS NULL FROM data_keys WHERE subject_id = $1`, user.ID).Scan(&wrappedIsNull))
	is.True(wrappedIsNull) // and no key was made again

	// So too for a subject whose first appearance is after its erasure
	// (an applicant whose account's key went first).
	ghost := uuid.New()
	_, err = db.Owner.Exec(ctx, `INSERT INTO data_keys (subject_id, wrapped, erased_at) VALUES ($1, NULL, now())`, ghost)
	is.NoErr(err)
	stream, submitted = submission(ghost)
	_, err = eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring())).Append(ctx, stream, 0, []domain.Event{submitted})
	is.True(errors.Is(err, eventstore.ErrErased))
}

// Two appends that each make a subject's first key at once agree on one:
// both succeed, and both read back.
func TestConcurrentFirstAppendsOfASubjectShareOneKey(t *testing.T) {
	ctx := testContext(t)
	for range 5 {
		is := is.New(t)
		applicant := uuid.New()
		var streams [2]eventstore.Stream
		var events [2]domain.ApplicationSubmitted
		for i := range streams {
			streams[i], events[i] = submission(applicant)
		}
		var errs [2]error
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range streams {
			// A keyring each, as two processes have: neither knows the
			// other's key.
			store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
			wg.Go(func() {
				<-start
				_, errs[i] = store.Append(ctx, streams[i], 0, []domain.Event{events[i]})
			})
		}
		close(start)
		wg.Wait()
		is.NoErr(errs[0]) // both appends succeed
		is.NoErr(errs[1])

		var keyRows int
		is.NoErr(db.Owner.QueryRow(ctx, `SELECT count(*) FROM data_keys WHERE subject_id = $1`, applicant).Scan(&keyRows))
		is.Equal(keyRows, 1) // with one key between them

		reader := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
		for i := range streams {
			read, err := reader.ReadStream(ctx, streams[i].ID)
			is.NoErr(err) // each reads back
			is.Equal(len(read), 1)
			is.True(!read[0].Shredded) // sealed under the key that was kept
			is.Equal(read[0].Subject, applicant)
			e, err := read[0].Event()
			is.NoErr(err)
			is.Equal(e, events[i]) // as appended

			var stored string
			var subject uuid.UUID
			is.NoErr(db.Pool.QueryRow(ctx, `SELECT data::text, subject_id FROM events WHERE stream_id = $1`, streams[i].ID).Scan(&stored, &subject))
			is.Equal(subject, applicant)                                // the row names whose key
			is.True(!strings.Contains(stored, events[i].Email))         // and holds no email in clear
			is.True(!strings.Contains(stored, events[i].Name))          // nor name
			is.True(!strings.Contains(stored, events[i].CoverLetter))   // nor cover letter
			is.True(!strings.Contains(stored, events[i].Resume.SHA256)) // nor the resume's description
		}
	}
}

// An append of several events holding one new person's data, on the
// stream their key is made with (their account's), seals them all under
// that one key.
func TestSeveralPersonalEventsOfANewSubjectInOneAppend(t *testing.T) {
	is := is.New(t)
	ctx := testContext(t)
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	stream, events := someEvents(t, 2)
	_, err := store.Append(ctx, stream, 0, events)
	is.NoErr(err) // both events are stored

	var keyRows int
	is.NoErr(db.Owner.QueryRow(ctx, `SELECT count(*) FROM data_keys WHERE subject_id = $1`, stream.ID).Scan(&keyRows))
	is.Equal(keyRows, 1) // under one key
	read, err := store.ReadStream(ctx, stream.ID)
	is.NoErr(err)
	got, err := eventstore.Events(read)
	is.NoErr(err)
	is.Equal(got, events) // which opens them both
}
