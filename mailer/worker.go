package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/bus"
	"github.com/jobboard/jobboard/eventstore"
)

// ConsumerGroup is the mailer's consumer group on the events topic.
const ConsumerGroup = "mailer"

// Register adds the handler that queues the mails an event causes (see
// mailsFor): on ApplicationSubmitted, the recruiter's and the applicant's;
// on ApplicationStatusChanged, the applicant's when the move tells them;
// on ApplicationWithdrawn, the recruiter's. It only inserts rows, in the
// subscriber's transaction: the mail server is never talked to while that
// transaction (which holds back every other consumer group) is open. Once
// the rows have committed, due is told their ids.
func Register(router *message.Router, pool *pgxpool.Pool, relay *bus.Relay, cfg bus.SubscriberConfig, due *Due) error {
	cfg.Interest = slices.Clone(interest)
	sub, err := bus.NewSubscriber(pool, ConsumerGroup, relay, cfg, router.Logger())
	if err != nil {
		return err
	}
	router.AddConsumerHandler("mailer-enqueue", eventstore.Topic, sub, func(msg *message.Message) error {
		if !slices.Contains(interest, msg.Metadata.Get(eventstore.MetaEventType)) {
			return nil
		}
		r, err := eventstore.RecordFromMessage(msg)
		if err != nil {
			return err
		}
		mails, err := mailsFor(r)
		if err != nil || len(mails) == 0 {
			return err
		}
		return bus.Stage(msg, "mailer", func(q *bus.Queue) error {
			q.AfterCommit(func() {
				for _, m := range mails {
					due.Queued(m.ID)
				}
			})
			for _, m := range mails {
				if err := enqueue(msg.Context(), q, m); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return nil
}

// Source finds what a mail says.
type Source interface {
	Load(ctx context.Context, ref Ref) (Mail, error)
}

// SourceFunc is a Source.
type SourceFunc func(ctx context.Context, ref Ref) (Mail, error)

func (f SourceFunc) Load(ctx context.Context, ref Ref) (Mail, error) { return f(ctx, ref) }

// WorkerConfig tunes the sending.
type WorkerConfig struct {
	From    string // MAIL_FROM
	BaseURL string // APP_BASE_URL, for the link to the application's page
	// Concurrency is how many mails one process sends at once.
	Concurrency int
	// SendTimeout bounds one attempt, connection included.
	SendTimeout time.Duration
	// Lease is how long a claimed delivery is a worker's own. It must
	// outlast SendTimeout: a worker that has not reported by then is taken
	// for dead and the mail is tried again.
	Lease time.Duration
	// MinBackoff and MaxBackoff bound the wait after a transient failure,
	// which doubles with each attempt.
	MinBackoff, MaxBackoff time.Duration
	// Poll is how often a worker looks in the queue for due deliveries it
	// was not told about: retries, and mails another process queued and
	// did not send.
	Poll time.Duration
}

func (c *WorkerConfig) setDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.Lease <= c.SendTimeout {
		c.Lease = 2*c.SendTimeout + 10*time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 2 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(c.MinBackoff, 10*time.Minute)
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
}

// Worker sends queued mails.
type Worker struct {
	queue   *Queue
	sender  Sender
	source  Source
	cfg     WorkerConfig
	metrics *Metrics
	log     *slog.Logger
	// due tells what this process's handler queued; what another process
	// queues, the Poll finds, if that process's own workers have not sent
	// it by then.
	due *Due
}

// NewWorker returns a worker; metrics may be nil.
func NewWorker(queue *Queue, sender Sender, source Source, due *Due, cfg WorkerConfig, metrics *Metrics, log *slog.Logger) *Worker {
	cfg.setDefaults()
	return &Worker{queue: queue, sender: sender, source: source, cfg: cfg, metrics: metrics, log: log, due: due}
}

// claimBatch is how many of the deliveries it was told about a worker
// claims at once.
const claimBatch = 16

// Run sends mails until ctx ends, then returns once no send is in flight.
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Wait()
}

func (w *Worker) loop(ctx context.Context) {
	var nextLook time.Time // when to look in the queue next
	for ctx.Err() == nil {
		// Taken before looking, so that a mail queued while we look wakes
		// the wait below.
		woken := w.due.wait()
		ids := w.due.take(claimBatch)
		if len(ids) > 0 {
			w.deliverTold(ctx, ids)
		}
		if !time.Now().Before(nextLook) {
			if w.deliverOne(ctx) {
				continue // the look found one: there may be more
			}
			nextLook = time.Now().Add(w.cfg.Poll)
			if due, ok, err := w.queue.nextDue(ctx); err == nil && ok && due.Before(nextLook) {
				nextLook = due
			}
		}
		if len(ids) > 0 {
			continue // told about some: there may be more
		}
		timer := time.NewTimer(max(time.Until(nextLook), time.Millisecond))
		select {
		case <-ctx.Done():
		case <-woken:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// deliverTold claims the deliveries the worker was told about and tries
// each. Those it cannot claim were sent, or taken by a look in the queue,
// already.
func (w *Worker) deliverTold(ctx context.Context, ids []uuid.UUID) {
	leased, err := w.queue.claimIDs(ctx, ids, w.cfg.Lease)
	if err != nil {
		if ctx.Err() == nil {
			// They stay in the queue: the next look finds them.
			w.log.Warn("mail queue unavailable", "err", err)
		}
		return
	}
	for _, c := range leased {
		w.deliver(ctx, c)
	}
}

// deliverOne looks in the queue for the delivery due longest, claims it
// and tries it; false when none was due (or the queue could not be read).
func (w *Worker) deliverOne(ctx context.Context) bool {
	c, ok, err := w.queue.claim(ctx, w.cfg.Lease)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("mail queue unavailable", "err", err)
		}
		return false
	}
	if !ok {
		return false
	}
	w.deliver(ctx, c)
	return true
}

// deliver tries a claimed delivery and records the outcome.
func (w *Worker) deliver(ctx context.Context, c claimed) {
	id, attempt := c.ID, c.attempt
	log := w.log.With("delivery_id", id, "kind", c.Kind, "application_id", c.ApplicationID, "attempt", attempt)
	err := w.attempt(ctx, c.Ref)
	switch {
	case err == nil:
		if err := w.queue.sent(ctx, id, attempt); err != nil {
			// The mail went; the lease will run out and it will go again,
			// with the same Message-ID.
			log.Error("mail sent but not recorded", "err", err)
		}
		w.metrics.sent(c.Kind)
		log.Info("mail sent")
	case erased(err):
		if err := w.queue.drop(ctx, id, attempt); err != nil {
			log.Error("drop a mail of an erased person", "err", err)
		}
		log.Info("mail dropped: " + errPersonErased.Error())
	case Permanent(err):
		if err := w.queue.failed(ctx, id, attempt, err.Error()); err != nil {
			log.Error("record a failed mail", "err", err)
		}
		w.metrics.failed(c.Kind)
		log.Warn("mail refused for good", "err", err)
	case ctx.Err() != nil:
		// Stopping: hand it to whoever runs next, at once.
		if err := w.queue.retryAt(ctx, id, attempt, time.Now(), "interrupted: "+err.Error()); err != nil {
			log.Error("release an interrupted mail", "err", err)
		}
	default:
		next := time.Now().Add(w.backoff(attempt))
		if err := w.queue.retryAt(ctx, id, attempt, next, err.Error()); err != nil {
			log.Error("record a failed attempt", "err", err)
		}
		w.metrics.retried(c.Kind)
		log.Warn("mail not sent; will retry", "err", err, "next_attempt_at", next)
	}
}

// attempt composes and sends the mail ref names.
func (w *Worker) attempt(ctx context.Context, ref Ref) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
	defer cancel()
	m, err := w.source.Load(ctx, ref)
	if err != nil {
		return fmt.Errorf("load the %s mail: %w", ref.Kind, err)
	}
	// The delivery, not the source, says which mail this is: its
	// Message-ID must be the one every earlier attempt carried.
	m.ID, m.Kind = ref.ID, ref.Kind
	msg, err := Compose(w.cfg.From, w.cfg.BaseURL, m)
	if err != nil {
		return permanent{fmt.Errorf("compose: %w", err)}
	}
	return w.sender.Send(ctx, msg)
}

// backoff is the wait after the attempt-th failure: MinBackoff doubled per
// earlier attempt, at most MaxBackoff, give or take a fifth so that mails
// that failed together do not all come back together.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.MinBackoff
	for i := 1; i < attempt && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.cfg.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// permanent marks an error of ours that no retry will fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

func isPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
