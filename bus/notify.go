package bus

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/eventstore"
)

// PostgreSQL channels that carry the signals between processes.
const (
	channelAppended   = "jobboard_appended"
	channelProgressed = "jobboard_progressed"
)

// notifySpacing is the least time between two notifications from one
// relay: the most a busy spell of appends delays the wake-up of another
// process (a quiet one is not delayed at all). At 2 ms, one writer's
// appends were still a fifth slower with the relay than without on two
// cores (see bench/README.md); at 5 ms the difference was within noise.
const notifySpacing = 5 * time.Millisecond

// Relay carries signals to other processes through LISTEN/NOTIFY, so that an
// API process learns at once that a worker process has projected its events
// and a worker learns that an API process has appended some.
//
// The NOTIFY is sent after the append has committed, from a goroutine of its
// own, and coalesced: appends never wait for it and never take the
// cluster-wide lock that a NOTIFY inside their own transaction would.
type Relay struct {
	pool    *pgxpool.Pool
	signals Signals
	log     *slog.Logger
	// horizon is read for every subscriber of the process, and progress
	// is where they report how far they got.
	horizon  *horizonWatch
	progress *Progress
	appends  *appendLog
	// id is the payload of this relay's notifications, so that it can
	// ignore its own when they come back: it signalled them locally
	// already, and each echo would cost every subscriber a second look.
	id string

	mu      sync.Mutex
	pending map[string]bool
	// pendingTypes are the newest checkpoints of the types appended since
	// the last appended notification.
	pendingTypes map[string]eventstore.Checkpoint
	kick         chan struct{}
	// listening is closed once the relay first listens.
	listening     chan struct{}
	listeningOnce sync.Once
	// listenerPID is the server process of the listening connection;
	// peers is whether another relay listens, as found out at
	// peersCheckedAt. peersMu guards them (not mu: Appended, on the
	// appends' path, must never wait for the query that finds out).
	peersMu        sync.Mutex
	listenerPID    uint32
	peers          bool
	peersCheckedAt time.Time
}

// NewRelay returns a relay over pool. Until Run, it only signals within
// this process.
func NewRelay(pool *pgxpool.Pool, log *slog.Logger) *Relay {
	signals, appends := NewSignals(), newAppendLog()
	return &Relay{pool: pool, signals: signals, log: log, horizon: newHorizonWatch(pool, signals.Appended, appends),
		progress: newProgress(), appends: appends, id: uuid.NewString(), pending: map[string]bool{},
		pendingTypes: map[string]eventstore.Checkpoint{}, kick: make(chan struct{}, 1), listening: make(chan struct{})}
}

// Listening is closed once the relay listens for other processes'
// notifications (and has announced, locally, that anything may have been
// appended while it did not).
func (r *Relay) Listening() <-chan struct{} { return r.listening }

// Progress is what the subscribers of this process report of their
// groups' progress.
func (r *Relay) Progress() *Progress { return r.progress }

// Signals are the local signals the relay fires.
func (r *Relay) Signals() Signals { return r.signals }

// Appended notifies this process and, soon, the others that an append
// ended (eventstore.OnAppended): records are what it committed, none when
// it failed (it may have held back others' events while it ran).
func (r *Relay) Appended(records []eventstore.Record) {
	r.mu.Lock()
	for _, rec := range records {
		r.appends.record(rec.Type, rec.Checkpoint())
		if cp := rec.Checkpoint(); r.pendingTypes[rec.Type].Less(cp) {
			r.pendingTypes[rec.Type] = cp
		}
	}
	r.mu.Unlock()
	r.signals.Appended.Notify()
	r.send(channelAppended)
}

// Progressed notifies this process and the others that a consumer committed.
func (r *Relay) Progressed() {
	r.signals.Progressed.Notify()
	r.send(channelProgressed)
}

func (r *Relay) send(channel string) {
	r.mu.Lock()
	r.pending[channel] = true
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run sends and receives notifications until ctx ends. A lost connection is
// re-established; in the meantime subscribers and waiters fall back on
// polling, so nothing is missed, only later.
func (r *Relay) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.sendLoop(ctx) }()
	go func() { defer wg.Done(); r.listenLoop(ctx) }()
	wg.Wait()
}

func (r *Relay) sendLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		r.mu.Lock()
		channels := make([]string, 0, len(r.pending))
		for c := range r.pending {
			channels = append(channels, c)
		}
		clear(r.pending)
		appended := appendedPayload(r.id, r.pendingTypes, false)
		clear(r.pendingTypes)
		r.mu.Unlock()
		if len(channels) == 0 || !r.othersListen(ctx) {
			continue
		}
		// One round trip and one transaction for all channels (a batch runs
		// in one implicit transaction), committed without waiting for its
		// WAL flush: a notification is not durable anyway (listeners that
		// reconnect are told to look), and a flush per notification would
		// compete with the appends' own.
		var b pgx.Batch
		b.Queue("SET LOCAL synchronous_commit TO OFF")
		for _, c := range channels {
			payload := r.id
			if c == channelAppended {
				payload = appended
			}
			b.Queue("SELECT pg_notify($1, $2)", c, payload)
		}
		if err := r.pool.SendBatch(ctx, &b).Close(); err != nil && ctx.Err() == nil {
			r.log.Debug("notify failed", "channels", channels, "err", err)
		}
		// Let the signals of a busy spell gather for a moment: the first
		// append after a quiet one is announced at once, then at most one
		// notification goes out per notifySpacing. Each costs the server a
		// transaction and a wake-up of every listener, which appends one by
		// one would otherwise pay each time; this process's own subscribers
		// and waiters are not delayed by it, they were signalled directly.
		select {
		case <-ctx.Done():
			return
		case <-time.After(notifySpacing):
		}
	}
}

// relayApplicationName names the relays' listening connections, so that a
// relay can tell whether another process listens.
const relayApplicationName = "jobboard relay"

// peersCheckEvery is how long a relay trusts what it found out about other
// processes listening: a process that starts listening is notified after
// at most that long (it polls meanwhile, see SubscriberConfig.IdlePoll).
const peersCheckEvery = time.Second

// othersListen reports whether another process's relay listens on this
// database: without one, notifications would only cost the server a
// transaction each and reach no one. When it cannot tell, it says yes.
func (r *Relay) othersListen(ctx context.Context) bool {
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	if time.Since(r.peersCheckedAt) < peersCheckEvery {
		return r.peers
	}
	var others bool
	err := r.pool.QueryRow(ctx, `
SELECT EXISTS (SELECT FROM pg_stat_activity
               WHERE datname = current_database() AND application_name = $1 AND pid <> $2)`,
		relayApplicationName, r.listenerPID).Scan(&others)
	r.peers = err != nil || others
	r.peersCheckedAt = time.Now()
	return r.peers
}

func (r *Relay) listenLoop(ctx context.Context) {
	for ctx.Err() == nil {
		err := r.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("listening for notifications failed; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (r *Relay) listen(ctx context.Context) error {
	pooled, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that was LISTENing is not handed back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT set_config('application_name', $1, false)`, relayApplicationName); err != nil {
		return err
	}
	r.peersMu.Lock()
	r.listenerPID = conn.PgConn().PID()
	r.peersCheckedAt = time.Time{} // look again: this may be a new connection
	r.peersMu.Unlock()
	for _, c := range []string{channelAppended, channelProgressed} {
		if _, err := conn.Exec(ctx, `LISTEN `+c); err != nil {
			return err
		}
	}
	// Whatever happened while we were not listening is announced now.
	r.appends.recordUntyped()
	r.signals.Appended.Notify()
	r.signals.Progressed.Notify()
	r.signals.ProgressedElsewhere.Notify()
	r.listeningOnce.Do(func() { close(r.listening) })
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		from, newest := parsePayload(n.Payload)
		if from == r.id {
			continue
		}
		switch n.Channel {
		case channelAppended:
			if newest == nil {
				r.appends.recordUntyped()
			}
			for t, cp := range newest {
				r.appends.record(t, cp)
			}
			r.signals.Appended.Notify()
		case channelProgressed:
			r.signals.Progressed.Notify()
			r.signals.ProgressedElsewhere.Notify()
		}
	}
}
