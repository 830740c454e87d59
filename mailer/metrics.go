package mailer

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the mailer's Prometheus series.
type Metrics struct {
	sentTotal, failedTotal, retriedTotal prometheus.Counter
}

// NewMetrics registers the mailer's series with reg: counters of mails
// sent, failed for good and retried after a transient failure, and the age
// of the oldest pending mail (read from the queue at each scrape, so that
// every process reports the whole queue, not what it saw).
func NewMetrics(reg prometheus.Registerer, queue *Queue) *Metrics {
	m := &Metrics{
		sentTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobboard_emails_sent_total", Help: "Mails to recruiters accepted by the mail server.",
		}),
		failedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobboard_emails_failed_total", Help: "Mails refused for good (5xx) and not retried.",
		}),
		retriedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobboard_emails_retried_total", Help: "Attempts that failed transiently and were scheduled again.",
		}),
	}
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jobboard_emails_oldest_pending_age_seconds",
		Help: "How long the oldest mail still pending has waited (0 when none).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		age, err := queue.OldestPendingAge(ctx)
		if err != nil {
			return -1
		}
		return age.Seconds()
	})
	reg.MustRegister(m.sentTotal, m.failedTotal, m.retriedTotal, oldest)
	return m
}

func (m *Metrics) sent() {
	if m != nil {
		m.sentTotal.Inc()
	}
}

func (m *Metrics) failed() {
	if m != nil {
		m.failedTotal.Inc()
	}
}

func (m *Metrics) retried() {
	if m != nil {
		m.retriedTotal.Inc()
	}
}
