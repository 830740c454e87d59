package webhooks

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jobboard/jobboard/bus"
)

// WorkerConfig tunes the sending.
type WorkerConfig struct {
	// RetrySchedule are the waits after each failed attempt
	// (WEBHOOK_RETRY_SCHEDULE): after the first, the second, and so on.
	// Once the attempt after the last wait has failed, the delivery has
	// failed. Empty: DefaultRetrySchedule.
	RetrySchedule []time.Duration
	// Timeout bounds one attempt, from connecting to the end of the answer
	// (WEBHOOK_TIMEOUT, default 10 s).
	Timeout time.Duration
	// Concurrency is how many deliveries one process sends at once
	// (WEBHOOK_WORKERS, default 4): as many receivers can hang at once
	// before the others of this process wait.
	Concurrency int
	// AllowPrivate lets deliveries reach loopback, private and other
	// non-public addresses (WEBHOOK_ALLOW_PRIVATE), for tests and local
	// use.
	AllowPrivate bool
	// Lease is how long a claimed delivery is a worker's own. It must
	// outlast Timeout: a worker that has not reported by then is taken for
	// dead and the delivery is tried again. Default: 2 × Timeout + 5 s.
	Lease time.Duration
	// Poll is how often a worker looks in the queue for due deliveries it
	// was not woken for: another process's, and retries (it also wakes
	// when the earliest one it knows of is due).
	Poll time.Duration
}

func (c *WorkerConfig) setDefaults() {
	if len(c.RetrySchedule) == 0 {
		c.RetrySchedule = DefaultRetrySchedule
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Lease <= c.Timeout {
		c.Lease = 2*c.Timeout + 5*time.Second
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
}

// Worker sends queued deliveries.
type Worker struct {
	queue   *Queue
	sender  *sender
	cfg     WorkerConfig
	metrics *Metrics
	log     *slog.Logger
	// queued wakes the worker when this process's handler has queued
	// deliveries; what another process queues, the Poll finds.
	queued *bus.Signal
}

// NewWorker returns a worker; metrics may be nil, and so may queued (the
// worker then only polls).
func NewWorker(queue *Queue, queued *bus.Signal, cfg WorkerConfig, metrics *Metrics, log *slog.Logger) *Worker {
	cfg.setDefaults()
	if queued == nil {
		queued = bus.NewSignal()
	}
	return &Worker{queue: queue, sender: newSender(cfg.AllowPrivate, cfg.Timeout), cfg: cfg, metrics: metrics, log: log, queued: queued}
}

// Run sends deliveries until ctx ends, then returns once the attempts in
// flight have ended (each within Timeout) and been recorded.
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Wait()
	w.sender.client.CloseIdleConnections()
}

// minWait keeps a worker from spinning on a delivery that is due but that
// another worker is claiming at that very moment.
const minWait = 10 * time.Millisecond

func (w *Worker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		// Taken before looking, so that a delivery queued while we look
		// wakes the wait below.
		_, woken := w.queued.Wait()
		if w.deliverOne(ctx) {
			continue // there may be more, the next of that subscription among them
		}
		wait := w.cfg.Poll
		if due, ok, err := w.queue.nextDue(ctx); err == nil && ok {
			wait = min(wait, max(time.Until(due), minWait))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-woken:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// deliverOne claims the delivery due longest and tries it; false when none
// was due (or the queue could not be read).
func (w *Worker) deliverOne(ctx context.Context) bool {
	c, ok, err := w.queue.claim(ctx, w.cfg.Lease)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("webhook queue unavailable", "err", err)
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
	log := w.log.With("delivery_id", c.id, "event", c.eventType, "attempt", c.attempt)
	start := time.Now()
	// An attempt under way is let finish when the worker is stopped (it
	// has its own time limit): cutting it off would leave the receiver
	// with a delivery the queue does not know it got, sent again later.
	code, err := w.sender.send(context.WithoutCancel(ctx), c.post)
	o := outcome{statusCode: code, err: err, duration: time.Since(start)}
	if err == nil {
		if err := w.queue.delivered(ctx, c, o); err != nil {
			// It went; the lease will run out and it will go again, with
			// the same Jobboard-Delivery.
			log.Error("webhook delivered but not recorded", "err", err)
		}
		w.metrics.count(outcomeDelivered)
		log.Info("webhook delivered", "status", code, "duration", o.duration)
		return
	}
	// The retry schedule starts over when an operator queues a failed
	// delivery again (retryBase).
	failures := max(c.attempt-c.retryBase, 1)
	if failures > len(w.cfg.RetrySchedule) {
		if err := w.queue.failed(ctx, c, o); err != nil {
			log.Error("record a failed webhook", "err", err)
		}
		w.metrics.count(outcomeFailed)
		log.Warn("webhook failed for good", "err", err, "status", code)
		return
	}
	next := time.Now().Add(w.cfg.RetrySchedule[failures-1])
	if err := w.queue.retryAt(ctx, c, o, next); err != nil {
		log.Error("record a failed webhook attempt", "err", err)
	}
	w.metrics.count(outcomeRetried)
	log.Warn("webhook not delivered; will retry", "err", err, "status", code, "next_attempt_at", next)
}
