package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testapp"
	"github.com/jobboard/jobboard/internal/testdb"
)

// call sends a JSON request to the service and decodes a JSON answer.
func call(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var payload bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&payload).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, &payload)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode < 300 {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode
}

// TestForgetErasesAPersonAsTheOperator: jobboard forget, by email or by
// id, erases as DELETE /me does, says what it did, and is idempotent.
func TestForgetErasesAPersonAsTheOperator(t *testing.T) {
	is := is.New(t)
	db := testdb.New(t)
	svc := testapp.Start(t, db, nil)
	getenv := env("DATABASE_URL", db.URL, "DATA_KEY", testdb.DataKey)

	register := func(role string, extra map[string]any) (id, token, email string) {
		email = testapp.UniqueEmail(role)
		body := map[string]any{"email": email, "password": "correct horse battery", "name": "Forget " + role, "role": role}
		for k, v := range extra {
			body[k] = v
		}
		var user struct {
			ID string `json:"id"`
		}
		is.Equal(call(t, http.MethodPost, svc.URL+"/register", "", body, &user), http.StatusCreated)
		var login struct {
			Token string `json:"access_token"`
		}
		is.Equal(call(t, http.MethodPost, svc.URL+"/login", "", map[string]any{"email": email, "password": "correct horse battery"}, &login), http.StatusOK)
		return user.ID, login.Token, email
	}
	recruiterID, recruiterToken, _ := register("recruiter", map[string]any{"company": "Forgetful Ltd"})
	var job struct {
		ID string `json:"id"`
	}
	is.Equal(call(t, http.MethodPost, svc.URL+"/jobs", recruiterToken, map[string]any{
		"title": "Archivist", "description": "Keeps things.", "location": "Leeds"}, &job), http.StatusCreated)
	_, seekerToken, seekerEmail := register("job_seeker", nil)
	var application struct {
		ID string `json:"id"`
	}
	is.Equal(call(t, http.MethodPost, svc.URL+"/jobs/"+job.ID+"/apply", seekerToken,
		map[string]any{"cover_letter": "Please forget me later."}, &application), http.StatusCreated)

	// A reason is required, and one way to name the person.
	code, _, stderr := runCommand(t, getenv, "forget", "--email", seekerEmail)
	is.Equal(code, 2)
	is.True(strings.Contains(stderr, "--reason"))
	code, _, _ = runCommand(t, getenv, "forget", "--reason", "x")
	is.Equal(code, 2)
	code, _, stderr = runCommand(t, getenv, "forget", "--email", "nobody@example.org", "--reason", "ticket 1")
	is.Equal(code, 1)
	is.True(strings.Contains(stderr, "no account has this email"))

	// By email: the job seeker.
	code, stdout, stderr := runCommand(t, getenv, "forget", "--email", seekerEmail, "--reason", "ticket 7, by post")
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, "1 application(s) anonymised")) // stdout says what it did
	is.Equal(stderr, "")                                             // and the read models had caught up
	is.Equal(call(t, http.MethodGet, svc.URL+"/me", seekerToken, nil, nil), http.StatusUnauthorized)
	var seen struct {
		Name  string  `json:"name"`
		Email *string `json:"email"`
	}
	is.Equal(call(t, http.MethodGet, svc.URL+"/applications/"+application.ID, recruiterToken, nil, &seen), http.StatusOK)
	is.Equal(seen.Name, "Erased applicant")
	is.True(seen.Email == nil)
	// Its email is free again.
	register("job_seeker", nil)

	// By id: the recruiter, whose open job closes; then again, which
	// appends nothing.
	code, stdout, _ = runCommand(t, getenv, "forget", "--user", recruiterID, "--reason", "ticket 8")
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, "1 open job(s) closed"))
	var closed struct {
		Status string `json:"status"`
	}
	is.Equal(call(t, http.MethodGet, svc.URL+"/jobs/"+job.ID, "", nil, &closed), http.StatusOK)
	is.Equal(closed.Status, "closed")
	code, stdout, _ = runCommand(t, getenv, "forget", "--user", recruiterID, "--reason", "ticket 8")
	is.Equal(code, 0)
	is.True(strings.Contains(stdout, "was erased before"))
	var erasures int
	is.NoErr(db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE event_type = 'PersonalDataErased'`).Scan(&erasures))
	is.Equal(erasures, 2) // one per person, not per run
	var reason string
	is.NoErr(db.Owner.QueryRow(t.Context(), `SELECT data->>'reason' FROM events WHERE event_type = 'PersonalDataErased' AND stream_id = $1`, recruiterID).Scan(&reason))
	is.Equal(reason, "ticket 8") // the log says why
}
