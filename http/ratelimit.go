package http

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/jobboard/jobboard/domain"
)

// maxWriteBuckets bounds the write limiter's memory whatever the number of
// client addresses: past it, buckets are dropped before they are idle (a
// dropped client starts again with a full burst, the limit's only leak).
const maxWriteBuckets = 100_000

// writeLimiter is a token bucket per client address for the writes of this
// process. Buckets live in memory: each instance of the API limits on its
// own, which is enough to keep one client from flooding it.
type writeLimiter struct {
	limit rate.Limit
	burst int
	// idle is how long a bucket takes to fill up again: a bucket unused
	// for that long is the same as a new one, and is dropped.
	idle time.Duration
	now  func() time.Time

	mu        sync.Mutex
	buckets   map[string]*writeBucket
	lastSweep time.Time
}

type writeBucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// newWriteLimiter allows perSecond writes per client on average and burst
// at once; it returns nil, no limit, when perSecond is not positive.
func newWriteLimiter(perSecond float64, burst int) *writeLimiter {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	idle := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &writeLimiter{
		limit: rate.Limit(perSecond), burst: burst,
		idle: max(idle, time.Second), now: time.Now,
		buckets: map[string]*writeBucket{},
	}
}

// allow takes one token from client's bucket. When there is none, it
// returns how long until there is.
func (l *writeLimiter) allow(client string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		l.makeRoom(now)
		b = &writeBucket{limiter: rate.NewLimiter(l.limit, l.burst)}
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
func (l *writeLimiter) makeRoom(now time.Time) {
	if now.Sub(l.lastSweep) >= l.idle {
		for client, b := range l.buckets {
			if now.Sub(b.lastSeen) >= l.idle {
				delete(l.buckets, client)
			}
		}
		l.lastSweep = now
	}
	for client := range l.buckets {
		if len(l.buckets) < maxWriteBuckets {
			break
		}
		delete(l.buckets, client)
	}
}

// size is the number of buckets held, for tests.
func (l *writeLimiter) size() int {
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

// limitWrites answers 429 to a client address that writes faster than the
// configured rate, before anything of the request is read or routed.
func (s *Server) limitWrites(next http.Handler) http.Handler {
	if s.writes == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWrite(r.Method) {
			if ok, wait := s.writes.allow(s.clientAddr(r)); !ok {
				writeError(w, r, s.Logger, &domain.Error{
					Kind:       domain.KindTooManyRequests,
					Message:    "too many writes from this client address; slow down (see Retry-After)",
					RetryAfter: max(wait, time.Second),
				})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
