package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/app"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/mailer"
	"github.com/jobboard/jobboard/postgres"
)

// emails lists the mail queue, or with "retry" re-queues deliveries.
func emails(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "retry" {
		return emailsRetry(ctx, args[1:], getenv, stdout, stderr)
	}
	fs := newFlagSet("emails", `Lists the emails, newest first: each one's id, kind (new_application and
application_withdrawn go to the job's recruiter, application_received and
status_changed to the applicant), recipient and application, and whether it is
pending (waiting for its first or next attempt), sent, or failed (refused for
good by the mail server), with the number of attempts and the last error.

  jobboard emails retry <id>...   queue those again, due now: an email's id, or
                                 an application's for all of its emails
  jobboard emails retry --failed  queue every failed one again`, stderr)
	status := fs.String("status", "", "only pending, sent or failed")
	limit := fs.Int("limit", 50, "at most this many, from 1 to 10000")
	format := fs.String("format", "table", "table or jsonl")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch mailer.Status(*status) {
	case "", mailer.StatusPending, mailer.StatusSent, mailer.StatusFailed:
	default:
		return usageError(fs, "--status %q: want pending, sent or failed", *status)
	}
	if *limit < 1 || *limit > 10000 {
		return usageError(fs, "--limit: want 1 to 10000")
	}
	if *format != "table" && *format != "jsonl" {
		return usageError(fs, "--format %q: want table or jsonl", *format)
	}
	pool, err := openForCommand(ctx, getenv, stderr, asService)
	if err != nil {
		return err
	}
	defer pool.Close()
	list, err := mailer.NewQueue(pool).List(ctx, mailer.Status(*status), *limit)
	if err != nil {
		return err
	}
	return writeListing(stdout, *format, list, func(d mailer.Delivery) any { return deliveryJSON(d) },
		"ID\tKIND\tTO\tAPPLICATION\tSTATUS\tATTEMPTS\tQUEUED\tNEXT ATTEMPT / SENT\tLAST ERROR",
		func(d mailer.Delivery) string {
			when := d.NextAttemptAt.UTC().Format(time.RFC3339)
			switch {
			case d.SentAt != nil:
				when = d.SentAt.UTC().Format(time.RFC3339)
			case d.Status == mailer.StatusFailed:
				when = "-"
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s", d.ID, d.Kind, d.Kind.Recipient(), d.ApplicationID, d.Status,
				d.Attempts, d.CreatedAt.UTC().Format(time.RFC3339), when, oneLine(d.LastError, 80))
		})
}

func emailsRetry(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("emails retry", `Queues emails again, due at once: the ones named by application id (every
email about that application), or by their own id (as jobboard emails lists
it), or with --failed every failed one. A sent email is not sent again.

Usage: jobboard emails retry <application-id | email-id>... | --failed`, stderr)
	failed := fs.Bool("failed", false, "queue every failed email again")
	var ids []uuid.UUID
	var flags []string
	for _, a := range args {
		if id, err := uuid.Parse(a); err == nil {
			ids = append(ids, id)
			continue
		}
		flags = append(flags, a)
	}
	if err := parseFlags(fs, flags, stdout); err != nil {
		return err
	}
	if *failed == (len(ids) > 0) {
		return usageError(fs, "name application ids or give --failed (one of the two)")
	}
	pool, err := openForCommand(ctx, getenv, stderr, asService)
	if err != nil {
		return err
	}
	defer pool.Close()
	queue := mailer.NewQueue(pool)
	if *failed {
		n, err := queue.RetryFailed(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "queued %d failed email(s) again\n", n)
		return nil
	}
	var errs []error
	for _, id := range ids {
		switch n, err := queue.Retry(ctx, id); {
		case errors.Is(err, mailer.ErrNotFound):
			errs = append(errs, fmt.Errorf("%s: no email for that application, nor with that id", id))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		default:
			fmt.Fprintf(stdout, "%s: %d email(s) queued again\n", id, n)
		}
	}
	return errors.Join(errs...)
}

// dbRole is who a one-off command connects as.
type dbRole bool

const (
	asService dbRole = false // DATABASE_URL
	asOwner   dbRole = true  // MIGRATE_DATABASE_URL: for a command that changes the schema, such as a replay, which builds tables and swaps them in
)

// openForCommand opens the database as role, for a one-off command. It
// creates and migrates nothing (serve and migrate do): a DATABASE_URL that
// names the wrong database or server is a one-line error naming it, not a
// new, empty database that answers every question with nothing.
// openKeyring returns the keyring of the service's data key, for a
// command that reads personal data from the log.
func openKeyring(getenv func(string) string, stderr io.Writer) (*eventstore.Keyring, error) {
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return app.Keyring(cfg, newLogger(cfg, stderr), false)
}

func openForCommand(ctx context.Context, getenv func(string) string, stderr io.Writer, role dbRole) (*pgxpool.Pool, error) {
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	newLogger(cfg, stderr)
	url := cfg.DatabaseURL
	if role == asOwner {
		url = cfg.MigrateDatabaseURL
	}
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := postgres.CheckMigrated(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

type deliveryLine struct {
	ID            uuid.UUID  `json:"id"`
	Kind          string     `json:"kind"`
	Recipient     string     `json:"recipient"` // recruiter or applicant
	ApplicationID uuid.UUID  `json:"application_id"`
	EventID       *uuid.UUID `json:"event_id,omitempty"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	CreatedAt     time.Time  `json:"created_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
}

func deliveryJSON(d mailer.Delivery) deliveryLine {
	l := deliveryLine{ID: d.ID, Kind: string(d.Kind), Recipient: d.Kind.Recipient(), ApplicationID: d.ApplicationID,
		Status: string(d.Status), Attempts: d.Attempts, CreatedAt: d.CreatedAt.UTC(), SentAt: d.SentAt, LastError: d.LastError}
	if d.EventID != uuid.Nil {
		l.EventID = &d.EventID
	}
	if d.Status == mailer.StatusPending {
		next := d.NextAttemptAt.UTC()
		l.NextAttemptAt = &next
	}
	return l
}

// oneLine shortens s to a single line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
