package auth

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
)

// until polls cond until it holds, failing the test after a deadline.
func until(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the condition did not come true in 10 s")
		}
		<-tick.C
	}
}

// TestGateBoundsTheWorkInFlight: no more than the gate's slots are held at
// once; beyond them a caller waits, and gives up after its wait.
func TestGateBoundsTheWorkInFlight(t *testing.T) {
	is := is.New(t)
	g := newGate(2)
	is.NoErr(g.enter(t.Context(), forLogin, time.Hour))
	is.NoErr(g.enter(t.Context(), forRegistration, time.Hour))
	start := time.Now()
	err := g.enter(t.Context(), forLogin, 30*time.Millisecond)
	is.True(errors.Is(err, errGateFull))              // no third slot
	is.True(time.Since(start) >= 30*time.Millisecond) // after waiting
	is.Equal(g.waiting(forLogin), 0)                  // and it left the queue
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	is.True(errors.Is(g.enter(ctx, forLogin, time.Hour), context.Canceled)) // a request that went away stops waiting

	entered := make(chan error)
	go func() { entered <- g.enter(t.Context(), forRegistration, time.Hour) }()
	until(t, func() bool { return g.waiting(forRegistration) == 1 })
	g.leave()
	is.NoErr(<-entered) // a slot given back goes to the waiter
	g.leave()
	g.leave()
	is.Equal(g.free, 2) // every slot came back
}

// TestGateLetsLoginsFirst: when a slot comes free, a waiting login takes
// it before registrations that waited longer.
func TestGateLetsLoginsFirst(t *testing.T) {
	is := is.New(t)
	g := newGate(1)
	is.NoErr(g.enter(t.Context(), forRegistration, time.Hour))
	var mu sync.Mutex
	var order []priority
	var wg sync.WaitGroup
	wait := func(p priority) {
		wg.Go(func() {
			is.NoErr(g.enter(t.Context(), p, time.Hour))
			mu.Lock()
			order = append(order, p)
			mu.Unlock()
			g.leave()
		})
	}
	for range 3 {
		wait(forRegistration)
	}
	until(t, func() bool { return g.waiting(forRegistration) == 3 })
	wait(forLogin)
	until(t, func() bool { return g.waiting(forLogin) == 1 })
	g.leave()
	wg.Wait()
	is.Equal(order, []priority{forLogin, forRegistration, forRegistration, forRegistration})
}

// TestGateGivesUpRacingAHandOver: a waiter that gives up just as it is
// handed a slot passes the slot on instead of losing it.
func TestGateGivesUpRacingAHandOver(t *testing.T) {
	g := newGate(1)
	for range 200 {
		if err := g.enter(t.Context(), forLogin, time.Hour); err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- g.enter(t.Context(), forLogin, time.Microsecond) }()
		g.leave()
		if err := <-done; err == nil {
			g.leave()
		}
		g.mu.Lock()
		free := g.free
		g.mu.Unlock()
		if free != 1 {
			t.Fatalf("%d slots free after a hand-over, want 1", free)
		}
	}
}

// TestPasswordsRefuseWhenBusy: a password that finds every bcrypt slot
// busy for the whole wait is refused as unavailable (a 503 with
// Retry-After), and is checked once a slot is free.
func TestPasswordsRefuseWhenBusy(t *testing.T) {
	is := is.New(t)
	p, err := NewPasswords(4)
	is.NoErr(err)
	p.gate, p.wait = newGate(1), 20*time.Millisecond
	hash, err := p.Hash(t.Context(), "a password")
	is.NoErr(err)

	is.NoErr(p.gate.enter(t.Context(), forLogin, time.Hour)) // someone else's bcrypt
	_, err = p.Check(t.Context(), hash, "a password")
	var de *domain.Error
	is.True(errors.As(err, &de))              // refused
	is.Equal(de.Kind, domain.KindUnavailable) // as a 503
	is.True(de.RetryAfter > 0)                // with Retry-After
	_, err = p.Hash(t.Context(), "another password")
	is.Equal(domain.KindOf(err), domain.KindUnavailable) // hashing too
	p.gate.leave()

	ok, err := p.Check(t.Context(), hash, "a password")
	is.NoErr(err)
	is.True(ok) // checked once a slot is free
	ok, err = p.Check(t.Context(), "", "a password")
	is.NoErr(err)
	is.True(!ok) // no account: the decoy never matches
}

// TestPasswordsHoldOneSlotPerCore: the gate is sized to the cores Go uses.
func TestPasswordsHoldOneSlotPerCore(t *testing.T) {
	is := is.New(t)
	p, err := NewPasswords(4)
	is.NoErr(err)
	n := 0
	for p.gate.enter(t.Context(), forLogin, 0) == nil {
		n++
	}
	is.Equal(n, runtime.GOMAXPROCS(0))
}
