// Command replicas measures what reading from a PostgreSQL streaming
// replica (DATABASE_READ_URLS) does to the job board, end to end, on this
// machine:
//
//   - it starts a scratch primary and a streaming replica of it
//     (internal/pgcluster: initdb, pg_basebackup, run as the postgres OS
//     user), creates and migrates a job-board database on the primary,
//     seeds 100,000 jobs into the read model (bench/jobs/seed.sql, then
//     bench/search/backfill.sql), runs VACUUM ANALYZE and waits for the
//     replica to replay all of it;
//   - it builds jobboard and runs one worker (serve --role worker: the
//     projectors) and two API processes (serve --role api) side by side on
//     loopback ports: "primary", which reads from the primary, and
//     "replica", the same with DATABASE_READ_URLS naming the replica;
//   - listing: GET /jobs?title=<w>&location=<c>, bench/jobs' load (16
//     clients in a closed loop, the same draws), alternating primary,
//     replica, primary, replica…, each phase with a warm-up on the same
//     connections, so that whatever else the machine does touches both;
//   - writes: POST /jobs with 1 and then 8 clients, alternating the two
//     servers the same way, then against the replica server once more with
//     the replica's replay paused (pg_wal_replay_pause), where each write
//     waits REPLICA_MAX_LAG (and a margin) for a replica that will not
//     replay it.
//
// Each phase reports req/s and latency percentiles, where the replica
// server's reads went (jobboard_db_reads_total from its /metrics), and the
// CPU time spent per request by the API process, the primary's and the
// replica's PostgreSQL processes, and by everything else on the machine
// (other people's tests), from /proc. The clusters are stopped and their
// directories removed at the end, also on an error or an interrupt
// (SIGINT, SIGTERM); the servers' logs stay in -out.
//
//	go run ./bench/replicas                 # from the repository root, as root or not
//	go run ./bench/replicas -rounds 3 -d 20s -write-d 15s
//
// Everything listens on 127.0.0.1 only, and the load only talks to
// loopback addresses. Results are recorded in bench/replicas/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command line's.
type options struct {
	jobs          int
	clients       int
	rounds        int
	warmup, dur   time.Duration
	writeClients  []int
	writeRounds   int
	writeWarmup   time.Duration
	writeDur      time.Duration
	maxLag        time.Duration
	sharedBuffers string
	walWriter     string
	out           string
	db            string
}

func main() {
	var o options
	var writeClients string
	flag.IntVar(&o.jobs, "jobs", 100000, "jobs to seed (bench/jobs/seed.sql)")
	flag.IntVar(&o.clients, "c", 16, "listing clients")
	flag.IntVar(&o.rounds, "rounds", 2, "listing rounds (each: primary, then replica)")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "listing warm-up before each phase, not counted")
	flag.DurationVar(&o.dur, "d", 20*time.Second, "listing measurement per phase")
	flag.StringVar(&writeClients, "write-c", "1,8", "comma-separated write client counts")
	flag.IntVar(&o.writeRounds, "write-rounds", 2, "write rounds per client count (each: primary, then replica)")
	flag.DurationVar(&o.writeWarmup, "write-warmup", 3*time.Second, "write warm-up before each phase, not counted")
	flag.DurationVar(&o.writeDur, "write-d", 15*time.Second, "write measurement per phase")
	flag.DurationVar(&o.maxLag, "max-lag", time.Second, "REPLICA_MAX_LAG of the replica server")
	flag.StringVar(&o.sharedBuffers, "shared-buffers", "128MB",
		"shared_buffers of both clusters (PostgreSQL's default, as bench/jobs ran with); empty: pgcluster's 16MB")
	flag.StringVar(&o.walWriter, "wal-writer-delay", "",
		"wal_writer_delay of the primary (empty: PostgreSQL's 200ms); a diagnostic: the projectors commit asynchronously, "+
			"and a replica only receives WAL once it is flushed")
	flag.StringVar(&o.out, "out", filepath.Join(os.TempDir(), "jobboard-bench-replicas"), "where the binary, the servers' logs and the results go")
	flag.StringVar(&o.db, "db", "jobboard_bench", "the database to create on the scratch primary")
	flag.Parse()
	for _, s := range strings.Split(writeClients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 64 {
			fmt.Fprintln(os.Stderr, "replicas: -write-c: want client counts from 1 to 64, such as 1,8")
			os.Exit(2)
		}
		o.writeClients = append(o.writeClients, n)
	}
	if o.clients < 1 || o.clients > 256 || o.rounds < 1 || o.writeRounds < 1 || o.dur <= 0 || o.writeDur <= 0 || o.maxLag <= 0 {
		fmt.Fprintln(os.Stderr, "replicas: -c must be 1–256, -rounds and -write-rounds at least 1, durations positive")
		os.Exit(2)
	}

	// The first SIGINT or SIGTERM cancels ctx, and every step returns, so
	// that the deferred clean-up stops the servers and the clusters and
	// removes the clusters' directories. Once ctx is cancelled the
	// handler is removed: a second signal kills this process outright
	// (the servers and clusters then die with it, by their parent-death
	// signal, and only the directories stay behind).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	err := run(ctx, o)
	stop()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = fmt.Errorf("interrupted (%w)", err)
		}
		fmt.Fprintln(os.Stderr, "replicas:", err)
		os.Exit(1)
	}
}

// logf reports progress on stderr, as the shell benchmarks' "== step" lines.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "== %s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

// run is the whole benchmark. Every resource it starts is released by a
// deferred call registered right after it starts, so that an error or an
// interrupt at any step leaves nothing running.
func run(ctx context.Context, o options) (err error) {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	started := time.Now().UTC()
	before := machineNow()

	logf("build jobboard")
	bin := filepath.Join(o.out, "jobboard")
	if err := command(ctx, root, nil, "go", "build", "-o", bin, "./cmd/jobboard"); err != nil {
		return err
	}

	logf("start a scratch primary and a streaming replica (internal/pgcluster)")
	pair, err := startPair(ctx, o.sharedBuffers, o.walWriter)
	if pair != nil {
		defer func() {
			if err != nil && ctx.Err() == nil {
				pair.printLogTails()
			}
			pair.close()
		}()
	}
	if err != nil {
		return err
	}
	if err := pair.seed(ctx, root, o.db, o.jobs); err != nil {
		return err
	}

	procs, err := startServers(ctx, o, bin, pair)
	defer procs.stop()
	if err != nil {
		return err
	}

	b := newBench(o, pair, procs)
	if err := b.checkSame(ctx); err != nil {
		return err
	}
	if err := b.listing(ctx); err != nil {
		return err
	}
	if err := b.writes(ctx); err != nil {
		return err
	}
	after := machineNow()
	report := b.report(ctx, started, time.Now().UTC(), before, after)
	fmt.Print(report)
	path := filepath.Join(o.out, "results-"+started.Format("20060102T150405Z")+".md")
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		return err
	}
	logf("results written to %s", path)
	return nil
}

// repoRoot is the module's directory: the seed scripts and ./cmd/jobboard
// are found from it, wherever the command is run from inside the
// repository.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/jobboard/jobboard\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it from inside the jobboard repository (no go.mod of github.com/jobboard/jobboard above the working directory)")
		}
		dir = parent
	}
}
