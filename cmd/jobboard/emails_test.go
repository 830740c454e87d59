package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/postgres"
)

func TestEmailsListAndRetry(t *testing.T) {
	is := is.New(t)
	dbURL := freshDatabaseURL(t)
	getenv := env("DATABASE_URL", dbURL)
	if code, _, stderr := runCommand(t, getenv, "migrate"); code != 0 {
		t.Fatalf("migrate exited with %d:\n%s", code, stderr)
	}
	code, stdout, stderr := runCommand(t, getenv, "emails")
	if code != 0 {
		t.Fatalf("emails exited with %d:\n%s", code, stderr)
	}
	is.True(strings.Contains(stdout, "(none)")) // an empty queue says so

	ctx := t.Context()
	pool, err := postgres.Open(ctx, dbURL)
	is.NoErr(err)
	defer pool.Close()
	failed, sent, pending := uuid.New(), uuid.New(), uuid.New()
	_, err = pool.Exec(ctx, `
INSERT INTO email_deliveries (application_id, status, attempts, last_error, sent_at) VALUES
    ($1, 'failed', 1, '550 5.1.1 no mailbox here', NULL),
    ($2, 'sent', 2, NULL, now()),
    ($3, 'pending', 0, NULL, NULL)`, failed, sent, pending)
	is.NoErr(err) // a queue with one of each

	code, stdout, _ = runCommand(t, getenv, "emails")
	is.Equal(code, 0)
	for _, want := range []string{failed.String(), sent.String(), pending.String(), "550 5.1.1 no mailbox here", "ATTEMPTS"} {
		is.True(strings.Contains(stdout, want)) // the table shows every delivery and the error
	}

	code, stdout, _ = runCommand(t, getenv, "emails", "--status", "failed", "--format", "jsonl")
	is.Equal(code, 0)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	is.Equal(len(lines), 1) // only the failed one
	var line struct {
		ApplicationID uuid.UUID `json:"application_id"`
		Status        string    `json:"status"`
		Attempts      int       `json:"attempts"`
		LastError     string    `json:"last_error"`
	}
	is.NoErr(json.Unmarshal([]byte(lines[0]), &line)) // as JSON
	is.Equal(line.ApplicationID, failed)
	is.Equal(line.Status, "failed")
	is.Equal(line.LastError, "550 5.1.1 no mailbox here")

	code, _, stderr = runCommand(t, getenv, "emails", "retry", sent.String())
	is.Equal(code, 1)                                 // a sent mail is not sent again
	is.True(strings.Contains(stderr, "sent already")) // and it says why
	code, _, stderr = runCommand(t, getenv, "emails", "retry", uuid.NewString())
	is.Equal(code, 1)                                 // an unknown one is an error
	is.True(strings.Contains(stderr, "no email for")) // that names the problem

	code, stdout, _ = runCommand(t, getenv, "emails", "retry", "--failed")
	is.Equal(code, 0)
	is.Equal(stdout, "queued 1 failed email(s) again\n") // the failed one is queued again
	var status string
	is.NoErr(pool.QueryRow(ctx, `SELECT status FROM email_deliveries WHERE application_id = $1`, failed).Scan(&status))
	is.Equal(status, "pending") // and pending now

	code, _, _ = runCommand(t, getenv, "emails", "retry")
	is.Equal(code, 2) // neither ids nor --failed: a usage error
	code, _, _ = runCommand(t, getenv, "emails", "--status", "lost")
	is.Equal(code, 2) // an unknown status: a usage error
	code, stdout, _ = runCommand(t, getenv, "emails", "retry", "--help")
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, "--failed")) // the help explains the flag
}
