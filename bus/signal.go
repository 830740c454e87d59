// Package bus wires Watermill to PostgreSQL for the job board: subscribers
// on the events topic that are woken when something is appended instead of
// polling fast, and the signals that tell other processes about it.
package bus

import "sync"

// Signal is a broadcast: Notify wakes everyone waiting on the channel that
// Wait returned before it. Generations let a waiter tell whether anything
// happened since it last looked, so no wake-up is lost between a check and
// a wait.
type Signal struct {
	mu  sync.Mutex
	gen uint64
	ch  chan struct{}
}

// NewSignal returns a signal nobody has notified yet.
func NewSignal() *Signal { return &Signal{ch: make(chan struct{})} }

// Notify wakes all current waiters. It never blocks.
func (s *Signal) Notify() {
	s.mu.Lock()
	s.gen++
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// Wait returns the current generation and a channel that is closed at the
// next Notify.
func (s *Signal) Wait() (uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, s.ch
}

// Signals are the two things worth waking up for.
type Signals struct {
	// Appended: new events were committed to the log.
	Appended *Signal
	// Progressed: a consumer committed the processing of some events.
	Progressed *Signal
	// ProgressedElsewhere: a consumer in another process did, which this
	// process's Progress does not show.
	ProgressedElsewhere *Signal
}

// NewSignals returns fresh signals.
func NewSignals() Signals {
	return Signals{Appended: NewSignal(), Progressed: NewSignal(), ProgressedElsewhere: NewSignal()}
}
