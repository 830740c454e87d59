package http_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
)

// tcpProxy stands between the service and PostgreSQL, so that a test can
// cut the database off and bring it back: cut closes every connection and
// hangs up on new ones until restore.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startTCPProxy proxies target on a free local port until the test ends.
func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: listen: %v", err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			client.Close()
			continue
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			client.Close()
			server.Close()
			continue
		}
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			io.Copy(dst, src) //nolint:errcheck // either side hanging up ends both
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(client, server)
		go pipe(server, client)
	}
}

// cut closes every proxied connection and refuses new ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// restore lets connections through again.
func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestDatabaseOutage: while the database is unreachable, reads and writes
// answer 503 with Retry-After (never 500, never a hang) and /readyz says
// not ready; once it is back, the same requests succeed, without a restart.
func TestDatabaseOutage(t *testing.T) {
	is := is.New(t)
	own := testdb.New(t)
	u, err := url.Parse(own.URL)
	is.NoErr(err)
	proxy := startTCPProxy(t, u.Host)
	u.Host = proxy.addr()
	owner, err := url.Parse(own.OwnerURL)
	is.NoErr(err)
	owner.Host = proxy.addr()
	s := startServiceOn(t, own, map[string]string{"DATABASE_URL": u.String(), "MIGRATE_DATABASE_URL": owner.String()})

	recruiter := jobsRegister(t, s, "recruiter", "Outage Inc")
	before := jobsPost(t, s, recruiter.token, jobsBody("Before the outage"))
	is.Equal(s.get("/readyz", "").status, http.StatusOK)

	proxy.cut()
	unavailable := func(what string, res response) {
		t.Helper()
		problemOf(t, res, http.StatusServiceUnavailable)
		seconds, err := strconv.Atoi(res.header.Get("Retry-After"))
		if err != nil || seconds < 1 {
			t.Fatalf("%s: Retry-After %q, want whole seconds", what, res.header.Get("Retry-After"))
		}
	}
	// Twice: first the pool's connections break under the requests, then
	// the requests need new ones, which are refused.
	for round := 1; round <= 2; round++ {
		start := time.Now()
		unavailable("GET /jobs", s.get("/jobs", ""))
		unavailable("GET /jobs/{id}", s.get("/jobs/"+before.ID, ""))
		unavailable("POST /jobs", jobsCall(t, s, http.MethodPost, "/jobs", recruiter.token, jobsBody("During the outage")))
		unavailable("PATCH /jobs/{id}", jobsCall(t, s, http.MethodPatch, "/jobs/"+before.ID, recruiter.token, map[string]any{"title": "Patched"}))
		unavailable("GET /me", s.get("/me", recruiter.token))
		unavailable("POST /login", s.postJSON("/login", map[string]string{"email": recruiter.email, "password": "jobs password"}))
		unavailable("POST /register", s.postJSON("/register", registration{Email: uniqueEmail("outage"), Password: "outage password", Name: "O", Role: "job_seeker"}))
		unavailable("GET /readyz", s.get("/readyz", ""))
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("round %d took %s: refusals must be prompt, not after a hang", round, d)
		}
	}
	is.Equal(s.get("/healthz", "").status, http.StatusOK) // the process itself is fine

	proxy.restore()
	if !eventually(t, 30*time.Second, func() bool { return s.get("/readyz", "").status == http.StatusOK }) {
		t.Fatal("/readyz did not become 200 after the database came back")
	}
	list := jobsList(t, s, jobsQuery("company", "Outage Inc"), "")
	is.Equal(list.ids(), []string{before.ID}) // reads work again
	after := jobsPost(t, s, recruiter.token, jobsBody("After the outage"))
	is.Equal(jobsGet(t, s, after.ID, "").Title, "After the outage") // and writes, read at once
	is.True(s.login(recruiter.email, "jobs password") != "")

	// Nothing written during the outage reached the log.
	var n int
	is.NoErr(own.Pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE data->>'title' = $1`, "During the outage").Scan(&n))
	is.Equal(n, 0)
}
