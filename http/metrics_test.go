package http_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads the metrics at url.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse the metrics: %v", err)
	}
	return families
}

// sample is the value of the series of family whose labels include want.
func sample(families map[string]*dto.MetricFamily, family string, want map[string]string) (float64, bool) {
	f, ok := families[family]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		matches := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				matches++
			}
		}
		if matches != len(want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetrics checks what an operator reads: requests by route pattern
// (never by path) and status class, their latency, each consumer group's
// lag and failures, the database pool and the build, served on a listener
// of their own when METRICS_ADDR is set, and then not on the API's port.
// Every metric the shipped dashboard and alert rules use is among them.
func TestMetrics(t *testing.T) {
	is := is.New(t)
	s := startService(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0"})
	metricsURL := "http://" + s.app.MetricsAddr()

	owner := jobsRegister(t, s, "recruiter", "Metrics Co")
	job := jobsPost(t, s, owner.token, jobsBody("Metrics engineer "+jobsMarker()))
	is.Equal(s.get("/jobs/"+job.ID, "").status, http.StatusOK)
	is.Equal(s.get("/jobs/0190d6a4-7b1c-7c3e-9f00-123456789abc", "").status, http.StatusNotFound)
	is.Equal(s.get("/no/such/path", "").status, http.StatusNotFound)

	is.Equal(s.get("/metrics", "").status, http.StatusNotFound) // not on the API's port
	for _, path := range []string{"/healthz", "/readyz"} {
		res, err := http.Get(metricsURL + path)
		is.NoErr(err)
		res.Body.Close()
		is.Equal(res.StatusCode, http.StatusOK) // probes on the metrics listener, for workers
	}

	m := scrape(t, metricsURL+"/metrics")
	got, ok := sample(m, "jobboard_http_requests_total", map[string]string{"route": "/jobs/{id}", "method": "GET", "code_class": "2xx"})
	is.True(ok && got >= 1) // a request counts under its route's pattern
	got, ok = sample(m, "jobboard_http_requests_total", map[string]string{"route": "/jobs/{id}", "method": "GET", "code_class": "4xx"})
	is.True(ok && got >= 1) // and its status class
	_, ok = sample(m, "jobboard_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "code_class": "4xx"})
	is.True(ok) // a path no route serves is "unmatched", not a series of its own
	for _, f := range m["jobboard_http_requests_total"].GetMetric() {
		for _, l := range f.GetLabel() {
			is.True(!strings.Contains(l.GetValue(), job.ID)) // no path, no id, in a label
		}
	}
	got, ok = sample(m, "jobboard_http_request_duration_seconds", map[string]string{"route": "/jobs", "method": "POST"})
	is.True(ok && got >= 1) // each request is timed
	for _, consumer := range []string{"users", "jobs", "mailer"} {
		_, ok := sample(m, "jobboard_consumer_events_behind", map[string]string{"consumer": consumer})
		is.True(ok) // every consumer group's lag
		_, ok = sample(m, "jobboard_consumer_seconds_behind", map[string]string{"consumer": consumer})
		is.True(ok)
	}
	failed, ok := sample(m, "jobboard_consumer_lag_scrape_error", nil)
	is.True(ok && failed == 0) // the lag was read
	maxConns, ok := sample(m, "jobboard_db_pool_max_connections", nil)
	is.True(ok && maxConns > 0) // the pool
	_, ok = sample(m, "jobboard_build_info", map[string]string{"role": "all"})
	is.True(ok) // and the build

	// Every jobboard_ metric the dashboard and the alerts read is served.
	var used []string
	name := regexp.MustCompile(`jobboard_[a-z_]+`)
	for _, file := range []string{"../deploy/grafana/jobboard.json", "../deploy/prometheus/alerts.yml"} {
		raw, err := os.ReadFile(file)
		is.NoErr(err)
		for _, n := range name.FindAllString(string(raw), -1) {
			n = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			if !slices.Contains(used, n) {
				used = append(used, n)
			}
		}
	}
	is.True(len(used) > 10)
	for _, n := range used {
		if strings.HasPrefix(n, "jobboard_replica_") || n == "jobboard_db_reads_total" {
			continue // served only with read replicas (DATABASE_READ_URLS): app/replicas_test.go reads them
		}
		if _, ok := m[n]; !ok {
			t.Errorf("the dashboard or the alerts use %s, which the service does not serve", n)
		}
	}
}
