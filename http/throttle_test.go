package http_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testdb"
)

// TestLoginThrottlesFailuresPerEmail: after the allowed failures for one
// email, every attempt on it is a 429 with Retry-After, even with the right
// password, while other emails still log in.
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
		problemOf(t, res, http.StatusTooManyRequests) // then the email is throttled, right password or not
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
