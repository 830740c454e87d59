package app

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobboard/jobboard/postgres"
)

// Version is the build's version, set by cmd/jobboard (from -ldflags or
// the VCS revision Go recorded), for jobboard_build_info.
var Version = "devel"

// metricsQueryTimeout bounds the database queries of one scrape: a scrape
// that cannot reach the database reports what it could read and an error,
// it does not hang the scraper.
const metricsQueryTimeout = 3 * time.Second

// consumersCollector reports, at each scrape, how far behind the log each
// consumer group (each projector, and the mailer) is: how many events it
// has not applied, and how old the oldest of them is. Both are read from
// the log and the groups' checkpoints, so any process of the service (an
// API process too) reports the whole deployment's lag, and a consumer
// that is not running at all shows as falling behind.
type consumersCollector struct {
	pool          *pgxpool.Pool
	log           *slog.Logger
	behind, age   *prometheus.Desc
	scrapeFailure *prometheus.Desc
}

// maxCounted caps the count of events behind: past it the exact number
// matters less than the cost of counting it at every scrape.
const maxCounted = 1_000_000

func newConsumersCollector(pool *pgxpool.Pool, log *slog.Logger) *consumersCollector {
	return &consumersCollector{
		pool: pool,
		log:  log,
		behind: prometheus.NewDesc("jobboard_consumer_events_behind",
			"Events in the log that the consumer group (a projector, or the mailer) has not applied yet, up to 1,000,000.",
			[]string{"consumer"}, nil),
		age: prometheus.NewDesc("jobboard_consumer_seconds_behind",
			"Age of the oldest event the consumer group has not applied yet (0 when it is caught up).",
			[]string{"consumer"}, nil),
		scrapeFailure: prometheus.NewDesc("jobboard_consumer_lag_scrape_error",
			"1 when the last scrape could not read the consumers' lag from the database.", nil, nil),
	}
}

func (c *consumersCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.behind
	ch <- c.age
	ch <- c.scrapeFailure
}

// Collect reads every checkpoint and, for each, the events past it. Only
// committed events count, and the horizon (the oldest transaction still
// in flight) does not matter here: an event past it is behind for every
// group alike.
func (c *consumersCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), metricsQueryTimeout)
	defer cancel()
	rows, err := c.pool.Query(ctx, `
SELECT c.name, lag.behind, coalesce(extract(epoch FROM now() - lag.oldest), 0)::float8
FROM checkpoints c
CROSS JOIN LATERAL (
    SELECT count(*) AS behind, min(occurred_at) AS oldest FROM (
        SELECT e.occurred_at FROM events e
        WHERE (e.tx_id, e.position) > (c.tx_id, c.position)
        ORDER BY e.tx_id, e.position
        LIMIT $1) past
) lag
ORDER BY c.name`, maxCounted)
	failed := 0.0
	if err == nil {
		for rows.Next() {
			var name string
			var behind int64
			var age float64
			if err = rows.Scan(&name, &behind, &age); err != nil {
				break
			}
			ch <- prometheus.MustNewConstMetric(c.behind, prometheus.GaugeValue, float64(behind), name)
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, max(age, 0), name)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		failed = 1
		c.log.Warn("metrics: reading the consumers' lag failed", "err", err)
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeFailure, prometheus.GaugeValue, failed)
}

// consumerErrors counts the failures of the consumer groups' handlers
// (a projector that cannot apply an event, the mailer that cannot queue a
// mail): each is retried, so a failure shows in the logs and here, not as
// a lost event. Its middleware goes on the message router.
type consumerErrors struct {
	total *prometheus.CounterVec
	last  *prometheus.GaugeVec
	// seen are the handlers that have been set to zero once, so that a
	// series exists (at 0) before its first error.
	mu   sync.Mutex
	seen map[string]bool
}

func newConsumerErrors() *consumerErrors {
	return &consumerErrors{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobboard_consumer_errors_total",
			Help: "Failures of a consumer group's handler; the event is retried.",
		}, []string{"consumer"}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jobboard_consumer_last_error_timestamp_seconds",
			Help: "Unix time of the consumer group's last handler failure (0: none since the process started).",
		}, []string{"consumer"}),
		seen: map[string]bool{},
	}
}

// Middleware records each failure under the handler's consumer, its name
// without the router's prefix ("project-jobs" is "jobs").
func (e *consumerErrors) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		name := consumerName(message.HandlerNameFromCtx(msg.Context()))
		e.touch(name)
		out, err := h(msg)
		if err != nil {
			e.total.WithLabelValues(name).Inc()
			e.last.WithLabelValues(name).SetToCurrentTime()
		}
		return out, err
	}
}

func (e *consumerErrors) touch(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.seen[name] {
		e.seen[name] = true
		e.total.WithLabelValues(name)
		e.last.WithLabelValues(name)
	}
}

func consumerName(handler string) string {
	if _, name, ok := strings.Cut(handler, "-"); ok {
		return name
	}
	return handler
}

// poolCollector reports the database pool's connections, read from
// pgxpool's statistics at each scrape.
type poolCollector struct {
	pool                          *pgxpool.Pool
	conns, max, waits, waitSecond *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	return &poolCollector{
		pool: pool,
		conns: prometheus.NewDesc("jobboard_db_pool_connections",
			"Connections of the process's database pool, by state: in_use (acquired), idle, constructing.", []string{"state"}, nil),
		max: prometheus.NewDesc("jobboard_db_pool_max_connections", "The pool's size.", nil, nil),
		waits: prometheus.NewDesc("jobboard_db_pool_acquire_waits_total",
			"Acquisitions that had to wait for a connection because none was idle.", nil, nil),
		waitSecond: prometheus.NewDesc("jobboard_db_pool_acquire_wait_seconds_total",
			"Time spent waiting for a connection because none was idle.", nil, nil),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.max
	ch <- c.waits
	ch <- c.waitSecond
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.AcquiredConns()), "in_use")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waitSecond, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds())
}

// buildInfo is jobboard_build_info: always 1, its labels say what runs.
func buildInfo(role Role) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "jobboard_build_info",
		Help: "The running build: always 1, with its version, Go version and role as labels.",
	}, []string{"version", "go_version", "role"})
	g.WithLabelValues(Version, runtime.Version(), string(role)).Set(1)
	return g
}

// replicasCollector reports each read replica's state, as this process
// sees it.
type replicasCollector struct {
	r                       *postgres.Replicas
	up, serving, lag, reads *prometheus.Desc
}

func newReplicasCollector(r *postgres.Replicas) *replicasCollector {
	labels := []string{"replica"}
	return &replicasCollector{
		r:       r,
		up:      prometheus.NewDesc("jobboard_replica_up", "1 when the read replica answers.", labels, nil),
		serving: prometheus.NewDesc("jobboard_replica_serving", "1 when the read replica serves reads (it answers and is within REPLICA_MAX_LAG).", labels, nil),
		lag: prometheus.NewDesc("jobboard_replica_lag_seconds",
			"How long ago the primary was at a WAL position the replica has replayed, as this process last saw it.", labels, nil),
		reads: prometheus.NewDesc("jobboard_db_reads_total",
			"The API's reads, by the server that served them: a replica, or the primary when no replica was fresh.", []string{"server"}, nil),
	}
}

func (c *replicasCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.serving
	ch <- c.lag
	ch <- c.reads
}

func (c *replicasCollector) Collect(ch chan<- prometheus.Metric) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, s := range c.r.States() {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, b(s.Up), s.Name)
		ch <- prometheus.MustNewConstMetric(c.serving, prometheus.GaugeValue, b(s.Serving), s.Name)
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, s.LagSeconds, s.Name)
		ch <- prometheus.MustNewConstMetric(c.reads, prometheus.CounterValue, float64(s.Reads), s.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.reads, prometheus.CounterValue, float64(c.r.PrimaryReads()), "primary")
}
