package http

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/auth"
)

// fakeClock is a clock that tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestClientLimiterBuckets(t *testing.T) {
	is := is.New(t)
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	l := newClientLimiter(2, 3)
	l.now = clock.now
	for range 3 {
		ok, _ := l.allow("a")
		is.True(ok) // within the burst
	}
	ok, wait := l.allow("a")
	is.True(!ok)                         // past the burst
	is.Equal(wait, 500*time.Millisecond) // one token comes every 1/rate
	ok, _ = l.allow("b")
	is.True(ok) // another client has a bucket of its own
	clock.t = clock.t.Add(500 * time.Millisecond)
	ok, _ = l.allow("a")
	is.True(ok) // a token came back
	ok, _ = l.allow("a")
	is.True(!ok)                            // and was the only one
	is.True(newClientLimiter(0, 10) == nil) // a rate of 0 is no limit
}

// TestClientLimiterForgetsIdleClients: a bucket that has filled up again is
// dropped, so that many client addresses cost memory only while they write.
func TestClientLimiterForgetsIdleClients(t *testing.T) {
	is := is.New(t)
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	l := newClientLimiter(100, 200) // full again after 2 s
	l.now = clock.now
	for i := range 5000 {
		l.allow(fmt.Sprintf("198.51.%d.%d", i/256, i%256))
	}
	is.Equal(l.size(), 5000)
	clock.t = clock.t.Add(time.Second)
	l.allow("203.0.113.1")
	is.Equal(l.size(), 5001) // not idle long enough yet
	clock.t = clock.t.Add(1500 * time.Millisecond)
	l.allow("203.0.113.2")
	is.Equal(l.size(), 2) // the first 5000 are full again: dropped
}

// TestClientLimiterIsBounded: however many addresses write at once, the
// buckets are capped.
func TestClientLimiterIsBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	l := newClientLimiter(1, 1000) // buckets take 1000 s to be idle
	l.now = clock.now
	for i := range maxBuckets + 500 {
		l.allow(fmt.Sprintf("client-%d", i))
	}
	if n := l.size(); n > maxBuckets {
		t.Fatalf("%d buckets held, more than %d", n, maxBuckets)
	}
}

// TestRegisterLimiter: a client has its registrations at once, then one
// more each window/limit.
func TestRegisterLimiter(t *testing.T) {
	is := is.New(t)
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	l := newRegisterLimiter(3)
	l.now = clock.now
	for range 3 {
		ok, _ := l.allow("a")
		is.True(ok) // the three at once
	}
	ok, wait := l.allow("a")
	is.True(!ok)
	is.Equal(wait, 5*time.Minute) // a quarter of an hour for three: one each 5 minutes
	clock.t = clock.t.Add(5 * time.Minute)
	ok, _ = l.allow("a")
	is.True(ok)
	is.True(newRegisterLimiter(0) == nil) // 0: no limit
}

// TestReadLimitSparesProbes: the read limit counts GET and HEAD, but not
// the health and metrics endpoints, nor writes.
func TestReadLimitSparesProbes(t *testing.T) {
	is := is.New(t)
	h := NewServer(Deps{Logger: discardLogs, Ready: func(context.Context) error { return nil },
		Limits: Limits{ReadRate: 0.001, ReadBurst: 1}}).Handler()
	status := func(method, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code
	}
	is.Equal(status(http.MethodGet, "/openapi.yaml"), http.StatusOK)
	is.Equal(status(http.MethodHead, "/openapi.yaml"), http.StatusTooManyRequests) // HEAD shares GET's bucket
	is.Equal(status(http.MethodGet, "/docs"), http.StatusTooManyRequests)
	for range 5 {
		is.Equal(status(http.MethodGet, "/healthz"), http.StatusOK) // never limited
		is.Equal(status(http.MethodGet, "/readyz"), http.StatusOK)
		is.Equal(status(http.MethodGet, "/metrics"), http.StatusOK)
		is.Equal(status(http.MethodPost, "/jobs"), http.StatusUnauthorized) // writes are not reads
	}
}

// TestBusyPasswordsAre503: a password refused because every bcrypt slot is
// busy is a 503 with Retry-After and a message, not a 500.
func TestBusyPasswordsAre503(t *testing.T) {
	is := is.New(t)
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest(http.MethodPost, "/login", nil), discardLogs, auth.ErrBusy)
	is.Equal(rec.Code, http.StatusServiceUnavailable)
	is.Equal(rec.Header().Get("Retry-After"), "1")
	is.True(strings.Contains(rec.Body.String(), "busy checking passwords"))
}
