package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/bench/internal/loopback"
	"github.com/jobboard/jobboard/internal/pgcluster"
)

// pair is the scratch primary and its replica, in directories under base.
type pair struct {
	base             string
	primary, replica *pgcluster.Cluster
	db               string
	// dataSize describes the seeded data, for the report.
	dataSize string
}

// startPair makes the clusters as pgcluster.NewPair does for tests (which
// needs a testing.TB, so is not usable here): a 0755 directory, because
// os.MkdirTemp makes it 0700 for root and the servers run as the postgres
// user, which must enter it. The pair is returned even on an error, so
// that the caller's clean-up removes what was made.
func startPair(ctx context.Context, sharedBuffers, walWriterDelay string) (*pair, error) {
	base, err := os.MkdirTemp("", "jobboard-bench-replicas-")
	if err != nil {
		return nil, err
	}
	p := &pair{base: base}
	if err := os.Chmod(base, 0o755); err != nil {
		return p, err
	}
	if p.primary, err = pgcluster.StartPrimary(ctx, filepath.Join(base, "primary")); err != nil {
		return p, err
	}
	// pgcluster sizes its clusters for tests (16MB of shared_buffers);
	// bench/jobs ran with PostgreSQL's default of 128MB, and the listing's
	// numbers are only comparable with the same cache. The settings are
	// made before the base backup, which copies postgresql.auto.conf to
	// the replica.
	settings := map[string]string{"shared_buffers": sharedBuffers, "wal_writer_delay": walWriterDelay}
	changed := false
	for name, value := range settings {
		if value == "" {
			continue
		}
		if !regexp.MustCompile(`^[0-9]+(ms|s|kB|MB|GB)?$`).MatchString(value) {
			return p, fmt.Errorf("%s %q: want a size such as 128MB or a time such as 200ms", name, value)
		}
		if err := execSQL(ctx, p.primary.URL("postgres"), "ALTER SYSTEM SET "+name+" = '"+value+"'"); err != nil {
			return p, err
		}
		changed = true
	}
	if changed {
		if err := p.primary.Stop(ctx); err != nil {
			return p, err
		}
		if err := p.primary.Start(ctx); err != nil {
			return p, err
		}
	}
	if p.replica, err = p.primary.StartReplica(ctx, filepath.Join(base, "replica")); err != nil {
		return p, err
	}
	logf("primary on 127.0.0.1:%d, replica on 127.0.0.1:%d, in %s", p.primary.Port(), p.replica.Port(), base)
	return p, nil
}

// close kills both servers (nothing in them is kept, so no checkpoint is
// needed) and removes their directories and logs.
func (p *pair) close() {
	for _, c := range []*pgcluster.Cluster{p.replica, p.primary} {
		if c != nil {
			c.Kill()
		}
	}
	if err := os.RemoveAll(p.base); err != nil {
		fmt.Fprintf(os.Stderr, "replicas: remove %s: %v\n", p.base, err)
	} else {
		logf("clusters stopped, %s removed", p.base)
	}
}

// printLogTails shows the end of each server's log, which usually says why
// a step failed; it is called before close removes them.
func (p *pair) printLogTails() {
	for _, c := range []*pgcluster.Cluster{p.primary, p.replica} {
		if c != nil {
			fmt.Fprintf(os.Stderr, "--- the end of %s:\n%s\n", c.LogPath(), tail(c.LogPath(), 15))
		}
	}
}

// seed creates and migrates the job board's database on the primary, with
// the service's role, fills it as bench/jobs and bench/search do, and waits
// until the replica has replayed all of it.
func (p *pair) seed(ctx context.Context, root, db string, jobs int) error {
	p.db = db
	logf("create and migrate %s on the primary (pgcluster SetupJobBoard)", db)
	if err := p.primary.SetupJobBoard(ctx, db); err != nil {
		return err
	}
	t0 := time.Now()
	logf("seed %d jobs (bench/jobs/seed.sql), then job_search (bench/search/backfill.sql)", jobs)
	if err := p.psql(ctx, root, "-v", "n="+strconv.Itoa(jobs), "-f", "bench/jobs/seed.sql"); err != nil {
		return err
	}
	if err := p.psql(ctx, root, "-f", "bench/search/backfill.sql"); err != nil {
		return err
	}
	logf("VACUUM ANALYZE and CHECKPOINT")
	if err := p.psql(ctx, root, "-c", "VACUUM ANALYZE", "-c", "CHECKPOINT"); err != nil {
		return err
	}
	logf("seeded in %s; wait for the replica to replay it", time.Since(t0).Round(time.Second))
	wait, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := p.replica.WaitCaughtUp(wait); err != nil {
		return err
	}
	// Read back on the replica, as the service's role: it has the rows and
	// the role may read them.
	conn, err := pgx.Connect(ctx, p.replica.ServiceURL(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n, open int
	var jobsSize, searchSize string
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'open'),
		pg_size_pretty(pg_total_relation_size('jobs')), pg_size_pretty(pg_total_relation_size('job_search')) FROM jobs`).
		Scan(&n, &open, &jobsSize, &searchSize); err != nil {
		return fmt.Errorf("read the seeded jobs on the replica: %w", err)
	}
	if n != jobs {
		return fmt.Errorf("the replica has %d jobs, not %d", n, jobs)
	}
	p.dataSize = fmt.Sprintf("%d jobs (%d open); jobs %s, job_search %s with indexes", n, open, jobsSize, searchSize)
	logf("replica caught up: %s", p.dataSize)
	return nil
}

// psql runs psql against the primary's database as the superuser, from
// the repository's root (the scripts are named from there).
func (p *pair) psql(ctx context.Context, root string, args ...string) error {
	full := append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", strconv.Itoa(p.primary.Port()),
		"-U", "postgres", "-d", p.db}, args...)
	return command(ctx, root, cleanEnv(nil), "psql", full...)
}

// execSQL runs one statement on url.
func execSQL(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// command runs a program to completion, its output on stderr with the
// progress lines.
func command(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// cleanEnv is this process's environment without the variables that would
// steer a child elsewhere than meant: libpq's PG* (a PGDATABASE or
// PGOPTIONS for the machine's own cluster) and the job board's own
// settings (a DATABASE_READ_URLS left in the shell would give the
// "primary" server replicas too), plus extra.
func cleanEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || jobboardSetting(k) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// jobboardSetting reports whether k is one of the variables jobboard reads.
func jobboardSetting(k string) bool {
	for _, prefix := range []string{"DATABASE_", "MIGRATE_", "HTTP_", "JWT_", "BCRYPT_", "LOG_", "LOGIN_", "REGISTER_",
		"WRITE_RATE", "READ_RATE", "TRUSTED_", "CORS_", "CONSISTENCY_", "SHUTDOWN_", "SUBSCRIBER_", "SMTP_", "MAIL_",
		"APP_", "PPROF_", "METRICS_", "JOBBOARD_", "REPLICA_"} {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// proc is one jobboard process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port: the API, or the worker's metrics listener
	logPath string
	exited  chan struct{}
}

// servers are the three processes: the two APIs under test, and the one
// worker that projects both APIs' writes. Both APIs are built alike (role
// api, the same settings, the same worker behind them), so that the only
// difference between them is DATABASE_READ_URLS.
type servers struct {
	worker, primary, replica *proc
	secret                   string
}

// startServers starts the worker, then the two APIs, one at a time (each
// migrates at start, and they need not queue on the migration lock), and
// returns once each answers and the replica server reads from the replica.
// What was started is in the result even on an error, for stop.
func startServers(ctx context.Context, o options, bin string, p *pair) (*servers, error) {
	raw := make([]byte, 48)
	rand.Read(raw)
	s := &servers{secret: base64.StdEncoding.EncodeToString(raw)}
	common := []string{
		"DATABASE_URL=" + p.primary.ServiceURL(p.db),
		"MIGRATE_DATABASE_URL=" + p.primary.URL(p.db),
		// One secret for both APIs: a token from one is good on the other,
		// as in a deployment of several API processes.
		"JWT_SECRET=" + s.secret,
		"READ_RATE_LIMIT=0", "WRITE_RATE_LIMIT=0", "REGISTER_MAX_PER_CLIENT=0",
		"LOG_LEVEL=warn", "BCRYPT_COST=4",
		"MAIL_DIR=" + filepath.Join(o.out, "mail"),
	}
	var err error
	logf("start jobboard: a worker, an API reading from the primary, an API reading from the replica")
	if s.worker, err = startProc(ctx, "worker", bin, o.out, "worker", "METRICS_ADDR", common); err != nil {
		return s, err
	}
	if s.primary, err = startProc(ctx, "api-primary", bin, o.out, "api", "", common); err != nil {
		return s, err
	}
	withReplica := append(append([]string(nil), common...),
		"DATABASE_READ_URLS="+p.replica.ServiceURL(p.db), "REPLICA_MAX_LAG="+o.maxLag.String())
	if s.replica, err = startProc(ctx, "api-replica", bin, o.out, "api", "", withReplica); err != nil {
		return s, err
	}
	if err := waitServing(ctx, s.replica, true); err != nil {
		return s, err
	}
	logf("worker %s, primary server %s, replica server %s", s.worker.base, s.primary.base, s.replica.base)
	return s, nil
}

// startProc starts `jobboard serve --role role` on a free loopback port
// (the API's, or addrVar's when set) and waits until it answers /healthz.
// It runs in a process group of its own, so that a Ctrl-C reaches only
// this program, which stops it in order, and it gets SIGTERM if this
// program dies without doing so.
func startProc(ctx context.Context, name, bin, out, role, addrVar string, env []string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"serve", "--role", role}
	env = append([]string(nil), env...)
	if addrVar != "" {
		env = append(env, addrVar+"="+addr)
	} else {
		args = append(args, "--addr", addr)
	}
	logPath := filepath.Join(out, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the process has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = out, cleanEnv(env)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, base: "http://" + addr, logPath: logPath, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }() //nolint:errcheck // its log says why it exited
	deadline := time.Now().Add(90 * time.Second)
	for {
		if status, _, err := get(ctx, p.base+"/healthz"); err == nil && status == http.StatusOK {
			return p, nil
		}
		select {
		case <-p.exited:
			return p, fmt.Errorf("%s exited at start (%s); the end of %s:\n%s", name, cmd.ProcessState, logPath, tail(logPath, 15))
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return p, fmt.Errorf("%s did not answer /healthz within 90 s; the end of %s:\n%s", name, logPath, tail(logPath, 15))
		}
	}
}

// stop stops the processes (APIs first, then the worker that serves
// them) with SIGTERM, a graceful shutdown, and SIGKILL after 20 s.
func (s *servers) stop() {
	if s == nil {
		return
	}
	for _, p := range []*proc{s.replica, s.primary, s.worker} {
		if p == nil {
			continue
		}
		p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill() //nolint:errcheck // as above
			<-p.exited
		}
	}
}

// pids are the processes whose CPU time each phase reports.
func (s *servers) pids() map[string]int {
	return map[string]int{
		"api-primary": s.primary.cmd.Process.Pid,
		"api-replica": s.replica.cmd.Process.Pid,
		"worker":      s.worker.cmd.Process.Pid,
	}
}

// reads is what a server's /metrics says of its reads: how many went to
// the replica and to the primary, and whether the replica serves.
type reads struct {
	replica, primary float64
	serving          bool
}

// scrapeReads reads jobboard_db_reads_total and jobboard_replica_serving
// from p's /metrics (served on the API's port, no METRICS_ADDR being set).
func scrapeReads(ctx context.Context, p *proc) (reads, error) {
	status, body, err := get(ctx, p.base+"/metrics")
	if err != nil {
		return reads{}, err
	}
	if status != http.StatusOK {
		return reads{}, fmt.Errorf("%s/metrics: status %d", p.base, status)
	}
	var r reads
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(fields[1], 64)
		switch {
		case strings.HasPrefix(line, `jobboard_db_reads_total{server="primary"}`):
			r.primary = v
		case strings.HasPrefix(line, `jobboard_db_reads_total{`):
			r.replica += v
		case strings.HasPrefix(line, `jobboard_replica_serving{`):
			r.serving = v == 1
		}
	}
	return r, sc.Err()
}

// waitServing waits until p's replica serves reads (want true) or has
// stopped serving them (false), as its metrics say.
func waitServing(ctx context.Context, p *proc, want bool) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := scrapeReads(ctx, p)
		if err == nil && r.serving == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: the replica's serving state did not become %v within 60 s (last error: %v)", p.name, want, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// control is the HTTP client for everything but the measured requests:
// start-up probes, metrics, registration.
var control = &http.Client{
	Timeout: 10 * time.Second,
	Transport: &http.Transport{
		Proxy:       nil, // loopback only, never through a proxy
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, Control: loopback.Control}).DialContext,
	},
}

// get fetches url with the control client.
func get(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := control.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, body, err
}

// freePort asks the kernel for a port free on 127.0.0.1 now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read it: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// errNoSuccess is a phase in which no request succeeded.
var errNoSuccess = errors.New("no request succeeded")
