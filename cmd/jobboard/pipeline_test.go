package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
)

// TestEventsFindsApplicationMoves: the audit command finds an
// application's moves by type, with who made them and from where to
// where, and shows where it stood at any time.
func TestEventsFindsApplicationMoves(t *testing.T) {
	is := is.New(t)
	dbURL := freshDatabaseURL(t)
	ctx := context.Background()
	if code, _, stderr := runCommand(t, env("DATABASE_URL", dbURL), "migrate"); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	is.NoErr(err)
	defer pool.Close()
	// The log stamps each event with this clock, for --as-of.
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	clock := at
	store := eventstore.New(pool, eventstore.WithKeyring(testdb.Keyring()), eventstore.WithClock(func() time.Time { return clock }))

	recruiter, applicant, job, app := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	stream := eventstore.Stream{Type: domain.StreamApplication, ID: app}
	_, err = store.Append(eventstore.WithActor(ctx, applicant), stream, 0, []domain.Event{domain.ApplicationSubmitted{
		ApplicationID: app, JobID: job, ApplicantID: applicant, RecruiterID: recruiter, Name: "Ada", Email: "ada@example.com", SubmittedAt: at}})
	is.NoErr(err)
	moves := []domain.Event{
		domain.ApplicationStatusChanged{ApplicationID: app, JobID: job, ApplicantID: applicant, RecruiterID: recruiter,
			From: domain.ApplicationSubmittedStatus, To: domain.StatusInterview, ChangedBy: recruiter, ChangedAt: at.Add(time.Hour)},
		domain.ApplicationStatusChanged{ApplicationID: app, JobID: job, ApplicantID: applicant, RecruiterID: recruiter,
			From: domain.StatusInterview, To: domain.StatusRejected, Reason: "Too late", ChangedBy: recruiter, ChangedAt: at.Add(2 * time.Hour)},
	}
	clock = at.Add(2 * time.Hour)
	last, err := store.Append(eventstore.WithActor(ctx, recruiter), stream, 1, moves[:1])
	is.NoErr(err)
	clock = at.Add(3 * time.Hour)
	last, err = store.Append(eventstore.WithActor(ctx, recruiter), stream, 2, moves[1:])
	is.NoErr(err)
	withdrawn := uuid.New()
	_, err = store.Append(eventstore.WithActor(ctx, applicant), eventstore.Stream{Type: domain.StreamApplication, ID: withdrawn}, 0, []domain.Event{
		domain.ApplicationSubmitted{ApplicationID: withdrawn, JobID: job, ApplicantID: applicant, RecruiterID: recruiter, Name: "Ada", Email: "ada@example.com", SubmittedAt: at},
		domain.ApplicationWithdrawn{ApplicationID: withdrawn, JobID: job, ApplicantID: applicant, RecruiterID: recruiter, From: domain.ApplicationSubmittedStatus, WithdrawnAt: at.Add(time.Hour)},
	})
	is.NoErr(err)
	waitForHead(t, store, last.Last())

	getenv := env("DATABASE_URL", dbURL)
	code, stdout, stderr := runCommand(t, getenv, "events", "--type", "ApplicationStatusChanged", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("events: %s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	is.Equal(len(lines), 2) // the two moves, and nothing else
	for i, line := range lines {
		var r eventstore.Record
		is.NoErr(json.Unmarshal([]byte(line), &r))
		is.Equal(r.StreamID, app)
		is.Equal(r.Metadata.ActorID, recruiter) // who moved it
		var data map[string]any
		is.NoErr(json.Unmarshal(r.Data, &data))
		is.Equal(data["to"], []string{"interview", "rejected"}[i]) // where to
	}

	code, stdout, _ = runCommand(t, getenv, "events", "--type", "ApplicationWithdrawn")
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, withdrawn.String())) // the withdrawal, by its applicant
	is.True(strings.Contains(stdout, applicant.String()))

	code, stdout, stderr = runCommand(t, getenv, "events", "--stream", app.String(), "--as-of", at.Add(150*time.Minute).Format(time.RFC3339))
	if code != 0 {
		t.Fatalf("events --as-of: %s", stderr)
	}
	is.True(strings.Contains(stdout, `"status": "interview"`)) // where it stood then
}

// waitForHead waits until every event up to cp is visible to readers of
// the log (other tests' transactions can hide it for a moment).
func waitForHead(t *testing.T, store *eventstore.Store, cp eventstore.Checkpoint) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		head, err := store.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !head.Less(cp) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log's head %s did not reach %s", head, cp)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
