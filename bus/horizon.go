package bus

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/eventstore"
)

// horizonState is one reading of the log's horizon.
type horizonState struct {
	// xid is the horizon: subscribers read the events below it.
	xid uint64
	// head is the newest event below it that was committed when it was
	// read: a consumer group behind head has something to read.
	head eventstore.Checkpoint
	// gen is the Appended generation seen before the reading began: the
	// reading knows of every append announced up to it.
	gen uint64
	// untyped is how many announcements of unknown types had come before
	// the reading began: their events are below it, or held back by an
	// append still running.
	untyped uint64
	// at is when the reading began.
	at time.Time
}

// horizonWatch reads the horizon for every subscriber of a process, one
// reading at a time: subscribers that wake together on one append share
// one query, whichever consumer group they serve.
type horizonWatch struct {
	pool     *pgxpool.Pool
	appended *Signal
	appends  *appendLog

	mu      sync.Mutex
	state   horizonState
	reading chan struct{} // closed when the reading in progress ends; nil when none is
	// queries counts the readings, for tests.
	queries int
}

func newHorizonWatch(pool *pgxpool.Pool, appended *Signal, appends *appendLog) *horizonWatch {
	return &horizonWatch{pool: pool, appended: appended, appends: appends}
}

// fresh returns a reading that knows of the appends announced up to gen
// and began no earlier than notBefore, reading the horizon if the last one
// does not. Concurrent callers share a reading.
func (w *horizonWatch) fresh(ctx context.Context, gen uint64, notBefore time.Time) (horizonState, error) {
	for {
		w.mu.Lock()
		if w.state.xid != 0 && w.state.gen >= gen && !w.state.at.Before(notBefore) {
			s := w.state
			w.mu.Unlock()
			return s, nil
		}
		if w.reading != nil {
			done := w.reading
			w.mu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return horizonState{}, ctx.Err()
			}
		}
		done := make(chan struct{})
		w.reading = done
		w.queries++
		w.mu.Unlock()

		s := horizonState{at: time.Now()}
		s.gen, _ = w.appended.Wait()
		s.untyped = w.appends.untypedCount()
		var err error
		var r eventstore.HorizonReading
		r, err = eventstore.ReadHorizon(ctx, w.pool)
		s.xid, s.head = r.Horizon, r.Head

		w.mu.Lock()
		// A later reading is never behind an earlier one, but a slow one
		// may finish after a faster, later one.
		if err == nil && s.gen >= w.state.gen && s.xid >= w.state.xid {
			w.state = s
		}
		w.reading = nil
		close(done)
		w.mu.Unlock()
		return s, err
	}
}

// offer keeps s, a reading taken elsewhere (after a subscriber's commit),
// if it is newer than the last.
func (w *horizonWatch) offer(s horizonState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.gen >= w.state.gen && s.xid >= w.state.xid {
		w.state = s
	}
}

// latest returns the last reading, which may be old but is never wrong to
// read below; ok is false before the first.
func (w *horizonWatch) latest() (horizonState, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state, w.state.xid != 0
}
