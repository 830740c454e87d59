package http

import (
	"fmt"
	"testing"
	"time"

	"github.com/matryer/is"
)

// fakeClock is a clock that tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestWriteLimiterBuckets(t *testing.T) {
	is := is.New(t)
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	l := newWriteLimiter(2, 3)
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
	is.True(!ok)                           // and was the only one
	is.True(newWriteLimiter(0, 10) == nil) // a rate of 0 is no limit
}

// TestWriteLimiterForgetsIdleClients: a bucket that has filled up again is
// dropped, so that many client addresses cost memory only while they write.
func TestWriteLimiterForgetsIdleClients(t *testing.T) {
	is := is.New(t)
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	l := newWriteLimiter(100, 200) // full again after 2 s
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

// TestWriteLimiterIsBounded: however many addresses write at once, the
// buckets are capped.
func TestWriteLimiterIsBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	l := newWriteLimiter(1, 1000) // buckets take 1000 s to be idle
	l.now = clock.now
	for i := range maxWriteBuckets + 500 {
		l.allow(fmt.Sprintf("client-%d", i))
	}
	if n := l.size(); n > maxWriteBuckets {
		t.Fatalf("%d buckets held, more than %d", n, maxWriteBuckets)
	}
}
