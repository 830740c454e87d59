package auth

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Who waits for a bcrypt slot: logins go first.
type priority int

const (
	// forLogin is an account's owner logging in.
	forLogin priority = iota
	// forRegistration is a new account, which any client can ask for at
	// no cost of its own: a flood of them must not keep owners out.
	forRegistration
	priorities
)

// errGateFull is returned by enter when no slot came in time.
var errGateFull = errors.New("auth: every bcrypt slot is busy")

// gate bounds the bcrypt computations in flight in this process. Those
// that find every slot taken queue, logins before registrations, first
// come first served within each, and give up after a while.
type gate struct {
	mu   sync.Mutex
	free int
	// queued are the waiters by priority, each told by the closing of its
	// channel that a slot is now its own.
	queued [priorities][]chan struct{}
}

func newGate(slots int) *gate {
	return &gate{free: max(slots, 1)}
}

// enter takes a slot, waiting up to wait for one. It returns errGateFull
// when none came in time, or ctx's error; then it holds no slot.
func (g *gate) enter(ctx context.Context, p priority, wait time.Duration) error {
	g.mu.Lock()
	if g.free > 0 {
		g.free--
		g.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	g.queued[p] = append(g.queued[p], turn)
	g.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	var err error
	select {
	case <-turn:
		return nil
	case <-timer.C:
		err = errGateFull
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-turn:
		// Handed a slot while giving up: pass it on.
		g.leaveLocked()
	default:
		g.queued[p] = slices.DeleteFunc(g.queued[p], func(c chan struct{}) bool { return c == turn })
	}
	return err
}

// leave gives a slot back, to the first waiter of the first priority that
// has one.
func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leaveLocked()
}

func (g *gate) leaveLocked() {
	for p, q := range g.queued {
		if len(q) > 0 {
			close(q[0])
			g.queued[p] = q[1:]
			return
		}
	}
	g.free++
}

// waiting is how many wait with priority p, for tests.
func (g *gate) waiting(p priority) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queued[p])
}
