// Command uploads measures the memory a jobboard server holds under a
// flood of resume uploads: it registers a recruiter and N job seekers
// through the API, posts a job, then sends N applications at once, each
// with a resume of SIZE bytes (a PDF by its first bytes), and samples the
// server's resident set (/proc/<pid>/status) every 5 ms meanwhile. It
// prints the resident set before, its peak during the flood (VmHWM is not
// used: it holds the process's peak since it started), and the statuses.
//
//	go run ./bench/uploads -url http://127.0.0.1:18093 -pid $SERVER_PID -n 40 -size 5242880
//
// bench/uploads/run.sh starts the server on a database of its own and runs
// it. Loopback only.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobboard/jobboard/bench/internal/loopback"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:18093", "the API's base URL (loopback only)")
	pid := flag.Int("pid", 0, "the server's process id, to read its resident set")
	n := flag.Int("n", 40, "concurrent uploads")
	size := flag.Int("size", 5<<20, "bytes of each resume")
	flag.Parse()
	if err := run(*base, *pid, *n, *size); err != nil {
		fmt.Fprintln(os.Stderr, "uploads:", err)
		os.Exit(1)
	}
}

func run(base string, pid, n, size int) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	if err := loopback.CheckHTTP(u); err != nil {
		return err
	}
	if pid <= 0 {
		return fmt.Errorf("-pid is required")
	}
	client := &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{DialContext: (&net.Dialer{Control: loopback.Control}).DialContext, MaxIdleConnsPerHost: n},
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	recruiter, err := account(client, base, "recruiter", "uploads-r-"+stamp+"@example.com")
	if err != nil {
		return err
	}
	var job struct{ ID string }
	if err := call(client, base, http.MethodPost, "/jobs", recruiter, map[string]any{
		"title": "Upload flood " + stamp, "description": "A job to apply to.", "location": "Lyon", "company": "Flood Co",
	}, http.StatusCreated, &job); err != nil {
		return err
	}
	seekers := make([]string, n)
	for i := range seekers {
		if seekers[i], err = account(client, base, "job_seeker", fmt.Sprintf("uploads-s%d-%s@example.com", i, stamp)); err != nil {
			return err
		}
	}
	resume := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("% filler line of a large resume\n"), size/32)...)[:size]
	bodies, contentTypes := make([][]byte, n), make([]string, n)
	for i := range bodies {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="resume"; filename="cv.pdf"`)
		h.Set("Content-Type", "application/pdf")
		part, _ := w.CreatePart(h)
		part.Write(resume)
		w.Close()
		bodies[i], contentTypes[i] = b.Bytes(), w.FormDataContentType()
	}

	before, err := rss(pid)
	if err != nil {
		return err
	}
	var peak atomic.Int64
	peak.Store(before)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if r, err := rss(pid); err == nil && r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	statuses := make([]int, n)
	var firstRefusal atomic.Value
	started := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, base+"/jobs/"+job.ID+"/apply", bytes.NewReader(bodies[i]))
			req.Header.Set("Content-Type", contentTypes[i])
			req.Header.Set("Authorization", "Bearer "+seekers[i])
			res, err := client.Do(req)
			if err != nil {
				statuses[i] = -1
				return
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			statuses[i] = res.StatusCode
			if res.StatusCode != http.StatusCreated {
				firstRefusal.CompareAndSwap(nil, fmt.Sprintf("%d %s", res.StatusCode, raw))
			}
		})
	}
	wg.Wait()
	took := time.Since(started)
	close(stop)
	<-sampled
	after, _ := rss(pid)
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	fmt.Printf("uploads=%d size=%d took=%s rss_before_mb=%.1f rss_peak_mb=%.1f rss_after_mb=%.1f statuses=%v\n",
		n, size, took.Round(time.Millisecond), mb(before), mb(peak.Load()), mb(after), count)
	if r := firstRefusal.Load(); r != nil {
		fmt.Printf("first refusal: %s\n", r)
	}
	return nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// rss is the resident set of pid in bytes (VmRSS).
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// account registers an account and returns its access token.
func account(client *http.Client, base, role, email string) (string, error) {
	body := map[string]any{"email": email, "password": "uploads bench password", "name": "Bench " + role, "role": role}
	if role == "recruiter" {
		body["company"] = "Flood Co"
	}
	if err := call(client, base, http.MethodPost, "/register", "", body, http.StatusCreated, nil); err != nil {
		return "", err
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	err := call(client, base, http.MethodPost, "/login", "", map[string]string{"email": email, "password": "uploads bench password"}, http.StatusOK, &login)
	return login.AccessToken, err
}

func call(client *http.Client, base, method, path, token string, body any, want int, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
