package webhooks

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhooks' Prometheus series.
type Metrics struct {
	attempts *prometheus.CounterVec
}

// Outcomes of an attempt, the label of jobboard_webhook_deliveries_total.
const (
	outcomeDelivered = "delivered"
	outcomeRetried   = "retried"
	outcomeFailed    = "failed"
)

// NewMetrics registers the webhooks' series with reg: attempts by outcome
// (delivered; failed and retried; failed for good), and the pending
// deliveries and the age of the oldest, read from the queue at each scrape
// so that every process reports the whole queue, not what it saw.
func NewMetrics(reg prometheus.Registerer, queue *Queue) *Metrics {
	m := &Metrics{attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jobboard_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome: delivered (a 2xx), retried (failed, tried again later), failed (failed, and no more tries).",
	}, []string{"outcome"})}
	for _, o := range []string{outcomeDelivered, outcomeRetried, outcomeFailed} {
		m.attempts.WithLabelValues(o) // every outcome is a series from the start
	}
	stats := func() (int, time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return queue.pendingStats(ctx)
	}
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jobboard_webhook_deliveries_pending",
		Help: "Webhook deliveries waiting for their first or next attempt (-1 when the queue cannot be read).",
	}, func() float64 {
		n, _, err := stats()
		if err != nil {
			return -1
		}
		return float64(n)
	})
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jobboard_webhook_oldest_pending_age_seconds",
		Help: "How long the oldest webhook delivery still pending has waited (0 when none).",
	}, func() float64 {
		_, age, err := stats()
		if err != nil {
			return -1
		}
		return age.Seconds()
	})
	reg.MustRegister(m.attempts, pending, oldest)
	return m
}

func (m *Metrics) count(outcome string) {
	if m != nil {
		m.attempts.WithLabelValues(outcome).Inc()
	}
}
