// Package pgcluster starts scratch PostgreSQL clusters on this machine, a
// primary and streaming replicas of it, for tests and benchmarks of reads
// served by replicas.
//
// The machine's own cluster allows no replication connections and is not to
// be reconfigured, and Docker is not available, so the primary is a new
// cluster made with initdb in a directory of the caller's, and each replica
// a pg_basebackup -R copy of it. Both listen on 127.0.0.1 only, on ports
// picked free, trust every local connection (replication included), and
// trade durability for speed (fsync off): nothing in them outlives a test.
//
// The postmaster is started and stopped from Go rather than by pg_ctl, so
// that it is a child of the test process and gets SIGQUIT (PostgreSQL's
// immediate shutdown) when that process dies: a test binary killed by
// go test's -timeout leaves no server running behind it (its directories do
// stay, under the temporary directory).
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultTimeout bounds the waits of this package (a server's start, a
// replica's replay) whose context has no deadline of its own: a wait that
// cannot end must fail the test, not hang it until go test's timeout.
const DefaultTimeout = 60 * time.Second

// settings are appended to the primary's postgresql.conf, and so copied to
// its replicas by pg_basebackup.
var settings = []string{
	// Reachable from this machine only, and over TCP only: no Unix socket
	// to collide with the machine's own cluster in /var/run/postgresql.
	"listen_addresses = '127.0.0.1'",
	"unix_socket_directories = ''",
	// Streaming replication, with room for a few replicas and slots.
	"wal_level = replica",
	"max_wal_senders = 10",
	"max_replication_slots = 10",
	"hot_standby = on",
	// Several service processes with pools of 20 connections each may use
	// one pair (a replica needs at least the primary's max_connections).
	"max_connections = 200",
	// A scratch cluster: small, and fast rather than durable. Commits stay
	// synchronous, so that a commit's WAL is sent to replicas at once (with
	// synchronous_commit off it would wait for the WAL writer).
	"shared_buffers = 16MB",
	"fsync = off",
	"full_page_writes = off",
	"synchronous_commit = on",
	"log_line_prefix = '%m [%p] '",
	"log_timezone = 'UTC'",
	"timezone = 'UTC'",
}

// hba trusts every connection from this machine, replication included:
// the clusters listen on 127.0.0.1 only and hold nothing of value.
const hba = `# pgcluster: a scratch cluster for tests; trusted from this machine only.
host all         all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
`

// errPortTaken means the postmaster could not bind its port: another
// process took it between freePort and the postmaster's bind.
var errPortTaken = errors.New("port taken")

// Cluster is one scratch PostgreSQL server: a primary, or a streaming
// replica of one. Its methods are safe for concurrent use.
type Cluster struct {
	dir     string
	logPath string
	bin     string
	run     *runner
	primary *Cluster // nil on a primary
	slot    string   // a replica's replication slot on its primary

	replicas atomic.Int32 // how many replicas a primary has made, to name their slots

	// port is atomic rather than under mu: URL reads it while Start,
	// holding mu, waits for the server to accept connections.
	port atomic.Int32

	mu     sync.Mutex // held while the server starts or stops
	proc   *exec.Cmd
	exited chan struct{} // closed when proc has exited
}

// StartPrimary makes a new cluster in dir (missing or empty; its parent
// must exist) with initdb and starts it on a free port. The server's log
// goes to dir+".log", beside dir rather than in it, so that replicas copied
// from dir do not start with the primary's log. Stop or Kill it when done.
func StartPrimary(ctx context.Context, dir string) (*Cluster, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	run, err := currentRunner()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := run.prepareDir(dir); err != nil {
		return nil, err
	}
	// --no-sync: nothing is worth flushing in a cluster that lives as long
	// as a test, and flushing it costs seconds. -U postgres: the superuser
	// is postgres whoever runs initdb, as URL says.
	if err := run.run(ctx, filepath.Dir(dir), filepath.Join(bin, "initdb"),
		"-D", dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
		"--no-sync", "--no-instructions"); err != nil {
		return nil, fmt.Errorf("pgcluster: make the primary: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	conf := "\n# pgcluster: a scratch cluster for tests\n" + strings.Join(settings, "\n") + "\n"
	if err := appendFile(filepath.Join(dir, "postgresql.conf"), conf); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c := &Cluster{dir: dir, logPath: dir + ".log", bin: bin, run: run}
	if err := c.startOnFreePort(ctx); err != nil {
		return nil, fmt.Errorf("pgcluster: start the primary: %w", err)
	}
	return c, nil
}

// StartReplica makes a streaming replica of c in dir (missing or empty) with
// pg_basebackup -R and starts it on a free port. It streams through a
// replication slot of its own, so that the primary keeps the WAL it has not
// received yet while it is stopped (a replica down comes back rather than
// needing a new base backup). Its log goes to dir+".log".
func (c *Cluster) StartReplica(ctx context.Context, dir string) (*Cluster, error) {
	if c.primary != nil {
		return nil, errors.New("pgcluster: StartReplica is called on a primary; cascading replicas are not supported")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := c.run.prepareDir(dir); err != nil {
		return nil, err
	}
	slot := fmt.Sprintf("pgcluster_replica_%d", c.replicas.Add(1))
	// -c fast: the backup's checkpoint now rather than spread out. -R
	// writes standby.signal and primary_conninfo (127.0.0.1, c's port,
	// user postgres); -C -S creates the slot and names it there too.
	if err := c.run.run(ctx, filepath.Dir(dir), filepath.Join(c.bin, "pg_basebackup"),
		"-D", dir, "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port()), "-U", "postgres", "-w",
		"-X", "stream", "-c", "fast", "-R", "-C", "-S", slot, "--no-sync"); err != nil {
		return nil, fmt.Errorf("pgcluster: copy the primary: %w", err)
	}
	r := &Cluster{dir: dir, logPath: dir + ".log", bin: c.bin, run: c.run, primary: c, slot: slot}
	if err := r.startOnFreePort(ctx); err != nil {
		return nil, fmt.Errorf("pgcluster: start the replica: %w", err)
	}
	return r, nil
}

// URL is the URL of database db on the cluster, as its superuser postgres.
func (c *Cluster) URL(db string) string {
	return c.urlAs("postgres", db)
}

func (c *Cluster) urlAs(role, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(role),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port())),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port is the TCP port the cluster listens on, on 127.0.0.1. It stays the
// same across Stop and Start.
func (c *Cluster) Port() int { return int(c.port.Load()) }

// Dir is the cluster's data directory.
func (c *Cluster) Dir() string { return c.dir }

// LogPath is the file the server logs to.
func (c *Cluster) LogPath() string { return c.logPath }

// IsReplica reports whether c is a replica (made by StartReplica).
func (c *Cluster) IsReplica() bool { return c.primary != nil }

// Primary is the cluster a replica streams from; nil on a primary.
func (c *Cluster) Primary() *Cluster { return c.primary }

// Running reports whether the server process is running.
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running()
}

func (c *Cluster) running() bool {
	if c.proc == nil {
		return false
	}
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// startOnFreePort starts the server on a port found free, and on another
// when someone takes that one first: tests of several packages make
// clusters at the same time.
func (c *Cluster) startOnFreePort(ctx context.Context) error {
	var err error
	for range 5 {
		var port int
		if port, err = freePort(); err != nil {
			return err
		}
		c.port.Store(int32(port))
		if err = c.Start(ctx); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

// freePort asks the kernel for a port that is free on 127.0.0.1 now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the server (again, after Stop or Kill) on its port, and
// returns once it accepts connections: on a replica, once it has replayed
// enough WAL to be consistent and serve reads. It fails with the end of the
// server's log when the server exits or does not become ready before ctx's
// deadline (DefaultTimeout when it has none).
func (c *Cluster) Start(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running() {
		return fmt.Errorf("pgcluster: %s is already running", c.dir)
	}
	logFile, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgcluster: server log: %w", err)
	}
	defer logFile.Close() // the server has its own copy once started
	logStart, _ := logFile.Seek(0, io.SeekEnd)
	// The port on the command line rather than in postgresql.conf: a
	// replica's configuration is a copy of its primary's.
	cmd := c.run.command(context.Background(), filepath.Dir(c.dir), filepath.Join(c.bin, "postgres"),
		"-D", c.dir, "-p", strconv.Itoa(c.Port()))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Set after the switch to the postgres user, so it holds for the
	// server; see the package's comment.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // the log says why it exited
		close(exited)
	}()
	c.proc, c.exited = cmd, exited

	if err := c.waitReady(ctx); err != nil {
		c.kill()
		tail := logTail(c.logPath, logStart, 20)
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "already in use") {
			return fmt.Errorf("pgcluster: %s: port %d on 127.0.0.1 is in use by another process: %w", c.dir, c.Port(), errPortTaken)
		}
		return fmt.Errorf("pgcluster: %s (port %d): %w; the end of its log (%s):\n%s", c.dir, c.Port(), err, c.logPath, tail)
	}
	return nil
}

// waitReady waits until the server accepts a connection, or exits.
func (c *Cluster) waitReady(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(c.URL("postgres"))
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = time.Second
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("the server exited while starting (%s)", c.proc.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready in time: %w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Stop shuts the server down cleanly (PostgreSQL's fast shutdown: open
// sessions are ended, a checkpoint is written) and waits until it has
// exited. When ctx ends first (DefaultTimeout when it has no deadline), it
// falls back to Kill. Stopping a stopped server does nothing.
func (c *Cluster) Stop(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running() {
		return nil
	}
	if err := c.proc.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pgcluster: stop %s: %w", c.dir, err)
	}
	select {
	case <-c.exited:
		return nil
	case <-ctx.Done():
		c.kill()
		return fmt.Errorf("pgcluster: %s did not stop in time (%w), so it was killed", c.dir, ctx.Err())
	}
}

// Kill stops the server at once (PostgreSQL's immediate shutdown, as
// pg_ctl stop -m immediate does: a replica or primary that crashed), and
// waits until it has exited. Killing a stopped server does nothing.
func (c *Cluster) Kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kill()
}

// kill sends SIGQUIT, and SIGKILL when the postmaster has not exited after
// ten seconds (its children then notice it is gone and exit too).
func (c *Cluster) kill() {
	if !c.running() {
		return
	}
	c.proc.Process.Signal(syscall.SIGQUIT) //nolint:errcheck // it may have exited meanwhile
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.proc.Process.Kill() //nolint:errcheck // as above
		<-c.exited
	}
}

// withDefaultTimeout gives ctx DefaultTimeout as its deadline unless it has
// one.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// appendFile appends text to the existing file path.
func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// logTail returns at most n last lines written to the log at path from
// offset on.
func logTail(path string, offset int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read it: %v)", err)
	}
	if offset <= int64(len(b)) {
		b = b[offset:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
