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
	// A queue with one of each status: the recruiter's mail about an
	// application (its id the application's), and two mails to another
	// applicant, one for each of two quick moves.
	application, failed, pending, sent := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	_, err = pool.Exec(ctx, `
INSERT INTO email_deliveries (id, kind, application_id, event_id, event_position, status, attempts, last_error, sent_at) VALUES
    ($2, 'new_application', $2, gen_random_uuid(), 1, 'sent', 2, NULL, now()),
    ($1, 'status_changed', $4, gen_random_uuid(), 2, 'failed', 1, '550 5.1.1 no mailbox here', NULL),
    ($3, 'status_changed', $4, gen_random_uuid(), 3, 'pending', 0, NULL, NULL)`, failed, sent, pending, application)
	is.NoErr(err)

	code, stdout, _ = runCommand(t, getenv, "emails")
	is.Equal(code, 0)
	for _, want := range []string{failed.String(), sent.String(), pending.String(), "550 5.1.1 no mailbox here", "ATTEMPTS", "KIND", "TO"} {
		is.True(strings.Contains(stdout, want)) // the table shows every delivery and the error
	}
	rows := map[string]string{}
	for line := range strings.Lines(stdout) {
		if f := strings.Fields(line); len(f) > 4 {
			rows[f[0]] = strings.Join(f[1:5], " ")
		}
	}
	is.Equal(rows[sent.String()], "new_application recruiter "+sent.String()+" sent")           // its kind, recipient and application
	is.Equal(rows[failed.String()], "status_changed applicant "+application.String()+" failed") // another kind, to the applicant

	code, stdout, _ = runCommand(t, getenv, "emails", "--status", "failed", "--format", "jsonl")
	is.Equal(code, 0)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	is.Equal(len(lines), 1) // only the failed one
	var line struct {
		ID            uuid.UUID `json:"id"`
		Kind          string    `json:"kind"`
		Recipient     string    `json:"recipient"`
		ApplicationID uuid.UUID `json:"application_id"`
		Status        string    `json:"status"`
		Attempts      int       `json:"attempts"`
		LastError     string    `json:"last_error"`
	}
	is.NoErr(json.Unmarshal([]byte(lines[0]), &line)) // as JSON
	is.Equal(line.ID, failed)
	is.Equal(line.Kind, "status_changed")
	is.Equal(line.Recipient, "applicant")
	is.Equal(line.ApplicationID, application)
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
	is.NoErr(pool.QueryRow(ctx, `SELECT status FROM email_deliveries WHERE id = $1`, failed).Scan(&status))
	is.Equal(status, "pending") // and pending now

	// By its own id, one mail; by its application's, every unsent one.
	_, err = pool.Exec(ctx, `UPDATE email_deliveries SET status = 'failed' WHERE id = ANY($1)`, []uuid.UUID{failed, pending})
	is.NoErr(err)
	code, stdout, _ = runCommand(t, getenv, "emails", "retry", failed.String())
	is.Equal(code, 0)
	is.Equal(stdout, failed.String()+": 1 email(s) queued again\n") // one mail, by its id
	is.NoErr(pool.QueryRow(ctx, `SELECT status FROM email_deliveries WHERE id = $1`, failed).Scan(&status))
	is.Equal(status, "pending")
	is.NoErr(pool.QueryRow(ctx, `SELECT status FROM email_deliveries WHERE id = $1`, pending).Scan(&status))
	is.Equal(status, "failed") // not the other
	_, err = pool.Exec(ctx, `UPDATE email_deliveries SET status = 'failed' WHERE id = $1`, failed)
	is.NoErr(err)
	code, stdout, _ = runCommand(t, getenv, "emails", "retry", application.String())
	is.Equal(code, 0)
	is.Equal(stdout, application.String()+": 2 email(s) queued again\n") // both
	var statuses []string
	is.NoErr(pool.QueryRow(ctx, `SELECT array_agg(status ORDER BY event_position) FROM email_deliveries`).Scan(&statuses))
	is.Equal(statuses, []string{"sent", "pending", "pending"}) // and nothing else

	code, _, _ = runCommand(t, getenv, "emails", "retry")
	is.Equal(code, 2) // neither ids nor --failed: a usage error
	code, _, _ = runCommand(t, getenv, "emails", "--status", "lost")
	is.Equal(code, 2) // an unknown status: a usage error
	code, stdout, _ = runCommand(t, getenv, "emails", "retry", "--help")
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, "--failed")) // the help explains the flag
}
