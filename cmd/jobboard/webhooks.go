package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/webhooks"
)

// webhooksCmd lists webhook deliveries, or with "subscriptions",
// "attempts" or "retry" does those.
func webhooksCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "subscriptions":
			return webhooksSubscriptions(ctx, args[1:], getenv, stdout, stderr)
		case "attempts":
			return webhooksAttempts(ctx, args[1:], getenv, stdout, stderr)
		case "retry":
			return webhooksRetry(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	fs := newFlagSet("webhooks", `Lists the webhook deliveries to recruiters' endpoints, newest first: pending
(waiting for their first or next attempt), delivered, or failed (every retry
of the schedule failed), with the number of attempts, the last answer and the
last error.

  jobboard webhooks subscriptions              every subscription, with its deliveries' counts
  jobboard webhooks attempts <delivery-id>     each attempt at one delivery
  jobboard webhooks retry <delivery-id>...     queue those again, due now
  jobboard webhooks retry --failed             queue every failed one again`, stderr)
	status := fs.String("status", "", "only pending, delivered or failed")
	subscription := fs.String("subscription", "", "only this subscription's (its id)")
	limit := fs.Int("limit", 50, "at most this many, from 1 to 10000")
	format := fs.String("format", "table", "table or jsonl")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch webhooks.Status(*status) {
	case "", webhooks.StatusPending, webhooks.StatusDelivered, webhooks.StatusFailed:
	default:
		return usageError(fs, "--status %q: want pending, delivered or failed", *status)
	}
	var subID uuid.UUID
	if *subscription != "" {
		var err error
		if subID, err = uuid.Parse(*subscription); err != nil {
			return usageError(fs, "--subscription %q: want a subscription's id", *subscription)
		}
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
	list, err := webhooks.NewQueue(pool).List(ctx, webhooks.ListFilter{Status: webhooks.Status(*status), SubscriptionID: subID}, *limit)
	if err != nil {
		return err
	}
	return writeListing(stdout, *format, list, func(d webhooks.QueuedDelivery) any { return webhookDeliveryLine(d) },
		"DELIVERY\tEVENT\tSTATUS\tATTEMPTS\tLAST ANSWER\tQUEUED\tNEXT ATTEMPT / DELIVERED\tURL\tLAST ERROR",
		func(d webhooks.QueuedDelivery) string {
			when := d.NextAttemptAt.UTC().Format(time.RFC3339)
			switch {
			case d.DeliveredAt != nil:
				when = d.DeliveredAt.UTC().Format(time.RFC3339)
			case d.Status == webhooks.StatusFailed:
				when = "-"
			}
			answer := "-"
			if d.LastStatusCode != nil {
				answer = strconv.Itoa(*d.LastStatusCode)
			}
			return fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s", d.ID, d.EventType, d.Status, d.Attempts, answer,
				d.CreatedAt.UTC().Format(time.RFC3339), when, oneLine(d.URL, 60), oneLine(d.LastError, 80))
		})
}

func webhooksSubscriptions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhooks subscriptions", `Lists every recruiter's webhook subscriptions, newest first, with how many of
their deliveries are pending, delivered and failed. Secrets are never shown.`, stderr)
	limit := fs.Int("limit", 100, "at most this many, from 1 to 10000")
	format := fs.String("format", "table", "table or jsonl")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
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
	subs, err := webhooks.NewQueue(pool).Subscriptions(ctx, *limit)
	if err != nil {
		return err
	}
	return writeListing(stdout, *format, subs,
		func(s webhooks.SubscriptionSummary) any {
			return subscriptionLine{ID: s.ID, OwnerID: s.OwnerID, URL: s.URL, Events: s.Events, CreatedAt: s.CreatedAt.UTC(),
				Pending: s.Pending, Delivered: s.Delivered, Failed: s.Failed}
		},
		"SUBSCRIPTION\tRECRUITER\tCREATED\tPENDING\tDELIVERED\tFAILED\tURL\tEVENTS",
		func(s webhooks.SubscriptionSummary) string {
			return fmt.Sprintf("%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s", s.ID, s.OwnerID, s.CreatedAt.UTC().Format(time.RFC3339),
				s.Pending, s.Delivered, s.Failed, oneLine(s.URL, 60), strings.Join(s.Events, ","))
		})
}

func webhooksAttempts(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhooks attempts", `Lists the attempts at one webhook delivery, first first: when each started,
the answer's status, the error and how long it took. An attempt without an
outcome is one whose worker stopped (or lost its lease) during it.

Usage: jobboard webhooks attempts <delivery-id>`, stderr)
	var id uuid.UUID
	var flags []string
	for _, a := range args {
		if parsed, err := uuid.Parse(a); err == nil && id == uuid.Nil {
			id = parsed
			continue
		}
		flags = append(flags, a)
	}
	if err := parseFlags(fs, flags, stdout); err != nil {
		return err
	}
	if id == uuid.Nil {
		return usageError(fs, "name one delivery by its id")
	}
	pool, err := openForCommand(ctx, getenv, stderr, asService)
	if err != nil {
		return err
	}
	defer pool.Close()
	attempts, err := webhooks.NewQueue(pool).Attempts(ctx, id)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ATTEMPT\tSTARTED\tANSWER\tDURATION\tERROR")
	for _, a := range attempts {
		answer, took := "-", "(no outcome)"
		if a.StatusCode != nil {
			answer = strconv.Itoa(*a.StatusCode)
		}
		if a.Duration != nil {
			took = a.Duration.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", a.Number, a.StartedAt.UTC().Format(time.RFC3339Nano), answer, took, oneLine(a.Error, 100))
	}
	if len(attempts) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	return tw.Flush()
}

func webhooksRetry(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhooks retry", `Queues webhook deliveries again, due at once: the ones named by delivery id,
or with --failed every failed one (of one subscription, with --subscription).
A failed delivery gets the whole retry schedule again. A delivered one is not
sent again.

Usage: jobboard webhooks retry <delivery-id>... | --failed [--subscription <id>]`, stderr)
	failed := fs.Bool("failed", false, "queue every failed delivery again")
	subscription := fs.String("subscription", "", "with --failed: only this subscription's (its id)")
	var ids []uuid.UUID
	var flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--subscription" || a == "-subscription" {
			// Its value is an id too: it is the flag's, not a delivery.
			flags = append(flags, args[i:min(i+2, len(args))]...)
			i++
			continue
		}
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
		return usageError(fs, "name delivery ids or give --failed (one of the two)")
	}
	var subID uuid.UUID
	if *subscription != "" {
		var err error
		if subID, err = uuid.Parse(*subscription); err != nil || !*failed {
			return usageError(fs, "--subscription: want a subscription's id, with --failed")
		}
	}
	pool, err := openForCommand(ctx, getenv, stderr, asService)
	if err != nil {
		return err
	}
	defer pool.Close()
	queue := webhooks.NewQueue(pool)
	if *failed {
		n, err := queue.RetryFailed(ctx, subID)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "queued %d failed webhook delivery(ies) again\n", n)
		return nil
	}
	var errs []error
	for _, id := range ids {
		switch err := queue.Retry(ctx, id); {
		case errors.Is(err, webhooks.ErrNotFound):
			errs = append(errs, fmt.Errorf("%s: no such webhook delivery", id))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		default:
			fmt.Fprintf(stdout, "%s: queued again\n", id)
		}
	}
	return errors.Join(errs...)
}

type webhookLine struct {
	ID             uuid.UUID  `json:"id"`
	SubscriptionID uuid.UUID  `json:"subscription_id"`
	RecruiterID    uuid.UUID  `json:"recruiter_id"`
	URL            string     `json:"url"`
	EventType      string     `json:"event_type"`
	EventID        uuid.UUID  `json:"event_id"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
}

func webhookDeliveryLine(d webhooks.QueuedDelivery) webhookLine {
	l := webhookLine{ID: d.ID, SubscriptionID: d.SubscriptionID, RecruiterID: d.OwnerID, URL: d.URL, EventType: d.EventType,
		EventID: d.EventID, Status: string(d.Status), Attempts: d.Attempts, LastStatusCode: d.LastStatusCode,
		LastError: d.LastError, CreatedAt: d.CreatedAt.UTC(), DeliveredAt: d.DeliveredAt}
	if d.Status == webhooks.StatusPending {
		next := d.NextAttemptAt.UTC()
		l.NextAttemptAt = &next
	}
	if l.DeliveredAt != nil {
		at := l.DeliveredAt.UTC()
		l.DeliveredAt = &at
	}
	return l
}

type subscriptionLine struct {
	ID        uuid.UUID `json:"id"`
	OwnerID   uuid.UUID `json:"recruiter_id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
	Pending   int       `json:"pending"`
	Delivered int       `json:"delivered"`
	Failed    int       `json:"failed"`
}
