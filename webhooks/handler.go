package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// ConsumerGroup is the webhooks' consumer group on the events topic. It is
// not a projection: a replay does not move it, so a replay sends nothing.
const ConsumerGroup = "webhooks"

// eventTypes are the log's event types that webhooks are sent for.
var eventTypes = []string{
	"JobPosted", "JobUpdated", "JobClosed", "JobReopened", "JobDeleted",
	"ApplicationSubmitted", "ApplicationStatusChanged", "ApplicationWithdrawn",
}

// Register adds the handler that queues a delivery for every event and
// every subscription that asks for it. It only reads (the subscriptions,
// and the log for the body) and stages inserts in the subscriber's
// transaction: no receiver is ever called while that transaction, which
// holds the group's checkpoint, is open. Once the rows have committed,
// queued is notified, which wakes the workers of this process.
func Register(router *message.Router, pool *pgxpool.Pool, log *eventstore.Store, relay *bus.Relay, cfg bus.SubscriberConfig, queued *bus.Signal) error {
	cfg.Interest = eventTypes
	sub, err := bus.NewSubscriber(pool, ConsumerGroup, relay, cfg, router.Logger())
	if err != nil {
		return err
	}
	if queued == nil {
		queued = bus.NewSignal() // nobody to wake: the workers poll
	}
	h := &handler{pool: pool, log: log}
	router.AddConsumerHandler("webhooks-enqueue", eventstore.Topic, sub, func(msg *message.Message) error {
		if !isEventType(msg.Metadata.Get(eventstore.MetaEventType)) {
			return nil // moves the checkpoint, and nothing else
		}
		r, err := eventstore.RecordFromMessage(msg)
		if err != nil {
			return err
		}
		rows, err := h.plan(msg.Context(), r)
		if err != nil || len(rows) == 0 {
			return err
		}
		return bus.Stage(msg, "webhooks", func(q *bus.Queue) error {
			q.AfterCommit(queued.Notify)
			for _, d := range rows {
				if _, err := q.Exec(msg.Context(), insertDeliverySQL, d.id, d.subscriptionID, r.EventID, d.eventType,
					strconv.FormatUint(r.TxID, 10), r.Position, d.body); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return nil
}

// insertDeliverySQL queues one delivery, unless its subscription has been
// deleted meanwhile (or it is queued already).
const insertDeliverySQL = `
INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, event_tx_id, event_position, body)
SELECT $1, s.id, $3, $4, $5::text::xid8, $6, $7 FROM webhook_subscriptions s WHERE s.id = $2
ON CONFLICT (subscription_id, event_id) DO NOTHING`

type handler struct {
	pool *pgxpool.Pool
	log  *eventstore.Store
}

// planned is a delivery the handler is about to queue.
type planned struct {
	id, subscriptionID uuid.UUID
	eventType          string
	body               []byte
}

// plan works out the deliveries of the event r: its webhook name, whose
// job or application it concerns, the subscriptions of that recruiter that
// ask for it, and the body, once for all of them.
func (h *handler) plan(ctx context.Context, r eventstore.Record) ([]planned, error) {
	if !isEventType(r.Type) || r.Shredded {
		// A submission read after its applicant was erased: its erasure
		// deleted what had been delivered of it, and nothing more goes.
		return nil, nil
	}
	ev, err := r.Event()
	if err != nil {
		return nil, err
	}
	name, owner := webhookEvent(ev)
	if name == "" {
		return nil, nil
	}
	var subs []uuid.UUID
	if owner == uuid.Nil {
		// The job's events after JobPosted do not say whose job it is: the
		// stream does. It is only read when someone asks for the event.
		wanted, err := readSubscriptions(ctx, h.pool, `
SELECT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE events @> ARRAY[$1]::text[] AND `+afterStartSQL+`)`,
			func(rows pgx.Rows) (bool, error) { return pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool]) },
			name, strconv.FormatUint(r.TxID, 10), r.Position)
		if err != nil {
			return nil, fmt.Errorf("webhooks: find subscriptions: %w", err)
		}
		if !wanted {
			return nil, nil
		}
	} else if subs, err = h.subscriptions(ctx, owner, name, r); err != nil || len(subs) == 0 {
		return nil, err
	}

	history, err := h.history(ctx, r, ev)
	if err != nil {
		return nil, err
	}
	var data any
	switch name {
	case ApplicationSubmitted, ApplicationStatusChanged:
		a, err := domain.ApplicationFromHistory(history)
		if err != nil {
			return nil, fmt.Errorf("webhooks: application %s: %w", r.StreamID, err)
		}
		data = newApplicationData(a)
	default:
		if name == JobDeleted && len(history) > 1 {
			// The job as it last stood, before it went: a deleted job
			// has no other form a client could have read.
			history = history[:len(history)-1]
		}
		j, err := domain.JobFromHistory(history)
		if err != nil {
			return nil, fmt.Errorf("webhooks: job %s: %w", r.StreamID, err)
		}
		owner = j.RecruiterID()
		data = newJobData(j)
	}
	if subs == nil {
		if subs, err = h.subscriptions(ctx, owner, name, r); err != nil || len(subs) == 0 {
			return nil, err
		}
	}
	body, err := encodeBody(envelope{ID: r.EventID, Type: name, OccurredAt: apiTime(r.OccurredAt), Data: data})
	if err != nil {
		return nil, err
	}
	out := make([]planned, len(subs))
	for i, sub := range subs {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		out[i] = planned{id: id, subscriptionID: sub, eventType: name, body: body}
	}
	return out, nil
}

func isEventType(t string) bool { return slices.Contains(eventTypes, t) }

// afterStartSQL is true of a subscription made before the event at
// ($2 as text, $3): the event comes after the subscription's starting
// checkpoint in the order the consumer group reads the log (see
// Store.Create).
const afterStartSQL = `(from_tx_id, from_position) < ($2::text::xid8, $3)`

// subscriptions are owner's subscriptions that ask for the event name and
// were made before the event r.
func (h *handler) subscriptions(ctx context.Context, owner uuid.UUID, name string, r eventstore.Record) ([]uuid.UUID, error) {
	ids, err := readSubscriptions(ctx, h.pool, `
SELECT id FROM webhook_subscriptions
WHERE owner_id = $1 AND events @> ARRAY[$4]::text[] AND `+afterStartSQL+` ORDER BY id`,
		func(rows pgx.Rows) ([]uuid.UUID, error) { return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]) },
		owner, strconv.FormatUint(r.TxID, 10), r.Position, name)
	if err != nil {
		return nil, fmt.Errorf("webhooks: find subscriptions: %w", err)
	}
	return ids, nil
}

// subscriptionsLockSQL and the exclusive lock Store.Create takes on the
// same key keep a read of the subscriptions from running while one is
// being made: a read that misses a subscription has then ended before
// the subscription's starting checkpoint was read, so every event the
// handler has read by then (committed, below the horizon) is at or before
// that checkpoint, and none after it is missed. Without it, an event
// handled between the checkpoint's reading and the subscription's commit
// would come after its start and still not be sent to it.
const subscriptionsLockSQL = `SELECT pg_advisory_xact_lock_shared(hashtextextended('webhook_subscriptions', 0))`

// readSubscriptions runs query under the shared lock (subscriptionsLockSQL),
// in one round trip: the lock and the query are one implicit transaction,
// and the query's snapshot is taken once the lock is held.
func readSubscriptions[T any](ctx context.Context, pool *pgxpool.Pool, query string, collect func(pgx.Rows) (T, error), args ...any) (T, error) {
	var zero T
	var b pgx.Batch
	b.Queue(subscriptionsLockSQL)
	b.Queue(query, args...)
	br := pool.SendBatch(ctx, &b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return zero, err
	}
	rows, err := br.Query()
	if err != nil {
		return zero, err
	}
	return collect(rows)
}

// history is the event's stream up to and including it: the aggregate as
// it stood right after the event, whatever came later.
func (h *handler) history(ctx context.Context, r eventstore.Record, ev domain.Event) ([]domain.Event, error) {
	if r.Version == 1 {
		return []domain.Event{ev}, nil
	}
	records, err := h.log.ReadStream(ctx, r.StreamID)
	if err != nil {
		return nil, fmt.Errorf("webhooks: read stream %s: %w", r.StreamID, err)
	}
	n := 0
	for n < len(records) && records[n].Version <= r.Version {
		n++
	}
	if n == 0 || records[n-1].Version != r.Version {
		return nil, fmt.Errorf("webhooks: stream %s has no version %d", r.StreamID, r.Version)
	}
	return eventstore.Events(records[:n])
}

// webhookEvent is the webhook name of ev ("" for none) and the recruiter it
// concerns, when the event says (uuid.Nil when only its stream does).
func webhookEvent(ev domain.Event) (string, uuid.UUID) {
	switch e := ev.(type) {
	case domain.JobPosted:
		return JobPosted, e.RecruiterID
	case domain.JobUpdated:
		// One request, one event: an update that also closed or reopened
		// the job is told as the closing or the reopening, with the job's
		// new fields in its data.
		switch {
		case e.Status == nil:
			return JobUpdated, uuid.Nil
		case *e.Status == domain.StatusClosed:
			return JobClosed, uuid.Nil
		default:
			return JobReopened, uuid.Nil
		}
	case domain.JobClosed:
		return JobClosed, uuid.Nil
	case domain.JobReopened:
		return JobReopened, uuid.Nil
	case domain.JobDeleted:
		return JobDeleted, uuid.Nil
	case domain.ApplicationSubmitted:
		return ApplicationSubmitted, e.RecruiterID
	case domain.ApplicationStatusChanged:
		return ApplicationStatusChanged, e.RecruiterID
	case domain.ApplicationWithdrawn:
		return ApplicationStatusChanged, e.RecruiterID
	}
	return "", uuid.Nil
}

// envelope is a delivery's body.
type envelope struct {
	ID         uuid.UUID `json:"id"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurred_at"`
	Data       any       `json:"data"`
}

// jobData is a job as the API shows it to its recruiter (without the
// counts of applications, which are the read model's, not the job's).
type jobData struct {
	ID             uuid.UUID `json:"id"`
	Title          string    `json:"title"`
	Description    string    `json:"description"`
	Company        string    `json:"company"`
	Location       string    `json:"location"`
	EmploymentType string    `json:"employment_type"`
	Remote         bool      `json:"remote"`
	SalaryMin      *int64    `json:"salary_min"`
	SalaryMax      *int64    `json:"salary_max"`
	SalaryCurrency *string   `json:"salary_currency"`
	Status         string    `json:"status"`
	RecruiterID    uuid.UUID `json:"recruiter_id"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	Version        int64     `json:"version"`
}

func newJobData(j *domain.Job) jobData {
	d := j.Details()
	out := jobData{
		ID: j.ID(), Title: d.Title, Description: d.Description, Company: d.Company, Location: d.Location,
		EmploymentType: d.EmploymentType.String(), Remote: d.Remote, SalaryMin: d.SalaryMin, SalaryMax: d.SalaryMax,
		Status: j.Status().String(), RecruiterID: j.RecruiterID(),
		CreatedAt: apiTime(j.CreatedAt()), UpdatedAt: apiTime(j.UpdatedAt()), Version: j.Version(),
	}
	if d.SalaryCurrency != "" {
		c := d.SalaryCurrency
		out.SalaryCurrency = &c
	}
	return out
}

// applicationData is an application as the API shows it to the job's
// recruiter: the resume described, never its bytes.
type applicationData struct {
	ID          uuid.UUID   `json:"id"`
	JobID       uuid.UUID   `json:"job_id"`
	ApplicantID uuid.UUID   `json:"applicant_id"`
	Name        string      `json:"name"`
	Email       string      `json:"email"`
	CoverLetter *string     `json:"cover_letter"`
	Status      string      `json:"status"`
	Resume      *resumeData `json:"resume"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
	Version     int64       `json:"version"`
	// RejectionReason is the recruiter's own, shown to them only: a
	// subscription is always the recruiter's.
	RejectionReason *string `json:"rejection_reason,omitempty"`
}

type resumeData struct {
	FileName    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

func newApplicationData(a *domain.Application) applicationData {
	out := applicationData{
		ID: a.ID(), JobID: a.JobID(), ApplicantID: a.ApplicantID(), Name: a.Name(), Email: a.Email(),
		Status: a.Status().String(), CreatedAt: apiTime(a.SubmittedAt()), UpdatedAt: apiTime(a.UpdatedAt()),
		Version: a.Version(),
	}
	if c := a.CoverLetter(); c != "" {
		out.CoverLetter = &c
	}
	if f := a.Resume(); f != nil {
		out.Resume = &resumeData{FileName: f.FileName, ContentType: f.ContentType, Size: f.Size, SHA256: f.SHA256}
	}
	if reason := a.RejectionReason(); reason != "" && a.Status() == domain.StatusRejected {
		out.RejectionReason = &reason
	}
	return out
}

// apiTime is a time as the API writes it: UTC, to the second.
func apiTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// encodeBody writes the body as the API writes JSON: user text as it was
// typed (no HTML escaping), without a trailing newline.
func encodeBody(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
