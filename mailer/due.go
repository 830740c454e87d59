package mailer

import (
	"sync"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/bus"
)

// Due is what a process's workers are told about the mail queue: the
// deliveries its own handler queued, by id, once they have committed. A
// worker claims the deliveries it is told about by their key, and looks
// for due ones in the queue's index only every Poll: that scan walks the index entries of every mail
// sent since the table was last vacuumed, which grows with the traffic,
// while a claim by key costs the same however long the queue's history.
type Due struct {
	mu     sync.Mutex
	ids    []uuid.UUID
	signal *bus.Signal
}

// NewDue returns a Due nobody has been told about yet.
func NewDue() *Due { return &Due{signal: bus.NewSignal()} }

// Queued tells the workers about a delivery queued (and committed).
func (d *Due) Queued(id uuid.UUID) {
	d.mu.Lock()
	d.ids = append(d.ids, id)
	d.mu.Unlock()
	d.signal.Notify()
}

// wait returns a channel closed at the next Queued.
func (d *Due) wait() <-chan struct{} {
	_, ch := d.signal.Wait()
	return ch
}

// take hands out up to max of the ids told, oldest first.
func (d *Due) take(max int) []uuid.UUID {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := min(max, len(d.ids))
	ids := append([]uuid.UUID(nil), d.ids[:n]...)
	d.ids = d.ids[n:]
	if len(d.ids) == 0 {
		d.ids = nil // let the backing array go
	}
	return ids
}
