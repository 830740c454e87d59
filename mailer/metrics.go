package mailer

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the mailer's Prometheus series.
type Metrics struct {
	sentTotal, failedTotal, retriedTotal *prometheus.CounterVec
}

// NewMetrics registers the mailer's series with reg: counters of mails
// sent, failed for good and retried after a transient failure, by kind of
// mail, and the age of the oldest pending mail (read from the queue at
// each scrape, so that every process reports the whole queue, not what it
// saw).
func NewMetrics(reg prometheus.Registerer, queue *Queue) *Metrics {
	labels := []string{"kind"}
	m := &Metrics{
		sentTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobboard_emails_sent_total", Help: "Mails accepted by the mail server, by kind of mail.",
		}, labels),
		failedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobboard_emails_failed_total", Help: "Mails refused for good (5xx) and not retried, by kind of mail.",
		}, labels),
		retriedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobboard_emails_retried_total", Help: "Attempts that failed transiently and were scheduled again, by kind of mail.",
		}, labels),
	}
	// Every kind's series exists from the start, at 0: a rate over a
	// series that appears only at its first increment misses that one.
	for _, k := range Kinds {
		for _, c := range []*prometheus.CounterVec{m.sentTotal, m.failedTotal, m.retriedTotal} {
			c.WithLabelValues(string(k))
		}
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

func (m *Metrics) sent(k Kind) {
	if m != nil {
		m.sentTotal.WithLabelValues(string(k)).Inc()
	}
}

func (m *Metrics) failed(k Kind) {
	if m != nil {
		m.failedTotal.WithLabelValues(string(k)).Inc()
	}
}

func (m *Metrics) retried(k Kind) {
	if m != nil {
		m.retriedTotal.WithLabelValues(string(k)).Inc()
	}
}
