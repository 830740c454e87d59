// Command loginflood measures how long a legitimate login takes while other
// clients flood POST /register, each registration a bcrypt hash: the
// attack of issue 13 (30 concurrent registrations pushed a login from
// 0.26 s to 7.4 s). It logs in a few times on an idle server, then starts
// the flood and keeps logging in at a steady pace until it ends, and prints
// the logins' latencies and statuses and what the flood got.
//
//	go run ./bench/loginflood -url http://127.0.0.1:18095 -c 30 -d 20s -spread
//
// With -spread every flood request claims a client address of its own in
// X-Forwarded-For (198.18.0.0/15, the benchmarking range): the server must
// trust the loopback proxy (TRUSTED_PROXIES=127.0.0.1/32) for that to
// count, and then neither the register throttle nor the write limit stops
// the flood: only the bound on bcrypt work does. Without -spread the flood
// is one client (198.18.0.1), which the register throttle stops after
// REGISTER_MAX_PER_CLIENT attempts. The owner who logs in throughout is a
// client of their own (192.0.2.10). -taken floods with an email that
// exists (refused before any hash). bench/loginflood/run.sh runs the three.
//
// It only talks to a loopback address: it is a benchmark for one machine,
// not a tool to load anything else.
package main

import (
	"bytes"
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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jobboard/jobboard/bench/internal/loopback"
)

type options struct {
	base     string
	flooders int
	duration time.Duration
	every    time.Duration
	idle     int
	spread   bool
	taken    bool
	timeout  time.Duration
	target   time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.base, "url", "http://127.0.0.1:18095", "the API's base URL (loopback only)")
	flag.IntVar(&o.flooders, "c", 30, "concurrent flooding clients, each sending its next registration as soon as the last is answered")
	flag.DurationVar(&o.duration, "d", 20*time.Second, "how long the flood lasts")
	flag.DurationVar(&o.every, "every", 250*time.Millisecond, "pause between two legitimate logins")
	flag.IntVar(&o.idle, "idle", 10, "logins measured before the flood starts")
	flag.BoolVar(&o.spread, "spread", false, "give every flood request a client address of its own (X-Forwarded-For; the server must trust 127.0.0.1)")
	flag.BoolVar(&o.taken, "taken", false, "flood with an email that is already registered")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "per-request timeout")
	flag.DurationVar(&o.target, "target", time.Second, "the most a login may take during the flood")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loginflood:", err)
		os.Exit(1)
	}
}

// sample is one answer: its status (0: no answer) and how long it took.
type sample struct {
	status  int
	elapsed time.Duration
}

func run(o options) error {
	u, err := url.Parse(o.base)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if err := loopback.CheckHTTP(u); err != nil {
		return err
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: loopback.Control}
	client := &http.Client{Timeout: o.timeout, Transport: &http.Transport{
		DialContext: dialer.DialContext, MaxIdleConnsPerHost: o.flooders + 4,
	}}
	ctx := context.Background()
	post := func(ctx context.Context, path string, body any, forwardedFor string) sample {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.base+path, bytes.NewReader(b))
		if err != nil {
			return sample{}
		}
		req.Header.Set("Content-Type", "application/json")
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return sample{elapsed: time.Since(start)}
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return sample{status: res.StatusCode, elapsed: time.Since(start)}
	}

	// The owner is a client of their own (TEST-NET-1), never one of the
	// flood's: a limit that holds the flood back must not hold them.
	const owner = "192.0.2.10"
	email, password := uniqueEmail("owner"), "the owner's password"
	account := map[string]string{"email": email, "password": password, "name": "Owner", "role": "job_seeker"}
	if s := post(ctx, "/register", account, owner); s.status != http.StatusCreated {
		return fmt.Errorf("register the legitimate account: status %d", s.status)
	}
	login := map[string]string{"email": email, "password": password}
	var idle []sample
	for range o.idle {
		idle = append(idle, post(ctx, "/login", login, owner))
		time.Sleep(o.every)
	}

	floodCtx, stop := context.WithTimeout(ctx, o.duration)
	defer stop()
	var mu sync.Mutex
	var flood []sample
	var wg sync.WaitGroup
	for range o.flooders {
		wg.Go(func() {
			for floodCtx.Err() == nil {
				body := map[string]string{"email": uniqueEmail("flood"), "password": "flood password", "name": "Flood", "role": "job_seeker"}
				if o.taken {
					body["email"] = email
				}
				forwardedFor := "198.18.0.1" // one client for the whole flood
				if o.spread {
					forwardedFor = fmt.Sprintf("198.%d.%d.%d", 18+rand.IntN(2), rand.IntN(256), 1+rand.IntN(254))
				}
				s := post(floodCtx, "/register", body, forwardedFor)
				if floodCtx.Err() != nil && s.status == 0 {
					return // cut off by the end of the flood, not an answer
				}
				mu.Lock()
				flood = append(flood, s)
				mu.Unlock()
			}
		})
	}
	// The flood's clients connect and fill the server's queue first.
	time.Sleep(min(time.Second, o.duration/4))
	var loaded []sample
	for floodCtx.Err() == nil {
		loaded = append(loaded, post(ctx, "/login", login, owner))
		time.Sleep(o.every)
	}
	wg.Wait()
	if len(loaded) == 0 {
		return errors.New("no login during the flood: make -d longer")
	}

	fmt.Printf("flood: %d clients for %v (spread=%v, taken=%v): %d registrations, %.1f/s, statuses %s\n",
		o.flooders, o.duration, o.spread, o.taken, len(flood), float64(len(flood))/o.duration.Seconds(), statuses(flood))
	fmt.Printf("logins before the flood: %s, statuses %s\n", latencies(idle), statuses(idle))
	fmt.Printf("logins during the flood: %s, statuses %s\n", latencies(loaded), statuses(loaded))
	worst := slices.MaxFunc(loaded, func(a, b sample) int { return int(a.elapsed - b.elapsed) })
	ok := worst.elapsed < o.target && !slices.ContainsFunc(loaded, func(s sample) bool { return s.status != http.StatusOK })
	fmt.Printf("every login during the flood a 200 under %v: %v\n", o.target, ok)
	if !ok {
		return errors.New("a login during the flood failed or was too slow")
	}
	return nil
}

func latencies(samples []sample) string {
	if len(samples) == 0 {
		return "none"
	}
	d := make([]time.Duration, len(samples))
	for i, s := range samples {
		d[i] = s.elapsed
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))].Round(time.Millisecond) }
	return fmt.Sprintf("n=%d p50 %v p95 %v max %v", len(d), at(0.5), at(0.95), d[len(d)-1].Round(time.Millisecond))
}

func statuses(samples []sample) string {
	count := map[int]int{}
	for _, s := range samples {
		count[s.status]++
	}
	var keys []int
	for k := range count {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		name := fmt.Sprint(k)
		if k == 0 {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, count[k]))
	}
	return strings.Join(parts, ", ")
}

func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%016x@example.com", prefix, rand.Uint64())
}
