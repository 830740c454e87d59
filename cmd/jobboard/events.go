package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

const eventsHelp = `Audit queries over the event log, oldest first: who did what, and when.

Filters combine (all must hold):
  --stream <id>     one aggregate's events (a user, job or application id)
  --actor <id>      the events a user caused (the actor_id of each request)
  --type <type>     one event type: %s
  --since <time>    events at or after the time
  --until <time>    events before the time
Times are RFC 3339 (2026-11-25T14:00:00Z) or a date (2026-11-25, midnight UTC).

  --follow          keep printing new events as they are appended (Ctrl-C stops)
  --as-of <time>    with --stream: print the aggregate's state as it was at
                    that time, folded from its history, instead of its events

Examples:
  jobboard events --stream 6f1c2c1e-0d7a-4c1b-9a57-2f9a3c1d5e01
  jobboard events --actor <user id> --since 2026-11-01 --format jsonl
  jobboard events --type JobUpdated --follow
  jobboard events --stream <job id> --as-of 2026-11-20T12:00:00Z`

// events runs the audit queries.
func events(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events", fmt.Sprintf(eventsHelp, strings.Join(domain.EventTypes(), ", ")), stderr)
	var f eventstore.Filter
	uuidFlag(fs, "stream", "only this aggregate's events", &f.StreamID)
	uuidFlag(fs, "actor", "only the events this user caused", &f.ActorID)
	fs.StringVar(&f.Type, "type", "", "only this event type")
	timeFlag(fs, "since", "only events at or after this time", &f.Since)
	timeFlag(fs, "until", "only events before this time", &f.Until)
	var asOf time.Time
	timeFlag(fs, "as-of", "with --stream: the aggregate's state at this time", &asOf)
	format := fs.String("format", "table", "table or jsonl")
	limit := fs.Int("limit", 0, "at most this many events (0: all)")
	follow := fs.Bool("follow", false, "keep printing new events")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case f.Type != "" && !slices.Contains(domain.EventTypes(), f.Type):
		return usageError(fs, "--type %q: want one of %s", f.Type, strings.Join(domain.EventTypes(), ", "))
	case *format != "table" && *format != "jsonl":
		return usageError(fs, "--format %q: want table or jsonl", *format)
	case !asOf.IsZero() && f.StreamID == uuid.Nil:
		return usageError(fs, "--as-of needs --stream")
	case !asOf.IsZero() && *follow:
		return usageError(fs, "--as-of and --follow do not go together")
	case *limit < 0:
		return usageError(fs, "--limit: want 0 or more")
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
	store := eventstore.New(pool, eventstore.WithKeyring(keys))

	if !asOf.IsZero() {
		return printStateAsOf(ctx, store, f.StreamID, asOf, stdout)
	}

	out := newEventPrinter(*format, stdout)
	var wake <-chan struct{}
	var signal *bus.Signal
	f.Follow = *follow
	if *follow {
		relay := bus.NewRelay(pool, slog.New(slog.DiscardHandler))
		go relay.Run(ctx)
		signal = relay.Signals().Appended
	}
	printed := 0
	const page = 1000
	for {
		if signal != nil {
			_, wake = signal.Wait()
		}
		f.Limit = page
		if *limit > 0 {
			f.Limit = min(page, *limit-printed)
		}
		records, err := store.Query(ctx, f)
		if err != nil {
			if ctx.Err() != nil && *follow {
				return out.flush()
			}
			return err
		}
		for _, r := range records {
			if err := out.print(r); err != nil {
				return err
			}
		}
		printed += len(records)
		if len(records) > 0 {
			f.After = records[len(records)-1].Checkpoint()
		}
		if *limit > 0 && printed >= *limit {
			return out.flush()
		}
		if len(records) == page {
			continue
		}
		if !*follow {
			if printed == 0 && *format == "table" {
				fmt.Fprintln(stdout, "(no events)")
				return nil
			}
			return out.flush()
		}
		if err := out.flush(); err != nil {
			return err
		}
		// New events: woken by the relay (this process listens to the
		// appends of every process), or at the latest after a second.
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(time.Second):
		}
	}
}

type eventPrinter struct {
	format string
	w      io.Writer
	tw     *tabwriter.Writer
	enc    *json.Encoder
	header bool
}

func newEventPrinter(format string, w io.Writer) *eventPrinter {
	p := &eventPrinter{format: format, w: w}
	if format == "jsonl" {
		p.enc = json.NewEncoder(w)
		p.enc.SetEscapeHTML(false)
	}
	return p
}

func (p *eventPrinter) print(r eventstore.Record) error {
	if p.enc != nil {
		return p.enc.Encode(r)
	}
	if p.tw == nil {
		p.tw = tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
		if !p.header {
			fmt.Fprintln(p.tw, "POSITION\tOCCURRED AT\tTYPE\tSTREAM\tVERSION\tACTOR\tDATA")
			p.header = true
		}
	}
	actor := "-"
	if r.Metadata.ActorID != uuid.Nil {
		actor = r.Metadata.ActorID.String()
	}
	_, err := fmt.Fprintf(p.tw, "%d\t%s\t%s\t%s %s\t%d\t%s\t%s\n", r.Position, r.OccurredAt.UTC().Format(time.RFC3339Nano),
		r.Type, r.StreamType, r.StreamID, r.Version, actor, oneLine(string(r.Data), 100))
	return err
}

// flush writes out the table so far (a followed log prints as it goes; the
// columns of later rows may then be wider).
func (p *eventPrinter) flush() error {
	if p.tw == nil {
		return nil
	}
	err := p.tw.Flush()
	p.tw = nil
	return err
}

// printStateAsOf folds the stream's events up to asOf into its aggregate
// and prints the state as JSON.
func printStateAsOf(ctx context.Context, store *eventstore.Store, id uuid.UUID, asOf time.Time, w io.Writer) error {
	records, err := store.ReadStream(ctx, id)
	if err != nil {
		return err
	}
	if len(records) == 0 {
		return fmt.Errorf("no stream %s in the log", id)
	}
	upTo := 0
	for upTo < len(records) && !records[upTo].OccurredAt.After(asOf) {
		upTo++
	}
	if upTo == 0 {
		return fmt.Errorf("stream %s did not exist yet at %s (its first event is from %s)",
			id, asOf.UTC().Format(time.RFC3339), records[0].OccurredAt.UTC().Format(time.RFC3339))
	}
	history, err := eventstore.Events(records[:upTo])
	if err != nil {
		return err
	}
	last := records[upTo-1]
	state, err := stateOf(records[0].StreamType, history)
	if err != nil {
		return err
	}
	out := map[string]any{
		"stream_type": records[0].StreamType, "stream_id": id, "as_of": asOf.UTC(),
		"version": last.Version, "last_event": last.Type, "last_event_at": last.OccurredAt.UTC(), "state": state,
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// stateOf folds history into its aggregate and returns what it holds.
func stateOf(streamType string, history []domain.Event) (map[string]any, error) {
	switch streamType {
	case domain.StreamUser:
		u, err := domain.UserFromHistory(history)
		if err != nil {
			return nil, err
		}
		return map[string]any{"id": u.ID(), "email": u.Email(), "name": u.Name(), "role": u.Role().String(),
			"company": u.Company(), "registered_at": u.RegisteredAt().UTC()}, nil
	case domain.StreamJob:
		j, err := domain.JobFromHistory(history)
		if err != nil {
			return nil, err
		}
		d := j.Details()
		return map[string]any{"id": j.ID(), "recruiter_id": j.RecruiterID(), "title": d.Title, "description": d.Description,
			"company": d.Company, "location": d.Location, "employment_type": d.EmploymentType.String(), "remote": d.Remote,
			"salary_min": d.SalaryMin, "salary_max": d.SalaryMax, "salary_currency": d.SalaryCurrency,
			"status": j.Status().String(), "deleted": j.Deleted(), "created_at": j.CreatedAt().UTC(), "updated_at": j.UpdatedAt().UTC()}, nil
	case domain.StreamApplication:
		a, err := domain.ApplicationFromHistory(history)
		if err != nil {
			return nil, err
		}
		return map[string]any{"id": a.ID(), "job_id": a.JobID(), "applicant_id": a.ApplicantID(), "recruiter_id": a.RecruiterID(),
			"name": a.Name(), "email": a.Email(), "cover_letter": a.CoverLetter(), "resume": a.Resume(),
			"status": a.Status().String(), "rejection_reason": a.RejectionReason(), "submitted_at": a.SubmittedAt().UTC(),
			"updated_at": a.UpdatedAt().UTC(), "version": a.Version()}, nil
	}
	return nil, fmt.Errorf("unknown stream type %q", streamType)
}

// uuidFlag defines a flag holding a UUID.
func uuidFlag(fs *flag.FlagSet, name, usage string, dst *uuid.UUID) {
	fs.Func(name, usage, func(s string) error {
		id, err := uuid.Parse(s)
		if err != nil {
			return errors.New("want a UUID")
		}
		*dst = id
		return nil
	})
}

// timeFlag defines a flag holding a time: RFC 3339, or a date.
func timeFlag(fs *flag.FlagSet, name, usage string, dst *time.Time) {
	fs.Func(name, usage, func(s string) error {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				*dst = t
				return nil
			}
		}
		return errors.New("want an RFC 3339 time (2026-11-25T14:00:00Z) or a date (2026-11-25)")
	})
}
