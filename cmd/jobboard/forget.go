package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/app"
	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/projections"
)

// forget erases a person, for an erasure request received another way
// than through the API.
func forget(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("forget", `Erases a person's personal data, as DELETE /me does, for a request received
another way: their data key is deleted, so that the personal fields of every
event about them read as null from then on (the events stay); PersonalDataErased
is appended to their account's stream, with the reason, and ApplicantErased to
each of their applications'; a recruiter's open jobs are closed; their
credentials, resume files, login-throttle rows, mails (queue rows, and files
in MAIL_DIR when mail goes there) and webhook deliveries are deleted. The
account can no longer log in and its tokens stop working; its email can be
registered again. Erasing someone erased before appends nothing and deletes
what is kept outside the log again.

  jobboard forget --user ID --reason TEXT
  jobboard forget --email ADDRESS --reason TEXT`, stderr)
	user := fs.String("user", "", "the account's id")
	email := fs.String("email", "", "the account's email")
	reason := fs.String("reason", "", "why (recorded in the log: a ticket number, say; no personal data)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if (*user == "") == (*email == "") {
		return usageError(fs, "give --user or --email (one of the two)")
	}
	if strings.TrimSpace(*reason) == "" {
		return usageError(fs, "--reason is required: the log records why a person's data went")
	}
	var id uuid.UUID
	if *user != "" {
		var err error
		if id, err = uuid.Parse(*user); err != nil {
			return usageError(fs, "--user %q: not an id", *user)
		}
	}
	cfg, err := app.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	keys, err := openKeyring(getenv, stderr)
	if err != nil {
		return err
	}
	pool, err := openForCommand(ctx, getenv, stderr, asService)
	if err != nil {
		return err
	}
	defer pool.Close()
	relay := bus.NewRelay(pool, slog.New(slog.DiscardHandler))
	go relay.Run(ctx)
	store := eventstore.New(pool, eventstore.WithKeyring(keys), eventstore.OnAppended(relay.Appended))
	cmds := commands.New(store, pool, projections.NewTracker(pool, relay, cfg.ConsistencyTimeout), nil, cfg.LoginLimits)
	cmds.AddForgetters(app.Forgetters(cfg)...)
	if *email != "" {
		if id, err = cmds.AccountByEmail(ctx, *email); err != nil {
			return fmt.Errorf("--email: %w", err)
		}
	}
	done, err := cmds.EraseAccount(ctx, id, uuid.Nil, *reason)
	var late *domain.Error
	switch {
	case errors.As(err, &late) && late.Kind == domain.KindUnavailable:
		// Committed: only the read models are late.
		fmt.Fprintf(stderr, "warning: the read models have not caught up yet (is the service running?): %v\n", err)
	case err != nil:
		return err
	}
	if done.Before {
		fmt.Fprintf(stdout, "%s was erased before; deleted again what is kept outside the log\n", id)
		return nil
	}
	fmt.Fprintf(stdout, "erased %s: %d application(s) anonymised, %d open job(s) closed\n", id, done.Applications, done.JobsClosed)
	return nil
}
