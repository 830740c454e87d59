// Command load measures one GET /jobs request, always the same query
// string, against a running jobboard: a fixed number of clients (one by
// default) in a closed loop, each sending its next request as soon as the
// previous answer has been read, for a fixed time. It prints the latency
// percentiles and how many jobs the listing said matched.
//
//	go run ./bench/search/load -url http://127.0.0.1:18091 -query 'company=y' -d 15s
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

func main() {
	base := flag.String("url", "http://127.0.0.1:18091", "the API's base URL (loopback only)")
	query := flag.String("query", "", "the query string of GET /jobs, already encoded (company=y&limit=20)")
	clients := flag.Int("c", 1, "concurrent clients")
	duration := flag.Duration("d", 15*time.Second, "how long to measure")
	warmup := flag.Duration("warmup", 3*time.Second, "how long to send requests before measuring (not counted)")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout; a request that takes longer is an error")
	flag.Parse()

	if err := run(*base, *query, *clients, *warmup, *duration, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type result struct {
	latencies []time.Duration
	errors    int
	firstErr  error
}

func run(base, query string, clients int, warmup, duration, timeout time.Duration) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if err := loopback.CheckHTTP(u); err != nil {
		return err
	}
	switch {
	case clients < 1 || clients > 64:
		return errors.New("-c must be from 1 to 64")
	case duration <= 0 || duration > time.Hour || warmup < 0 || warmup > time.Hour:
		return errors.New("-d must be positive and -d and -warmup at most 1h")
	}
	if _, err := url.ParseQuery(query); err != nil {
		return fmt.Errorf("-query: %w", err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/jobs"
	u.RawQuery = query
	target := u.String()

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

	// One request first, decoded, to fail fast when the server or the data
	// is not what the benchmark expects, and to report how many jobs match.
	total, items, err := probe(client, target)
	if err != nil {
		return err
	}

	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()

	results := make([]result, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			res := &results[i]
			for {
				t0 := time.Now()
				err := get(ctx, client, target)
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
		})
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
	fmt.Printf("GET %s clients=%d duration=%s warmup=%s total=%d items=%d\n", target, clients, duration, warmup, total, items)
	fmt.Printf("RESULT rps=%.1f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s requests=%d errors=%d total=%d\n",
		float64(len(all))/duration.Seconds(), ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(pct(1)),
		len(all), errCount, total)
	if firstErr != nil {
		fmt.Fprintln(os.Stderr, "load: first error:", firstErr)
	}
	if len(all) == 0 {
		return errors.New("no request succeeded")
	}
	return nil
}

// get sends one request and reads the whole answer, as a client would.
func get(ctx context.Context, client *http.Client, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
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
		return fmt.Errorf("%s: status %d", target, resp.StatusCode)
	}
	return nil
}

// probe sends the request once and reads the listing's total and page size.
func probe(client *http.Client, target string) (total, items int, err error) {
	resp, err := client.Get(target)
	if err != nil {
		return 0, 0, fmt.Errorf("is the server running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, 0, fmt.Errorf("GET %s: status %d: %s", target, resp.StatusCode, body)
	}
	var page struct {
		Items []json.RawMessage `json:"items"`
		Total int               `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w", target, err)
	}
	return page.Total, len(page.Items), nil
}
