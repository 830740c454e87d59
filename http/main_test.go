package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/app"
	"github.com/jobboard/jobboard/internal/testapp"
	"github.com/jobboard/jobboard/internal/testdb"
)

// db is the package's database: every service a test starts uses it unless
// the test asks for one of its own.
var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

// jwtSecret is the secret the services under test sign tokens with, so that
// tests can forge tokens that differ from a real one in one way only.
const jwtSecret = testapp.JWTSecret

// service is one running job board, started in-process as cmd/jobboard
// starts it.
type service struct {
	t      *testing.T
	url    string
	app    *app.App
	db     *testdb.DB // the database it runs on
	client *http.Client
	logs   *testapp.LockedBuffer
}

// startService runs the job board on the package's database with a test
// configuration that env overrides, and stops it when the test ends.
func startService(t *testing.T, env map[string]string) *service {
	t.Helper()
	return startServiceOn(t, db, env)
}

// startServiceOn runs the job board on database on.
func startServiceOn(t *testing.T, on *testdb.DB, env map[string]string) *service {
	t.Helper()
	a := testapp.Start(t, on, env)
	s := &service{
		t:      t,
		url:    a.URL,
		app:    a.App,
		db:     on,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}},
		logs:   a.Logs,
	}
	// Cleanups run last first: the client lets go of its connections
	// before the service stops.
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// response is an answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string {
	return http.StatusText(r.status) + " " + string(r.body)
}

// do sends a request; header holds name, value pairs.
func (s *service) do(method, path string, body io.Reader, header ...string) response {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.url+path, body)
	if err != nil {
		s.t.Fatalf("new request %s %s: %v", method, path, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// postJSON sends v as JSON; a string or []byte is sent as it is, so that
// tests can send JSON that no Go value marshals to.
func (s *service) postJSON(path string, v any, header ...string) response {
	s.t.Helper()
	var body []byte
	switch v := v.(type) {
	case string:
		body = []byte(v)
	case []byte:
		body = v
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			s.t.Fatalf("marshal request: %v", err)
		}
	}
	return s.do(http.MethodPost, path, bytes.NewReader(body),
		append([]string{"Content-Type", "application/json; charset=utf-8"}, header...)...)
}

// get sends a GET with the token, if any, as a Bearer token.
func (s *service) get(path, token string) response {
	s.t.Helper()
	if token == "" {
		return s.do(http.MethodGet, path, nil)
	}
	return s.do(http.MethodGet, path, nil, "Authorization", "Bearer "+token)
}

// user is an account as the API shows it.
type user struct {
	ID        string  `json:"id"`
	Email     string  `json:"email"`
	Name      string  `json:"name"`
	Role      string  `json:"role"`
	Company   *string `json:"company"`
	CreatedAt string  `json:"created_at"`
}

// registration is the body of POST /register.
type registration struct {
	Email    string  `json:"email"`
	Password string  `json:"password"`
	Name     string  `json:"name"`
	Role     string  `json:"role"`
	Company  *string `json:"company,omitempty"`
}

// register opens an account and returns it as the 201 showed it.
func (s *service) register(r registration) user {
	s.t.Helper()
	is := is.New(s.t)
	is.Helper()
	res := s.postJSON("/register", r)
	if res.status != http.StatusCreated {
		s.t.Fatalf("POST /register %s: %s", r.Email, res)
	}
	var u user
	is.NoErr(json.Unmarshal(res.body, &u)) // the 201 body is a user
	return u
}

// loginResponse is the body of a 200 from POST /login.
type loginResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	User        user   `json:"user"`
}

// login logs in and returns the access token.
func (s *service) login(email, password string) string {
	s.t.Helper()
	is := is.New(s.t)
	is.Helper()
	res := s.postJSON("/login", map[string]string{"email": email, "password": password})
	if res.status != http.StatusOK {
		s.t.Fatalf("POST /login %s: %s", email, res)
	}
	var l loginResponse
	is.NoErr(json.Unmarshal(res.body, &l)) // the 200 body is a login response
	return l.AccessToken
}

// problem is an RFC 9457 problem details document.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// fields lists the fields a problem names.
func (p problem) fields() []string {
	var names []string
	for _, e := range p.Errors {
		names = append(names, e.Field)
	}
	return names
}

// internals are what an error shown to a client must never contain.
var internals = []string{"goroutine ", ".go:", "SQLSTATE", "pgx", "pgconn", "json: ", "*domain.", "runtime."}

// problemOf checks that res is a problem+json answer with status and
// returns it.
func problemOf(t *testing.T, res response, status int) problem {
	t.Helper()
	is := is.New(t)
	is.Helper()
	if res.status != status {
		t.Fatalf("want %d %s, got %s", status, http.StatusText(status), res)
	}
	is.Equal(res.header.Get("Content-Type"), "application/problem+json; charset=utf-8") // errors are problem+json
	var p problem
	is.NoErr(json.Unmarshal(res.body, &p)) // the problem is JSON
	is.Equal(p.Status, status)             // the problem's status is the HTTP status
	is.Equal(p.Type, "about:blank")        // the problem type
	is.Equal(p.Title, http.StatusText(status))
	is.True(p.Detail != "") // the problem says what went wrong
	for _, s := range internals {
		if strings.Contains(string(res.body), s) {
			t.Fatalf("the problem shows an internal detail (%q): %s", s, res.body)
		}
	}
	is.True(res.header.Get("X-Request-Id") != "") // errors carry a request id too
	return p
}

// uniqueEmail returns an address no other test uses.
func uniqueEmail(prefix string) string { return testapp.UniqueEmail(prefix) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() bool) bool {
	t.Helper()
	// Not the test's context: cleanups, which it has ended by then, poll too.
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}
