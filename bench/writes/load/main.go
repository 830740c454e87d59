// Command load measures the job board's writes (and one reference read)
// against a running jobboard: a fixed number of clients, each sending its
// next request as soon as the previous answer has been read (a closed
// loop), for a fixed time. It prints requests per second, latency
// percentiles, errors and the count of each status.
//
//	go run ./bench/writes/load -mode create -secret "$JWT_SECRET" -c 16 -warmup 5s -d 20s
//
// Modes:
//
//   - create: POST /jobs as a random seeded recruiter, with a job of the
//     usual size (a ~300-character description, a salary six times in ten);
//   - apply: POST /jobs/{id}/apply (JSON name, email, cover letter) as a
//     seeded job seeker, each request a (job seeker, job) pair never used
//     before, in this run or an earlier one on the same database (below);
//   - get: GET /jobs/{id} of a random seeded job, without a token: a
//     reference read through the same stack.
//
// The accounts and jobs come from the database (-db): the users and jobs
// read models, which bench/writes/run.sh fills by seeding the event log and
// replaying it. No password is needed: the tool mints its own access
// tokens, HS256 with the server's JWT_SECRET (-secret) and the claims
// auth.Tokens checks (sub, role, iat, exp, iss "jobboard").
//
// Apply pairs: every (job seeker, open job) pair is numbered, p = job index
// × seekers + seeker index, and the clients walk a pseudo-random
// permutation of those numbers (a keyed Feistel network over the next power
// of four, cycle-walking past the end) from its start, taking the next
// number from a shared counter. Pairs already in application_claims (read
// once at start) are skipped, so that a second run on the same database, or
// a run after jobs were added, gets no 409 either; the number skipped is
// printed. Jobs are those open in the jobs read model.
//
// It only talks to loopback addresses (HTTP and PostgreSQL): it is a
// benchmark for one machine, not a tool to load anything else.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/bench/internal/loopback"
)

func main() {
	var o options
	flag.StringVar(&o.base, "url", "http://127.0.0.1:18091", "the API's base URL (loopback only)")
	flag.StringVar(&o.mode, "mode", "create", "create (POST /jobs), apply (POST /jobs/{id}/apply) or get (GET /jobs/{id})")
	flag.IntVar(&o.clients, "c", 16, "concurrent clients")
	flag.DurationVar(&o.duration, "d", 20*time.Second, "how long to measure")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "how long to send requests before measuring (not counted)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout; a request that takes longer is an error")
	flag.StringVar(&o.secret, "secret", "", "the server's JWT_SECRET, to sign access tokens with (default: $JWT_SECRET)")
	flag.StringVar(&o.issuer, "issuer", "jobboard", "the tokens' iss claim")
	flag.StringVar(&o.db, "db", "postgres://postgres@127.0.0.1:5432/jobboard_writes?sslmode=disable",
		"the benchmark database, to read the seeded accounts and jobs from (loopback only)")
	flag.Float64Var(&o.startAt, "start-at", 0, "Unix time (seconds, with a fraction) at which to begin the warm-up, after setup; 0: at once")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the random choices (accounts, jobs, bodies) and of the apply permutation")
	flag.Parse()
	if o.secret == "" {
		o.secret = os.Getenv("JWT_SECRET")
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type options struct {
	base, mode, secret, issuer, db string
	clients                        int
	duration, warmup, timeout      time.Duration
	startAt                        float64
	seed                           uint64
}

// account is a seeded user the tool acts as.
type account struct {
	id                   uuid.UUID
	name, email, company string
	auth                 string // "Bearer <token>"
}

// request is one request to send.
type request struct {
	method, path string
	body         []byte
	auth         string
}

// stats is what one client saw, in the warm-up or in the measured window.
type stats struct {
	latencies  []time.Duration // of 2xx answers
	statuses   map[string]int  // "201", "409", "transport"
	errors     int
	firstError map[string]string // status -> the first body (or error) seen with it
}

func newStats() *stats { return &stats{statuses: map[string]int{}, firstError: map[string]string{}} }

func (s *stats) add(o *stats) {
	s.latencies = append(s.latencies, o.latencies...)
	s.errors += o.errors
	for k, v := range o.statuses {
		s.statuses[k] += v
	}
	for k, v := range o.firstError {
		if _, ok := s.firstError[k]; !ok {
			s.firstError[k] = v
		}
	}
}

func run(o options) error {
	u, err := url.Parse(o.base)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if err := loopback.CheckHTTP(u); err != nil {
		return err
	}
	switch {
	case o.clients < 1 || o.clients > 1024:
		return errors.New("-c must be from 1 to 1024")
	case o.duration <= 0 || o.duration > time.Hour || o.warmup < 0 || o.warmup > time.Hour:
		return errors.New("-d must be positive and -d and -warmup at most 1h")
	case o.mode != "create" && o.mode != "apply" && o.mode != "get":
		return fmt.Errorf("-mode %q: want create, apply or get", o.mode)
	case o.mode != "get" && len(o.secret) < 32:
		return errors.New("-secret (or $JWT_SECRET): the server's JWT_SECRET, at least 32 bytes, is needed to sign tokens")
	}
	base := strings.TrimSuffix(u.String(), "/")

	ctx, cancelSetup := context.WithTimeout(context.Background(), time.Minute)
	defer cancelSetup()
	data, err := load(ctx, o.db, o.mode)
	if err != nil {
		return err
	}
	if o.mode != "get" {
		exp := time.Now().Add(o.warmup + o.duration + time.Hour)
		if o.startAt > 0 {
			exp = exp.Add(time.Until(unixTime(o.startAt)))
		}
		users, role := data.recruiters, "recruiter"
		if o.mode == "apply" {
			users, role = data.seekers, "job_seeker"
		}
		for i := range users {
			if users[i].auth, err = token(o, users[i].id, role, exp); err != nil {
				return err
			}
		}
	}
	gen := newGenerator(o, data)

	transport := &http.Transport{
		Proxy:               nil, // never through a proxy: loopback only
		DialContext:         (&net.Dialer{Timeout: o.timeout, Control: loopback.Control}).DialContext,
		MaxIdleConns:        o.clients,
		MaxIdleConnsPerHost: o.clients,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: o.timeout}
	if err := probe(client, base); err != nil {
		return err
	}

	start := time.Now()
	if o.startAt > 0 {
		at := unixTime(o.startAt)
		if time.Now().After(at) {
			return fmt.Errorf("setup took too long: it ended %s after -start-at", time.Since(at).Round(time.Millisecond))
		}
		time.Sleep(time.Until(at))
		start = at
	}
	measureFrom := start.Add(o.warmup)
	end := measureFrom.Add(o.duration)
	// At the end no new request is sent; the ones in flight are let finish
	// (within -timeout) and not counted. Cancelling them would make the
	// server cancel their queries and close its database connections,
	// which the next phase would pay for, and a write cancelled half-way
	// may still commit.
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// This process's own CPU time over the measured window.
	var cpuFrom, cpuTo time.Duration
	cpuTaken := make(chan struct{})
	go func() {
		time.Sleep(time.Until(measureFrom))
		cpuFrom = cpuTime()
		time.Sleep(time.Until(end))
		cpuTo = cpuTime()
		close(cpuTaken)
	}()
	var genErr atomic.Pointer[error]

	warm := make([]*stats, o.clients)
	measured := make([]*stats, o.clients)
	var wg sync.WaitGroup
	for i := range o.clients {
		warm[i], measured[i] = newStats(), newStats()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o.seed, uint64(i)+1))
			for {
				req, err := gen.next(rng)
				if err != nil {
					genErr.CompareAndSwap(nil, &err)
					cancel()
					return
				}
				t0 := time.Now()
				status, body, err := send(runCtx, client, base, req)
				t1 := time.Now()
				if runCtx.Err() != nil || t1.After(end) {
					// Past the end, or stopped by another client's error.
					return
				}
				s := measured[i]
				if t0.Before(measureFrom) {
					s = warm[i]
				}
				key := strconv.Itoa(status)
				if err != nil {
					key, body = "transport", err.Error()
				}
				s.statuses[key]++
				if err != nil || status < 200 || status > 299 {
					s.errors++
					if _, ok := s.firstError[key]; !ok {
						s.firstError[key] = req.method + " " + req.path + ": " + body
					}
					continue
				}
				s.latencies = append(s.latencies, t1.Sub(t0))
			}
		}()
	}
	wg.Wait()
	if err := genErr.Load(); err != nil {
		return *err
	}
	<-cpuTaken
	cpu := cpuTo - cpuFrom

	w, m := newStats(), newStats()
	for i := range o.clients {
		w.add(warm[i])
		m.add(measured[i])
	}
	slices.Sort(m.latencies)
	pct := func(p float64) time.Duration {
		if len(m.latencies) == 0 {
			return 0
		}
		i := int(float64(len(m.latencies))*p+0.5) - 1
		return m.latencies[max(0, min(i, len(m.latencies)-1))]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	n := len(m.latencies)
	rps := float64(n) / o.duration.Seconds()
	cpuPerReq := 0.0
	if n > 0 {
		cpuPerReq = cpu.Seconds() * 1000 / float64(n)
	}
	fmt.Printf("%s clients=%d warmup=%s duration=%s recruiters=%d seekers=%d jobs=%d\n",
		gen.describe(), o.clients, o.warmup, o.duration, len(data.recruiters), len(data.seekers), len(data.jobs))
	fmt.Printf("warm-up: statuses %s\n", statusList(w.statuses))
	fmt.Printf("requests %d  errors %d  req/s %.1f\n", n, m.errors, rps)
	fmt.Printf("latency ms  p50 %s  p90 %s  p99 %s  max %s\n", ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(pct(1)))
	fmt.Printf("statuses %s\n", statusList(m.statuses))
	if gen.pairs != nil {
		fmt.Printf("apply pairs: %d already claimed before this run (of %d), %d skipped as claimed\n",
			len(data.claimed), gen.pairs.n, gen.pairs.skipped.Load())
	}
	fmt.Printf("load generator CPU in the measured window: %.2f s, %.3f ms per request\n", cpu.Seconds(), cpuPerReq)
	// One line for scripts.
	fmt.Printf("RESULT mode=%s rps=%.1f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s requests=%d errors=%d statuses=%s load_cpu_s=%.3f load_cpu_ms_per_req=%.3f\n",
		o.mode, rps, ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(pct(1)), n, m.errors,
		strings.ReplaceAll(statusList(m.statuses), " ", ","), cpu.Seconds(), cpuPerReq)
	for _, set := range []*stats{w, m} {
		for _, k := range slices.Sorted(maps.Keys(set.firstError)) {
			what := "measured"
			if set == w {
				what = "warm-up"
			}
			fmt.Fprintf(os.Stderr, "load: first %s (%s): %s\n", k, what, truncate(set.firstError[k], 2000))
		}
	}
	if n == 0 {
		return errors.New("no request succeeded")
	}
	return nil
}

func statusList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func unixTime(sec float64) time.Time {
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*1e9))
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// send sends one request and reads the whole answer, as a client would.
func send(ctx context.Context, client *http.Client, base string, r request) (int, string, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, body)
	if err != nil {
		return 0, "", err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		_, err := io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, "", err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), err
}

// probe checks that the server answers at all.
func probe(client *http.Client, base string) error {
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		return fmt.Errorf("is the server running? %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/healthz: status %d", base, resp.StatusCode)
	}
	return nil
}

// tokenClaims are the claims auth.Tokens issues and checks.
type tokenClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

// token mints an access token for user, as the server would issue it at login.
func token(o options, user uuid.UUID, role string, exp time.Time) (string, error) {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   user.String(),
			Issuer:    o.issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Role: role,
	})
	s, err := t.SignedString([]byte(o.secret))
	if err != nil {
		return "", fmt.Errorf("sign a token: %w", err)
	}
	return "Bearer " + s, nil
}

// seedData is what the benchmark database holds for the tool.
type seedData struct {
	recruiters, seekers []account
	jobs                []uuid.UUID // open jobs, by id
	claimed             map[[32]byte]struct{}
}

func claimKey(job, seeker uuid.UUID) (k [32]byte) {
	copy(k[:16], job[:])
	copy(k[16:], seeker[:])
	return k
}

// load reads the accounts and open jobs from the read models, and for the
// apply mode the (job, applicant) pairs already claimed.
func load(ctx context.Context, dsn, mode string) (*seedData, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("-db: %w", err)
	}
	if err := loopback.CheckHost(cfg.Host); err != nil {
		return nil, fmt.Errorf("-db: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("-db: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	d := &seedData{claimed: map[[32]byte]struct{}{}}

	rows, err := conn.Query(ctx, `SELECT id, role, name, email, coalesce(company, '') FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	for rows.Next() {
		var a account
		var role string
		if err := rows.Scan((*[16]byte)(&a.id), &role, &a.name, &a.email, &a.company); err != nil {
			return nil, fmt.Errorf("read users: %w", err)
		}
		switch role {
		case "recruiter":
			d.recruiters = append(d.recruiters, a)
		case "job_seeker":
			d.seekers = append(d.seekers, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	if mode != "create" {
		rows, err := conn.Query(ctx, `SELECT id FROM jobs WHERE status = 'open' ORDER BY id`)
		if err != nil {
			return nil, fmt.Errorf("read jobs: %w", err)
		}
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan((*[16]byte)(&id)); err != nil {
				return nil, fmt.Errorf("read jobs: %w", err)
			}
			d.jobs = append(d.jobs, id)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read jobs: %w", err)
		}
	}
	if mode == "apply" {
		rows, err := conn.Query(ctx, `SELECT job_id, applicant_id FROM application_claims`)
		if err != nil {
			return nil, fmt.Errorf("read application_claims: %w", err)
		}
		for rows.Next() {
			var job, seeker uuid.UUID
			if err := rows.Scan((*[16]byte)(&job), (*[16]byte)(&seeker)); err != nil {
				return nil, fmt.Errorf("read application_claims: %w", err)
			}
			d.claimed[claimKey(job, seeker)] = struct{}{}
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read application_claims: %w", err)
		}
	}
	switch {
	case mode == "create" && len(d.recruiters) == 0:
		return nil, errors.New("the database has no recruiters: seed it first (bench/writes/run.sh)")
	case mode == "apply" && len(d.seekers) == 0:
		return nil, errors.New("the database has no job seekers: seed it first (bench/writes/run.sh)")
	case mode != "create" && len(d.jobs) == 0:
		return nil, errors.New("the database has no open jobs: seed it first (bench/writes/run.sh)")
	}
	return d, nil
}

// generator makes the requests of a mode. next is safe for concurrent use
// (each client passes its own rng).
type generator struct {
	mode  string
	data  *seedData
	pairs *pairs // apply only
}

func newGenerator(o options, d *seedData) *generator {
	g := &generator{mode: o.mode, data: d}
	if o.mode == "apply" {
		g.pairs = newPairs(uint64(len(d.seekers))*uint64(len(d.jobs)), o.seed)
	}
	return g
}

func (g *generator) describe() string {
	switch g.mode {
	case "create":
		return "POST /jobs"
	case "apply":
		return "POST /jobs/{id}/apply"
	}
	return "GET /jobs/{id}"
}

func (g *generator) next(rng *rand.Rand) (request, error) {
	d := g.data
	switch g.mode {
	case "create":
		r := d.recruiters[rng.IntN(len(d.recruiters))]
		body, err := json.Marshal(newJob(rng, r.company))
		return request{method: http.MethodPost, path: "/jobs", body: body, auth: r.auth}, err
	case "apply":
		p, err := g.pairs.take(d)
		if err != nil {
			return request{}, err
		}
		seeker, job := d.seekers[p%uint64(len(d.seekers))], d.jobs[p/uint64(len(d.seekers))]
		letter := coverLetter(rng, seeker.name)
		body, err := json.Marshal(applicationBody{Name: seeker.name, Email: seeker.email, CoverLetter: letter})
		return request{method: http.MethodPost, path: "/jobs/" + job.String() + "/apply", body: body, auth: seeker.auth}, err
	}
	return request{method: http.MethodGet, path: "/jobs/" + d.jobs[rng.IntN(len(d.jobs))].String()}, nil
}

// pairs hands out (job seeker, job) pair numbers in a pseudo-random order,
// each at most once, skipping the ones already claimed.
type pairs struct {
	n       uint64 // pair numbers are 0 … n-1
	half    uint   // bits in each half of the Feistel network's block
	keys    [4]uint64
	next    atomic.Uint64
	skipped atomic.Uint64
}

func newPairs(n, seed uint64) *pairs {
	b := uint(bits.Len64(n - 1))
	if b%2 == 1 {
		b++
	}
	p := &pairs{n: n, half: max(b/2, 1)}
	s := seed
	for i := range p.keys {
		s += 0x9e3779b97f4a7c15
		p.keys[i] = mix(s)
	}
	return p
}

// mix is SplitMix64's finalizer: a cheap, well-spread hash of x.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// permute maps 0 … n-1 onto itself, one to one: a four-round Feistel
// network is a permutation of the 2^(2·half) blocks, and walking it again
// from any result at or past n (cycle-walking) stays one to one on 0 … n-1.
func (p *pairs) permute(x uint64) uint64 {
	mask := uint64(1)<<p.half - 1
	for {
		l, r := x>>p.half, x&mask
		for _, k := range p.keys {
			l, r = r, l^(mix(r^k)&mask)
		}
		x = l<<p.half | r
		if x < p.n {
			return x
		}
	}
}

// take returns the next unused pair number: job index × seekers + seeker index.
func (p *pairs) take(d *seedData) (uint64, error) {
	seekers := uint64(len(d.seekers))
	for {
		k := p.next.Add(1) - 1
		if k >= p.n {
			return 0, fmt.Errorf("every one of the %d (job seeker, job) pairs has been used: seed more jobs or seekers", p.n)
		}
		x := p.permute(k)
		if _, used := d.claimed[claimKey(d.jobs[x/seekers], d.seekers[x%seekers].id)]; used {
			p.skipped.Add(1)
			continue
		}
		return x, nil
	}
}

// jobBody is the body of POST /jobs (http/jobs.go jobBody).
type jobBody struct {
	Title          string  `json:"title"`
	Description    string  `json:"description"`
	Company        string  `json:"company"`
	Location       string  `json:"location"`
	EmploymentType string  `json:"employment_type"`
	Remote         bool    `json:"remote"`
	SalaryMin      *int64  `json:"salary_min,omitempty"`
	SalaryMax      *int64  `json:"salary_max,omitempty"`
	SalaryCurrency *string `json:"salary_currency,omitempty"`
}

type applicationBody struct {
	Name        string `json:"name"`
	Email       string `json:"email"`
	CoverLetter string `json:"cover_letter"`
}

// The vocabulary of the generated bodies; seed.sql draws from lists like
// these, so that new jobs look like the seeded ones.
var (
	seniorities     = []string{"", "", "", "Junior ", "Senior ", "Senior ", "Staff ", "Lead ", "Principal "}
	fields          = []string{"Backend", "Frontend", "Full Stack", "Data", "Machine Learning", "DevOps", "Mobile", "Security", "Cloud", "QA", "Platform", "Go", "Python", "Java", "Product", "UX", "Sales", "Marketing", "Finance", "Operations"}
	roles           = []string{"Engineer", "Engineer", "Developer", "Analyst", "Architect", "Manager", "Designer", "Scientist", "Specialist", "Consultant"}
	plainTitles     = []string{"Registered Nurse", "Truck Driver", "Accountant", "Recruiter", "Store Manager", "Electrician", "Pharmacist", "Technical Writer", "Paralegal", "Barista"}
	cities          = []string{"London, United Kingdom", "Berlin, Germany", "New York, NY", "Paris, France", "Amsterdam, Netherlands", "San Francisco, CA", "Toronto, Canada", "Munich, Germany", "Dublin, Ireland", "Madrid, Spain", "Stockholm, Sweden", "Austin, TX", "Warsaw, Poland", "Lisbon, Portugal", "Vienna, Austria", "Zurich, Switzerland", "Chicago, IL", "Copenhagen, Denmark", "Prague, Czechia", "Milan, Italy"}
	employmentTypes = []string{"full_time", "full_time", "full_time", "full_time", "full_time", "full_time", "full_time", "contract", "part_time", "internship", "temporary"}
	currencies      = []string{"EUR", "EUR", "USD", "USD", "GBP", "CHF", "CAD", "SEK"}
	openings        = []string{
		"We are looking for a %s to join our growing team at %s.",
		"As a %s at %s you will own your work from design to production.",
		"Join us as our next %s at %s and help us serve customers in twelve countries.",
	}
	sentences = []string{
		"You have several years of experience in a similar role and communicate well in English.",
		"We offer flexible hours, a learning budget and thirty days of paid leave.",
		"Our stack includes PostgreSQL, Kubernetes, Terraform and plenty of automated tests.",
		"You care about reliability, observability and keeping things simple.",
		"Experience with customer-facing work is a plus, but not required.",
		"We value mentoring, code review and writing things down.",
		"The team is spread over three time zones and meets in person twice a year.",
		"We support visa sponsorship and relocation for this position.",
		"Benefits include health insurance, a pension plan and a commuter allowance.",
		"You will report to the head of the department and work with a small team.",
	}
	letterLines = []string{
		"I have followed your company's work for a while and would love to contribute to it.",
		"In my current role I lead a small team and ship features from design to production.",
		"I enjoy hard problems, clear writing and working closely with customers.",
		"My background is in logistics and finance, which helps me understand your users.",
		"I am available to start within a month and happy to relocate if needed.",
		"I care about reliability and about leaving things simpler than I found them.",
	}
)

func pick(rng *rand.Rand, list []string) string { return list[rng.IntN(len(list))] }

// newJob is a job like the seeded ones: a description of about 300
// characters, a salary six times in ten.
func newJob(rng *rand.Rand, company string) jobBody {
	title := pick(rng, seniorities) + pick(rng, fields) + " " + pick(rng, roles)
	if rng.IntN(10) == 0 {
		title = pick(rng, plainTitles)
	}
	var desc strings.Builder
	fmt.Fprintf(&desc, pick(rng, openings), title, company)
	first := rng.IntN(len(sentences))
	n := 2 + rng.IntN(2)
	for i := range n {
		desc.WriteString(" ")
		desc.WriteString(sentences[(first+i*3)%len(sentences)])
	}
	j := jobBody{
		Title: title, Description: desc.String(), Company: company, Location: pick(rng, cities),
		EmploymentType: pick(rng, employmentTypes), Remote: rng.IntN(4) == 0,
	}
	if rng.IntN(10) < 6 {
		lo := int64(30+rng.IntN(120)) * 1000
		hi := lo + int64(5+rng.IntN(40))*1000
		cur := pick(rng, currencies)
		j.SalaryMin, j.SalaryMax, j.SalaryCurrency = &lo, &hi, &cur
	}
	return j
}

// coverLetter is a short letter of three or four lines, ~300 characters.
func coverLetter(rng *rand.Rand, name string) string {
	var b strings.Builder
	b.WriteString("Dear hiring team,\n\n")
	first := rng.IntN(len(letterLines))
	for i := range 2 + rng.IntN(2) {
		b.WriteString(letterLines[(first+i)%len(letterLines)])
		b.WriteString(" ")
	}
	b.WriteString("\n\nKind regards,\n")
	b.WriteString(name)
	return b.String()
}
