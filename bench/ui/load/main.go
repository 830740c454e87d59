// Command load measures the web UI's search page next to the API listing it
// is rendered from: GET /jobs?title=<w>&location=<c> and
// GET /app/?title=<w>&location=<c>, the same draws, the same clients, the
// same connections and the same duration, alternating (API, UI, API, UI, …)
// in one run, so that whatever else the machine does affects both alike. It
// prints requests per second, latency percentiles, bytes and the server's
// CPU per request of each phase, each target over all its phases, and the
// ratio of the UI's throughput to the API's.
//
//	go run ./bench/ui/load -url http://127.0.0.1:18097 -c 16 -warmup 5s -d 20s -rounds 2
//
// Before measuring, it checks that the page shows the jobs the API lists,
// in the same order, with the API's total: a page that rendered something
// cheaper (an error, another page size) would make the ratio meaningless.
//
// It only talks to a loopback address: it is a benchmark for one machine,
// not a tool to load anything else.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jobboard/jobboard/bench/internal/loopback"
)

// The values the clients draw from: bench/jobs/load's, so that the API half
// of this benchmark is bench/jobs' listing benchmark.
const (
	defaultTitles    = "engineer,developer,senior,manager,data,python,designer,analyst,nurse,react,sales,backend"
	defaultLocations = "london,berlin,new york,san francisco,paris,amsterdam,toronto,austin,munich,dublin,lisbon,tokyo"
)

type options struct {
	base              *url.URL
	apiPath, uiPath   string
	clients, rounds   int
	warmup, duration  time.Duration
	timeout           time.Duration
	titles, locations []string
	serverPID         int
}

func main() {
	var o options
	base := flag.String("url", "http://127.0.0.1:18097", "the service's base URL (loopback only)")
	flag.StringVar(&o.apiPath, "api-path", "/jobs", "the API listing's path")
	flag.StringVar(&o.uiPath, "ui-path", "/app/", "the search page's path")
	flag.IntVar(&o.clients, "c", 16, "concurrent clients")
	flag.IntVar(&o.rounds, "rounds", 2, "how many API, UI pairs to measure")
	flag.DurationVar(&o.duration, "d", 20*time.Second, "how long to measure each phase")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "how long to send requests before measuring each phase (not counted)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "per-request timeout; a request that takes longer is an error")
	titles := flag.String("titles", defaultTitles, "comma-separated title words to draw from")
	locations := flag.String("locations", defaultLocations, "comma-separated locations to draw from")
	flag.IntVar(&o.serverPID, "server-pid", 0, "the server's process id, to report its CPU time per request (0: not reported)")
	flag.Parse()
	o.titles, o.locations = split(*titles), split(*locations)

	var err error
	if o.base, err = url.Parse(*base); err != nil {
		err = fmt.Errorf("-url: %w", err)
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// target is one of the two things measured.
type target struct {
	name string // api or ui
	url  *url.URL
}

// phase is what one measurement of one target saw.
type phase struct {
	target    string
	round     int
	latencies []time.Duration // sorted
	errors    int
	firstErr  error
	bytes     int64
	cpu       time.Duration // the server's, while measuring; 0 if unknown
	machine   time.Duration // every core's busy time, while measuring
}

func run(o options) error {
	if err := loopback.CheckHTTP(o.base); err != nil {
		return err
	}
	switch {
	case o.clients < 1 || o.clients > 1024:
		return errors.New("-c must be from 1 to 1024")
	case o.rounds < 1 || o.rounds > 100:
		return errors.New("-rounds must be from 1 to 100")
	case o.duration <= 0 || o.duration > time.Hour || o.warmup < 0 || o.warmup > time.Hour:
		return errors.New("-d must be positive and -d and -warmup at most 1h")
	case len(o.titles) == 0 || len(o.locations) == 0:
		return errors.New("-titles and -locations must not be empty")
	}
	at := func(path string) *url.URL {
		u := *o.base
		u.Path = strings.TrimSuffix(u.Path, "/") + path
		return &u
	}
	api, ui := target{"api", at(o.apiPath)}, target{"ui", at(o.uiPath)}

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

	// Fail fast and loudly when the server, the data or the page is not
	// what the benchmark expects: a few draws of both, compared.
	for i := range 3 {
		q := url.Values{"title": {o.titles[i%len(o.titles)]}, "location": {o.locations[i%len(o.locations)]}}
		if err := probe(client, api.url, ui.url, q); err != nil {
			return err
		}
	}

	fmt.Printf("GET %s and %s ?title=…&location=…  clients=%d rounds=%d duration=%s warmup=%s (each phase)\n",
		api.url.Path, ui.url.Path, o.clients, o.rounds, o.duration, o.warmup)
	var phases []*phase
	for r := 1; r <= o.rounds; r++ {
		for _, t := range []target{api, ui} {
			p, err := measure(o, client, t, r)
			if err != nil {
				return err
			}
			phases = append(phases, p)
			fmt.Printf("PHASE round=%d %s\n", p.round, summary(p, o.duration))
		}
	}

	// Each target over all its phases: every request of every phase,
	// over the time measured.
	totals := map[string]*phase{}
	for _, p := range phases {
		t := totals[p.target]
		if t == nil {
			t = &phase{target: p.target}
			totals[p.target] = t
		}
		t.latencies = append(t.latencies, p.latencies...)
		t.errors += p.errors
		t.bytes += p.bytes
		t.cpu += p.cpu
		t.machine += p.machine
	}
	total := o.duration * time.Duration(o.rounds)
	for _, name := range []string{"api", "ui"} {
		t := totals[name]
		slices.Sort(t.latencies)
		fmt.Printf("TOTAL %s\n", summary(t, total))
	}
	a, u := rps(totals["api"], total), rps(totals["ui"], total)
	fmt.Printf("RATIO ui/api=%.1f%%", 100*u/a)
	for r := range o.rounds {
		fmt.Printf(" round%d=%.1f%%", r+1, 100*rps(phases[2*r+1], o.duration)/rps(phases[2*r], o.duration))
	}
	fmt.Println()
	for _, p := range phases {
		if p.firstErr != nil {
			fmt.Fprintf(os.Stderr, "load: %s round %d: first error: %v\n", p.target, p.round, p.firstErr)
		}
	}
	return nil
}

// measure runs one phase: o.clients clients in a closed loop (each sends
// its next request when it has read the previous answer in full) for
// o.warmup, not counted, then o.duration. Client i draws from the same
// random sequence in every phase, so both targets get the same queries.
func measure(o options, client *http.Client, t target, round int) (*phase, error) {
	start := time.Now()
	measureFrom := start.Add(o.warmup)
	end := measureFrom.Add(o.duration)
	// Requests in flight at the end are abandoned (cancelled), not counted.
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()

	type clientResult struct {
		latencies []time.Duration
		errors    int
		firstErr  error
		bytes     int64
	}
	results := make([]clientResult, o.clients)
	var cpuFrom, machineFrom time.Duration
	var cpuErr, machineErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(time.Until(measureFrom))
		cpuFrom, cpuErr = serverCPU(o.serverPID)
		machineFrom, machineErr = machineCPU()
	}()
	for i := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i)+1, 0x6a6f6273))
			res := &results[i]
			res.latencies = make([]time.Duration, 0, 1<<14)
			for {
				q := url.Values{"title": {o.titles[rng.IntN(len(o.titles))]}, "location": {o.locations[rng.IntN(len(o.locations))]}}
				t0 := time.Now()
				n, err := get(ctx, client, t.url, q)
				t1 := time.Now()
				if ctx.Err() != nil || t1.After(end) {
					return
				}
				if t0.Before(measureFrom) {
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
				res.bytes += n
			}
		}()
	}
	wg.Wait()
	cpuTo, err := serverCPU(o.serverPID)
	if err == nil {
		err = cpuErr
	}
	if err != nil {
		return nil, fmt.Errorf("-server-pid: %w", err)
	}
	machineTo, err := machineCPU()
	if err == nil {
		err = machineErr
	}
	if err != nil {
		return nil, err
	}

	p := &phase{target: t.name, round: round, cpu: cpuTo - cpuFrom, machine: machineTo - machineFrom}
	for _, r := range results {
		p.latencies = append(p.latencies, r.latencies...)
		p.errors += r.errors
		p.bytes += r.bytes
		if p.firstErr == nil {
			p.firstErr = r.firstErr
		}
	}
	slices.Sort(p.latencies)
	if len(p.latencies) == 0 {
		return nil, fmt.Errorf("%s: no request succeeded (first error: %v)", t.url, p.firstErr)
	}
	return p, nil
}

func rps(p *phase, d time.Duration) float64 { return float64(len(p.latencies)) / d.Seconds() }

// summary is one line for scripts: throughput over d, latency percentiles
// in ms, the average answer's size in bytes, and the server's and the
// whole machine's CPU time per request in ms.
func summary(p *phase, d time.Duration) string {
	pct := func(f float64) string {
		i := int(float64(len(p.latencies))*f+0.5) - 1
		return fmt.Sprintf("%.2f", float64(p.latencies[max(0, min(i, len(p.latencies)-1))].Microseconds())/1000)
	}
	n := len(p.latencies)
	cpu := "-"
	if p.cpu > 0 {
		cpu = fmt.Sprintf("%.3f", float64(p.cpu.Microseconds())/1000/float64(n))
	}
	return fmt.Sprintf("target=%s requests=%d errors=%d rps=%.1f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s bytes=%d server_cpu_ms=%s machine_cpu_ms=%.3f",
		p.target, n, p.errors, rps(p, d), pct(0.50), pct(0.90), pct(0.99), pct(1), p.bytes/int64(n), cpu,
		float64(p.machine.Microseconds())/1000/float64(n))
}

// clockTick is the unit of /proc/<pid>/stat's CPU times: USER_HZ, 100 on
// every Linux this runs on (it is fixed by the kernel's ABI, not by HZ).
const clockTick = 10 * time.Millisecond

// serverCPU is the user and system CPU time the process pid has used; 0
// when pid is 0.
func serverCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil
}

// machineCPU is the time every core of the machine has spent busy (user,
// nice, system, interrupts, steal), from /proc/stat: with the server's own,
// it shows where a request's CPU goes (PostgreSQL, this load generator,
// the server) and whether something else ran.
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var ticks int64
	// user nice system idle iowait irq softirq steal: all but idle and
	// iowait.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil
}

// get sends one request and reads the whole answer, as a client would; it
// returns the answer's size.
func get(ctx context.Context, client *http.Client, u *url.URL, q url.Values) (int64, error) {
	target := *u
	target.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("%s: status %d", target.String(), resp.StatusCode)
	}
	return n, nil
}

// The markup the probe reads (the UI contract's): each result's link, and
// the result count.
var (
	jobLinkTag  = regexp.MustCompile(`<a\b[^>]*\bclass="[^"]*\bjob-link\b[^"]*"[^>]*>`)
	jobLinkHref = regexp.MustCompile(`\bhref="/app/jobs/([^"/?#]+)"`)
	resultCount = regexp.MustCompile(`(?s)<p\b[^>]*\bid="result-count"[^>]*>(.*?)</p>`)
)

// probe checks that the API lists matching jobs for q and that the page
// shows the same jobs in the same order, and the same total.
func probe(client *http.Client, api, ui *url.URL, q url.Values) error {
	a, u := *api, *ui
	a.RawQuery, u.RawQuery = q.Encode(), q.Encode()
	body, ct, err := fetch(client, a.String())
	if err != nil {
		return fmt.Errorf("is the server running? %w", err)
	}
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return fmt.Errorf("GET %s (%s): %w", a.String(), ct, err)
	}
	if page.Total == 0 || len(page.Items) == 0 {
		return fmt.Errorf("GET %s found no jobs: seed the database first (bench/jobs/seed.sql)", a.String())
	}

	body, ct, err = fetch(client, u.String())
	if err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(ct); mt != "text/html" {
		return fmt.Errorf("GET %s: Content-Type %q, want text/html", u.String(), ct)
	}
	html := string(body)
	var ids []string
	for _, tag := range jobLinkTag.FindAllString(html, -1) {
		if m := jobLinkHref.FindStringSubmatch(tag); m != nil {
			ids = append(ids, m[1])
		}
	}
	var want []string
	for _, it := range page.Items {
		want = append(want, it.ID)
	}
	if !slices.Equal(ids, want) {
		return fmt.Errorf("GET %s shows %d jobs (%v), GET %s lists %d (%v): not the same listing",
			u.String(), len(ids), ids, a.String(), len(want), want)
	}
	m := resultCount.FindStringSubmatch(html)
	if m == nil {
		return fmt.Errorf("GET %s: no <p id=\"result-count\">", u.String())
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, m[1])
	if n, err := strconv.Atoi(digits); err != nil || n != page.Total {
		return fmt.Errorf("GET %s says %q, GET %s's total is %d", u.String(), strings.TrimSpace(m[1]), a.String(), page.Total)
	}
	fmt.Fprintf(os.Stderr, "load: probe %s: %d jobs listed of %d, the same on the page\n", q.Encode(), len(want), page.Total)
	return nil
}

func fetch(client *http.Client, u string) (body []byte, contentType string, err error) {
	resp, err := client.Get(u)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	return body, resp.Header.Get("Content-Type"), nil
}
