package http_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
)

// writeIsLimited sends one write that needs no database (POST /jobs
// without a token: a 401 when it gets through) and tells whether it was
// rate limited, checking the 429 when it was.
func writeIsLimited(t *testing.T, s *service, method string, header ...string) bool {
	t.Helper()
	path := "/jobs"
	if method != http.MethodPost {
		path = "/jobs/0190d6a4-7b1c-7c3e-9f00-123456789abc"
	}
	res := s.do(method, path, strings.NewReader("{}"), header...)
	if res.status != http.StatusTooManyRequests {
		if res.status != http.StatusUnauthorized {
			t.Fatalf("%s %s got through to %s, want 401", method, path, res)
		}
		return false
	}
	problemOf(t, res, http.StatusTooManyRequests)
	seconds, err := strconv.Atoi(res.header.Get("Retry-After"))
	if err != nil || seconds < 1 {
		t.Fatalf("a 429 with Retry-After %q, want whole seconds", res.header.Get("Retry-After"))
	}
	return true
}

// TestWriteRateLimit: one client's writes beyond the burst get 429 with
// Retry-After, whatever the write method, until tokens come back; reads are
// not limited.
func TestWriteRateLimit(t *testing.T) {
	is := is.New(t)
	s := startService(t, map[string]string{"WRITE_RATE_LIMIT": "1", "WRITE_RATE_BURST": "3"})
	for range 3 {
		is.True(!writeIsLimited(t, s, http.MethodPost)) // within the burst
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		is.True(writeIsLimited(t, s, m)) // every write method is limited past the burst
	}
	is.Equal(s.get("/jobs", "").status, http.StatusOK)    // reads are not
	is.Equal(s.get("/healthz", "").status, http.StatusOK) // reads are not
	// One token a second comes back.
	is.True(eventually(t, 5*time.Second, func() bool { return !writeIsLimited(t, s, http.MethodPost) }))
}

// TestWriteRateLimitOff: a rate of 0 turns the limit off.
func TestWriteRateLimitOff(t *testing.T) {
	s := startService(t, map[string]string{"WRITE_RATE_LIMIT": "0", "WRITE_RATE_BURST": "1"})
	for i := range 20 {
		if writeIsLimited(t, s, http.MethodPost) {
			t.Fatalf("write %d was limited with the limit off", i+1)
		}
	}
}

// TestWriteRateLimitDefaults: the defaults (100/s, bursts of 200) let a
// busy client's burst through.
func TestWriteRateLimitDefaults(t *testing.T) {
	s := startService(t, nil)
	for i := range 150 {
		if writeIsLimited(t, s, http.MethodPost) {
			t.Fatalf("write %d was limited within the default burst", i+1)
		}
	}
}

// TestWriteRateLimitPerForwardedClient: behind a trusted proxy, each client
// that X-Forwarded-For names has a bucket of its own, and a client cannot
// get a fresh one by prepending addresses; without trusted proxies the
// header is ignored.
func TestWriteRateLimitPerForwardedClient(t *testing.T) {
	t.Run("behind a trusted proxy", func(t *testing.T) {
		is := is.New(t)
		s := startService(t, map[string]string{"WRITE_RATE_LIMIT": "0.01", "WRITE_RATE_BURST": "2", "TRUSTED_PROXIES": "127.0.0.0/8, ::1"})
		a := []string{"X-Forwarded-For", "203.0.113.1"}
		is.True(!writeIsLimited(t, s, http.MethodPost, a...))
		is.True(!writeIsLimited(t, s, http.MethodPost, "X-Forwarded-For", "203.0.113.1, 127.0.0.1"))
		is.True(writeIsLimited(t, s, http.MethodPost, a...))                                           // 203.0.113.1 used its burst
		is.True(writeIsLimited(t, s, http.MethodPost, "X-Forwarded-For", "198.51.100.9, 203.0.113.1")) // a forged left-hand hop changes nothing
		is.True(!writeIsLimited(t, s, http.MethodPost, "X-Forwarded-For", "203.0.113.2"))              // another client is not affected
		is.True(!writeIsLimited(t, s, http.MethodPost))                                                // nor is the proxy itself
	})
	t.Run("no trusted proxies", func(t *testing.T) {
		is := is.New(t)
		s := startService(t, map[string]string{"WRITE_RATE_LIMIT": "0.01", "WRITE_RATE_BURST": "2"})
		is.True(!writeIsLimited(t, s, http.MethodPost, "X-Forwarded-For", "203.0.113.1"))
		is.True(!writeIsLimited(t, s, http.MethodPost, "X-Forwarded-For", "203.0.113.2"))
		is.True(writeIsLimited(t, s, http.MethodPost, "X-Forwarded-For", "203.0.113.3")) // one peer, one bucket
	})
}

// TestLoginThrottleUsesTheForwardedClient: the login throttle keys clients
// as the write limit does, so that behind a proxy one client's failures do
// not lock out everyone else.
func TestLoginThrottleUsesTheForwardedClient(t *testing.T) {
	is := is.New(t)
	s := startServiceOn(t, testdb.New(t), map[string]string{
		"LOGIN_MAX_FAILURES_PER_EMAIL":  "100",
		"LOGIN_MAX_FAILURES_PER_CLIENT": "2",
		"TRUSTED_PROXIES":               "127.0.0.1/32,::1/128",
	})
	email := uniqueEmail("proxied")
	s.register(registration{Email: email, Password: "right password", Name: "P", Role: "job_seeker"})
	wrong := map[string]string{"email": uniqueEmail("guess"), "password": "whatever1"}
	for range 2 {
		problemOf(t, s.postJSON("/login", wrong, "X-Forwarded-For", "203.0.113.50"), http.StatusUnauthorized)
	}
	right := map[string]string{"email": email, "password": "right password"}
	res := s.postJSON("/login", right, "X-Forwarded-For", "203.0.113.50")
	problemOf(t, res, http.StatusTooManyRequests) // that client is throttled
	is.True(res.header.Get("Retry-After") != "")
	is.Equal(res.header.Get("Cache-Control"), "no-store") // no answer of /login is stored
	res = s.postJSON("/login", right, "X-Forwarded-For", "203.0.113.51")
	is.Equal(res.status, http.StatusOK) // another client behind the same proxy is not
}

// TestSecurityHeaders: every answer says nosniff and no-referrer, and no
// API answer is stored: not the caller's own, not a refusal, not a public
// listing (which the next write would leave stale).
func TestSecurityHeaders(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	recruiter := jobsRegister(t, s, "recruiter", "Headers Inc")
	seeker := jobsRegister(t, s, "job_seeker", "")
	job := jobsPost(t, s, recruiter.token, jobsBody("Header job "+jobsMarker()))

	type call struct {
		name, method, path, token string
		status                    int
	}
	calls := []call{
		{"public list", http.MethodGet, "/jobs", "", 200},
		{"public job", http.MethodGet, "/jobs/" + job.ID, "", 200},
		{"unknown path", http.MethodGet, "/nowhere", "", 404},
		{"wrong method", http.MethodPatch, "/jobs", "", 405},
		{"me", http.MethodGet, "/me", recruiter.token, 200},
		{"me without a token", http.MethodGet, "/me", "", 401},
		{"list with a token", http.MethodGet, "/jobs", recruiter.token, 200},
		{"job with a token", http.MethodGet, "/jobs/" + job.ID, recruiter.token, 200},
		{"history", http.MethodGet, "/jobs/" + job.ID + "/history", recruiter.token, 200},
		{"history, not the owner", http.MethodGet, "/jobs/" + job.ID + "/history", seeker.token, 403},
		{"applications, not the owner", http.MethodGet, "/jobs/" + job.ID + "/applications", seeker.token, 403},
		{"my applications as a recruiter", http.MethodGet, "/me/applications", recruiter.token, 403},
		{"post a job as a seeker", http.MethodPost, "/jobs", seeker.token, 403},
		{"patch, not the owner", http.MethodPatch, "/jobs/" + job.ID, seeker.token, 403},
		{"delete, not the owner", http.MethodDelete, "/jobs/" + job.ID, seeker.token, 403},
		{"apply as a recruiter", http.MethodPost, "/jobs/" + job.ID + "/apply", recruiter.token, 403},
		{"unknown application", http.MethodGet, "/applications/0190d6a4-7b1c-7c3e-9f00-123456789abc", seeker.token, 404},
		{"wrong method with a token", http.MethodPost, "/me", seeker.token, 405},
	}
	for _, c := range calls {
		var body any
		if c.method != http.MethodGet {
			body = jobsBody("x")
		}
		res := jobsCall(t, s, c.method, c.path, c.token, body)
		if res.status != c.status {
			t.Errorf("%s: %s, want %d", c.name, res, c.status)
			continue
		}
		is.Equal(res.header.Get("X-Content-Type-Options"), "nosniff") // every answer
		is.Equal(res.header.Get("Referrer-Policy"), "no-referrer")    // every answer
		if got := res.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q", c.name, got)
		}
	}
}

// TestCORS: off by default; when origins are configured, their preflights
// are answered and their requests get the CORS headers, and any other
// origin gets none.
func TestCORS(t *testing.T) {
	preflight := func(s *service, origin, method string) response {
		return s.do(http.MethodOptions, "/jobs", nil, "Origin", origin,
			"Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization, content-type, if-match")
	}
	noCORS := func(t *testing.T, res response) {
		t.Helper()
		for name := range res.header {
			if strings.HasPrefix(name, "Access-Control-") {
				t.Fatalf("an answer to a disallowed origin has %s", name)
			}
		}
	}

	t.Run("off", func(t *testing.T) {
		is := is.New(t)
		s := startService(t, nil)
		res := preflight(s, "https://app.example.com", http.MethodPost)
		problemOf(t, res, http.StatusMethodNotAllowed) // the router's answer to OPTIONS, as without CORS
		is.Equal(res.header.Values("Allow"), []string{"GET, HEAD, POST"})
		noCORS(t, res)
		res = s.do(http.MethodGet, "/jobs", nil, "Origin", "https://app.example.com")
		is.Equal(res.status, http.StatusOK)
		noCORS(t, res)
	})

	t.Run("on", func(t *testing.T) {
		is := is.New(t)
		s := startService(t, map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com, http://localhost:3000"})
		for _, origin := range []string{"https://app.example.com", "http://localhost:3000"} {
			res := preflight(s, origin, http.MethodPatch)
			is.Equal(res.status, http.StatusNoContent) // a preflight of an allowed origin
			is.Equal(len(res.body), 0)
			is.Equal(res.header.Get("Access-Control-Allow-Origin"), origin)
			methods := res.header.Get("Access-Control-Allow-Methods")
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
				is.True(strings.Contains(methods, m)) // the API's methods are allowed
			}
			headers := strings.ToLower(res.header.Get("Access-Control-Allow-Headers"))
			for _, h := range []string{"authorization", "content-type", "if-match"} {
				is.True(strings.Contains(headers, h)) // the headers clients send are allowed
			}
			maxAge, err := strconv.Atoi(res.header.Get("Access-Control-Max-Age"))
			is.NoErr(err)
			is.True(maxAge > 0)
			is.True(strings.Contains(strings.Join(res.header.Values("Vary"), ","), "Origin"))
		}

		origin := "https://app.example.com"
		recruiter := jobsRegister(t, s, "recruiter", "Cors Inc")
		res := jobsCall(t, s, http.MethodPost, "/jobs", recruiter.token, jobsBody("Cors job"), "Origin", origin)
		is.Equal(res.status, http.StatusCreated)
		is.Equal(res.header.Get("Access-Control-Allow-Origin"), origin)
		exposed := res.header.Get("Access-Control-Expose-Headers")
		for _, h := range []string{"ETag", "Location", "Retry-After", "X-Request-Id"} {
			is.True(strings.Contains(exposed, h)) // what a browser client needs to read is exposed
		}
		is.True(strings.Contains(strings.Join(res.header.Values("Vary"), ","), "Origin"))
		res = s.do(http.MethodGet, "/me", nil, "Origin", origin)
		problemOf(t, res, http.StatusUnauthorized)
		is.Equal(res.header.Get("Access-Control-Allow-Origin"), origin) // errors can be read by the page too

		// Another origin: no CORS headers at all, and its preflight is the
		// router's 405.
		res = s.do(http.MethodGet, "/jobs", nil, "Origin", "https://evil.example.com")
		is.Equal(res.status, http.StatusOK)
		noCORS(t, res)
		is.True(strings.Contains(strings.Join(res.header.Values("Vary"), ","), "Origin")) // caches keep answers per origin
		res = preflight(s, "https://evil.example.com", http.MethodPost)
		problemOf(t, res, http.StatusMethodNotAllowed)
		noCORS(t, res)
		res = preflight(s, "https://app.example.com.evil.example.com", http.MethodPost)
		problemOf(t, res, http.StatusMethodNotAllowed) // exact origins only
		noCORS(t, res)
		// An OPTIONS that is not a preflight is not served either.
		res = s.do(http.MethodOptions, "/jobs", nil, "Origin", origin)
		problemOf(t, res, http.StatusMethodNotAllowed)
	})
}

// TestSlowHeadersAreCutOff: a client that sends its headers a byte at a
// time and never finishes them (slowloris) is disconnected once the header
// timeout has passed, however busily it trickles; the server keeps serving
// others.
func TestSlowHeadersAreCutOff(t *testing.T) {
	is := is.New(t)
	const timeout = 500 * time.Millisecond
	s := startService(t, map[string]string{"HTTP_READ_HEADER_TIMEOUT": timeout.String()})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	is.NoErr(err)
	defer conn.Close()
	start := time.Now()
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: jobboard\r\n")
	is.NoErr(err)

	// Trickle one header byte every 50 ms, for at most 10 s, until the
	// server hangs up.
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 200; i++ {
			<-tick.C
			if _, err := conn.Write([]byte("X-Slow: a\r\n")[i%11 : i%11+1]); err != nil {
				return
			}
		}
	}()
	is.NoErr(conn.SetReadDeadline(time.Now().Add(10 * time.Second)))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	elapsed := time.Since(start)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("the connection was still open after %s", elapsed)
	}
	// Go's server hangs up, or, when the deadline cut a header line in
	// two, first says 400 and then hangs up: either way the client is cut
	// off.
	if n > 0 {
		if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 400 ") {
			t.Fatalf("want a hang-up or a 400; read %q", buf[:n])
		}
		n, err = conn.Read(buf)
	}
	if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("want the server to hang up; read %q, %v", buf[:n], err)
	}
	is.True(elapsed >= timeout-50*time.Millisecond) // not before the timeout
	is.True(elapsed < 5*time.Second)                // but soon after it
	conn.Close()
	<-trickled
	is.Equal(s.get("/healthz", "").status, http.StatusOK) // others are served
}

// TestSlowBodyIsCutOff: a body that arrives too slowly is cut off at the
// read timeout.
func TestSlowBodyIsCutOff(t *testing.T) {
	is := is.New(t)
	const timeout = time.Second
	s := startService(t, map[string]string{"HTTP_READ_TIMEOUT": timeout.String()})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	is.NoErr(err)
	defer conn.Close()
	start := time.Now()
	_, err = io.WriteString(conn, "POST /register HTTP/1.1\r\nHost: jobboard\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	is.NoErr(err)
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for range 200 {
			<-tick.C
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	is.NoErr(conn.SetReadDeadline(time.Now().Add(10 * time.Second)))
	// The server may answer (the body could not be read: 400) before it
	// hangs up; either way the connection ends soon after the timeout.
	_, err = io.Copy(io.Discard, conn)
	elapsed := time.Since(start)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("the connection was still open after %s", elapsed)
	}
	is.True(elapsed >= timeout-50*time.Millisecond) // not before the timeout
	is.True(elapsed < 5*time.Second)                // but soon after it
	conn.Close()
	<-trickled
}

// TestHeaderSizeCap: a request line and headers over HTTP_MAX_HEADER_BYTES
// get 431, as problem+json up to the margin net/http reads past the cap,
// and from net/http itself beyond that.
func TestHeaderSizeCap(t *testing.T) {
	is := is.New(t)
	const limit = 8 << 10
	s := startService(t, map[string]string{"HTTP_MAX_HEADER_BYTES": strconv.Itoa(limit)})

	res := s.do(http.MethodGet, "/healthz", nil, "X-Big", strings.Repeat("a", limit-1024))
	is.Equal(res.status, http.StatusOK) // under the cap

	res = s.do(http.MethodGet, "/healthz", nil, "X-Big", strings.Repeat("a", limit))
	problemOf(t, res, http.StatusRequestHeaderFieldsTooLarge) // just over it

	// Far over it: net/http stops reading and answers by itself.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	is.NoErr(err)
	defer conn.Close()
	is.NoErr(conn.SetDeadline(time.Now().Add(10 * time.Second)))
	go func() {
		// The server may hang up before it has read all of this.
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: jobboard\r\nX-Big: "+strings.Repeat("a", 4*limit)+"\r\n\r\n") //nolint:errcheck
	}()
	raw, err := http.ReadResponse(bufio.NewReader(conn), nil)
	is.NoErr(err)
	raw.Body.Close()
	is.Equal(raw.StatusCode, http.StatusRequestHeaderFieldsTooLarge)
}
