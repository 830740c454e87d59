package multiproc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jobboard/jobboard/internal/pgcluster"
	"github.com/jobboard/jobboard/internal/testapp"
	"github.com/jobboard/jobboard/internal/testdb"
)

// db is the package's database. The processes of a test share it and
// nothing else, as processes on different machines would.
var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

// jwtSecret is shared by every API process: a token one of them issued must
// be accepted by the others, since a client's requests land on any of them.
const jwtSecret = "multi-process test secret, at least 32 bytes long"

// topology is the databases the processes run against, apart from the
// processes so that the load and the checks are the same whatever serves
// the reads: they must hold just the same with the API processes reading
// from a streaming replica (DATABASE_READ_URLS, issue 16) as on the
// primary alone.
type topology struct {
	// primary is the database every write goes to, and every read when
	// readURLs is empty. Its Owner pool is what the checks read the log,
	// the deliveries and the checkpoints through.
	primary *testdb.DB
	// readURLs are the replicas the API processes read from (none: the
	// primary serves the reads), as the service's role; maxLag is their
	// REPLICA_MAX_LAG.
	readURLs []string
	maxLag   time.Duration
	// replica is the server behind readURLs, when the test started it:
	// the load pauses its replay.
	replica *pgcluster.Cluster
}

// env is the configuration every process gets, whatever its role.
func (tp topology) env() map[string]string {
	return map[string]string{
		"DATABASE_URL":         tp.primary.URL,
		"MIGRATE_DATABASE_URL": tp.primary.OwnerURL,
		// Every process seals and opens personal data with one key: the
		// tests' (without it each would read, or make, a key file in the
		// package's directory).
		"DATA_KEY": testdb.DataKey,
	}
}

// apiEnv is what the API processes get besides env: where they read from.
// The workers get none of it: the projectors and the mailer write, and run
// on the primary whatever the API reads from.
func (tp topology) apiEnv() map[string]string {
	env := map[string]string{}
	if len(tp.readURLs) > 0 {
		env["DATABASE_READ_URLS"] = strings.Join(tp.readURLs, ",")
		env["REPLICA_MAX_LAG"] = tp.maxLag.String()
	}
	return env
}

// buildJobboard compiles cmd/jobboard into a temporary directory. It is
// built without the race detector whatever the test runs under: four
// instrumented processes would make the load crawl on two cores, and the
// binary's own races are the business of the packages' tests.
func buildJobboard(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command builds the binary under test: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "jobboard")
	start := time.Now()
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "github.com/jobboard/jobboard/cmd/jobboard")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/jobboard: %v\n%s", err, out)
	}
	t.Logf("built jobboard in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// proc is one jobboard process.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testapp.LockedBuffer // its stdout and stderr
	// exited is closed once it has exited; exitErr is then what Wait said.
	exited  chan struct{}
	exitErr error
	// killed is set before the test kills it, so that a request that fails
	// because of the kill is known for one as soon as it fails.
	killed atomic.Bool
	// addr is where it serves HTTP: the API for an API process, /metrics
	// for a worker.
	addr   string
	client *http.Client
}

// startProc runs `jobboard serve --role role` with env, waits until it says
// it has started, and stops it when the test ends: SIGTERM, and the test
// fails unless it then exits cleanly (a survivor of its peers' crash must
// still shut down as it should). On failure, its output is shown.
func startProc(t *testing.T, bin, name, role string, env map[string]string) *proc {
	t.Helper()
	p := &proc{
		name:   name,
		out:    &testapp.LockedBuffer{},
		exited: make(chan struct{}),
		client: &http.Client{
			// Past CONSISTENCY_TIMEOUT: a write that waits that long answers
			// 503, which is the answer to record, not a client timeout.
			Timeout:   60 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 16},
		},
	}
	p.cmd = exec.Command(bin, "serve", "--role", role)
	p.cmd.Env = processEnv(env)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })

	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		started := false
		for _, l := range p.logLines() {
			switch l.Msg {
			case "serving the API", "serving metrics":
				p.addr = l.Addr
			case "jobboard started":
				started = true
			}
		}
		if started {
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it started (%v):\n%s", name, p.exitErr, p.out.String())
		case <-deadline.C:
			t.Fatalf("%s did not start within 60s:\n%s", name, p.out.String())
		case <-tick.C:
		}
	}
	if p.addr == "" {
		t.Fatalf("%s started without saying where it serves:\n%s", name, p.out.String())
	}
	return p
}

// processEnv is a process's whole environment: env, and from the test's own
// only what finds the database server's password (HOME for ~/.pgpass, the
// PG* variables), so that nothing else of the machine's configures it.
func processEnv(env map[string]string) []string {
	vars := map[string]string{}
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if name == "HOME" || name == "PATH" || name == "TMPDIR" || strings.HasPrefix(name, "PG") {
			vars[name] = value
		}
	}
	maps.Copy(vars, env)
	list := make([]string, 0, len(vars))
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		list = append(list, name+"="+vars[name])
	}
	return list
}

// kill sends SIGKILL, which the process cannot handle: no shutdown code
// runs, connections drop mid-request and mid-transaction. It returns once
// the process is gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.killed.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("SIGKILL %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("%s still runs 10s after SIGKILL", p.name)
	}
	p.client.CloseIdleConnections()
}

// stop ends a process the test did not kill with SIGTERM and expects a
// clean exit; either way, it shows the process's output if the test failed.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.client.CloseIdleConnections()
	if !p.killed.Load() {
		select {
		case <-p.exited:
			t.Errorf("%s exited by itself during the test: %v", p.name, p.exitErr)
		default:
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
				if p.exitErr != nil {
					t.Errorf("%s did not stop cleanly on SIGTERM: %v", p.name, p.exitErr)
				}
			case <-time.After(30 * time.Second):
				p.cmd.Process.Kill()
				<-p.exited
				t.Errorf("%s did not stop within 30s of SIGTERM", p.name)
			}
		}
	}
	if t.Failed() {
		t.Logf("output of %s:\n%s", p.name, p.outputDigest())
	}
}

// logLine is what the test reads of a process's JSON log lines.
type logLine struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Addr   string `json:"addr"`
	Status int    `json:"status"`
}

// logLines parses the complete lines the process has written so far; lines
// that are not JSON (a Go runtime crash, say) are left out.
func (p *proc) logLines() []logLine {
	var lines []logLine
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			lines = append(lines, l)
		}
	}
	return lines
}

// outputDigest is the process's output without the access log lines of
// requests that succeeded and the lines of mails sent, thousands of which
// would bury the lines that tell what went wrong.
func (p *proc) outputDigest() string {
	var b strings.Builder
	omitted := 0
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Level == "INFO" && (l.Msg == "request" && l.Status < 500 || l.Msg == "mail sent") {
			omitted++
			continue
		}
		b.Write(sc.Bytes())
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "(%d lines left out: requests answered below 500, mails sent)\n", omitted)
	return b.String()
}

// response is an answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string {
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// send makes one request to the process. An error is no answer: the
// process could not be reached or dropped the connection.
func (p *proc) send(ctx context.Context, method, path, token string, body []byte, contentType string) (response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+p.addr+path, r)
	if err != nil {
		return response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := p.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("read the body: %w", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// eventually polls cond until it holds or within has passed.
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}
