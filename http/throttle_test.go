package http_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
)

// TestLoginThrottlesFailuresPerEmail: after the allowed failures for one
// email, every attempt on it from the client that failed is a 429 with
// Retry-After, even with the right password, while other emails still log
// in (a client that has not failed on it still may: see
// TestLoginFailuresLockNoOwnerOut).
func TestLoginThrottlesFailuresPerEmail(t *testing.T) {
	is := is.New(t)
	s := startServiceOn(t, testdb.New(t), map[string]string{
		"LOGIN_MAX_FAILURES_PER_EMAIL":  "3",
		"LOGIN_MAX_FAILURES_PER_CLIENT": "100",
		"LOGIN_FAILURE_WINDOW":          "10m",
	})
	victim := uniqueEmail("victim")
	other := uniqueEmail("other")
	s.register(registration{Email: victim, Password: "right password", Name: "V", Role: "job_seeker"})
	s.register(registration{Email: other, Password: "right password", Name: "O", Role: "job_seeker"})

	for i := 0; i < 3; i++ {
		res := s.postJSON("/login", map[string]string{"email": victim, "password": "wrong password"})
		problemOf(t, res, http.StatusUnauthorized) // failures up to the limit are plain 401s
	}
	for _, password := range []string{"wrong password", "right password"} {
		res := s.postJSON("/login", map[string]string{"email": " " + victim + " ", "password": password})
		problemOf(t, res, http.StatusTooManyRequests) // then the email is throttled for this client, right password or not
		seconds, err := strconv.Atoi(res.header.Get("Retry-After"))
		is.NoErr(err)                            // Retry-After is a number of seconds
		is.True(seconds > 500 && seconds <= 600) // about the rest of the 10-minute window
	}
	is.True(s.login(other, "right password") != "") // another email is not affected
}

// TestLoginThrottlesFailuresPerClient: one client address guessing across
// many emails is stopped too.
func TestLoginThrottlesFailuresPerClient(t *testing.T) {
	is := is.New(t)
	s := startServiceOn(t, testdb.New(t), map[string]string{
		"LOGIN_MAX_FAILURES_PER_EMAIL":  "100",
		"LOGIN_MAX_FAILURES_PER_CLIENT": "4",
	})
	email := uniqueEmail("someone")
	s.register(registration{Email: email, Password: "right password", Name: "S", Role: "recruiter"})
	for i := 0; i < 4; i++ {
		res := s.postJSON("/login", map[string]string{"email": uniqueEmail("guess"), "password": "whatever1"})
		problemOf(t, res, http.StatusUnauthorized)
	}
	res := s.postJSON("/login", map[string]string{"email": email, "password": "right password"})
	problemOf(t, res, http.StatusTooManyRequests) // the client is throttled, whatever the email
	is.True(res.header.Get("Retry-After") != "")
}

// TestLoginThrottleOff: a limit of 0 turns throttling off.
func TestLoginThrottleOff(t *testing.T) {
	s := startServiceOn(t, testdb.New(t), map[string]string{
		"LOGIN_MAX_FAILURES_PER_EMAIL":  "0",
		"LOGIN_MAX_FAILURES_PER_CLIENT": "0",
	})
	email := uniqueEmail("free")
	s.register(registration{Email: email, Password: "right password", Name: "F", Role: "recruiter"})
	for i := 0; i < 15; i++ {
		problemOf(t, s.postJSON("/login", map[string]string{"email": email, "password": "wrong password"}), http.StatusUnauthorized)
	}
	s.login(email, "right password")
}

// sendAtOnce sends one POST of each body at the same moment and counts the
// answers' statuses; header holds name, value pairs.
func sendAtOnce(t *testing.T, s *service, path string, bodies []string, header ...string) map[int]int {
	t.Helper()
	statuses := make(chan int, len(bodies))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, body := range bodies {
		wg.Go(func() {
			<-start
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+path, strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			res, err := s.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	return count
}

// loginBody is the JSON of a POST /login.
func loginBody(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

// TestLoginThrottleHoldsUnderConcurrency: attempts are counted before the
// password is compared, so that 40 wrong passwords sent at once check no
// more passwords than the limit allows, for one email and for one client.
func TestLoginThrottleHoldsUnderConcurrency(t *testing.T) {
	t.Run("one email", func(t *testing.T) {
		is := is.New(t)
		s := startServiceOn(t, testdb.New(t), map[string]string{
			"LOGIN_MAX_FAILURES_PER_EMAIL":  "10",
			"LOGIN_MAX_FAILURES_PER_CLIENT": "1000",
		})
		email := uniqueEmail("raced")
		s.register(registration{Email: email, Password: "right password", Name: "R", Role: "job_seeker"})
		bodies := make([]string, 40)
		for i := range bodies {
			bodies[i] = loginBody(email, "wrong password")
		}
		count := sendAtOnce(t, s, "/login", bodies)
		t.Logf("statuses: %v", count)
		is.Equal(count, map[int]int{http.StatusUnauthorized: 10, http.StatusTooManyRequests: 30}) // ten passwords checked, the rest refused unchecked
	})
	t.Run("one client", func(t *testing.T) {
		is := is.New(t)
		s := startServiceOn(t, testdb.New(t), map[string]string{
			"LOGIN_MAX_FAILURES_PER_EMAIL":  "1000",
			"LOGIN_MAX_FAILURES_PER_CLIENT": "10",
		})
		bodies := make([]string, 40)
		for i := range bodies {
			bodies[i] = loginBody(uniqueEmail("spray"), "wrong password")
		}
		count := sendAtOnce(t, s, "/login", bodies)
		t.Logf("statuses: %v", count)
		is.Equal(count, map[int]int{http.StatusUnauthorized: 10, http.StatusTooManyRequests: 30}) // ten passwords checked, the rest refused unchecked
	})
}

// TestLoginWithALongEmail: an email of any length is counted like any
// other (it used to overflow the throttle's index: a 500, counted nowhere).
func TestLoginWithALongEmail(t *testing.T) {
	is := is.New(t)
	s := startServiceOn(t, testdb.New(t), map[string]string{"LOGIN_MAX_FAILURES_PER_EMAIL": "2"})
	// Random, so that PostgreSQL cannot compress it to fit.
	b := make([]byte, 3000)
	rand.Read(b)
	long := hex.EncodeToString(b) + "@example.com"
	for range 2 {
		problemOf(t, s.postJSON("/login", map[string]string{"email": long, "password": "whatever1"}), http.StatusUnauthorized)
	}
	res := s.postJSON("/login", map[string]string{"email": long, "password": "whatever1"})
	problemOf(t, res, http.StatusTooManyRequests) // the failures were counted
	is.True(res.header.Get("Retry-After") != "")
}

// TestLoginFailuresLockNoOwnerOut: wrong passwords from some clients do not
// lock the account's owner out. Once an email has had its failures, a
// client that has failed on it is refused, but a client that has not
// still has its password checked: the right one logs in, a wrong one is
// that client's last try.
func TestLoginFailuresLockNoOwnerOut(t *testing.T) {
	is := is.New(t)
	s := startServiceOn(t, testdb.New(t), map[string]string{
		"LOGIN_MAX_FAILURES_PER_EMAIL":  "3",
		"LOGIN_MAX_FAILURES_PER_CLIENT": "100",
		"TRUSTED_PROXIES":               "127.0.0.1/32,::1/128",
	})
	email := uniqueEmail("owner")
	s.register(registration{Email: email, Password: "right password", Name: "O", Role: "job_seeker"})
	from := func(client, password string) response {
		return s.postJSON("/login", map[string]string{"email": email, "password": password}, "X-Forwarded-For", client)
	}
	for range 3 {
		problemOf(t, from("203.0.113.66", "wrong password"), http.StatusUnauthorized)
	}
	res := from("203.0.113.66", "right password")
	problemOf(t, res, http.StatusTooManyRequests) // the guessing client is refused, right password or not
	is.True(res.header.Get("Retry-After") != "")

	is.Equal(from("198.51.100.7", "right password").status, http.StatusOK) // the owner, elsewhere, logs in

	problemOf(t, from("192.0.2.8", "wrong password"), http.StatusUnauthorized)    // a new client's guess is checked
	problemOf(t, from("192.0.2.8", "right password"), http.StatusTooManyRequests) // and is its last one while the email is under attack
	problemOf(t, from("2001:db8:5::1", "wrong password"), http.StatusUnauthorized)
	problemOf(t, from("2001:db8:5::2", "wrong password"), http.StatusTooManyRequests) // an IPv6 client is its /64
}

// TestPerClientLimitsCountIPv6Slash64s: every per-client limit counts an
// IPv6 client by its /64, which one host is given, and an IPv4 client by
// its address.
func TestPerClientLimitsCountIPv6Slash64s(t *testing.T) {
	// The write limit, which also counts logins and registrations, is off
	// but where it is the subject, so that it answers for no other limit.
	s := startServiceOn(t, testdb.New(t), map[string]string{
		"LOGIN_MAX_FAILURES_PER_EMAIL":  "100",
		"LOGIN_MAX_FAILURES_PER_CLIENT": "2",
		"WRITE_RATE_LIMIT":              "0",
		"READ_RATE_LIMIT":               "0.01",
		"READ_RATE_BURST":               "2",
		"REGISTER_MAX_PER_CLIENT":       "2",
		"TRUSTED_PROXIES":               "127.0.0.1/32,::1/128",
	})
	email := uniqueEmail("six")
	s.register(registration{Email: email, Password: "right password", Name: "S", Role: "job_seeker"})
	xff := func(client string) []string { return []string{"X-Forwarded-For", client} }

	t.Run("login", func(t *testing.T) {
		for _, client := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::2"} {
			problemOf(t, s.postJSON("/login", map[string]string{"email": uniqueEmail("guess"), "password": "whatever1"}, xff(client)...), http.StatusUnauthorized)
		}
		right := map[string]string{"email": email, "password": "right password"}
		problemOf(t, s.postJSON("/login", right, xff("2001:db8:1:2:abcd::3")...), http.StatusTooManyRequests) // the /64 used its failures
		is.New(t).Equal(s.postJSON("/login", right, xff("2001:db8:1:3::1")...).status, http.StatusOK)         // the next /64 did not
	})
	t.Run("writes", func(t *testing.T) {
		is := is.New(t)
		s := startService(t, map[string]string{"WRITE_RATE_LIMIT": "0.01", "WRITE_RATE_BURST": "2", "TRUSTED_PROXIES": "127.0.0.1/32,::1/128"})
		is.True(!writeIsLimited(t, s, http.MethodPost, xff("2001:db8:2:2::1")...))
		is.True(!writeIsLimited(t, s, http.MethodPost, xff("2001:db8:2:2::2")...))
		is.True(writeIsLimited(t, s, http.MethodPost, xff("2001:db8:2:2:1:2:3:4")...)) // one bucket for the /64
		is.True(!writeIsLimited(t, s, http.MethodPost, xff("2001:db8:2:3::1")...))
	})
	t.Run("reads", func(t *testing.T) {
		is := is.New(t)
		get := func(client string) int { return s.do(http.MethodGet, "/openapi.yaml", nil, xff(client)...).status }
		is.Equal(get("2001:db8:3:2::1"), http.StatusOK)
		is.Equal(get("2001:db8:3:2::2"), http.StatusOK)
		is.Equal(get("2001:db8:3:2::3"), http.StatusTooManyRequests) // one bucket for the /64
		is.Equal(get("2001:db8:3:3::1"), http.StatusOK)
	})
	t.Run("registrations", func(t *testing.T) {
		is := is.New(t)
		register := func(client string) int {
			return s.postJSON("/register", registration{Email: uniqueEmail("six"), Password: "a password", Name: "S", Role: "job_seeker"}, xff(client)...).status
		}
		is.Equal(register("2001:db8:4:2::1"), http.StatusCreated)
		is.Equal(register("2001:db8:4:2::2"), http.StatusCreated)
		is.Equal(register("2001:db8:4:2::3"), http.StatusTooManyRequests) // one count for the /64
		is.Equal(register("2001:db8:4:3::1"), http.StatusCreated)
	})
}

// TestReadRateLimit: one client's reads beyond the burst get 429 with
// Retry-After until tokens come back; writes have a limit of their own, and
// the health and metrics endpoints have none.
func TestReadRateLimit(t *testing.T) {
	is := is.New(t)
	s := startService(t, map[string]string{"READ_RATE_LIMIT": "1", "READ_RATE_BURST": "3"})
	for range 3 {
		is.Equal(s.get("/jobs", "").status, http.StatusOK) // within the burst
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		res := s.do(method, "/jobs", nil)
		is.Equal(res.status, http.StatusTooManyRequests) // GET and HEAD alike, past the burst
		seconds, err := strconv.Atoi(res.header.Get("Retry-After"))
		is.NoErr(err)
		is.True(seconds >= 1) // whole seconds
	}
	problemOf(t, s.get("/jobs", ""), http.StatusTooManyRequests)
	for range 10 {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			res := s.get(path, "")
			is.True(res.status != http.StatusTooManyRequests) // probes and scrapes are never limited
		}
	}
	is.True(!writeIsLimited(t, s, http.MethodPost)) // writes are counted apart
	// One token a second comes back.
	is.True(eventually(t, 5*time.Second, func() bool { return s.get("/jobs", "").status == http.StatusOK }))

	off := startService(t, map[string]string{"READ_RATE_LIMIT": "0", "READ_RATE_BURST": "1"})
	for i := range 20 {
		if st := off.get("/openapi.yaml", "").status; st != http.StatusOK {
			t.Fatalf("read %d: %d with the limit off", i+1, st)
		}
	}
}

// TestRegisterThrottle: one client's registrations past the limit get 429
// with Retry-After, whatever their outcome would have been; other clients
// are not affected; 0 turns the throttle off.
func TestRegisterThrottle(t *testing.T) {
	is := is.New(t)
	s := startService(t, map[string]string{"REGISTER_MAX_PER_CLIENT": "2", "TRUSTED_PROXIES": "127.0.0.1/32,::1/128"})
	taken := uniqueEmail("taken")
	is.Equal(s.postJSON("/register", registration{Email: taken, Password: "a password", Name: "T", Role: "job_seeker"}).status, http.StatusCreated)
	is.Equal(s.postJSON("/register", registration{Email: taken, Password: "a password", Name: "T", Role: "job_seeker"}).status, http.StatusConflict)
	res := s.postJSON("/register", registration{Email: uniqueEmail("third"), Password: "a password", Name: "T", Role: "job_seeker"})
	problemOf(t, res, http.StatusTooManyRequests) // the third attempt in 15 minutes
	seconds, err := strconv.Atoi(res.header.Get("Retry-After"))
	is.NoErr(err)
	is.True(seconds > 400 && seconds <= 450) // two a quarter of an hour: the next in 7.5 minutes
	res = s.postJSON("/register", registration{Email: uniqueEmail("other"), Password: "a password", Name: "O", Role: "job_seeker"}, "X-Forwarded-For", "203.0.113.5")
	is.Equal(res.status, http.StatusCreated) // another client is not affected

	off := startService(t, map[string]string{"REGISTER_MAX_PER_CLIENT": "0"})
	for range 5 {
		off.register(registration{Email: uniqueEmail("free"), Password: "a password", Name: "F", Role: "job_seeker"})
	}
}

// TestRegisterTakenEmailCostsNoHash: a registration of a taken email is
// refused before its password is hashed, so that a flood of them costs no
// bcrypt. Timed against logins (one bcrypt each), in pairs as in
// TestLoginTiming.
func TestRegisterTakenEmailCostsNoHash(t *testing.T) {
	is := is.New(t)
	s := startServiceOn(t, testdb.New(t), map[string]string{"BCRYPT_COST": "10"})
	email := uniqueEmail("taken")
	s.register(registration{Email: email, Password: "timing password", Name: "T", Role: "job_seeker"})
	timed := func(path string, body any, want int) time.Duration {
		start := time.Now()
		res := s.postJSON(path, body)
		elapsed := time.Since(start)
		is.Equal(res.status, want)
		return elapsed
	}
	register := func() time.Duration {
		return timed("/register", registration{Email: email, Password: "another password", Name: "T", Role: "job_seeker"}, http.StatusConflict)
	}
	login := func() time.Duration {
		return timed("/login", map[string]string{"email": email, "password": "timing password"}, http.StatusOK)
	}
	register()
	login()
	var ratios []float64
	for i := range 5 {
		var r, l time.Duration
		if i%2 == 0 {
			r, l = register(), login()
		} else {
			l, r = login(), register()
		}
		ratios = append(ratios, float64(r)/float64(l))
	}
	slices.Sort(ratios)
	t.Logf("taken-email registration / login: %.2f", ratios)
	is.True(ratios[len(ratios)/2] < 0.5) // the 409 comes without a bcrypt
}
