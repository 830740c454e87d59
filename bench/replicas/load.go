package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jobboard/jobboard/bench/internal/loopback"
)

// The title words and cities the listing clients draw from: bench/jobs/load's,
// drawn the same way (client i's generator is PCG(i+1, 0x6a6f6273)), so
// that each listing phase here sends bench/jobs' queries in bench/jobs'
// order, and both servers get the same ones.
var (
	titles    = strings.Split("engineer,developer,senior,manager,data,python,designer,analyst,nurse,react,sales,backend", ",")
	locations = strings.Split("london,berlin,new york,san francisco,paris,amsterdam,toronto,austin,munich,dublin,lisbon,tokyo", ",")
)

// bench holds what the phases share: the servers, one HTTP client per
// server (so that each keeps its warm connections across its phases), the
// recruiters the writes post as, and every phase's result.
type bench struct {
	o       options
	pair    *pair
	procs   *servers
	clients map[*proc]*http.Client
	roots   map[string]int // process trees whose CPU is accounted
	writers []account
	phases  []*phase
	probes  []probe
}

func newBench(o options, p *pair, s *servers) *bench {
	b := &bench{o: o, pair: p, procs: s, clients: map[*proc]*http.Client{}, roots: s.pids()}
	b.roots["pg-primary"] = postmasterPID(p.primary.Dir())
	b.roots["pg-replica"] = postmasterPID(p.replica.Dir())
	n := max(o.clients, slices.Max(o.writeClients))
	for _, srv := range []*proc{s.primary, s.replica} {
		b.clients[srv] = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			Proxy:               nil, // never through a proxy: loopback only
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, Control: loopback.Control}).DialContext,
			MaxIdleConns:        n,
			MaxIdleConnsPerHost: n,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		}}
	}
	return b
}

// phase is one measurement: a load against one server.
type phase struct {
	kind    string // "list" or "write"
	server  string // "primary" or "replica"
	paused  bool   // the replica's replay was paused
	round   int
	clients int
	dur     time.Duration

	latencies []time.Duration // of the successful requests, sorted
	errors    int
	firstErr  string
	cpu       cpuSample // used during the measured window
	reads     reads     // the replica server's reads during the measured window
	loadavg   string    // at the end
}

// name is how the report calls the phase's server.
func (p *phase) name() string {
	if p.paused {
		return "replica, replay paused"
	}
	return p.server
}

// checkSame asks both servers a few of the listing's queries and compares
// the answers' totals: a replica without the data (or a server reading
// something else) would make every comparison below meaningless.
func (b *bench) checkSame(ctx context.Context) error {
	for i := range 4 {
		q := url.Values{"title": {titles[i*3%len(titles)]}, "location": {locations[i*5%len(locations)]}}
		var totals []int
		for _, srv := range []*proc{b.procs.primary, b.procs.replica} {
			status, body, err := get(ctx, srv.base+"/jobs?"+q.Encode())
			if err != nil {
				return err
			}
			var page struct {
				Total int `json:"total"`
			}
			if status != http.StatusOK || json.Unmarshal(body, &page) != nil {
				return fmt.Errorf("%s: GET /jobs?%s: status %d: %.300s", srv.name, q.Encode(), status, body)
			}
			totals = append(totals, page.Total)
		}
		if totals[0] == 0 || totals[0] != totals[1] {
			return fmt.Errorf("GET /jobs?%s: the primary server counts %d jobs, the replica server %d", q.Encode(), totals[0], totals[1])
		}
	}
	return nil
}

// listing measures GET /jobs?title=…&location=… on both servers in turn,
// o.rounds times.
func (b *bench) listing(ctx context.Context) error {
	for r := 1; r <= b.o.rounds; r++ {
		for _, srv := range []*proc{b.procs.primary, b.procs.replica} {
			ph := &phase{kind: "list", server: serverName(b, srv), round: r, clients: b.o.clients, dur: b.o.dur}
			logf("listing round %d on the %s server: %d clients, %s warm-up, %s measured", r, ph.server, ph.clients, b.o.warmup, b.o.dur)
			client := b.clients[srv]
			err := b.measure(ctx, ph, b.o.warmup, func(i int) func(context.Context) error {
				rng := rand.New(rand.NewPCG(uint64(i)+1, 0x6a6f6273))
				return func(ctx context.Context) error {
					q := url.Values{"title": {titles[rng.IntN(len(titles))]}, "location": {locations[rng.IntN(len(locations))]}}
					return send(ctx, client, http.MethodGet, srv.base+"/jobs?"+q.Encode(), "", nil, http.StatusOK)
				}
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// writes measures POST /jobs for each client count: both servers in turn,
// o.writeRounds times, then the replica server once with the replica's
// replay paused.
func (b *bench) writes(ctx context.Context) error {
	if err := b.register(ctx, slices.Max(b.o.writeClients)); err != nil {
		return err
	}
	for _, c := range b.o.writeClients {
		for r := 1; r <= b.o.writeRounds; r++ {
			for _, srv := range []*proc{b.procs.primary, b.procs.replica} {
				if err := b.writePhase(ctx, srv, r, c, false); err != nil {
					return err
				}
			}
		}
		logf("pause the replica's replay")
		if err := b.pair.replica.PauseReplay(ctx); err != nil {
			return err
		}
		if err := b.writePhase(ctx, b.procs.replica, 1, c, true); err != nil {
			return err
		}
		if err := b.probeReads(ctx, fmt.Sprintf("replay paused, after the %d-client writes", c), false); err != nil {
			return err
		}
		logf("resume the replica's replay; wait until it has caught up and serves reads again")
		if err := b.pair.replica.ResumeReplay(ctx); err != nil {
			return err
		}
		if err := b.pair.replica.WaitCaughtUp(ctx); err != nil {
			return err
		}
		if err := b.probeReads(ctx, fmt.Sprintf("replay resumed, after the %d-client writes", c), true); err != nil {
			return err
		}
	}
	return nil
}

// probe is where a few listings on the replica server went.
type probe struct {
	when  string
	reads reads
	n     int
}

// probeReads waits until the replica server's replica serves (or not, as
// serving says), sends it a few listings and notes where their reads went
// by its metrics: with replay paused they must go to the primary, and
// back to the replica once it has caught up.
func (b *bench) probeReads(ctx context.Context, when string, serving bool) error {
	srv := b.procs.replica
	if err := waitServing(ctx, srv, serving); err != nil {
		return err
	}
	from, err := scrapeReads(ctx, srv)
	if err != nil {
		return err
	}
	const n = 20
	for i := range n {
		q := url.Values{"title": {titles[i%len(titles)]}, "location": {locations[i%len(locations)]}}
		if err := send(ctx, control, http.MethodGet, srv.base+"/jobs?"+q.Encode(), "", nil, http.StatusOK); err != nil {
			return err
		}
	}
	to, err := scrapeReads(ctx, srv)
	if err != nil {
		return err
	}
	p := probe{when: when, n: n, reads: reads{replica: to.replica - from.replica, primary: to.primary - from.primary, serving: to.serving}}
	b.probes = append(b.probes, p)
	logf("  %s: serving %v, %d listings read %.0f times from the replica, %.0f from the primary", when, p.reads.serving, n, p.reads.replica, p.reads.primary)
	return nil
}

// writePhase measures POST /jobs on srv, client i posting as recruiter i.
func (b *bench) writePhase(ctx context.Context, srv *proc, round, clients int, paused bool) error {
	ph := &phase{kind: "write", server: serverName(b, srv), paused: paused, round: round, clients: clients, dur: b.o.writeDur}
	logf("POST /jobs round %d on the %s server: %d clients, %s warm-up, %s measured", round, ph.name(), clients, b.o.writeWarmup, b.o.writeDur)
	client := b.clients[srv]
	return b.measure(ctx, ph, b.o.writeWarmup, func(i int) func(context.Context) error {
		rng := rand.New(rand.NewPCG(uint64(round), uint64(i)+1))
		w := b.writers[i]
		return func(ctx context.Context) error {
			body, err := json.Marshal(newJob(rng, w.company))
			if err != nil {
				return err
			}
			return send(ctx, client, http.MethodPost, srv.base+"/jobs", w.auth, body, http.StatusCreated)
		}
	})
}

func serverName(b *bench, srv *proc) string {
	if srv == b.procs.replica {
		return "replica"
	}
	return "primary"
}

// measure runs one phase: ph.clients clients in a closed loop (each sends
// its next request when it has read the previous answer in full) for
// warmup, not counted, then ph.dur. At the end no new request is sent;
// those in flight are let finish and not counted: cancelling them would
// make the server cancel their queries and drop pooled connections, which
// the next phase would pay for. CPU and the replica server's read counters
// are read when the measured window opens and when it closes.
func (b *bench) measure(ctx context.Context, ph *phase, warmup time.Duration, newClient func(i int) func(context.Context) error) error {
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(ph.dur)

	type result struct {
		latencies []time.Duration
		errors    int
		firstErr  error
	}
	results := make([]result, ph.clients)
	var cpuFrom, cpuTo cpuSample
	var readsFrom, readsTo reads
	var scrapeErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sleepUntil(ctx, measureFrom)
		cpuFrom = sampleCPU(b.roots)
		readsFrom, scrapeErr = scrapeReads(ctx, b.procs.replica)
		sleepUntil(ctx, end)
		cpuTo = sampleCPU(b.roots)
		var err error
		if readsTo, err = scrapeReads(ctx, b.procs.replica); scrapeErr == nil {
			scrapeErr = err
		}
	}()
	for i := range ph.clients {
		do := newClient(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[i]
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := do(ctx)
				t1 := time.Now()
				if t0.Before(measureFrom) || t1.After(end) || ctx.Err() != nil {
					continue
				}
				if err != nil {
					res.errors++
					if res.firstErr == nil {
						res.firstErr = err
					}
					continue
				}
				res.latencies = append(res.latencies, t1.Sub(t0))
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if scrapeErr != nil {
		return fmt.Errorf("read the replica server's metrics: %w", scrapeErr)
	}
	for _, r := range results {
		ph.latencies = append(ph.latencies, r.latencies...)
		ph.errors += r.errors
		if ph.firstErr == "" && r.firstErr != nil {
			ph.firstErr = r.firstErr.Error()
		}
	}
	slices.Sort(ph.latencies)
	ph.cpu = cpuSample{}
	for k, v := range cpuTo {
		ph.cpu[k] = v - cpuFrom[k]
	}
	ph.reads = reads{replica: readsTo.replica - readsFrom.replica, primary: readsTo.primary - readsFrom.primary}
	ph.loadavg = loadavg()
	b.phases = append(b.phases, ph)
	logf("  %s", ph.summary())
	if ph.firstErr != "" {
		logf("  first error: %.500s", ph.firstErr)
	}
	if len(ph.latencies) == 0 {
		return fmt.Errorf("%s phase on the %s server: %w (first error: %s)", ph.kind, ph.name(), errNoSuccess, ph.firstErr)
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

// send sends one request and reads the whole answer, as a client would;
// any status but want is an error carrying the start of the body.
func send(ctx context.Context, client *http.Client, method, url, auth string, body []byte, want int) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == want {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, b)
}

// account is a recruiter the writes post as.
type account struct {
	company string
	auth    string // "Bearer <token>"
}

// register makes n recruiters through the primary server's API (POST
// /register, POST /login: the servers run with BCRYPT_COST=4, so this is
// quick) and waits until the replica has them too, so that neither server
// meets an account its reads cannot see yet.
func (b *bench) register(ctx context.Context, n int) error {
	logf("register %d recruiters", n)
	run := time.Now().UnixNano()
	base := b.procs.primary.base
	for i := range n {
		email := fmt.Sprintf("bench-replicas-%d-%d@example.com", run, i)
		password := fmt.Sprintf("bench-replicas-password-%d-%d", run, i)
		company := fmt.Sprintf("Replica Benchmarks %d", i+1)
		reg, _ := json.Marshal(map[string]string{"email": email, "password": password, "name": fmt.Sprintf("Recruiter %d", i+1),
			"role": "recruiter", "company": company})
		if err := send(ctx, control, http.MethodPost, base+"/register", "", reg, http.StatusCreated); err != nil {
			return err
		}
		login, _ := json.Marshal(map[string]string{"email": email, "password": password})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", bytes.NewReader(login))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := control.Do(req)
		if err != nil {
			return err
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || tok.AccessToken == "" {
			return fmt.Errorf("POST /login: status %d (%v)", resp.StatusCode, err)
		}
		b.writers = append(b.writers, account{company: company, auth: "Bearer " + tok.AccessToken})
	}
	if err := b.pair.replica.WaitCaughtUp(ctx); err != nil {
		return errors.Join(errors.New("wait for the replica after registering"), err)
	}
	return nil
}

// jobBody is the body of POST /jobs (http/jobs.go's jobBody).
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

// The vocabulary of the posted jobs, a shorter form of bench/writes'
// (which is a main package, so cannot be shared): jobs the size and shape
// of the seeded ones, so that a write costs what a real one does.
var (
	seniorities     = []string{"", "", "", "Junior ", "Senior ", "Senior ", "Staff ", "Lead ", "Principal "}
	fields          = []string{"Backend", "Frontend", "Full Stack", "Data", "DevOps", "Mobile", "Security", "Cloud", "Platform", "Python", "Product", "Sales"}
	roles           = []string{"Engineer", "Engineer", "Developer", "Analyst", "Architect", "Manager", "Designer", "Scientist"}
	cities          = []string{"London, United Kingdom", "Berlin, Germany", "New York, NY", "Paris, France", "Amsterdam, Netherlands", "San Francisco, CA", "Toronto, Canada", "Munich, Germany", "Dublin, Ireland", "Lisbon, Portugal"}
	employmentTypes = []string{"full_time", "full_time", "full_time", "full_time", "full_time", "contract", "part_time", "internship", "temporary"}
	currencies      = []string{"EUR", "EUR", "USD", "USD", "GBP", "CHF"}
	sentences       = []string{
		"You have several years of experience in a similar role and communicate well in English.",
		"We offer flexible hours, a learning budget and thirty days of paid leave.",
		"Our stack includes PostgreSQL, Kubernetes, Terraform and plenty of automated tests.",
		"You care about reliability, observability and keeping things simple.",
		"The team is spread over three time zones and meets in person twice a year.",
		"Benefits include health insurance, a pension plan and a commuter allowance.",
	}
)

func pick(rng *rand.Rand, list []string) string { return list[rng.IntN(len(list))] }

// newJob is a job like the seeded ones: a description of about 300
// characters, a salary six times in ten.
func newJob(rng *rand.Rand, company string) jobBody {
	title := pick(rng, seniorities) + pick(rng, fields) + " " + pick(rng, roles)
	var desc strings.Builder
	fmt.Fprintf(&desc, "We are looking for a %s to join our growing team at %s.", title, company)
	first := rng.IntN(len(sentences))
	for i := range 2 + rng.IntN(2) {
		desc.WriteString(" ")
		desc.WriteString(sentences[(first+i)%len(sentences)])
	}
	j := jobBody{Title: title, Description: desc.String(), Company: company, Location: pick(rng, cities),
		EmploymentType: pick(rng, employmentTypes), Remote: rng.IntN(4) == 0}
	if rng.IntN(10) < 6 {
		lo := int64(30+rng.IntN(120)) * 1000
		hi := lo + int64(5+rng.IntN(40))*1000
		cur := pick(rng, currencies)
		j.SalaryMin, j.SalaryMax, j.SalaryCurrency = &lo, &hi, &cur
	}
	return j
}
