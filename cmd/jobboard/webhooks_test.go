package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/postgres"
)

func TestWebhooksListAndRetry(t *testing.T) {
	is := is.New(t)
	dbURL := freshDatabaseURL(t)
	getenv := env("DATABASE_URL", dbURL)
	if code, _, stderr := runCommand(t, getenv, "migrate"); code != 0 {
		t.Fatalf("migrate exited with %d:\n%s", code, stderr)
	}
	code, stdout, stderr := runCommand(t, getenv, "webhooks")
	if code != 0 {
		t.Fatalf("webhooks exited with %d:\n%s", code, stderr)
	}
	is.True(strings.Contains(stdout, "(none)")) // an empty queue says so

	ctx := t.Context()
	pool, err := postgres.Open(ctx, dbURL)
	is.NoErr(err)
	defer pool.Close()
	sub, owner := uuid.New(), uuid.New()
	_, err = pool.Exec(ctx, `
INSERT INTO webhook_subscriptions (id, owner_id, url, events, secret)
VALUES ($1, $2, 'https://hooks.example.com/jobboard', '{job.posted,job.closed}', $3)`, sub, owner, strings.Repeat("ab", 32))
	is.NoErr(err)
	failed, delivered, pending := uuid.New(), uuid.New(), uuid.New()
	_, err = pool.Exec(ctx, `
INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, event_tx_id, event_position, body,
    status, attempts, last_status_code, last_error, delivered_at) VALUES
    ($1, $4, gen_random_uuid(), 'job.posted', '10', 1, '{}', 'failed', 7, 503, 'answered 503 Service Unavailable', NULL),
    ($2, $4, gen_random_uuid(), 'job.closed', '11', 2, '{}', 'delivered', 1, 204, NULL, now()),
    ($3, $4, gen_random_uuid(), 'job.posted', '12', 3, '{}', 'pending', 0, NULL, NULL, NULL)`, failed, delivered, pending, sub)
	is.NoErr(err) // a queue with one of each
	_, err = pool.Exec(ctx, `
INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms) VALUES
    ($1, 1, 503, 'answered 503 Service Unavailable', 42), ($1, 2, NULL, NULL, NULL)`, failed)
	is.NoErr(err)

	code, stdout, _ = runCommand(t, getenv, "webhooks")
	is.Equal(code, 0)
	for _, want := range []string{failed.String(), delivered.String(), pending.String(), "answered 503 Service Unavailable",
		"ATTEMPTS", "hooks.example.com", "job.closed"} {
		is.True(strings.Contains(stdout, want)) // the table shows every delivery, its URL and the error
	}

	code, stdout, _ = runCommand(t, getenv, "webhooks", "--status", "failed", "--format", "jsonl")
	is.Equal(code, 0)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	is.Equal(len(lines), 1) // only the failed one
	var line struct {
		ID             uuid.UUID `json:"id"`
		SubscriptionID uuid.UUID `json:"subscription_id"`
		RecruiterID    uuid.UUID `json:"recruiter_id"`
		Status         string    `json:"status"`
		Attempts       int       `json:"attempts"`
		LastStatusCode int       `json:"last_status_code"`
		LastError      string    `json:"last_error"`
	}
	is.NoErr(json.Unmarshal([]byte(lines[0]), &line)) // as JSON
	is.Equal(line.ID, failed)
	is.Equal(line.SubscriptionID, sub)
	is.Equal(line.RecruiterID, owner)
	is.Equal(line.Status, "failed")
	is.Equal(line.LastStatusCode, 503)

	code, stdout, _ = runCommand(t, getenv, "webhooks", "--subscription", uuid.NewString())
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, "(none)")) // another subscription has none

	code, stdout, _ = runCommand(t, getenv, "webhooks", "subscriptions")
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, sub.String()))              // the subscription
	is.True(strings.Contains(stdout, "job.posted,job.closed"))   // its events
	is.True(!strings.Contains(stdout, strings.Repeat("ab", 32))) // never its secret
	code, stdout, _ = runCommand(t, getenv, "webhooks", "subscriptions", "--format", "jsonl")
	is.Equal(code, 0)
	var summary struct {
		ID                         uuid.UUID
		Events                     []string
		Pending, Delivered, Failed int
	}
	is.NoErr(json.Unmarshal([]byte(stdout), &summary))
	is.Equal(summary.ID, sub)
	is.Equal([]int{summary.Pending, summary.Delivered, summary.Failed}, []int{1, 1, 1}) // how its deliveries stand

	code, stdout, _ = runCommand(t, getenv, "webhooks", "attempts", failed.String())
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, "503"))          // the first attempt's answer
	is.True(strings.Contains(stdout, "(no outcome)")) // and the one a worker did not finish

	code, _, stderr = runCommand(t, getenv, "webhooks", "retry", delivered.String())
	is.Equal(code, 1)                                      // a delivered one is not sent again
	is.True(strings.Contains(stderr, "delivered already")) // and it says why
	code, _, stderr = runCommand(t, getenv, "webhooks", "retry", uuid.NewString())
	is.Equal(code, 1)                                             // an unknown one is an error
	is.True(strings.Contains(stderr, "no such webhook delivery")) // that names the problem

	code, stdout, _ = runCommand(t, getenv, "webhooks", "retry", "--failed", "--subscription", sub.String())
	is.Equal(code, 0)
	is.Equal(stdout, "queued 1 failed webhook delivery(ies) again\n") // the failed one is queued again
	var status string
	var attempts, base int
	is.NoErr(pool.QueryRow(ctx, `SELECT status, attempts, retry_base FROM webhook_deliveries WHERE id = $1`, failed).Scan(&status, &attempts, &base))
	is.Equal(status, "pending") // and pending now
	is.Equal(base, attempts)    // with the whole retry schedule ahead of it

	code, _, _ = runCommand(t, getenv, "webhooks", "retry")
	is.Equal(code, 2) // neither ids nor --failed: a usage error
	code, _, _ = runCommand(t, getenv, "webhooks", "--status", "lost")
	is.Equal(code, 2) // an unknown status: a usage error
	code, _, _ = runCommand(t, getenv, "webhooks", "attempts")
	is.Equal(code, 2) // no delivery named: a usage error
	code, stdout, _ = runCommand(t, getenv, "webhooks", "--help")
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, "retry --failed")) // the help names the subcommands
	code, stdout, _ = runCommand(t, getenv, "--help")
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, "WEBHOOK_RETRY_SCHEDULE")) // and the configuration
}
