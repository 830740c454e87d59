package http

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/jobboard/jobboard/domain"
)

// maxBuckets bounds a limiter's memory whatever the number of clients:
// past it, buckets are dropped before they are idle (a dropped client
// starts again with a full burst, the limit's only leak).
const maxBuckets = 100_000

// registerWindow is the period over which REGISTER_MAX_PER_CLIENT
// registrations come back.
const registerWindow = 15 * time.Minute

// clientLimiter is a token bucket per client (see clientKeyOf) for the
// requests of this process. Buckets live in memory: each instance of the
// API limits on its own, which is enough to keep one client from flooding
// it.
type clientLimiter struct {
	limit rate.Limit
	burst int
	// idle is how long a bucket takes to fill up again: a bucket unused
	// for that long is the same as a new one, and is dropped.
	idle time.Duration
	now  func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// newClientLimiter allows perSecond requests per client on average and
// burst at once; it returns nil, no limit, when perSecond is not positive.
func newClientLimiter(perSecond float64, burst int) *clientLimiter {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	idle := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &clientLimiter{
		limit: rate.Limit(perSecond), burst: burst,
		idle: max(idle, time.Second), now: time.Now,
		buckets: map[string]*bucket{},
	}
}

// newRegisterLimiter allows perWindow registrations per client at once,
// which then come back one by one over registerWindow; nil (no limit) for
// 0.
func newRegisterLimiter(perWindow int) *clientLimiter {
	return newClientLimiter(float64(perWindow)/registerWindow.Seconds(), perWindow)
}

// allow takes one token from client's bucket. When there is none, it
// returns how long until there is.
func (l *clientLimiter) allow(client string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		l.makeRoom(now)
		b = &bucket{limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[client] = b
	}
	b.lastSeen = now
	r := b.limiter.ReserveN(now, 1)
	if !r.OK() {
		return false, l.idle
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// makeRoom drops the idle buckets, at most once per idle period (so that
// the map holds the clients of about the last two periods), and arbitrary
// ones when that is still too many.
func (l *clientLimiter) makeRoom(now time.Time) {
	if now.Sub(l.lastSweep) >= l.idle {
		for client, b := range l.buckets {
			if now.Sub(b.lastSeen) >= l.idle {
				delete(l.buckets, client)
			}
		}
		l.lastSweep = now
	}
	for client := range l.buckets {
		if len(l.buckets) < maxBuckets {
			break
		}
		delete(l.buckets, client)
	}
}

// size is the number of buckets held, for tests.
func (l *clientLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// isWrite tells the methods the write limit counts.
func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// isLimitedRead tells the requests the read limit counts: every GET and
// HEAD but the probes and the scrapes, which must answer however busy a
// client is (a load balancer or Prometheus behind one address would
// otherwise take the service out of rotation).
func isLimitedRead(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		return false
	}
	return true
}

// limitRate answers 429 to a client that writes, or reads, faster than the
// configured rates, before anything of the request is read or routed.
func (s *Server) limitRate(next http.Handler) http.Handler {
	if s.writes == nil && s.reads == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var limiter *clientLimiter
		var what string
		switch {
		case isWrite(r.Method):
			limiter, what = s.writes, "writes"
		case isLimitedRead(r):
			limiter, what = s.reads, "reads"
		}
		if limiter != nil {
			if ok, wait := limiter.allow(s.clientKey(r)); !ok {
				writeError(w, r, s.Logger, &domain.Error{
					Kind:       domain.KindTooManyRequests,
					Message:    "too many " + what + " from this client address; slow down (see Retry-After)",
					RetryAfter: max(wait, time.Second),
				})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
