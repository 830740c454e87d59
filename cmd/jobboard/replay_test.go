package main

import (
	"context"
	"encoding/json"
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

// seedLog appends a recruiter's account and a job with two changes, and
// returns the job's id and the times between its events.
func seedLog(t *testing.T, dbURL string) (recruiter, job uuid.UUID, beforeUpdate, afterUpdate time.Time) {
	t.Helper()
	is := is.New(t)
	ctx := t.Context()
	code, _, stderr := runCommand(t, env("DATABASE_URL", dbURL), "migrate")
	if code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	pool, err := postgres.Open(ctx, dbURL)
	is.NoErr(err)
	defer pool.Close()
	// The log stamps each event with its clock: the domain times below, so
	// that --since, --until and --as-of have known times to work with.
	var clock time.Time
	store := eventstore.New(pool, eventstore.WithKeyring(testdb.Keyring()), eventstore.WithClock(func() time.Time { return clock }))

	recruiter, job = uuid.New(), uuid.New()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock = at
	actx := eventstore.WithActor(ctx, recruiter)
	_, err = store.Append(actx, eventstore.Stream{Type: domain.StreamUser, ID: recruiter}, 0, []domain.Event{domain.UserRegistered{
		UserID: recruiter, Email: "cli-recruiter@example.com", Name: "Cli Recruiter", Role: domain.RoleRecruiter, Company: "Cli Co", RegisteredAt: at}})
	is.NoErr(err)
	clock = at.Add(time.Hour)
	_, err = store.Append(actx, eventstore.Stream{Type: domain.StreamJob, ID: job}, 0, []domain.Event{domain.JobPosted{
		JobID: job, RecruiterID: recruiter, Title: "Old Title", Description: "Build things", Company: "Cli Co", Location: "Oslo",
		EmploymentType: domain.FullTime, PostedAt: at.Add(time.Hour)}})
	is.NoErr(err)
	title := "New Title"
	clock = at.Add(3 * time.Hour)
	_, err = store.Append(actx, eventstore.Stream{Type: domain.StreamJob, ID: job}, 1, []domain.Event{domain.JobUpdated{
		JobID: job, Title: &title, UpdatedAt: at.Add(3 * time.Hour)}})
	is.NoErr(err)
	clock = at.Add(4 * time.Hour)
	closed, err := store.Append(actx, eventstore.Stream{Type: domain.StreamJob, ID: job}, 2, []domain.Event{domain.JobClosed{
		JobID: job, ClosedAt: at.Add(4 * time.Hour)}})
	is.NoErr(err)

	// Readers of the log (a replay, --follow) see only what no running
	// transaction can still come before, and other tests' CREATE DATABASE
	// holds one for up to a second: wait until the whole log is visible.
	waitForHead(t, store, closed.Last())
	return recruiter, job, at.Add(2 * time.Hour), at.Add(3*time.Hour + 30*time.Minute)
}

func TestEventsAuditQueries(t *testing.T) {
	is := is.New(t)
	dbURL := freshDatabaseURL(t)
	getenv := env("DATABASE_URL", dbURL)
	recruiter, job, beforeUpdate, afterUpdate := seedLog(t, dbURL)

	code, stdout, stderr := runCommand(t, getenv, "events", "--stream", job.String())
	if code != 0 {
		t.Fatalf("events: %s", stderr)
	}
	for _, want := range []string{"JobPosted", "JobUpdated", "JobClosed", recruiter.String(), "POSITION"} {
		is.True(strings.Contains(stdout, want)) // the job's history, with who did it
	}
	is.True(!strings.Contains(stdout, "UserRegistered")) // and only the job's

	code, stdout, _ = runCommand(t, getenv, "events", "--actor", recruiter.String(), "--type", "JobUpdated", "--format", "jsonl")
	is.Equal(code, 0)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	is.Equal(len(lines), 1) // one update by that actor
	var r eventstore.Record
	is.NoErr(json.Unmarshal([]byte(lines[0]), &r))
	is.Equal(r.Type, "JobUpdated")
	is.Equal(r.Metadata.ActorID, recruiter)
	is.Equal(r.StreamID, job)

	code, stdout, _ = runCommand(t, getenv, "events", "--since", beforeUpdate.Format(time.RFC3339), "--until", afterUpdate.Format(time.RFC3339), "--format", "jsonl")
	is.Equal(code, 0)
	is.Equal(strings.Count(stdout, "\n"), 1)          // one event in that hour
	is.True(strings.Contains(stdout, `"JobUpdated"`)) // the update

	code, stdout, _ = runCommand(t, getenv, "events", "--type", "JobDeleted")
	is.Equal(code, 0)
	is.Equal(strings.TrimSpace(stdout), "(no events)") // nothing matches: said so

	// The job as it was before and after its update.
	code, stdout, stderr = runCommand(t, getenv, "events", "--stream", job.String(), "--as-of", beforeUpdate.Format(time.RFC3339))
	if code != 0 {
		t.Fatalf("events --as-of: %s", stderr)
	}
	var past struct {
		Version int64          `json:"version"`
		State   map[string]any `json:"state"`
	}
	is.NoErr(json.Unmarshal([]byte(stdout), &past))
	is.Equal(past.State["title"], "Old Title") // the title it had then
	is.Equal(past.State["status"], "open")
	is.Equal(past.Version, int64(1))
	code, stdout, _ = runCommand(t, getenv, "events", "--stream", job.String(), "--as-of", afterUpdate.Format(time.RFC3339))
	is.Equal(code, 0)
	is.NoErr(json.Unmarshal([]byte(stdout), &past))
	is.Equal(past.State["title"], "New Title") // and after the update
	is.Equal(past.State["status"], "open")     // before it was closed

	code, _, stderr = runCommand(t, getenv, "events", "--stream", job.String(), "--as-of", "2020-01-01")
	is.Equal(code, 1)                                      // before the job existed
	is.True(strings.Contains(stderr, "did not exist yet")) // says so

	for _, bad := range [][]string{
		{"events", "--type", "Nope"},
		{"events", "--stream", "not-a-uuid"},
		{"events", "--since", "yesterday"},
		{"events", "--as-of", "2026-01-01"},
		{"events", "--format", "xml"},
	} {
		code, _, _ = runCommand(t, getenv, bad...)
		is.Equal(code, 2) // a usage error
	}
}

func TestReplayCommand(t *testing.T) {
	is := is.New(t)
	dbURL := freshDatabaseURL(t)
	getenv := env("DATABASE_URL", dbURL)
	_, job, _, _ := seedLog(t, dbURL)

	// Nothing projected the log yet: the replay builds the views from it.
	code, stdout, stderr := runCommand(t, getenv, "replay", "--all")
	if code != 0 {
		t.Fatalf("replay: %s", stderr)
	}
	is.True(strings.Contains(stdout, "rebuilt users, jobs from 4 events")) // it says what it did
	is.True(strings.Contains(stderr, "replay: switch"))                    // and logs its phases (no terminal here)

	pool, err := postgres.Open(t.Context(), dbURL)
	is.NoErr(err)
	defer pool.Close()
	var title, status string
	is.NoErr(pool.QueryRow(t.Context(), `SELECT title, status FROM jobs WHERE id = $1`, job).Scan(&title, &status))
	is.Equal(title, "New Title") // the job as the log says
	is.Equal(status, "closed")

	code, stdout, _ = runCommand(t, getenv, "replay", "--projection", "users")
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, "rebuilt users from")) // one projection

	code, _, stderr = runCommand(t, getenv, "replay", "--all", "--progress", "bar")
	is.Equal(code, 0)
	is.True(strings.Contains(stderr, "rebuild"))   // a bar, as on a terminal
	is.True(strings.Contains(stderr, "4/4"))       // of the events in the log
	is.True(!strings.Contains(stderr, "replay: ")) // instead of the log lines

	for _, bad := range [][]string{
		{"replay"},
		{"replay", "--all", "--projection", "users"},
		{"replay", "--projection", "nope"},
		{"replay", "--all", "--batch", "0"},
		{"replay", "--all", "--rows-in-memory", "10"},
	} {
		code, _, _ = runCommand(t, getenv, bad...)
		is.Equal(code, 2) // a usage error
	}
}

// --follow prints the events appended after it started, as they come.
func TestEventsFollow(t *testing.T) {
	is := is.New(t)
	dbURL := freshDatabaseURL(t)
	_, job, _, _ := seedLog(t, dbURL)
	ctx, stop := context.WithCancel(t.Context())
	var out, errs lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"events", "--follow", "--type", "JobReopened", "--format", "jsonl"}, env("DATABASE_URL", dbURL), &out, &errs)
	}()

	pool, err := postgres.Open(t.Context(), dbURL)
	is.NoErr(err)
	defer pool.Close()
	_, err = eventstore.New(pool, eventstore.WithKeyring(testdb.Keyring())).Append(t.Context(), eventstore.Stream{Type: domain.StreamJob, ID: job}, 3,
		[]domain.Event{domain.JobReopened{JobID: job, ReopenedAt: time.Now().UTC()}})
	is.NoErr(err) // an event appended after following began

	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), `"JobReopened"`) {
		if time.Now().After(deadline) {
			t.Fatalf("--follow did not print the new event:\n%s\n%s", out.String(), errs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	select {
	case code := <-done:
		is.Equal(code, 0) // Ctrl-C ends it cleanly
	case <-time.After(10 * time.Second):
		t.Fatal("--follow did not stop when its context ended")
	}
	is.Equal(strings.Count(out.String(), "\n"), 1) // only the matching event
}
