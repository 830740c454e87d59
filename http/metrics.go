package http

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// requestMetrics count the answers by route, method and status class, and
// time them by route and method. The route is the router's pattern
// (/jobs/{id}), never the path, so that the series stay few whatever
// clients send; a request that matches no route counts as "unmatched".
type requestMetrics struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newRequestMetrics(reg prometheus.Registerer) *requestMetrics {
	m := &requestMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobboard_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status class (2xx, 4xx, 5xx...).",
		}, []string{"route", "method", "code_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jobboard_http_request_duration_seconds",
			Help: "Time from a request's headers to the end of its answer, by route pattern and method.",
			// From a cached read (a few ms) to an upload on a slow link.
			Buckets: []float64{.0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.total, m.duration)
	return m
}

type routeKey struct{}

// routeHolder carries the matched route's pattern from inside the router
// (nameRoute) out to measure, which wraps the router and so does not see
// the request the router passes on.
type routeHolder struct{ pattern string }

// measure records each request once it is answered.
func (m *requestMetrics) measure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		holder := &routeHolder{pattern: "unmatched"}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), routeKey{}, holder)))
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			method = "other" // a client's invented method is not a new series
		}
		m.total.WithLabelValues(holder.pattern, method, strconv.Itoa(status/100)+"xx").Inc()
		m.duration.WithLabelValues(holder.pattern, method).Observe(time.Since(start).Seconds())
	})
}

// nameRoute is router middleware: it tells measure which route matched.
func nameRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if holder, ok := r.Context().Value(routeKey{}).(*routeHolder); ok {
			if route := mux.CurrentRoute(r); route != nil {
				if tmpl, err := route.GetPathTemplate(); err == nil {
					holder.pattern = tmpl
				} else if prefix, err := route.GetPathRegexp(); err == nil {
					holder.pattern = prefix
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// NameRoute tells the request metrics which route of its own a handler
// outside the router matched (the web UI's pages), by pattern.
func NameRoute(ctx context.Context, pattern string) {
	if holder, ok := ctx.Value(routeKey{}).(*routeHolder); ok {
		holder.pattern = pattern
	}
}
