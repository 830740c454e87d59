// Command load measures GET /jobs with a title and a location filter against
// a running jobboard: a fixed number of clients, each sending its next request
// as soon as the previous answer has been read (a closed loop), for a fixed
// time. It prints requests per second, latency percentiles and errors.
//
//	go run ./bench/jobs/load -url http://127.0.0.1:18090 -c 16 -d 20s
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
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jobboard/jobboard/bench/internal/loopback"
)

// The values the clients rotate through: common and rare title words, big
// and small cities of the seeded data (bench/jobs/seed.sql). list.sql, the
// pgbench script, picks from the same lists in the same way.
const (
	defaultTitles    = "engineer,developer,senior,manager,data,python,designer,analyst,nurse,react,sales,backend"
	defaultLocations = "london,berlin,new york,san francisco,paris,amsterdam,toronto,austin,munich,dublin,lisbon,tokyo"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:18090", "the API's base URL (loopback only)")
	clients := flag.Int("c", 16, "concurrent clients")
	duration := flag.Duration("d", 20*time.Second, "how long to measure")
	warmup := flag.Duration("warmup", 0, "how long to send requests before measuring (not counted)")
	titles := flag.String("titles", defaultTitles, "comma-separated title words to rotate through")
	locations := flag.String("locations", defaultLocations, "comma-separated locations to rotate through")
	timeout := flag.Duration("timeout", 5*time.Second, "per-request timeout; a request that takes longer is an error")
	flag.Parse()

	if err := run(*base, *clients, *warmup, *duration, *timeout, split(*titles), split(*locations)); err != nil {
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

// result is what one client saw while measuring.
type result struct {
	latencies []time.Duration
	errors    int
	firstErr  error
}

func run(base string, clients int, warmup, duration, timeout time.Duration, titles, locations []string) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if err := loopback.CheckHTTP(u); err != nil {
		return err
	}
	switch {
	case clients < 1 || clients > 1024:
		return errors.New("-c must be from 1 to 1024")
	case duration <= 0 || duration > time.Hour || warmup < 0 || warmup > time.Hour:
		return errors.New("-d must be positive and -d and -warmup at most 1h")
	case len(titles) == 0 || len(locations) == 0:
		return errors.New("-titles and -locations must not be empty")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/jobs"

	transport := &http.Transport{
		Proxy:               nil, // never through a proxy: loopback only
		DialContext:         (&net.Dialer{Timeout: timeout, Control: loopback.Control}).DialContext,
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: timeout}

	// One request first, decoded, to fail fast and loudly when the server or
	// the data is not what the benchmark expects.
	if err := probe(client, u, titles[0], locations[0]); err != nil {
		return err
	}

	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	// Requests in flight at the end are abandoned (cancelled), not counted.
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()

	results := make([]result, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i)+1, 0x6a6f6273))
			res := &results[i]
			res.latencies = make([]time.Duration, 0, 1<<14)
			for {
				q := url.Values{"title": {titles[rng.IntN(len(titles))]}, "location": {locations[rng.IntN(len(locations))]}}
				t0 := time.Now()
				err := get(ctx, client, u, q)
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
			}
		}()
	}
	wg.Wait()

	var all []time.Duration
	errCount := 0
	var firstErr error
	for _, r := range results {
		all = append(all, r.latencies...)
		errCount += r.errors
		if firstErr == nil {
			firstErr = r.firstErr
		}
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		i := int(float64(len(all))*p+0.5) - 1
		return all[max(0, min(i, len(all)-1))]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	rps := float64(len(all)) / duration.Seconds()
	fmt.Printf("GET %s?title=…&location=… clients=%d duration=%s warmup=%s\n", u, clients, duration, warmup)
	fmt.Printf("requests %d  errors %d  req/s %.1f\n", len(all), errCount, rps)
	fmt.Printf("latency ms  p50 %s  p90 %s  p99 %s  max %s\n", ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(pct(1)))
	// One line for scripts.
	fmt.Printf("RESULT rps=%.1f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s requests=%d errors=%d\n",
		rps, ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(pct(1)), len(all), errCount)
	if firstErr != nil {
		fmt.Fprintln(os.Stderr, "load: first error:", firstErr)
	}
	if len(all) == 0 {
		return errors.New("no request succeeded")
	}
	return nil
}

// get sends one request and reads the whole answer, as a client would.
func get(ctx context.Context, client *http.Client, u *url.URL, q url.Values) error {
	target := *u
	target.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", target.String(), resp.StatusCode)
	}
	return nil
}

// probe checks that the server answers a filtered listing with a page of
// matching jobs.
func probe(client *http.Client, u *url.URL, title, location string) error {
	target := *u
	target.RawQuery = url.Values{"title": {title}, "location": {location}}.Encode()
	resp, err := client.Get(target.String())
	if err != nil {
		return fmt.Errorf("is the server running? %w", err)
	}
	defer resp.Body.Close()
	var page struct {
		Items []struct {
			Title    string `json:"title"`
			Location string `json:"location"`
		} `json:"items"`
		Total int `json:"total"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", target.String(), resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return fmt.Errorf("GET %s: %w", target.String(), err)
	}
	if page.Total == 0 || len(page.Items) == 0 {
		return fmt.Errorf("GET %s found no jobs: seed the database first (bench/jobs/seed.sql)", target.String())
	}
	for _, j := range page.Items {
		if !strings.Contains(strings.ToLower(j.Title), strings.ToLower(title)) ||
			!strings.Contains(strings.ToLower(j.Location), strings.ToLower(location)) {
			return fmt.Errorf("GET %s returned a job that does not match: %q in %q", target.String(), j.Title, j.Location)
		}
	}
	return nil
}
