// Command poll measures how fast a poller of the events table sees appended
// events, what the horizon query costs, and whether a reader ever passes an
// event that commits late, for three ways of bounding what a reader may read:
//
//	xmin          below pg_snapshot_xmin(pg_current_snapshot()) (today)
//	horizon       below H from horizon.sql (as first proposed), computed in one
//	              statement, the events read in the next
//	horizon-safe  the same with horizon-safe.sql
//
// The poller is woken in-process by the writer after each commit and
// otherwise waits as bus/'s subscribers do (hot poll while an appended event
// is hidden). Logical decoding was measured by a separate program, described
// in bench/horizon/README.md (it needs a dependency this module does not have).
//
//	go run ./bench/horizon/poll -mode latency -reader horizon-safe -n 3000 -rate 100 [-foreign]
//	go run ./bench/horizon/poll -mode throughput -reader horizon-safe -writers 16 -duration 60s
//	go run ./bench/horizon/poll -mode querycost -query bench/horizon/horizon-safe.sql -calls 20000
//
// It INSERTs rows into events, so it refuses any server but a loopback one:
// point it at a scratch cluster (see bench/horizon/README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/bench/internal/loopback"
)

var (
	dsn      = flag.String("dsn", "postgres://postgres@127.0.0.1:5498/jb?sslmode=disable", "database with the events table")
	otherDSN = flag.String("other", "postgres://postgres@127.0.0.1:5498/other?sslmode=disable", "another database of the same cluster, for -foreign")
	mode     = flag.String("mode", "latency", "latency | throughput | querycost")
	reader   = flag.String("reader", "horizon-safe", "none | xmin | horizon | horizon-safe")
	n        = flag.Int("n", 3000, "latency: appends")
	rate     = flag.Float64("rate", 100, "latency: appends per second")
	foreign  = flag.Bool("foreign", false, "hold 10 s write transactions open, back to back, in the other database")
	writers  = flag.Int("writers", 16, "throughput: concurrent writers")
	duration = flag.Duration("duration", 20*time.Second, "throughput: how long the writers append")
	sqlDir   = flag.String("sql-dir", "bench/horizon", "directory of horizon.sql and horizon-safe.sql")
	idlePoll = flag.Duration("idle-poll", 250*time.Millisecond, "pollers: longest sleep without a wake-up")
	hotPoll  = flag.Duration("hot-poll", time.Millisecond, "pollers: interval while an appended event is not yet visible")
	hotWin   = flag.Duration("hot-window", 25*time.Millisecond, "pollers: how long to poll at -hot-poll after a wake-up")
	batch    = flag.Int("batch", 100, "pollers: events per read")
)

// A Reader delivers appended events: it calls seen(run, seq) for every event
// of this run the moment it becomes visible to it, in its delivery order.
type Reader interface {
	Start(ctx context.Context, seen func(seq int)) error
	Wake()          // an append committed
	ServerPID() int // the backend doing the reading, for its CPU time
	Stop() error
}

var readers = map[string]func(run string) Reader{
	"xmin":         func(run string) Reader { return newPoller(run, xminRead) },
	"horizon":      func(run string) Reader { return newPoller(run, horizonRead) },
	"horizon-safe": func(run string) Reader { return newPoller(run, horizonRead) },
}

var modes = map[string]func(ctx context.Context) error{
	"latency":    latency,
	"throughput": throughput,
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	for _, d := range []string{*dsn, *otherDSN} {
		if err := loopback.CheckPostgres(d); err != nil {
			log.Fatal(err)
		}
	}
	if *reader == "horizon" || *reader == "horizon-safe" {
		b, err := os.ReadFile(filepath.Join(*sqlDir, *reader+".sql"))
		if err != nil {
			log.Fatal(err)
		}
		horizonSQL = strings.TrimSuffix(strings.TrimSpace(string(b)), ";")
	}
	m, ok := modes[*mode]
	if !ok {
		log.Fatalf("unknown mode %q", *mode)
	}
	if err := m(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// ---- writer ----

const appendSQL = `
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, correlation_id, occurred_at)
VALUES (gen_random_uuid(), 'bench', gen_random_uuid(), 1, 'BenchAppended', 1, '{"n": 1}', $1, now())`

// corr is the correlation_id of an event of a run: how readers match it.
func corr(run string, seq int) string { return run + ":" + strconv.Itoa(seq) }

func parseCorr(run, s string) (int, bool) {
	rest, ok := strings.CutPrefix(s, run+":")
	if !ok {
		return 0, false
	}
	seq, err := strconv.Atoi(rest)
	return seq, err == nil
}

func newRun() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

// ---- pollers (A and today) ----

// readFunc reads up to limit events after (tx, pos) that the reader may
// consume now.
type readFunc func(ctx context.Context, c *pgx.Conn, tx uint64, pos int64, limit int) (rows pgx.Rows, h uint64, err error)

const selectAfter = `SELECT tx_id, position, correlation_id FROM events WHERE (tx_id, position) > ($1::xid8, $2)`

func xminRead(ctx context.Context, c *pgx.Conn, tx uint64, pos int64, limit int) (pgx.Rows, uint64, error) {
	rows, err := c.Query(ctx, selectAfter+` AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY tx_id, position LIMIT $3`, tx, pos, limit)
	return rows, 0, err
}

var horizonSQL string

// pollerReads counts the reads of every poller of this process.
var pollerReads atomic.Int64

// horizonRead computes H in one statement and reads below it in the next,
// which takes a newer snapshot (autocommit, read committed).
func horizonRead(ctx context.Context, c *pgx.Conn, tx uint64, pos int64, limit int) (pgx.Rows, uint64, error) {
	var h uint64
	if err := c.QueryRow(ctx, horizonSQL).Scan(&h); err != nil {
		return nil, 0, fmt.Errorf("horizon: %w", err)
	}
	rows, err := c.Query(ctx, selectAfter+` AND tx_id < $3::xid8 ORDER BY tx_id, position LIMIT $4`, tx, pos, h, limit)
	return rows, h, err
}

// readRec is one read of a poller: the horizon and the checkpoints before and after.
type readRec struct {
	at             time.Time
	h              uint64
	fromTx, toTx   uint64
	fromPos, toPos int64
	n              int
}

type poller struct {
	run     string
	read    readFunc
	wake    chan struct{}
	conn    *pgx.Conn
	cancel  context.CancelFunc
	done    chan error
	pending atomic.Int64 // appended and not yet seen
	reads   atomic.Int64
	log     []readRec // every read, for finding where a missing event was passed
}

func newPoller(run string, read readFunc) *poller {
	return &poller{run: run, read: read, wake: make(chan struct{}, 1), done: make(chan error, 1)}
}

func (p *poller) Wake() {
	p.pending.Add(1)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *poller) ServerPID() int { return int(p.conn.PgConn().PID()) }

func (p *poller) Start(ctx context.Context, seen func(seq int)) error {
	c, err := pgx.Connect(ctx, *dsn)
	if err != nil {
		return err
	}
	p.conn = c
	// Start after the newest visible event.
	var tx uint64
	var pos int64
	err = c.QueryRow(ctx, `SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1`).Scan(&tx, &pos)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	ctx, p.cancel = context.WithCancel(ctx)
	go func() { p.done <- p.loop(ctx, tx, pos, seen) }()
	return nil
}

// loop is the subscriber's wait strategy of bus/: sleep until woken (or
// idlePoll); after a wake-up, look every hotPoll for hotWin while appended
// events are still hidden, then at a tenth of the time they have been
// hidden, at most idlePoll.
func (p *poller) loop(ctx context.Context, tx uint64, pos int64, seen func(int)) error {
	var hiddenSince time.Time
	for {
		got := 0
		fromTx, fromPos := tx, pos
		rows, h, err := p.read(ctx, p.conn, tx, pos, *batch)
		if err == nil {
			p.reads.Add(1)
			pollerReads.Add(1)
			var c string
			_, err = pgx.ForEachRow(rows, []any{&tx, &pos, &c}, func() error {
				got++
				if seq, ok := parseCorr(p.run, c); ok {
					seen(seq)
					p.pending.Add(-1)
				}
				return nil
			})
			p.log = append(p.log, readRec{time.Now(), h, fromTx, tx, fromPos, pos, got})
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if got == *batch {
			continue
		}
		wait := *idlePoll
		if p.pending.Load() <= 0 {
			hiddenSince = time.Time{}
		} else {
			if got > 0 || hiddenSince.IsZero() {
				hiddenSince = time.Now()
			}
			wait = *hotPoll
			if hidden := time.Since(hiddenSince); hidden > *hotWin {
				wait = min(max(hidden/10, *hotPoll), *idlePoll)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-p.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (p *poller) Stop() error {
	p.cancel()
	err := <-p.done
	log.Printf("poller: %d reads", p.reads.Load())
	p.conn.Close(context.Background())
	return err
}

// ---- foreign transactions ----

// holdForeign keeps a write transaction open in the other database, 10 s at
// a time, back to back, until ctx ends.
func holdForeign(ctx context.Context) (stop func(), err error) {
	c, err := pgx.Connect(ctx, *otherDSN)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	started := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close(context.Background())
		first := true
		for ctx.Err() == nil {
			if _, err := c.Exec(ctx, `DROP TABLE IF EXISTS t`); err != nil {
				break
			}
			tx, err := c.Begin(ctx)
			if err != nil {
				break
			}
			var xid uint64
			if _, err := tx.Exec(ctx, `CREATE TABLE t(i int)`); err != nil {
				break
			}
			if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()`).Scan(&xid); err != nil {
				break
			}
			log.Printf("foreign: xid %d open for 10 s", xid)
			if first {
				close(started)
				first = false
			}
			// ten 1 s sleeps, so that stopping ends the transaction within a
			// second (a cancelled pg_sleep(10) can outlive this process)
			for range 10 {
				if ctx.Err() != nil {
					break
				}
				if _, err = tx.Exec(context.Background(), `SELECT pg_sleep(1)`); err != nil {
					break
				}
			}
			if ctx.Err() != nil || err != nil {
				tx.Rollback(context.Background())
				break
			}
			if err := tx.Commit(ctx); err != nil {
				break
			}
		}
		if first {
			close(started)
		}
	}()
	<-started
	return func() { cancel(); <-done }, nil
}

// ---- latency ----

func latency(ctx context.Context) error {
	run := newRun()
	newReader, ok := readers[*reader]
	if !ok {
		return fmt.Errorf("unknown reader %q", *reader)
	}
	r := newReader(run)
	sent := make([]time.Time, *n)
	got := make([]time.Time, *n)
	var order []int
	var mu sync.Mutex
	all := make(chan struct{})
	var count int
	seen := func(seq int) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if seq >= len(got) || !got[seq].IsZero() {
			log.Printf("unexpected or duplicate seq %d", seq)
			return
		}
		got[seq] = now
		order = append(order, seq)
		count++
		if count == len(got) {
			close(all)
		}
	}
	if err := r.Start(ctx, seen); err != nil {
		return err
	}
	if *foreign {
		stop, err := holdForeign(ctx)
		if err != nil {
			return err
		}
		defer stop()
		time.Sleep(time.Second)
	}
	w, err := pgx.Connect(ctx, *dsn)
	if err != nil {
		return err
	}
	defer w.Close(ctx)
	cpu0 := procCPU(r.ServerPID())
	load := loadavg()
	start := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	appendTimes := make([]time.Duration, *n)
	for i := range *n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		t0 := time.Now()
		if _, err := w.Exec(ctx, appendSQL, corr(run, i)); err != nil {
			return err
		}
		sent[i] = time.Now()
		appendTimes[i] = sent[i].Sub(t0)
		r.Wake()
	}
	elapsed := time.Since(start)
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		log.Printf("MISSING: %d of %d events never seen", *n-count, *n)
		mu.Unlock()
	}
	cpu1 := procCPU(r.ServerPID())
	if err := r.Stop(); err != nil {
		return err
	}
	lat := make([]time.Duration, 0, *n)
	negative := 0
	for i := range *n {
		if got[i].IsZero() {
			continue
		}
		d := got[i].Sub(sent[i])
		if d < 0 {
			negative++
		}
		lat = append(lat, d)
	}
	// delivery order: out-of-commit-order deliveries are those seen before a
	// lower seq (the single writer commits in seq order)
	inversions := 0
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			inversions++
		}
	}
	fmt.Printf("RESULT mode=latency reader=%s foreign=%v n=%d rate=%.0f/s(actual %.0f/s) load=%s %s negative=%d reorder=%d append-p50=%s reader-backend-cpu=%s (%.1fµs/event) poller-reads=%d\n",
		*reader, *foreign, *n, *rate, float64(*n)/elapsed.Seconds(), load, pcts(lat), negative, inversions,
		fmtMs(pct(appendTimes, 50)), cpu1-cpu0, float64((cpu1-cpu0).Microseconds())/float64(*n), pollerReads.Load())
	return nil
}

// ---- throughput ----

func throughput(ctx context.Context) error {
	run := newRun()
	var r Reader
	var seenN atomic.Int64
	var seenMu sync.Mutex
	seenSet := map[int]bool{}
	if *reader != "none" {
		newReader, ok := readers[*reader]
		if !ok {
			return fmt.Errorf("unknown reader %q", *reader)
		}
		r = newReader(run)
		if err := r.Start(ctx, func(s int) {
			seenMu.Lock()
			seenSet[s] = true
			seenMu.Unlock()
			seenN.Add(1)
		}); err != nil {
			return err
		}
	}
	conns := make([]*pgx.Conn, *writers)
	for i := range conns {
		c, err := pgx.Connect(ctx, *dsn)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		conns[i] = c
	}
	var appended atomic.Int64
	var seq atomic.Int64
	var okMu sync.Mutex
	var ok []int // seqs whose append returned success
	var cpu0 time.Duration
	if r != nil {
		cpu0 = procCPU(r.ServerPID())
	}
	wcpu0 := make([]time.Duration, len(conns))
	for i, c := range conns {
		wcpu0[i] = procCPU(int(c.PgConn().PID()))
	}
	var lsn0 string
	if err := conns[0].QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn0); err != nil {
		return err
	}
	self0 := selfCPU()
	load := loadavg()
	var wg sync.WaitGroup
	deadline := time.Now().Add(*duration)
	for _, c := range conns {
		wg.Go(func() {
			// not cancelled mid-statement: that would close the connection
			for time.Now().Before(deadline) {
				s := int(seq.Add(1) - 1)
				if _, err := c.Exec(ctx, appendSQL, corr(run, s)); err != nil {
					log.Print(err)
					return
				}
				okMu.Lock()
				ok = append(ok, s)
				okMu.Unlock()
				appended.Add(1)
				if r != nil {
					r.Wake()
				}
			}
		})
	}
	wg.Wait()
	end := time.Now()
	total := appended.Load()
	var wcpu time.Duration
	for i, c := range conns {
		wcpu += procCPU(int(c.PgConn().PID())) - wcpu0[i]
	}
	drain := time.Duration(0)
	var rcpu time.Duration
	if r != nil {
		for seenN.Load() < total && time.Since(end) < 60*time.Second {
			time.Sleep(time.Millisecond)
		}
		drain = time.Since(end)
		rcpu = procCPU(r.ServerPID()) - cpu0
		if err := r.Stop(); err != nil {
			return err
		}
		seenMu.Lock()
		for _, s := range ok {
			if !seenSet[s] {
				reportMissing(ctx, conns[0], run, s, r)
			}
		}
		seenMu.Unlock()
	}
	self := selfCPU() - self0
	var walBytes float64
	if err := conns[0].QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)`, lsn0).Scan(&walBytes); err != nil {
		return err
	}
	fmt.Printf("RESULT mode=throughput reader=%s writers=%d duration=%s load=%s appends/s=%.0f seen=%d/%d drain=%s writer-backends-cpu=%.1fµs/append reader-backend-cpu=%.1fµs/event client-process-cpu=%.1fµs/event wal=%.0fB/append poller-reads=%d\n",
		*reader, *writers, *duration, load, float64(total)/duration.Seconds(), seenN.Load(), total, fmtMs(drain),
		float64(wcpu.Microseconds())/float64(total), float64(rcpu.Microseconds())/float64(total), float64(self.Microseconds())/float64(total), walBytes/float64(total), pollerReads.Load())
	return nil
}

// reportMissing says where an event that was appended but never delivered
// is, and which poller read passed over it.
func reportMissing(ctx context.Context, c *pgx.Conn, run string, seq int, r Reader) {
	var tx uint64
	var pos int64
	var commitTS time.Time
	err := c.QueryRow(ctx, `SELECT tx_id, position, coalesce(pg_xact_commit_timestamp(tx_id::text::xid), 'epoch') FROM events WHERE correlation_id = $1`,
		corr(run, seq)).Scan(&tx, &pos, &commitTS)
	if err != nil {
		// track_commit_timestamp is off: without it
		err = c.QueryRow(ctx, `SELECT tx_id, position FROM events WHERE correlation_id = $1`, corr(run, seq)).Scan(&tx, &pos)
	}
	log.Printf("MISSING seq %d: tx_id %d position %d (%v)", seq, tx, pos, err)
	p, ok := r.(*poller)
	if !ok {
		return
	}
	after := func(t1 uint64, p1 int64, t2 uint64, p2 int64) bool { return t1 > t2 || t1 == t2 && p1 > p2 }
	for i, rec := range p.log {
		if after(tx, pos, rec.fromTx, rec.fromPos) && !after(tx, pos, rec.toTx, rec.toPos) {
			log.Printf("  passed by read %d at %s: H=%d checkpoint (%d,%d) -> (%d,%d), %d rows",
				i, rec.at.Format("15:04:05.000000"), rec.h, rec.fromTx, rec.fromPos, rec.toTx, rec.toPos, rec.n)
			for j := max(0, i-2); j < min(len(p.log), i+3); j++ {
				q := p.log[j]
				log.Printf("    read %d at %s: H=%d (%d,%d) -> (%d,%d) %d rows", j, q.at.Format("15:04:05.000000"), q.h, q.fromTx, q.fromPos, q.toTx, q.toPos, q.n)
			}
		}
	}
}

// ---- helpers ----

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func pcts(d []time.Duration) string {
	return fmt.Sprintf("p50=%s p90=%s p99=%s max=%s min=%s", fmtMs(pct(d, 50)), fmtMs(pct(d, 90)), fmtMs(pct(d, 99)), fmtMs(pct(d, 100)), fmtMs(pct(d, 0)))
}

func fmtMs(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// procCPU is the user+system CPU time of a process, from /proc (10 ms ticks).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func selfCPU() time.Duration { return procCPU(os.Getpid()) }

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Fields(string(b))[0]
}

// ---- querycost ----

var (
	queryFile = flag.String("query", "bench/horizon/horizon-safe.sql", "querycost: file with the query")
	calls     = flag.Int("calls", 20000, "querycost: how many times to run it")
)

func init() { modes["querycost"] = queryCost }

// queryCost runs one query back to back on one connection (prepared, as
// pgx caches statements) and reports wall time and the backend's CPU per call.
func queryCost(ctx context.Context) error {
	b, err := os.ReadFile(*queryFile)
	if err != nil {
		return err
	}
	q := strings.TrimSuffix(strings.TrimSpace(string(b)), ";")
	c, err := pgx.Connect(ctx, *dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	var h uint64
	for range 100 { // warm up: plan cached, catalogs loaded
		if err := c.QueryRow(ctx, q).Scan(&h); err != nil {
			return err
		}
	}
	pid := int(c.PgConn().PID())
	cpu0, self0, load := procCPU(pid), selfCPU(), loadavg()
	t0 := time.Now()
	for range *calls {
		if err := c.QueryRow(ctx, q).Scan(&h); err != nil {
			return err
		}
	}
	wall := time.Since(t0)
	cpu, self := procCPU(pid)-cpu0, selfCPU()-self0
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / float64(*calls) }
	fmt.Printf("RESULT mode=querycost query=%s calls=%d load=%s wall=%.1fµs/call backend-cpu=%.1fµs/call client-cpu=%.1fµs/call\n",
		*queryFile, *calls, load, per(wall), per(cpu), per(self))
	return nil
}
