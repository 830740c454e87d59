package mailer

import (
	"sync"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/bus"
)

// Due is what a process's workers are told about the mail queue: the
// deliveries its own handler queued, by id, once they have committed, and
// plain wake-ups. A worker claims the deliveries it is told about by their
// key, and looks for due ones in the queue's index only every Poll (and
// when woken without ids): that scan walks the index entries of every mail
// sent since the table was last vacuumed, which grows with the traffic,
// while a claim by key costs the same however long the queue's history.
type Due struct {
	mu     sync.Mutex
	ids    []uuid.UUID
	look   bool // woken without ids: look in the queue
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

// Notify wakes the workers to look in the queue: something may be due
// that they were not told about by id.
func (d *Due) Notify() {
	d.mu.Lock()
	d.look = true
	d.mu.Unlock()
	d.signal.Notify()
}

// wait returns a channel closed at the next Queued or Notify.
func (d *Due) wait() <-chan struct{} {
	_, ch := d.signal.Wait()
	return ch
}

// take hands out up to max of the ids told, oldest first, and whether a
// look in the queue was asked for since the last take.
func (d *Due) take(max int) (ids []uuid.UUID, look bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := min(max, len(d.ids))
	ids = append(ids, d.ids[:n]...)
	d.ids = d.ids[n:]
	if len(d.ids) == 0 {
		d.ids = nil // let the backing array go
	}
	look, d.look = d.look, false
	return ids, look
}
