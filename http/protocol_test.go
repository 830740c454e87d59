package http_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/matryer/is"
)

// TestIfMatchOtherTags checks that an If-Match which is not the job's
// current strong ETag fails the precondition (412) and changes nothing,
// whatever it is: another tag, a weak tag, a version spelt differently, a
// header that does not parse. A 404 or a 403 still comes first.
func TestIfMatchOtherTags(t *testing.T) {
	s := startService(t, nil)
	marker := jobsMarker()
	owner := jobsRegister(t, s, "recruiter", "Tags Co")
	other := jobsRegister(t, s, "recruiter", "Other Co")
	job := jobsPost(t, s, owner.token, jobsBody("Tags "+marker))
	path := "/jobs/" + job.ID

	for _, tag := range []string{`"abc"`, `W/"1"`, `"01"`, `"+1"`, `1`, `"1`, `""`, `*, "1"`, `"1" "2"`, `"2", "3"`} {
		t.Run(tag, func(t *testing.T) {
			problemOf(t, jobsCall(t, s, http.MethodPatch, path, owner.token, map[string]any{"title": "no " + marker}, "If-Match", tag), http.StatusPreconditionFailed)
			problemOf(t, jobsCall(t, s, http.MethodPut, path, owner.token, jobsBody("no "+marker), "If-Match", tag), http.StatusPreconditionFailed)
			problemOf(t, jobsCall(t, s, http.MethodDelete, path, owner.token, nil, "If-Match", tag), http.StatusPreconditionFailed)
			jobsUnchanged(t, s, job.ID, owner.token, 1)
		})
	}
	t.Run("a 404 or a 403 comes first", func(t *testing.T) {
		problemOf(t, jobsCall(t, s, http.MethodDelete, "/jobs/0190d6a4-7b1c-7c3e-9f00-123456789abc", owner.token, nil, "If-Match", `"abc"`), http.StatusNotFound)
		problemOf(t, jobsCall(t, s, http.MethodDelete, path, other.token, nil, "If-Match", `"abc"`), http.StatusForbidden)
	})
	t.Run("the current version, alone or in a list", func(t *testing.T) {
		is := is.New(t)
		res := jobsCall(t, s, http.MethodPatch, path, owner.token, map[string]any{"title": "v2 " + marker}, "If-Match", `"abc", W/"1", "1"`)
		is.Equal(jobsDecode(t, res, http.StatusOK).Title, "v2 "+marker) // a list matches when one strong tag does
		res = jobsCall(t, s, http.MethodPatch, path, owner.token, map[string]any{"title": "v3 " + marker}, "If-Match", "*")
		is.Equal(jobsDecode(t, res, http.StatusOK).Version, int64(3)) // * matches the existing job
	})
}

// TestMethodNotAllowedAllowLine checks that a 405 sends the methods of its
// path in one Allow line: a client that reads one field line (Postman keeps
// the last) saw "POST" alone for DELETE /jobs.
func TestMethodNotAllowedAllowLine(t *testing.T) {
	s := startService(t, nil)
	for _, tt := range []struct{ method, path, allow string }{
		{http.MethodDelete, "/jobs", "GET, HEAD, POST"},
		{http.MethodOptions, "/jobs", "GET, HEAD, POST"},
		{http.MethodPost, "/jobs/0190d6a4-7b1c-7c3e-9f00-123456789abc", "DELETE, GET, HEAD, PATCH, PUT"},
		{http.MethodGet, "/jobs/0190d6a4-7b1c-7c3e-9f00-123456789abc/apply", "POST"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			is := is.New(t)
			res := s.do(tt.method, tt.path, nil)
			problemOf(t, res, http.StatusMethodNotAllowed)
			is.Equal(res.header.Values("Allow"), []string{tt.allow}) // one line, every method of the path
		})
	}
}

// TestEventIDsAreTheService checks what a request's events record of it: the
// client's sane X-Request-Id as their request_id, but a correlation id the
// service made, whatever the client sends, and no causation id (a person's
// request is caused by no event).
func TestEventIDsAreTheService(t *testing.T) {
	s := startService(t, nil)
	marker := jobsMarker()
	owner := jobsRegister(t, s, "recruiter", "Ids Co")
	ids := func(jobID string) (request, correlation, causation string) {
		t.Helper()
		err := db.Pool.QueryRow(context.Background(),
			`SELECT request_id, correlation_id, causation_id FROM events WHERE stream_id = $1 ORDER BY stream_version LIMIT 1`,
			jobID).Scan(&request, &correlation, &causation)
		if err != nil {
			t.Fatalf("read the job's event: %v", err)
		}
		return request, correlation, causation
	}

	t.Run("a sane client id", func(t *testing.T) {
		is := is.New(t)
		clientID := "client-" + marker
		res := jobsCall(t, s, http.MethodPost, "/jobs", owner.token, jobsBody("Ids "+marker),
			"X-Request-Id", clientID, "X-Correlation-Id", "forged-"+marker, "X-Causation-Id", "forged-"+marker)
		job := jobsDecode(t, res, http.StatusCreated)
		is.Equal(res.header.Get("X-Request-Id"), clientID) // echoed
		request, correlation, causation := ids(job.ID)
		is.Equal(request, clientID)                                         // the client's id is kept as the request id
		is.True(uuidPattern.MatchString(correlation))                       // the correlation id is the service's own
		is.True(correlation != clientID && correlation != "forged-"+marker) // not one the client chose
		is.Equal(causation, "")                                             // no client sets a causation id
	})
	t.Run("no client id", func(t *testing.T) {
		is := is.New(t)
		res := jobsCall(t, s, http.MethodPost, "/jobs", owner.token, jobsBody("Ids 2 "+marker), "X-Request-Id", "not sane!")
		job := jobsDecode(t, res, http.StatusCreated)
		request, correlation, causation := ids(job.ID)
		is.Equal(request, res.header.Get("X-Request-Id")) // the new id, as echoed
		is.True(uuidPattern.MatchString(request))
		is.True(uuidPattern.MatchString(correlation))
		is.Equal(causation, "")
	})
}

// TestInvisibleCharactersAreRefused checks, through the API, that a
// single-line field with a format character and a description with a bidi
// override are 422s that name the field and change nothing.
func TestInvisibleCharactersAreRefused(t *testing.T) {
	s := startService(t, nil)
	marker := jobsMarker()
	owner := jobsRegister(t, s, "recruiter", "Invisible Co")

	res := s.postJSON("/register", registration{Email: uniqueEmail("bidi"), Password: "a password", Name: "Ada\u202Egnp.exe", Role: "job_seeker"})
	is.New(t).Equal(problemOf(t, res, http.StatusUnprocessableEntity).fields(), []string{"name"}) // the name's override is refused

	for field, value := range map[string]string{
		"title":       "Go\u200b developer " + marker,
		"company":     "\u2066Acme\u2069",
		"location":    "Berlin\uFEFF",
		"description": "Write Go.\n\u202Eevil",
	} {
		t.Run(field, func(t *testing.T) {
			is := is.New(t)
			res := jobsCall(t, s, http.MethodPost, "/jobs", owner.token, jobsBody("Invisible "+marker, func(b map[string]any) { b[field] = value }))
			is.Equal(problemOf(t, res, http.StatusUnprocessableEntity).fields(), []string{field}) // the 422 names the field
		})
	}
	is := is.New(t)
	is.Equal(jobsList(t, s, jobsQuery("recruiter_id", owner.id), "").Total, 0) // no job was posted

	job := jobsPost(t, s, owner.token, jobsBody("Visible "+marker))
	res = jobsCall(t, s, http.MethodPatch, "/jobs/"+job.ID, owner.token, map[string]any{"title": "Visible\u202E " + marker})
	is.Equal(problemOf(t, res, http.StatusUnprocessableEntity).fields(), []string{"title"})
	jobsUnchanged(t, s, job.ID, owner.token, 1)
}

// TestHeadIsGetWithoutABody checks that HEAD works wherever GET does: the
// same status and headers as GET, and no body.
func TestHeadIsGetWithoutABody(t *testing.T) {
	s := startService(t, nil)
	for _, path := range []string{"/jobs", "/healthz", "/readyz", "/openapi.yaml", "/docs", "/metrics", "/jobs/0190d6a4-7b1c-7c3e-9f00-123456789abc", "/me"} {
		t.Run(path, func(t *testing.T) {
			is := is.New(t)
			get := s.do(http.MethodGet, path, nil)
			head := s.do(http.MethodHead, path, nil)
			is.Equal(head.status, get.status) // the same status
			for _, h := range []string{"Content-Type", "ETag", "Cache-Control", "Allow"} {
				is.Equal(head.header.Get(h), get.header.Get(h)) // the same headers
			}
			// No body: the client reads none for HEAD, so the server sending one
			// would show as a broken connection on the next request, not here.
		})
	}
}
