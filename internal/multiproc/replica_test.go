package multiproc

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobboard/jobboard/internal/pgcluster"
	"github.com/jobboard/jobboard/internal/testdb"
	"github.com/jobboard/jobboard/postgres"
)

// replicaMaxLag is REPLICA_MAX_LAG in the replica variant. It bounds how
// long a write waits for a replica that does not replay it, so it is what
// every write costs while the replica is paused: short, so that the load
// keeps its pace then; long enough that a replica keeping up on a busy
// machine serves reads most of the time, which is what the metrics must
// show.
const replicaMaxLag = 500 * time.Millisecond

// replicaTopology starts a scratch primary and a streaming replica of it
// (the machine's own cluster allows no replication), creates the job
// board's database on the primary, and has the API processes read from the
// replica as the service's role.
func replicaTopology(t *testing.T) topology {
	t.Helper()
	start := time.Now()
	primary, replica := pgcluster.NewPair(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const name = "jobboard_multiproc"
	if err := primary.SetupJobBoard(ctx, name); err != nil {
		t.Fatalf("set up the database on the primary: %v", err)
	}
	// The processes must find the schema on the replica from their first
	// read.
	if err := replica.WaitCaughtUp(ctx); err != nil {
		t.Fatalf("the replica did not catch up with the setup: %v", err)
	}
	owner, err := postgres.Open(ctx, primary.URL(name))
	if err != nil {
		t.Fatalf("open the primary as the owner: %v", err)
	}
	// Registered after the pair's cleanups, so run before them: the pool
	// closes before the servers go.
	t.Cleanup(owner.Close)
	t.Logf("primary on port %d and replica on port %d ready in %s", primary.Port(), replica.Port(),
		time.Since(start).Round(time.Millisecond))
	return topology{
		// A testdb.DB for its fields only: the database is on the scratch
		// primary, which goes with the test, so it is never dropped, and
		// no pool as the service is needed besides the processes'.
		primary:  &testdb.DB{URL: primary.ServiceURL(name), OwnerURL: primary.URL(name), Owner: owner, Name: name},
		readURLs: []string{replica.ServiceURL(name)},
		maxLag:   replicaMaxLag,
		replica:  replica,
	}
}

// reads is what an API process's /metrics says of where its reads went
// (jobboard_db_reads_total), and whether it lets the replica serve.
type reads struct {
	replica, primary float64
	serving          bool
}

func (r reads) String() string {
	return fmt.Sprintf("%.0f from the replica, %.0f from the primary", r.replica, r.primary)
}

// replicaPause is a load step of the replica variant: the replica stops
// replaying the WAL for a while, as a replica falling behind does, and then
// resumes. It puts the rule of postgres.Replicas to the test under load and
// across processes: while the replica is behind, the API processes stop
// reading from it and read from the primary, a write answers without
// waiting for the replica longer than REPLICA_MAX_LAG, and the read made
// right after it on the other process still shows it (the load checks
// that); once the replica has caught up, it serves reads again. The first
// is read from each API process's /metrics as run goes, the last by check.
type replicaPause struct {
	t       *testing.T
	replica *pgcluster.Cluster
	// server is the replica as the metrics name it, host:port of its
	// URL: the label of jobboard_db_reads_total and jobboard_replica_*.
	server string
	maxLag time.Duration
	apis   []*proc

	// Written by run, read by check once run has returned.
	mu       sync.Mutex
	problems []string
	// before is each process's reads when the pause began, stale when it
	// saw the replica stop serving, paused when the replay resumed.
	before, stale, paused map[*proc]reads
	// pausedFor is how long the replay stood still.
	pausedFor time.Duration
}

func newReplicaPause(t *testing.T, tp topology, apis []*proc) *replicaPause {
	t.Helper()
	u, err := url.Parse(tp.readURLs[0])
	if err != nil {
		t.Fatalf("the replica's URL: %v", err)
	}
	return &replicaPause{t: t, replica: tp.replica, server: u.Host, maxLag: tp.maxLag, apis: apis,
		before: map[*proc]reads{}, stale: map[*proc]reads{}, paused: map[*proc]reads{}}
}

func (rp *replicaPause) problem(format string, args ...any) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.problems = append(rp.problems, fmt.Sprintf(format, args...))
}

// reads scrapes p's /metrics.
func (rp *replicaPause) reads(ctx context.Context, p *proc) (reads, error) {
	m, err := scrape(ctx, p)
	if err != nil {
		return reads{}, err
	}
	replica, ok1 := m[`jobboard_db_reads_total{server="`+rp.server+`"}`]
	primary, ok2 := m[`jobboard_db_reads_total{server="primary"}`]
	serving, ok3 := m[`jobboard_replica_serving{replica="`+rp.server+`"}`]
	if !ok1 || !ok2 || !ok3 {
		return reads{}, fmt.Errorf("/metrics of %s has no jobboard_db_reads_total for the replica %s and the primary, "+
			"or no jobboard_replica_serving for it", p.name, rp.server)
	}
	return reads{replica: replica, primary: primary, serving: serving == 1}, nil
}

// readsOfAll scrapes every API process and keeps the readings for which
// ok holds; it returns whether every process answered and passed.
func (rp *replicaPause) readsOfAll(ctx context.Context, into map[*proc]reads, ok func(reads) bool, last *string) bool {
	all := true
	var state []string
	for _, p := range rp.apis {
		r, err := rp.reads(ctx, p)
		if err != nil {
			state = append(state, fmt.Sprintf("%s: %v", p.name, err))
			all = false
			continue
		}
		state = append(state, fmt.Sprintf("%s: %s, serving %t", p.name, r, r.serving))
		if into != nil {
			into[p] = r
		}
		all = all && ok(r)
	}
	*last = strings.Join(state, "; ")
	return all
}

// run pauses the replay for pauseFor and resumes it, reading every API
// process's metrics before, at the moment they stop reading from the
// replica, and at the end of the pause. The pause is a fixed time, a load
// step; the waits in it are polls with a deadline. Both API processes are
// expected alive throughout: the variant kills one after the pause.
func (rp *replicaPause) run(pauseFor time.Duration) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rp.t.Context()), 30*time.Second)
	defer cancel()
	var last string

	// Reads went to the replica before it lagged: without that, the pause
	// would prove nothing about falling back from it.
	if !eventually(15*time.Second, func() bool {
		return rp.readsOfAll(ctx, rp.before, func(r reads) bool { return r.serving && r.replica > 0 }, &last)
	}) {
		rp.problem("before the pause, the replica never served reads of every API process: %s", last)
	}

	if err := rp.replica.PauseReplay(ctx); err != nil {
		rp.problem("pause the replica's replay: %v", err)
		return
	}
	pausedAt := time.Now()
	defer func() {
		rp.pausedFor = time.Since(pausedAt)
		if err := rp.replica.ResumeReplay(ctx); err != nil {
			rp.problem("resume the replica's replay: %v", err)
		}
	}()

	// Within REPLICA_MAX_LAG (and a poll) of the pause, with the primary
	// moving on under the load, no process may count the replica fresh.
	// Generous: a liveness bound, on two cores shared with the whole test
	// run; the safety check is the reads after writes, not this.
	within := rp.maxLag + 10*time.Second
	if !eventually(within, func() bool {
		return rp.readsOfAll(ctx, nil, func(r reads) bool { return !r.serving }, &last)
	}) {
		rp.problem("%s after the replay was paused, the replica still serves reads: %s", within, last)
		return
	}
	// Taken after the processes were seen to stop reading from the
	// replica, so that a read that chose it just before is counted already.
	if !rp.readsOfAll(ctx, rp.stale, func(r reads) bool { return !r.serving }, &last) {
		rp.problem("the replica serves reads again while its replay is paused: %s", last)
		return
	}

	// The pause goes on for pauseFor, and at least a moment after the
	// processes stopped reading from the replica, so that reads can show
	// going to the primary even when noticing took longer than planned.
	time.Sleep(max(time.Until(pausedAt.Add(pauseFor)), 500*time.Millisecond))
	if !rp.readsOfAll(ctx, rp.paused, func(r reads) bool { return !r.serving }, &last) {
		rp.problem("at the end of the pause, the replica serves reads though its replay is paused: %s", last)
	}
	for _, p := range rp.apis {
		stale, paused := rp.stale[p], rp.paused[p]
		if paused.primary <= stale.primary {
			rp.problem("%s read nothing from the primary while the replica was paused: %s, then %s", p.name, stale, paused)
		}
		if paused.replica != stale.replica {
			rp.problem("%s read %.0f times from the replica while it did not serve (its replay paused): %s, then %s",
				p.name, paused.replica-stale.replica, stale, paused)
		}
	}
}

// check reports what run found, and that reads go back to the replica
// after it resumed: on survivor, the API process still alive, the replica
// serves reads again once it has caught up. The load may have ended by
// then, so the poll sends reads of its own.
func (rp *replicaPause) check(survivor *proc) {
	t := rp.t
	t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	for _, p := range rp.problems {
		t.Errorf("replica pause: %s", p)
	}
	for _, p := range rp.apis {
		t.Logf("replica pause: %s read %s before it; %s when it stopped serving; %s after %s of pause",
			p.name, rp.before[p], rp.stale[p], rp.paused[p], rp.pausedFor.Round(time.Millisecond))
	}
	atResume, ok := rp.paused[survivor]
	if !ok {
		return // run failed before, and said why
	}
	ctx := t.Context()
	var last string
	var now reads
	if !eventually(30*time.Second, func() bool {
		if _, err := survivor.send(ctx, http.MethodGet, "/jobs?limit=1", "", nil, ""); err != nil {
			last = err.Error()
			return false
		}
		r, err := rp.reads(ctx, survivor)
		if err != nil {
			last = err.Error()
			return false
		}
		now = r
		last = fmt.Sprintf("%s, serving %t", r, r.serving)
		return r.serving && r.replica > atResume.replica
	}) {
		t.Errorf("after the replay resumed, %s never read from the replica again: %s at the resume, now %s",
			survivor.name, atResume, last)
		return
	}
	t.Logf("replica pause: after the resume, %s read from the replica again (%s)", survivor.name, now)
}

// scrape reads p's /metrics into a map from each sample's name and labels,
// as the text format writes them (jobboard_db_reads_total{server="primary"}),
// to its value.
func scrape(ctx context.Context, p *proc) (map[string]float64, error) {
	res, err := p.send(ctx, http.MethodGet, "/metrics", "", nil, "")
	if err != nil {
		return nil, fmt.Errorf("GET /metrics on %s: %w", p.name, err)
	}
	if res.status != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics on %s: %s", p.name, res)
	}
	samples := map[string]float64{}
	for line := range strings.Lines(string(res.body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("GET /metrics on %s: %q: %w", p.name, line, err)
		}
		samples[line[:i]] = v
	}
	return samples, nil
}
