package http_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"
)

// The helpers of this file are prefixed with "jobs" so that they cannot
// collide with the package's other test files. They take the *testing.T of
// the (sub)test that uses them, never the one that started the service.

// jobsActor is an account that acts on jobs.
type jobsActor struct {
	id, email, token string
}

// jobsRegister opens an account with role (and company, for a recruiter,
// when not empty) and logs it in.
func jobsRegister(t *testing.T, s *service, role, company string) jobsActor {
	t.Helper()
	is := is.New(t)
	is.Helper()
	r := registration{Email: uniqueEmail("jobs-" + role), Password: "jobs password", Name: "Jo " + role, Role: role}
	if company != "" {
		r.Company = &company
	}
	res := jobsCall(t, s, http.MethodPost, "/register", "", r)
	if res.status != http.StatusCreated {
		t.Fatalf("POST /register: %s", res)
	}
	var u user
	is.NoErr(json.Unmarshal(res.body, &u)) // the 201 body is a user
	res = jobsCall(t, s, http.MethodPost, "/login", "", map[string]string{"email": r.Email, "password": r.Password})
	if res.status != http.StatusOK {
		t.Fatalf("POST /login: %s", res)
	}
	var l loginResponse
	is.NoErr(json.Unmarshal(res.body, &l)) // the 200 body is a login response
	return jobsActor{id: u.ID, email: r.Email, token: l.AccessToken}
}

// jobsMarker returns a random word of lower-case letters: a title, company
// or search word that no other test's data contains.
func jobsMarker() string {
	b := make([]byte, 12)
	rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return "zq" + string(b)
}

// jobsSend sends a request; body is sent as JSON (a string or []byte as it
// is), token as a Bearer token, header as name, value pairs. It does not
// fail the test, so that goroutines may use it.
func jobsSend(ctx context.Context, s *service, method, path, token string, body any, header ...string) (response, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, r)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("read body: %w", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// jobsCall is jobsSend for the test's own goroutine.
func jobsCall(t *testing.T, s *service, method, path, token string, body any, header ...string) response {
	t.Helper()
	res, err := jobsSend(t.Context(), s, method, path, token, body, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

// jobsJob is a job as the API shows it.
type jobsJob struct {
	ID               string  `json:"id"`
	Title            string  `json:"title"`
	Description      string  `json:"description"`
	Company          string  `json:"company"`
	Location         string  `json:"location"`
	EmploymentType   string  `json:"employment_type"`
	Remote           bool    `json:"remote"`
	SalaryMin        *int64  `json:"salary_min"`
	SalaryMax        *int64  `json:"salary_max"`
	SalaryCurrency   *string `json:"salary_currency"`
	Status           string  `json:"status"`
	RecruiterID      string  `json:"recruiter_id"`
	CreatedAt        string  `json:"created_at"`
	UpdatedAt        string  `json:"updated_at"`
	Version          int64   `json:"version"`
	ApplicationCount *int    `json:"application_count"`
	// ApplicationsByStatus is the owner's only, like ApplicationCount.
	ApplicationsByStatus map[string]int `json:"applications_by_status"`
}

// jobsFields are the fields of a job everyone sees; the owner also sees
// application_count.
var jobsFields = []string{"company", "created_at", "description", "employment_type", "id", "location", "recruiter_id",
	"remote", "salary_currency", "salary_max", "salary_min", "status", "title", "updated_at", "version"}

// jobsKeys lists the keys of a JSON object, sorted.
func jobsKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jobsDecode reads a job answer (201 or 200): JSON, with an ETag that is its
// version.
func jobsDecode(t *testing.T, res response, status int) jobsJob {
	t.Helper()
	is := is.New(t)
	is.Helper()
	if res.status != status {
		t.Fatalf("want %d %s, got %s", status, http.StatusText(status), res)
	}
	is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8") // JSON out, as the contract spells it
	var j jobsJob
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	is.NoErr(dec.Decode(&j))                                                          // the body is a job and nothing else
	is.Equal(res.header.Get("ETag"), strconv.Quote(strconv.FormatInt(j.Version, 10))) // the ETag is the job's version
	return j
}

// jobsBody is a valid body for POST /jobs, changed by change.
func jobsBody(title string, change ...func(map[string]any)) map[string]any {
	b := map[string]any{
		"title":       title,
		"description": "Build and run the services behind a job board.\nOn call one week in six.",
		"location":    "Lyon, France",
	}
	for _, c := range change {
		c(b)
	}
	return b
}

// jobsPost posts a job and returns it as the 201 showed it.
func jobsPost(t *testing.T, s *service, token string, body any) jobsJob {
	t.Helper()
	is := is.New(t)
	is.Helper()
	res := jobsCall(t, s, http.MethodPost, "/jobs", token, body)
	j := jobsDecode(t, res, http.StatusCreated)
	is.Equal(res.header.Get("Location"), "/jobs/"+j.ID) // Location names the new job
	return j
}

// jobsGet reads a job anonymously (token "") or as someone.
func jobsGet(t *testing.T, s *service, id, token string) jobsJob {
	t.Helper()
	return jobsDecode(t, jobsCall(t, s, http.MethodGet, "/jobs/"+id, token, nil), http.StatusOK)
}

// page is one page of a listing: GET /jobs, a job's applications, the
// caller's applications.
type page[T identified] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
	Total      int     `json:"total"`
}

// identified is an item of a listing.
type identified interface{ itemID() string }

func (p page[T]) ids() []string {
	ids := make([]string, len(p.Items))
	for i, item := range p.Items {
		ids[i] = item.itemID()
	}
	return ids
}

// listPage gets one page of a listing (path with its query) and checks its
// shape.
func listPage[T identified](t *testing.T, s *service, path, token string) page[T] {
	t.Helper()
	is := is.New(t)
	is.Helper()
	res := jobsCall(t, s, http.MethodGet, path, token, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: want 200, got %s", path, res)
	}
	is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8") // JSON out
	is.Equal(jobsKeys(t, res.body), []string{"items", "next_cursor", "total"})  // a page has exactly these fields
	var p page[T]
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	is.NoErr(dec.Decode(&p))         // the page's items are what the listing lists
	is.True(p.Items != nil)          // items is an array, never null
	is.True(len(p.Items) <= p.Total) // a page holds no more than all matches
	return p
}

// jobsPage is one page of GET /jobs.
type jobsPage = page[jobsJob]

func (j jobsJob) itemID() string { return j.ID }

// jobsList gets one page of GET /jobs?query and checks its shape.
func jobsList(t *testing.T, s *service, query url.Values, token string) jobsPage {
	t.Helper()
	return listPage[jobsJob](t, s, "/jobs?"+query.Encode(), token)
}

// jobsQuery builds query parameters from name, value pairs.
func jobsQuery(pairs ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Add(pairs[i], pairs[i+1])
	}
	return q
}

// jobsEvent is one item of a job's history.
type jobsEvent struct {
	Position   int64           `json:"position"`
	Version    int64           `json:"version"`
	Type       string          `json:"type"`
	OccurredAt string          `json:"occurred_at"`
	ActorID    *string         `json:"actor_id"`
	Data       json.RawMessage `json:"data"`
}

// jobsHistory reads a job's history as its owner and checks that it is in
// order: versions 1, 2, … and positions increasing.
func jobsHistory(t *testing.T, s *service, id, token string) []jobsEvent {
	t.Helper()
	is := is.New(t)
	is.Helper()
	res := jobsCall(t, s, http.MethodGet, "/jobs/"+id+"/history", token, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET /jobs/%s/history: want 200, got %s", id, res)
	}
	is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8") // JSON out
	var h struct {
		Items []jobsEvent `json:"items"`
	}
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	is.NoErr(dec.Decode(&h)) // the history is {"items": [event…]}
	for i, e := range h.Items {
		is.Equal(e.Version, int64(i+1)) // oldest first, one version per event
		if i > 0 {
			is.True(e.Position > h.Items[i-1].Position) // positions grow along the stream
		}
		_, err := time.Parse(time.RFC3339, e.OccurredAt)
		is.NoErr(err)                                   // occurred_at is RFC 3339
		is.True(strings.HasSuffix(e.OccurredAt, "Z"))   // in UTC
		is.True(json.Valid(e.Data) && e.Data[0] == '{') // data is the event's JSON object
	}
	return h.Items
}

// jobsTypes lists the types of a history.
func jobsTypes(events []jobsEvent) []string {
	types := make([]string, len(events))
	for i, e := range events {
		types[i] = e.Type
	}
	return types
}

// jobsUnchanged checks that a job is still at version and its history still
// holds that many events: a refused write added nothing.
func jobsUnchanged(t *testing.T, s *service, id, ownerToken string, version int64) {
	t.Helper()
	is := is.New(t)
	is.Helper()
	is.Equal(jobsGet(t, s, id, "").Version, version)                 // a refused write leaves the version
	is.Equal(int64(len(jobsHistory(t, s, id, ownerToken))), version) // and adds no event
}

// jobsIsUnauthorized checks a 401 problem with its WWW-Authenticate.
func jobsIsUnauthorized(t *testing.T, res response) {
	t.Helper()
	is := is.New(t)
	is.Helper()
	problemOf(t, res, http.StatusUnauthorized)
	is.True(strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer")) // a 401 names the Bearer scheme
}

// jobsInParallel runs do(0…n-1) on at most workers goroutines and returns
// the first error.
func jobsInParallel(n, workers int, do func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// TestJobsPost checks the 201 of POST /jobs: status, headers, every field of
// the job and its defaults.
func TestJobsPost(t *testing.T) {
	s := startService(t, nil)
	marker := jobsMarker()
	recruiter := jobsRegister(t, s, "recruiter", "Registered Co "+marker)

	t.Run("a salary without a currency", func(t *testing.T) {
		is := is.New(t)
		body := jobsBody("No currency " + marker)
		body["salary_min"] = 40000
		j := jobsDecode(t, jobsCall(t, s, http.MethodPost, "/jobs", recruiter.token, body), http.StatusCreated)
		is.Equal(*j.SalaryMin, int64(40000)) // the contract does not require a currency
		is.Equal(j.SalaryCurrency, nil)      // and none is made up
	})

	t.Run("defaults", func(t *testing.T) {
		is := is.New(t)
		before := time.Now().UTC().Add(-time.Second).Truncate(time.Second)
		res := jobsCall(t, s, http.MethodPost, "/jobs", recruiter.token, jobsBody("Defaults "+marker))
		j := jobsDecode(t, res, http.StatusCreated)
		is.Equal(res.header.Get("ETag"), `"1"`)                                                                                                       // a new job is at version 1
		is.Equal(res.header.Get("Location"), "/jobs/"+j.ID)                                                                                           // Location names the new job
		is.True(res.header.Get("X-Request-Id") != "")                                                                                                 // every answer has a request id
		is.Equal(jobsKeys(t, res.body), slices.Sorted(slices.Values(append([]string{"application_count", "applications_by_status"}, jobsFields...)))) // every field of the job shape, the counts included for the owner

		var raw map[string]any
		is.NoErr(json.Unmarshal(res.body, &raw))
		for _, f := range []string{"salary_min", "salary_max", "salary_currency"} {
			v, present := raw[f]
			is.True(present && v == nil) // salary fields are null when not given
		}
		id, err := uuid.Parse(j.ID)
		is.NoErr(err)                           // the id is a UUID
		is.Equal(id.Version(), uuid.Version(7)) // ids are UUIDv7
		is.Equal(j.Title, "Defaults "+marker)
		is.Equal(j.Description, jobsBody("")["description"]) // line breaks are kept
		is.Equal(j.Location, "Lyon, France")
		is.Equal(j.Company, "Registered Co "+marker) // the company defaults to the recruiter's own
		is.Equal(j.EmploymentType, "full_time")      // employment_type defaults to full_time
		is.Equal(j.Remote, false)                    // remote defaults to false
		is.Equal(j.Status, "open")                   // a new job is open
		is.Equal(j.RecruiterID, recruiter.id)        // the job is the poster's
		is.Equal(j.Version, int64(1))
		is.True(j.ApplicationCount != nil && *j.ApplicationCount == 0) // the owner sees application_count, 0 for a new job

		created, err := time.Parse(time.RFC3339, j.CreatedAt)
		is.NoErr(err)                                                                   // created_at is RFC 3339
		is.True(strings.HasSuffix(j.CreatedAt, "Z"))                                    // in UTC
		is.True(!created.Before(before) && created.Before(time.Now().Add(time.Second))) // created_at is now
		is.Equal(j.UpdatedAt, j.CreatedAt)                                              // a new job was last updated when it was created

		is.Equal(jobsGet(t, s, j.ID, recruiter.token), j) // GET shows the job as the 201 did
		history := jobsHistory(t, s, j.ID, recruiter.token)
		is.Equal(jobsTypes(history), []string{"JobPosted"})                       // one write, one event
		is.True(history[0].ActorID != nil && *history[0].ActorID == recruiter.id) // the recruiter is the actor
	})

	t.Run("every field given", func(t *testing.T) {
		is := is.New(t)
		j := jobsPost(t, s, recruiter.token, jobsBody("Every field "+marker, func(b map[string]any) {
			b["company"] = "Other Co " + marker
			b["employment_type"] = "contract"
			b["remote"] = true
			b["salary_min"] = 50000
			b["salary_max"] = 70000
			b["salary_currency"] = "EUR"
		}))
		is.Equal(j.Company, "Other Co "+marker) // a given company wins over the default
		is.Equal(j.EmploymentType, "contract")
		is.Equal(j.Remote, true)
		is.Equal(j.SalaryMin, ptr(int64(50000)))
		is.Equal(j.SalaryMax, ptr(int64(70000)))
		is.Equal(j.SalaryCurrency, ptr("EUR"))
		is.Equal(jobsGet(t, s, j.ID, recruiter.token), j) // GET shows what the 201 showed
	})

	t.Run("every employment type", func(t *testing.T) {
		is := is.New(t)
		for _, et := range []string{"full_time", "part_time", "contract", "internship", "temporary"} {
			j := jobsPost(t, s, recruiter.token, jobsBody("Type "+et+" "+marker, func(b map[string]any) { b["employment_type"] = et }))
			is.Equal(j.EmploymentType, et) // each documented employment type is accepted
		}
	})

	t.Run("limits are inclusive", func(t *testing.T) {
		is := is.New(t)
		j := jobsPost(t, s, recruiter.token, map[string]any{
			"title":           strings.Repeat("é", 200),
			"description":     strings.Repeat("d", 20000),
			"location":        strings.Repeat("l", 200),
			"company":         strings.Repeat("ç", 200),
			"salary_min":      0,
			"salary_max":      0,
			"salary_currency": "USD",
		})
		is.Equal(j.Title, strings.Repeat("é", 200)) // 200 characters (400 bytes) is a valid title
		is.Equal(len(j.Description), 20000)         // 20000 characters is a valid description
		is.Equal(j.Location, strings.Repeat("l", 200))
		is.Equal(j.Company, strings.Repeat("ç", 200))
		is.Equal(*j.SalaryMin, int64(0)) // 0 is a salary, and min may equal max
	})

	t.Run("recruiter without a company names one", func(t *testing.T) {
		is := is.New(t)
		bare := jobsRegister(t, s, "recruiter", "")
		j := jobsPost(t, s, bare.token, jobsBody("Bare "+marker, func(b map[string]any) { b["company"] = "Named Co" }))
		is.Equal(j.Company, "Named Co")
	})
}

// TestJobsPostInvalidFields checks that POST /jobs answers 422, naming the
// field, for every broken rule, and posts nothing.
func TestJobsPostInvalidFields(t *testing.T) {
	s := startService(t, nil)
	recruiter := jobsRegister(t, s, "recruiter", "Invalid Co")
	bare := jobsRegister(t, s, "recruiter", "")
	salary := func(min, max any, currency any) func(map[string]any) {
		return func(b map[string]any) { b["salary_min"], b["salary_max"], b["salary_currency"] = min, max, currency }
	}
	set := func(field string, v any) func(map[string]any) {
		return func(b map[string]any) { b[field] = v }
	}
	tests := []struct {
		name   string
		token  string
		change func(map[string]any)
		field  string
	}{
		{"empty title", recruiter.token, set("title", ""), "title"},
		{"blank title", recruiter.token, set("title", "   "), "title"},
		{"no title", recruiter.token, func(b map[string]any) { delete(b, "title") }, "title"},
		{"title of 201 characters", recruiter.token, set("title", strings.Repeat("t", 201)), "title"},
		{"title of 201 two-byte characters", recruiter.token, set("title", strings.Repeat("é", 201)), "title"},
		{"no description", recruiter.token, func(b map[string]any) { delete(b, "description") }, "description"},
		{"description of 20001 characters", recruiter.token, set("description", strings.Repeat("d", 20001)), "description"},
		{"no location", recruiter.token, func(b map[string]any) { delete(b, "location") }, "location"},
		{"location of 201 characters", recruiter.token, set("location", strings.Repeat("l", 201)), "location"},
		{"company of 201 characters", recruiter.token, set("company", strings.Repeat("c", 201)), "company"},
		{"salary_min above salary_max", recruiter.token, salary(70000, 50000, "EUR"), "salary_min"},
		{"negative salary_min", recruiter.token, salary(-1, 50000, "EUR"), "salary_min"},
		{"negative salary_max", recruiter.token, salary(nil, -1, "EUR"), "salary_max"},
		{"currency EUX", recruiter.token, salary(1, 2, "EUX"), "salary_currency"},
		{"currency EURO", recruiter.token, salary(1, 2, "EURO"), "salary_currency"},
		{"currency of the wrong type", recruiter.token, salary(1, 2, 978), "salary_currency"},
		{"salary of the wrong type", recruiter.token, salary("lots", 2, "EUR"), "salary_min"},
		{"fractional salary", recruiter.token, salary(1.5, 2, "EUR"), "salary_min"},
		{"unknown employment_type", recruiter.token, set("employment_type", "gig"), "employment_type"},
		{"employment_type in capitals", recruiter.token, set("employment_type", "FULL_TIME"), "employment_type"},
		{"remote as a string", recruiter.token, set("remote", "yes"), "remote"},
		{"title of the wrong type", recruiter.token, set("title", 42), "title"},
		{"unknown field", recruiter.token, set("perks", "free coffee"), "perks"},
		{"read-only id", recruiter.token, set("id", uuid.NewString()), "id"},
		{"read-only version", recruiter.token, set("version", 1), "version"},
		{"read-only recruiter_id", recruiter.token, set("recruiter_id", recruiter.id), "recruiter_id"},
		{"status on POST", recruiter.token, set("status", "open"), "status"},
		{"read-only created_at", recruiter.token, set("created_at", "2026-01-01T00:00:00Z"), "created_at"},
		{"read-only application_count", recruiter.token, set("application_count", 0), "application_count"},
		{"no company and none registered", bare.token, nil, "company"},
		{"blank company and none registered", bare.token, set("company", "  "), "company"},
		{"blank company with one registered", recruiter.token, set("company", ""), "company"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			body := jobsBody("Invalid")
			if tt.change != nil {
				tt.change(body)
			}
			p := problemOf(t, jobsCall(t, s, http.MethodPost, "/jobs", tt.token, body), http.StatusUnprocessableEntity)
			is.True(slices.Contains(p.fields(), tt.field)) // the problem names the field
		})
	}

	t.Run("every mistake at once", func(t *testing.T) {
		is := is.New(t)
		p := problemOf(t, jobsCall(t, s, http.MethodPost, "/jobs", bare.token, map[string]any{"title": "", "employment_type": "gig"}), http.StatusUnprocessableEntity)
		for _, f := range []string{"title", "description", "location", "company", "employment_type"} {
			is.True(slices.Contains(p.fields(), f)) // every bad field is named in one answer
		}
	})

	t.Run("malformed bodies", func(t *testing.T) {
		problemOf(t, jobsCall(t, s, http.MethodPost, "/jobs", recruiter.token, `{"title":`), http.StatusBadRequest)             // not JSON
		problemOf(t, jobsCall(t, s, http.MethodPost, "/jobs", recruiter.token, `["title"]`), http.StatusBadRequest)             // not an object
		problemOf(t, jobsCall(t, s, http.MethodPost, "/jobs", recruiter.token, strings.Repeat(" ", 10)), http.StatusBadRequest) // empty
		huge := jobsBody("Huge", func(b map[string]any) { b["description"] = strings.Repeat("d", 1<<20) })
		problemOf(t, jobsCall(t, s, http.MethodPost, "/jobs", recruiter.token, huge), http.StatusRequestEntityTooLarge) // over 1 MiB
		b, _ := json.Marshal(jobsBody("Plain text"))
		res := jobsCall(t, s, http.MethodPost, "/jobs", recruiter.token, b, "Content-Type", "text/plain")
		problemOf(t, res, http.StatusUnsupportedMediaType) // JSON sent as text/plain is refused
	})

	t.Run("nothing was posted", func(t *testing.T) {
		is := is.New(t)
		for _, r := range []jobsActor{recruiter, bare} {
			page := jobsList(t, s, jobsQuery("recruiter_id", r.id), "")
			is.Equal(page.Total, 0) // a refused POST leaves no job behind
		}
	})
}

// TestJobsWriteRoles checks who may write: anonymous callers get 401, job
// seekers and other recruiters 403, the owner 2xx, and a refused write
// changes nothing. It checks who may read the history too.
func TestJobsWriteRoles(t *testing.T) {
	s := startService(t, nil)
	marker := jobsMarker()
	owner := jobsRegister(t, s, "recruiter", "Owner Co")
	other := jobsRegister(t, s, "recruiter", "Other Co")
	seeker := jobsRegister(t, s, "job_seeker", "")

	t.Run("POST /jobs", func(t *testing.T) {
		is := is.New(t)
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodPost, "/jobs", "", jobsBody("Anonymous "+marker)))
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodPost, "/jobs", "not-a-token", jobsBody("Bad token "+marker)))
		problemOf(t, jobsCall(t, s, http.MethodPost, "/jobs", seeker.token, jobsBody("Seeker "+marker, func(b map[string]any) { b["company"] = "Seeker Co" })), http.StatusForbidden)
		is.Equal(jobsList(t, s, jobsQuery("title", marker), "").Total, 0) // refused posts post nothing
		jobsPost(t, s, other.token, jobsBody("Other "+marker))            // any recruiter may post
	})

	job := jobsPost(t, s, owner.token, jobsBody("Roles "+marker))

	t.Run("GET /jobs/{id}/history", func(t *testing.T) {
		is := is.New(t)
		is.Equal(len(jobsHistory(t, s, job.ID, owner.token)), 1) // the owner reads the history
		jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/jobs/"+job.ID+"/history", "", nil))
		problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/"+job.ID+"/history", other.token, nil), http.StatusForbidden)
		problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/"+job.ID+"/history", seeker.token, nil), http.StatusForbidden)
		problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/"+uuid.Must(uuid.NewV7()).String()+"/history", owner.token, nil), http.StatusNotFound)
		problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/not-a-uuid/history", owner.token, nil), http.StatusNotFound)
		problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/"+owner.id+"/history", owner.token, nil), http.StatusNotFound) // a user's id is not a job's
	})

	full := jobsBody("Replaced "+marker, func(b map[string]any) { b["remote"] = true })
	writes := []struct {
		method string
		body   any
		want   int
	}{
		{http.MethodPatch, map[string]any{"title": "Patched " + marker}, http.StatusOK},
		{http.MethodPut, full, http.StatusOK},
		{http.MethodDelete, nil, http.StatusNoContent}, // last: it ends the job
	}
	version := int64(1)
	for _, w := range writes {
		t.Run(w.method, func(t *testing.T) {
			is := is.New(t)
			path := "/jobs/" + job.ID
			jobsIsUnauthorized(t, jobsCall(t, s, w.method, path, "", w.body))
			jobsUnchanged(t, s, job.ID, owner.token, version)
			jobsIsUnauthorized(t, jobsCall(t, s, w.method, path, "garbage", w.body))
			jobsUnchanged(t, s, job.ID, owner.token, version)
			problemOf(t, jobsCall(t, s, w.method, path, seeker.token, w.body), http.StatusForbidden)
			jobsUnchanged(t, s, job.ID, owner.token, version)
			problemOf(t, jobsCall(t, s, w.method, path, other.token, w.body), http.StatusForbidden)
			jobsUnchanged(t, s, job.ID, owner.token, version)

			res := jobsCall(t, s, w.method, path, owner.token, w.body)
			is.Equal(res.status, w.want) // the owner may
			version++
			history := jobsHistory(t, s, job.ID, owner.token)
			is.Equal(int64(len(history)), version) // the owner's write added one event
			if w.method == http.MethodDelete {
				is.Equal(len(res.body), 0) // a 204 has no body
				is.Equal(history[len(history)-1].Type, "JobDeleted")
				return
			}
			j := jobsDecode(t, res, http.StatusOK)
			is.Equal(j.Version, version) // and one version
		})
	}
}

// TestJobsGet checks that GET /jobs/{id} is public, carries the version as
// ETag, shows application_count to the owner only, and 404s for what is not
// a job.
func TestJobsGet(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	owner := jobsRegister(t, s, "recruiter", "Get Co")
	other := jobsRegister(t, s, "recruiter", "Other Co")
	seeker := jobsRegister(t, s, "job_seeker", "")
	posted := jobsPost(t, s, owner.token, jobsBody("Get "+jobsMarker()))

	for _, token := range []string{"", seeker.token, other.token} { // anonymous, a job seeker, another recruiter
		res := jobsCall(t, s, http.MethodGet, "/jobs/"+posted.ID, token, nil)
		j := jobsDecode(t, res, http.StatusOK)
		is.Equal(res.header.Get("ETag"), `"1"`)     // the ETag is the version
		is.Equal(jobsKeys(t, res.body), jobsFields) // application_count is absent for everyone but the owner
		want := posted
		want.ApplicationCount, want.ApplicationsByStatus = nil, nil
		is.Equal(j, want) // the job as posted
	}
	res := jobsCall(t, s, http.MethodGet, "/jobs/"+posted.ID, owner.token, nil)
	is.True(slices.Contains(jobsKeys(t, res.body), "application_count")) // the owner sees application_count
	is.Equal(jobsDecode(t, res, http.StatusOK), posted)

	patched := jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+posted.ID, owner.token, map[string]any{"location": "Nantes"}), http.StatusOK)
	res = jobsCall(t, s, http.MethodGet, "/jobs/"+posted.ID, "", nil)
	is.Equal(res.header.Get("ETag"), `"2"`) // the ETag follows the version
	is.Equal(jobsDecode(t, res, http.StatusOK).Location, patched.Location)

	for _, path := range []string{
		"/jobs/" + uuid.Must(uuid.NewV7()).String(), // unknown
		"/jobs/" + owner.id,                         // a user, not a job
		"/jobs/not-a-uuid",                          // malformed
		"/jobs/" + posted.ID + "x",
		"/jobs/%27%20OR%201=1%20--",
		"/jobs/00000000-0000-0000-0000-000000000000",
	} {
		problemOf(t, jobsCall(t, s, http.MethodGet, path, "", nil), http.StatusNotFound)
	}
	jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/jobs/"+posted.ID, "garbage", nil)) // a bad token is refused, not ignored
}

// TestJobsPatchAndPut checks that PATCH merges and PUT replaces, that status
// moves through PATCH and PUT, and that each write that changes something
// adds exactly one event and one version while others add nothing.
func TestJobsPatchAndPut(t *testing.T) {
	s := startService(t, nil)
	marker := jobsMarker()
	owner := jobsRegister(t, s, "recruiter", "Registered "+marker)
	job := jobsPost(t, s, owner.token, jobsBody("Patch "+marker, func(b map[string]any) {
		b["company"] = "Given " + marker
		b["employment_type"] = "contract"
		b["remote"] = true
		b["salary_min"], b["salary_max"], b["salary_currency"] = 100, 200, "EUR"
	}))
	path := "/jobs/" + job.ID
	types := []string{"JobPosted"}

	// write sends a write that must succeed with one new version and one
	// event of type eventType ("" when nothing changes).
	write := func(t *testing.T, method string, body any, eventType string) jobsJob {
		t.Helper()
		is := is.New(t)
		is.Helper()
		before := jobsGet(t, s, job.ID, owner.token)
		j := jobsDecode(t, jobsCall(t, s, method, path, owner.token, body), http.StatusOK)
		if eventType == "" {
			is.Equal(j, before) // a write that changes nothing changes nothing, the version included
		} else {
			is.Equal(j.Version, before.Version+1) // one write, one version
			types = append(types, eventType)
		}
		is.Equal(jobsTypes(jobsHistory(t, s, job.ID, owner.token)), types) // one write, one event (or none)
		is.Equal(jobsGet(t, s, job.ID, owner.token), j)                    // the answer is the job as everyone now reads it
		return j
	}
	refused := func(t *testing.T, method string, body any, status int, field string) {
		t.Helper()
		is := is.New(t)
		is.Helper()
		before := jobsGet(t, s, job.ID, owner.token)
		p := problemOf(t, jobsCall(t, s, method, path, owner.token, body), status)
		if field != "" {
			is.True(slices.Contains(p.fields(), field)) // the problem names the field
		}
		is.Equal(jobsGet(t, s, job.ID, owner.token), before)               // a refused write changes nothing
		is.Equal(jobsTypes(jobsHistory(t, s, job.ID, owner.token)), types) // and adds no event
	}

	t.Run("PATCH changes only the given fields", func(t *testing.T) {
		is := is.New(t)
		j := write(t, http.MethodPatch, map[string]any{"title": "Patched " + marker}, "JobUpdated")
		want := job
		want.Title, want.Version, want.UpdatedAt = "Patched "+marker, 2, j.UpdatedAt
		is.Equal(j, want) // only the title changed
		is.True(j.UpdatedAt >= j.CreatedAt)
	})
	t.Run("PATCH salary_min null clears it", func(t *testing.T) {
		is := is.New(t)
		j := write(t, http.MethodPatch, map[string]any{"salary_min": nil}, "JobUpdated")
		is.Equal(j.SalaryMin, nil)             // null clears salary_min
		is.Equal(j.SalaryMax, ptr(int64(200))) // and leaves the rest
		is.Equal(j.SalaryCurrency, ptr("EUR"))
		is.Equal(j.Remote, true)
		is.Equal(j.EmploymentType, "contract")
		is.Equal(j.Company, "Given "+marker)
	})
	t.Run("PATCH several fields", func(t *testing.T) {
		is := is.New(t)
		j := write(t, http.MethodPatch, map[string]any{"remote": false, "salary_min": 150, "description": "New description " + marker}, "JobUpdated")
		is.Equal(j.Remote, false)
		is.Equal(j.SalaryMin, ptr(int64(150)))
		is.Equal(j.Description, "New description "+marker)
		is.Equal(j.Title, "Patched "+marker) // earlier changes stay
	})
	t.Run("PATCH status closed then open", func(t *testing.T) {
		is := is.New(t)
		j := write(t, http.MethodPatch, map[string]any{"status": "closed"}, "JobClosed")
		is.Equal(j.Status, "closed")
		is.Equal(j.Title, "Patched "+marker)                               // closing changes nothing else
		write(t, http.MethodPatch, map[string]any{"status": "closed"}, "") // closing a closed job changes nothing
		j = write(t, http.MethodPatch, map[string]any{"status": "open"}, "JobReopened")
		is.Equal(j.Status, "open")
	})
	t.Run("PATCH that changes nothing keeps the version", func(t *testing.T) {
		write(t, http.MethodPatch, map[string]any{}, "")
		write(t, http.MethodPatch, map[string]any{"title": "Patched " + marker, "status": "open", "remote": false}, "")
	})
	t.Run("refused PATCHes add nothing", func(t *testing.T) {
		refused(t, http.MethodPatch, map[string]any{"title": ""}, http.StatusUnprocessableEntity, "title")
		refused(t, http.MethodPatch, map[string]any{"title": strings.Repeat("t", 201)}, http.StatusUnprocessableEntity, "title")
		refused(t, http.MethodPatch, map[string]any{"salary_min": 500}, http.StatusUnprocessableEntity, "salary_min") // above salary_max
		refused(t, http.MethodPatch, map[string]any{"salary_max": -1}, http.StatusUnprocessableEntity, "salary_max")
		refused(t, http.MethodPatch, map[string]any{"salary_currency": "EUX"}, http.StatusUnprocessableEntity, "salary_currency")
		refused(t, http.MethodPatch, map[string]any{"employment_type": "gig"}, http.StatusUnprocessableEntity, "employment_type")
		refused(t, http.MethodPatch, map[string]any{"remote": "yes"}, http.StatusUnprocessableEntity, "remote")
		refused(t, http.MethodPatch, map[string]any{"salary_currency": 978}, http.StatusUnprocessableEntity, "salary_currency")
		refused(t, http.MethodPatch, map[string]any{"salary_min": "lots"}, http.StatusUnprocessableEntity, "salary_min")
		refused(t, http.MethodPatch, map[string]any{"title": 42}, http.StatusUnprocessableEntity, "title")
		refused(t, http.MethodPatch, map[string]any{"status": "deleted"}, http.StatusUnprocessableEntity, "status")
		refused(t, http.MethodPatch, map[string]any{"title": "Valid", "status": "archived"}, http.StatusUnprocessableEntity, "status") // all or nothing
		refused(t, http.MethodPatch, map[string]any{"id": uuid.NewString()}, http.StatusUnprocessableEntity, "id")
		refused(t, http.MethodPatch, map[string]any{"version": 9}, http.StatusUnprocessableEntity, "version")
		refused(t, http.MethodPatch, map[string]any{"recruiter_id": uuid.NewString()}, http.StatusUnprocessableEntity, "recruiter_id")
		refused(t, http.MethodPatch, map[string]any{"created_at": "2026-01-01T00:00:00Z"}, http.StatusUnprocessableEntity, "created_at")
		refused(t, http.MethodPatch, map[string]any{"perks": "none"}, http.StatusUnprocessableEntity, "perks")
		refused(t, http.MethodPatch, `{"title": `, http.StatusBadRequest, "")
	})
	t.Run("PUT replaces every writable field", func(t *testing.T) {
		is := is.New(t)
		j := write(t, http.MethodPut, map[string]any{"title": "Put " + marker, "description": "Put description", "location": "Brest"}, "JobUpdated")
		want := job
		want.Title, want.Description, want.Location = "Put "+marker, "Put description", "Brest"
		want.Company = "Registered " + marker // back to the recruiter's company
		want.EmploymentType = "full_time"     // back to the default
		want.Remote = false
		want.SalaryMin, want.SalaryMax, want.SalaryCurrency = nil, nil, nil // cleared
		want.Status = "open"                                                // a PUT without status leaves it
		want.Version, want.UpdatedAt = j.Version, j.UpdatedAt
		is.Equal(j, want)
	})
	t.Run("PUT with a status", func(t *testing.T) {
		is := is.New(t)
		j := write(t, http.MethodPut, map[string]any{"title": "Put closed " + marker, "description": "Put description", "location": "Brest", "status": "closed"}, "JobUpdated")
		is.Equal(j.Status, "closed") // the title and the status changed in one event
		is.Equal(j.Title, "Put closed "+marker)
		j = write(t, http.MethodPut, map[string]any{"title": "Put closed " + marker, "description": "Put description", "location": "Brest", "status": "open"}, "JobReopened")
		is.Equal(j.Status, "open")
		write(t, http.MethodPut, map[string]any{"title": "Put closed " + marker, "description": "Put description", "location": "Brest"}, "") // the same fields again
	})
	t.Run("refused PUTs add nothing", func(t *testing.T) {
		refused(t, http.MethodPut, map[string]any{"description": "No title", "location": "Brest"}, http.StatusUnprocessableEntity, "title")
		refused(t, http.MethodPut, map[string]any{"title": "No location", "description": "d"}, http.StatusUnprocessableEntity, "location")
		refused(t, http.MethodPut, map[string]any{"title": "T", "description": "d", "location": "L", "salary_min": 3, "salary_max": 2, "salary_currency": "EUR"}, http.StatusUnprocessableEntity, "salary_min")
		refused(t, http.MethodPut, map[string]any{"title": "T", "description": "d", "location": "L", "version": 1}, http.StatusUnprocessableEntity, "version")
		refused(t, http.MethodPut, map[string]any{"title": "T", "description": "d", "location": "L", "remote": "yes"}, http.StatusUnprocessableEntity, "remote")
	})
	t.Run("the history tells it all", func(t *testing.T) {
		is := is.New(t)
		history := jobsHistory(t, s, job.ID, owner.token)
		is.Equal(jobsTypes(history), types)
		is.Equal(jobsGet(t, s, job.ID, "").Version, int64(len(history))) // the version counts the events
		for _, e := range history {
			is.True(e.ActorID != nil && *e.ActorID == owner.id) // every event names the recruiter as its actor
		}
	})
}

// TestJobsIfMatch checks the If-Match precondition, alone and under
// concurrent writers, and that writes without it retry lost races.
func TestJobsIfMatch(t *testing.T) {
	s := startService(t, nil)
	marker := jobsMarker()
	owner := jobsRegister(t, s, "recruiter", "If-Match Co")

	t.Run("stale and current", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, owner.token, jobsBody("If-Match "+marker))
		path := "/jobs/" + job.ID
		jobsDecode(t, jobsCall(t, s, http.MethodPatch, path, owner.token, map[string]any{"title": "v2 " + marker}, "If-Match", `"1"`), http.StatusOK)
		for _, stale := range []string{`"1"`, `"3"`, `"99"`} {
			problemOf(t, jobsCall(t, s, http.MethodPatch, path, owner.token, map[string]any{"title": "stale " + marker}, "If-Match", stale), http.StatusPreconditionFailed)
			problemOf(t, jobsCall(t, s, http.MethodPut, path, owner.token, jobsBody("stale "+marker), "If-Match", stale), http.StatusPreconditionFailed)
			problemOf(t, jobsCall(t, s, http.MethodDelete, path, owner.token, nil, "If-Match", stale), http.StatusPreconditionFailed)
		}
		j := jobsGet(t, s, job.ID, "")
		is.Equal(j.Title, "v2 "+marker) // stale writes change nothing
		jobsUnchanged(t, s, job.ID, owner.token, 2)

		res := jobsCall(t, s, http.MethodPut, path, owner.token, jobsBody("v3 "+marker), "If-Match", `"2"`)
		is.Equal(jobsDecode(t, res, http.StatusOK).Title, "v3 "+marker) // the current version passes
		is.Equal(res.header.Get("ETag"), `"3"`)                         // and the answer carries the new ETag
		res = jobsCall(t, s, http.MethodDelete, path, owner.token, nil, "If-Match", `"3"`)
		is.Equal(res.status, http.StatusNoContent) // DELETE with the current version
	})

	t.Run("concurrent writers with the same If-Match", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, owner.token, jobsBody("Race "+marker))
		const writers = 10
		statuses := make([]int, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := jobsSend(t.Context(), s, http.MethodPatch, "/jobs/"+job.ID, owner.token,
					map[string]any{"title": fmt.Sprintf("Race %d %s", i, marker)}, "If-Match", `"1"`)
				if err != nil {
					errs <- err
					return
				}
				statuses[i] = res.status
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			is.NoErr(err) // every request is answered
		}
		var won, failed int
		for _, st := range statuses {
			switch st {
			case http.StatusOK:
				won++
			case http.StatusPreconditionFailed:
				failed++
			}
		}
		t.Logf("statuses: %v", statuses)
		is.Equal(won, 1)            // exactly one writer wins
		is.Equal(failed, writers-1) // every other one is told its version is stale
		jobsUnchanged(t, s, job.ID, owner.token, 2)
	})

	t.Run("concurrent writers without If-Match all succeed", func(t *testing.T) {
		is := is.New(t)
		job := jobsPost(t, s, owner.token, jobsBody("Crowd "+marker, func(b map[string]any) {
			b["salary_min"], b["salary_max"], b["salary_currency"] = 10, 1000, "EUR"
		}))
		patches := []map[string]any{
			{"title": "Crowd title " + marker},
			{"description": "Crowd description"},
			{"company": "Crowd company"},
			{"location": "Crowd location"},
			{"employment_type": "temporary"},
			{"remote": true},
			{"salary_min": 20},
			{"salary_max": 2000},
			{"salary_currency": "USD"},
			{"status": "closed"},
		}
		statuses := make([]response, len(patches))
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, len(patches))
		for i, p := range patches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := jobsSend(t.Context(), s, http.MethodPatch, "/jobs/"+job.ID, owner.token, p)
				if err != nil {
					errs <- err
				}
				statuses[i] = res
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			is.NoErr(err) // every request is answered
		}
		for i, res := range statuses {
			if res.status != http.StatusOK {
				t.Errorf("PATCH %v: want 200, got %s", patches[i], res)
			}
		}
		j := jobsGet(t, s, job.ID, owner.token)
		is.Equal(j.Version, int64(len(patches)+1)) // every write added one version
		want := jobsJob{
			ID: job.ID, Title: "Crowd title " + marker, Description: "Crowd description", Company: "Crowd company",
			Location: "Crowd location", EmploymentType: "temporary", Remote: true,
			SalaryMin: ptr(int64(20)), SalaryMax: ptr(int64(2000)), SalaryCurrency: ptr("USD"), Status: "closed",
			RecruiterID: owner.id, CreatedAt: job.CreatedAt, UpdatedAt: j.UpdatedAt, Version: 11, ApplicationCount: ptr(0),
			ApplicationsByStatus: map[string]int{"submitted": 0, "screening": 0, "interview": 0, "offer": 0, "hired": 0, "rejected": 0, "withdrawn": 0},
		}
		is.Equal(j, want) // no write was lost
		history := jobsHistory(t, s, job.ID, owner.token)
		is.Equal(len(history), len(patches)+1) // one event per write
		counts := map[string]int{}
		for _, e := range history {
			counts[e.Type]++
		}
		is.Equal(counts, map[string]int{"JobPosted": 1, "JobUpdated": 9, "JobClosed": 1})
	})
}

// TestJobsDelete checks that a deleted job is gone for everyone and every
// route but its history.
func TestJobsDelete(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	marker := jobsMarker()
	owner := jobsRegister(t, s, "recruiter", "Delete Co")
	other := jobsRegister(t, s, "recruiter", "Other Co")
	seeker := jobsRegister(t, s, "job_seeker", "")
	job := jobsPost(t, s, owner.token, jobsBody("Delete "+marker))
	kept := jobsPost(t, s, owner.token, jobsBody("Kept "+marker))
	path := "/jobs/" + job.ID

	res := jobsCall(t, s, http.MethodDelete, path, owner.token, nil)
	is.Equal(res.status, http.StatusNoContent) // the owner deletes the job
	is.Equal(len(res.body), 0)                 // a 204 has no body

	for _, token := range []string{"", owner.token, other.token, seeker.token} {
		problemOf(t, jobsCall(t, s, http.MethodGet, path, token, nil), http.StatusNotFound) // the job 404s for everyone
	}
	for _, tt := range []struct {
		query url.Values
		want  []string
	}{
		{jobsQuery("title", marker), []string{kept.ID}},
		{jobsQuery("title", "Delete "+marker), []string{}},
		{jobsQuery("recruiter_id", owner.id), []string{kept.ID}},
		{jobsQuery("q", marker), []string{kept.ID}},
		{jobsQuery("company", "Delete Co", "recruiter_id", owner.id), []string{kept.ID}},
	} {
		for _, token := range []string{"", owner.token} {
			page := jobsList(t, s, tt.query, token)
			is.Equal(page.ids(), tt.want)      // the job leaves every listing
			is.Equal(page.Total, len(tt.want)) // and every count
		}
	}
	is.Equal(jobsList(t, s, jobsQuery("status", "closed"), owner.token).Total, 0) // not even among the closed ones

	problemOf(t, jobsCall(t, s, http.MethodDelete, path, owner.token, nil), http.StatusNotFound) // a second DELETE finds nothing
	problemOf(t, jobsCall(t, s, http.MethodPatch, path, owner.token, map[string]any{"title": "Back"}), http.StatusNotFound)
	problemOf(t, jobsCall(t, s, http.MethodPut, path, owner.token, jobsBody("Back")), http.StatusNotFound)
	problemOf(t, jobsCall(t, s, http.MethodPatch, path, owner.token, map[string]any{"status": "open"}, "If-Match", `"2"`), http.StatusNotFound)
	problemOf(t, jobsCall(t, s, http.MethodPatch, path, other.token, map[string]any{"title": "Back"}), http.StatusNotFound)

	history := jobsHistory(t, s, job.ID, owner.token)
	is.Equal(jobsTypes(history), []string{"JobPosted", "JobDeleted"})                                     // the history stays for audit, and the refused writes added nothing
	problemOf(t, jobsCall(t, s, http.MethodGet, path+"/history", other.token, nil), http.StatusForbidden) // still the owner's only
	is.Equal(jobsGet(t, s, kept.ID, "").Version, int64(1))                                                // the other job is untouched
}

// TestJobsReadYourWrites checks that a write is visible to the next read, by
// anyone, without retries.
func TestJobsReadYourWrites(t *testing.T) {
	s := startService(t, nil)
	owner := jobsRegister(t, s, "recruiter", "Ryw Co")
	for i := range 10 {
		is := is.New(t)
		title := fmt.Sprintf("Read your writes %d %s", i, jobsMarker())
		posted := jobsPost(t, s, owner.token, jobsBody(title))
		is.Equal(jobsGet(t, s, posted.ID, "").Title, title)                                // GET /jobs/{id} finds it at once
		is.Equal(jobsList(t, s, jobsQuery("title", title), "").ids(), []string{posted.ID}) // and so does GET /jobs?title=

		renamed := title + " renamed"
		jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+posted.ID, owner.token, map[string]any{"title": renamed}), http.StatusOK)
		is.Equal(jobsList(t, s, jobsQuery("title", renamed), "").ids(), []string{posted.ID}) // the new title finds it at once

		closed := jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+posted.ID, owner.token, map[string]any{"status": "closed"}), http.StatusOK)
		is.Equal(closed.Status, "closed")
		is.Equal(jobsList(t, s, jobsQuery("title", renamed), "").Total, 0)                                                // a closed job leaves the open listing at once
		is.Equal(jobsList(t, s, jobsQuery("title", renamed, "status", "closed"), owner.token).ids(), []string{posted.ID}) // and joins the owner's closed one

		res := jobsCall(t, s, http.MethodDelete, "/jobs/"+posted.ID, owner.token, nil)
		is.Equal(res.status, http.StatusNoContent)
		problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs/"+posted.ID, "", nil), http.StatusNotFound)  // gone at once
		is.Equal(jobsList(t, s, jobsQuery("title", renamed, "status", "closed"), owner.token).Total, 0) // from every listing
	}
}

// A 201 is built from the posted event, not read back from the view: it
// must be, byte for byte, what GET then shows, whichever fields were given
// (the defaults, the account's company, salaries or none, user text).
func TestJobsPostAnswersAsGetShows(t *testing.T) {
	s := startService(t, nil)
	owner := jobsRegister(t, s, "recruiter", "Same Body Co")
	bodies := []map[string]any{
		jobsBody("Plain " + jobsMarker()),
		jobsBody("Paid <b>& remote</b> "+jobsMarker(), func(b map[string]any) {
			b["company"], b["employment_type"], b["remote"] = "Other Co", "contract", true
			b["salary_min"], b["salary_max"], b["salary_currency"] = 40000, 52000, "EUR"
		}),
		jobsBody("Floor only "+jobsMarker(), func(b map[string]any) { b["salary_min"] = 1 }),
	}
	for _, body := range bodies {
		is := is.New(t)
		posted := jobsCall(t, s, http.MethodPost, "/jobs", owner.token, body)
		j := jobsDecode(t, posted, http.StatusCreated)
		got := jobsCall(t, s, http.MethodGet, "/jobs/"+j.ID, owner.token, nil)
		is.Equal(got.status, http.StatusOK)
		is.Equal(string(posted.body), string(got.body))             // the same body
		is.Equal(posted.header.Get("ETag"), got.header.Get("ETag")) // and version
	}
}

// TestJobsListFilters checks every filter of GET /jobs alone and combined.
func TestJobsListFilters(t *testing.T) {
	s := startService(t, nil)
	m := jobsMarker()
	w1, w2, w3 := jobsMarker(), jobsMarker(), jobsMarker() // words that only these jobs' descriptions hold
	r1 := jobsRegister(t, s, "recruiter", "Filter Co")
	r2 := jobsRegister(t, s, "recruiter", "Filter Co")

	// Posted in this order, so listed in the reverse one.
	a := jobsPost(t, s, r1.token, map[string]any{
		"title": "Go Developer " + m, "location": "Berlin " + m, "company": "Acme " + m,
		"description": "We write " + w1 + " services and " + w2 + " tools.", "employment_type": "full_time", "remote": true,
	})
	b := jobsPost(t, s, r1.token, map[string]any{
		"title": "Rust Engineer " + m, "location": "Paris " + m, "company": "Globex " + m,
		"description": "Systems work: " + w1 + " and " + w3 + ".", "employment_type": "part_time", "remote": false,
	})
	c := jobsPost(t, s, r1.token, map[string]any{
		"title": "Data Analyst " + m, "location": "BERLIN-Mitte " + m, "company": "Initech " + m,
		"description": "Mostly " + w2 + " " + w3 + " reports.", "employment_type": "contract", "remote": false,
	})
	d := jobsPost(t, s, r2.token, map[string]any{
		"title": "Go Intern " + m, "location": "Remote " + m, "company": "Acme " + m,
		"description": "Learn " + w2 + " with us.", "employment_type": "internship", "remote": true,
	})

	tests := []struct {
		name  string
		query url.Values
		want  []jobsJob
	}{
		{"title", jobsQuery("title", m), []jobsJob{d, c, b, a}},
		{"title case-insensitive", jobsQuery("title", "gO dEvElOpEr "+strings.ToUpper(m)), []jobsJob{a}},
		{"title infix", jobsQuery("title", "nalyst "+m[:8]), []jobsJob{c}},
		{"location with the marker", jobsQuery("location", m), []jobsJob{d, c, b, a}},
		{"company", jobsQuery("company", "acme "+m), []jobsJob{d, a}},
		{"company case-insensitive", jobsQuery("company", "GLOBEX "+strings.ToUpper(m)), []jobsJob{b}},
		{"q one word", jobsQuery("q", w1), []jobsJob{b, a}},
		{"q two words", jobsQuery("q", w2+" "+w3), []jobsJob{c}},
		{"q quoted phrase", jobsQuery("q", `"`+w2+" "+w3+`"`), []jobsJob{c}},
		{"q phrase in the other order", jobsQuery("q", `"`+w3+" "+w2+`"`), []jobsJob{}},
		{"q exclusion", jobsQuery("q", w1+" -"+w3), []jobsJob{a}},
		{"q or", jobsQuery("q", w1+" or "+w2), []jobsJob{d, c, b, a}},
		{"q matches the title", jobsQuery("q", m), []jobsJob{d, c, b, a}},
		{"q matches the company", jobsQuery("q", "globex "+w3), []jobsJob{b}},
		{"recruiter_id", jobsQuery("recruiter_id", r2.id), []jobsJob{d}},
		{"recruiter_id of someone without jobs", jobsQuery("recruiter_id", uuid.NewString()), []jobsJob{}},
		{"title and remote=true", jobsQuery("title", m, "remote", "true"), []jobsJob{d, a}},
		{"title and remote=false", jobsQuery("title", m, "remote", "false"), []jobsJob{c, b}},
		{"title and employment_type", jobsQuery("title", m, "employment_type", "part_time"), []jobsJob{b}},
		{"title and recruiter_id", jobsQuery("title", m, "recruiter_id", r1.id), []jobsJob{c, b, a}},
		{"location and company", jobsQuery("location", "berlin", "company", m), []jobsJob{c, a}},
		{"company and remote and recruiter", jobsQuery("company", "acme "+m, "remote", "true", "recruiter_id", r1.id), []jobsJob{a}},
		{"q and location", jobsQuery("q", w2, "location", "berlin"), []jobsJob{c, a}},
		{"q and employment_type and remote", jobsQuery("q", w2, "employment_type", "internship", "remote", "true"), []jobsJob{d}},
		{"filters that exclude each other", jobsQuery("title", "rust", "company", "acme "+m), []jobsJob{}},
		{"everything at once", jobsQuery("title", "developer", "location", "BERLIN", "company", "Acme", "q", w1+" -"+w3,
			"employment_type", "full_time", "remote", "true", "recruiter_id", r1.id, "status", "open"), []jobsJob{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			page := jobsList(t, s, tt.query, "")
			wantIDs := make([]string, len(tt.want))
			for i, j := range tt.want {
				wantIDs[i] = j.ID
			}
			is.Equal(page.ids(), wantIDs)      // exactly the matching jobs, newest first
			is.Equal(page.Total, len(tt.want)) // total counts them
			is.Equal(page.NextCursor, nil)     // on one page
			for i, j := range page.Items {
				want := tt.want[i]
				want.ApplicationCount, want.ApplicationsByStatus = nil, nil
				is.Equal(j, want) // listed as GET shows them to the public
			}
		})
	}

	// Filters alone match other tests' jobs too: every item must match, and
	// ours must be among them.
	alone := []struct {
		name  string
		query url.Values
		match func(jobsJob) bool
		ours  []jobsJob
	}{
		{"employment_type alone", jobsQuery("employment_type", "internship", "limit", "100"), func(j jobsJob) bool { return j.EmploymentType == "internship" }, []jobsJob{d}},
		{"remote=true alone", jobsQuery("remote", "true", "limit", "100"), func(j jobsJob) bool { return j.Remote }, []jobsJob{a, d}},
		{"remote=false alone", jobsQuery("remote", "false", "limit", "100"), func(j jobsJob) bool { return !j.Remote }, []jobsJob{b, c}},
		{"location alone", jobsQuery("location", "berlin", "limit", "100"), func(j jobsJob) bool { return strings.Contains(strings.ToLower(j.Location), "berlin") }, []jobsJob{a, c}},
		{"title alone", jobsQuery("title", "GO", "limit", "100"), func(j jobsJob) bool { return strings.Contains(strings.ToLower(j.Title), "go") }, []jobsJob{a, d}},
		{"company alone", jobsQuery("company", "ACME", "limit", "100"), func(j jobsJob) bool { return strings.Contains(strings.ToLower(j.Company), "acme") }, []jobsJob{a, d}},
	}
	for _, tt := range alone {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			seen := map[string]bool{}
			q := tt.query
			for pages := 0; ; pages++ {
				is.True(pages < 50) // the walk ends
				page := jobsList(t, s, q, "")
				for _, j := range page.Items {
					if !tt.match(j) {
						t.Fatalf("%s lists a job that does not match: %+v", tt.query.Encode(), j)
					}
					is.True(j.Status == "open") // the default listing shows open jobs only
					seen[j.ID] = true
				}
				if page.NextCursor == nil {
					is.Equal(len(seen), page.Total) // total counts every match on every page
					break
				}
				q = jobsQuery("cursor", *page.NextCursor)
				for k, v := range tt.query {
					q[k] = v
				}
			}
			for _, j := range tt.ours {
				is.True(seen[j.ID]) // every matching job is listed
			}
		})
	}

	t.Run("total counts all pages", func(t *testing.T) {
		is := is.New(t)
		page := jobsList(t, s, jobsQuery("title", m, "limit", "1"), "")
		is.Equal(page.ids(), []string{d.ID}) // the newest first
		is.Equal(page.Total, 4)              // total counts all matches, not the page
		is.True(page.NextCursor != nil)      // and there is more
		page = jobsList(t, s, jobsQuery("title", m, "limit", "3", "cursor", *page.NextCursor), "")
		is.Equal(page.ids(), []string{c.ID, b.ID, a.ID})
		is.Equal(page.Total, 4)        // the same total on every page
		is.Equal(page.NextCursor, nil) // the last page ends the walk
	})

	t.Run("application_count for the owner only", func(t *testing.T) {
		is := is.New(t)
		for _, j := range jobsList(t, s, jobsQuery("title", m), r1.token).Items {
			is.Equal(j.ApplicationCount != nil, j.RecruiterID == r1.id) // the owner sees the count of their own jobs only
		}
		res := jobsCall(t, s, http.MethodGet, "/jobs?"+jobsQuery("title", m).Encode(), "", nil)
		is.True(!strings.Contains(string(res.body), "application_count")) // anonymous callers never see it
	})
}

// TestJobsListClosed checks status=closed: only a recruiter's own closed
// jobs, and only for that recruiter.
func TestJobsListClosed(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	m := jobsMarker()
	r1 := jobsRegister(t, s, "recruiter", "Closed Co "+m)
	r2 := jobsRegister(t, s, "recruiter", "Closed Co "+m)
	seeker := jobsRegister(t, s, "job_seeker", "")
	closeJob := func(owner jobsActor, title string) jobsJob {
		j := jobsPost(t, s, owner.token, jobsBody(title))
		return jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+j.ID, owner.token, map[string]any{"status": "closed"}), http.StatusOK)
	}
	c1 := closeJob(r1, "Closed one "+m)
	c2 := closeJob(r1, "Closed two "+m)
	open1 := jobsPost(t, s, r1.token, jobsBody("Open one "+m))
	c3 := closeJob(r2, "Closed three "+m)

	jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/jobs?status=closed", "", nil))
	problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs?status=closed", seeker.token, nil), http.StatusForbidden)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs?status=closed&recruiter_id="+r2.id, r1.token, nil), http.StatusForbidden) // not someone else's

	page := jobsList(t, s, jobsQuery("status", "closed"), r1.token)
	is.Equal(page.ids(), []string{c2.ID, c1.ID}) // a recruiter sees their own closed jobs, newest first
	is.Equal(page.Total, 2)
	page = jobsList(t, s, jobsQuery("status", "closed", "recruiter_id", r1.id, "title", "two"), r1.token)
	is.Equal(page.ids(), []string{c2.ID}) // combined with other filters
	page = jobsList(t, s, jobsQuery("status", "closed"), r2.token)
	is.Equal(page.ids(), []string{c3.ID}) // and only their own
	is.Equal(page.Items[0].Status, "closed")

	for _, q := range []url.Values{jobsQuery("company", m), jobsQuery("company", m, "status", "open")} {
		page = jobsList(t, s, q, "")
		is.Equal(page.ids(), []string{open1.ID}) // the open listing leaves closed jobs out
	}
	is.Equal(jobsGet(t, s, c1.ID, "").Status, "closed") // a closed job is still public by id

	// status=all: open and closed alike, under the same rules, and never
	// a deleted one.
	jobsIsUnauthorized(t, jobsCall(t, s, http.MethodGet, "/jobs?status=all", "", nil))
	problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs?status=all", seeker.token, nil), http.StatusForbidden)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs?status=all&recruiter_id="+r2.id, r1.token, nil), http.StatusForbidden)
	doomed := jobsPost(t, s, r1.token, jobsBody("Deleted one "+m))
	is.Equal(jobsCall(t, s, http.MethodDelete, "/jobs/"+doomed.ID, r1.token, nil).status, http.StatusNoContent)
	page = jobsList(t, s, jobsQuery("status", "all"), r1.token)
	is.Equal(page.ids(), []string{open1.ID, c2.ID, c1.ID}) // every job of theirs but the deleted one, newest first
	is.Equal(page.Total, 3)
	page = jobsList(t, s, jobsQuery("status", "all", "q", m), r1.token)
	is.Equal(page.ids(), []string{open1.ID, c2.ID, c1.ID}) // with full-text search too (matched in jobs, where the deleted one's row stays)
	problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs?status=any", r1.token, nil), http.StatusBadRequest)
}

// TestJobsListBadParameters checks that a bad query parameter is a 400.
func TestJobsListBadParameters(t *testing.T) {
	s := startService(t, nil)
	recruiter := jobsRegister(t, s, "recruiter", "Params Co")
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name, query string
	}{
		{"limit=abc", "limit=abc"},
		{"limit=0", "limit=0"},
		{"limit=101", "limit=101"},
		{"limit=-1", "limit=-1"},
		{"limit=1.5", "limit=1.5"},
		{"remote=yes", "remote=yes"},
		{"remote=1", "remote=1"},
		{"employment_type=gig", "employment_type=gig"},
		{"status=deleted", "status=deleted"},
		{"recruiter_id=not-a-uuid", "recruiter_id=not-a-uuid"},
		{"cursor=garbage", "cursor=garbage"},
		{"cursor=!!!", "cursor=" + url.QueryEscape("!!!")},
		{"cursor of base64 junk", "cursor=" + b64([]byte("junk that is no cursor"))},
		{"cursor of base64 JSON of the wrong shape", "cursor=" + b64([]byte(`{"page":2}`))},
		{"cursor of base64 JSON with a bad time", "cursor=" + b64([]byte(`{"t":"yesterday","i":"`+uuid.NewString()+`"}`))},
		{"cursor of base64 JSON without an id", "cursor=" + b64([]byte(`{"t":"2026-01-01T00:00:00Z"}`))},
		{"cursor very long", "cursor=" + strings.Repeat("A", 5000)},
		{"title of 201 characters", "title=" + strings.Repeat("t", 201)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, token := range []string{"", recruiter.token} {
				problemOf(t, jobsCall(t, s, http.MethodGet, "/jobs?"+tt.query, token, nil), http.StatusBadRequest)
			}
		})
	}
	t.Run("good parameters", func(t *testing.T) {
		for _, q := range []string{"limit=1", "limit=100", "remote=true", "remote=false", "employment_type=temporary", "status=open", "title=", "cursor="} {
			jobsList(t, s, jobsParseQuery(t, q), "")
		}
	})
}

func jobsParseQuery(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestJobsPagination walks 250 jobs page by page and checks that each is
// seen once, in order, with the same total on every page.
func TestJobsPagination(t *testing.T) {
	is := is.New(t)
	s := startService(t, map[string]string{"WRITE_RATE_LIMIT": "0"}) // 250 posts from one client, past the default burst
	marker := jobsMarker()
	owner := jobsRegister(t, s, "recruiter", "Pages "+marker)
	const n = 250
	err := jobsInParallel(n, 8, func(i int) error {
		res, err := jobsSend(t.Context(), s, http.MethodPost, "/jobs", owner.token, jobsBody(fmt.Sprintf("Page job %d", i)))
		if err != nil {
			return err
		}
		if res.status != http.StatusCreated {
			return fmt.Errorf("POST /jobs %d: %s", i, res)
		}
		return nil
	})
	is.NoErr(err) // every job is posted

	// The order the contract promises, computed here from the read model's
	// own timestamps: created_at desc, then id desc.
	rows, err := db.Pool.Query(t.Context(), `SELECT id, created_at FROM jobs WHERE company = $1`, "Pages "+marker)
	is.NoErr(err)
	type key struct {
		id uuid.UUID
		at time.Time
	}
	var keys []key
	for rows.Next() {
		var k key
		is.NoErr(rows.Scan(&k.id, &k.at))
		keys = append(keys, k)
	}
	is.NoErr(rows.Err())
	is.Equal(len(keys), n) // the read model holds every job
	sort.Slice(keys, func(i, j int) bool {
		if !keys[i].at.Equal(keys[j].at) {
			return keys[i].at.After(keys[j].at)
		}
		return bytes.Compare(keys[i].id[:], keys[j].id[:]) > 0
	})
	want := make([]string, n)
	for i, k := range keys {
		want[i] = k.id.String()
	}

	for _, limit := range []int{100, 7} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			is := is.New(t)
			var got []string
			var lastCreated string
			cursor := ""
			pages := 0
			for {
				q := jobsQuery("company", "pages "+strings.ToUpper(marker), "limit", strconv.Itoa(limit))
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				page := jobsList(t, s, q, "")
				pages++
				is.Equal(page.Total, n) // total counts every job on every page
				for _, j := range page.Items {
					if lastCreated != "" {
						is.True(j.CreatedAt <= lastCreated) // newest first
					}
					lastCreated = j.CreatedAt
					got = append(got, j.ID)
				}
				if page.NextCursor == nil {
					is.Equal(len(page.Items), n-(pages-1)*limit) // the last page holds the rest
					break
				}
				is.Equal(len(page.Items), limit) // a page with more after it is full
				is.True(*page.NextCursor != "")
				cursor = *page.NextCursor
				is.True(pages <= n/limit+1) // the walk ends
			}
			is.Equal(pages, (n+limit-1)/limit) // as many pages as it takes, no more
			is.Equal(len(got), n)              // every job seen
			seen := map[string]bool{}
			for _, id := range got {
				is.True(!seen[id]) // each job once
				seen[id] = true
			}
			is.Equal(got, want) // in created_at desc, id desc order
		})
	}

	// Jobs posted through the API get distinct created_at values, in the
	// same order as their ids, so they cannot show that ties are broken by
	// id or that a cursor resumes inside a run of equal created_at. These
	// rows, written straight into the read model, can: 30 jobs share one
	// created_at and 30 more another, with ids in random order.
	t.Run("ties on created_at", func(t *testing.T) {
		is := is.New(t)
		company := "Ties " + jobsMarker()
		t.Cleanup(func() {
			for _, table := range []string{"job_search", "jobs"} {
				if _, err := db.Pool.Exec(context.WithoutCancel(t.Context()), `DELETE FROM `+table+` WHERE company = $1`, company); err != nil {
					t.Errorf("remove the tied jobs from %s: %v", table, err)
				}
			}
		})
		at := []time.Time{time.Now().UTC().Truncate(time.Microsecond), time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)}
		var tied []key
		for i := range 60 {
			k := key{id: uuid.New(), at: at[i%2]}
			tied = append(tied, k)
			_, err := db.Pool.Exec(t.Context(), `
INSERT INTO jobs (id, recruiter_id, title, description, company, location, employment_type, remote, status, created_at, updated_at, version)
VALUES ($1, $2, 'Tied', 'Tied job', $3, 'Here', 'full_time', false, 'open', $4, $4, 1)`, k.id, owner.id, company, k.at)
			is.NoErr(err) // the tied job is in the read model
			// Listings find their matches in job_search, which the
			// projector writes next to jobs.
			_, err = db.Pool.Exec(t.Context(), `
INSERT INTO job_search (id, recruiter_id, status, created_at, title, company, location, employment_type, remote)
SELECT id, recruiter_id, status, created_at, title, company, location, employment_type, remote FROM jobs WHERE id = $1`, k.id)
			is.NoErr(err) // the tied job is searchable
		}
		sort.Slice(tied, func(i, j int) bool {
			if !tied[i].at.Equal(tied[j].at) {
				return tied[i].at.After(tied[j].at)
			}
			return bytes.Compare(tied[i].id[:], tied[j].id[:]) > 0
		})
		var got []string
		q := jobsQuery("company", company, "limit", "7")
		for pages := 1; ; pages++ {
			page := jobsList(t, s, q, "")
			is.Equal(page.Total, len(tied)) // total counts every tied job
			got = append(got, page.ids()...)
			if page.NextCursor == nil {
				break
			}
			is.True(pages < 20) // the walk ends
			q.Set("cursor", *page.NextCursor)
		}
		want := make([]string, len(tied))
		for i, k := range tied {
			want[i] = k.id.String()
		}
		is.Equal(got, want) // each once, ties broken by id desc, even across pages
	})

	t.Run("a job posted mid-walk does not disturb it", func(t *testing.T) {
		is := is.New(t)
		q := jobsQuery("company", "Pages "+marker, "limit", "100")
		first := jobsList(t, s, q, "")
		newer := jobsPost(t, s, owner.token, jobsBody("Newer"))
		q.Set("cursor", *first.NextCursor)
		second := jobsList(t, s, q, "")
		is.Equal(second.ids(), want[100:200]) // the cursor keeps its place
		is.Equal(second.Total, n+1)           // while the total counts the new job
		is.True(!slices.Contains(second.ids(), newer.ID))
	})
}

// TestJobsHostileInput checks that filters treat their values as text:
// SQL, LIKE wildcards and unicode are matched literally and never fail, and
// markup comes back exactly as it was sent.
func TestJobsHostileInput(t *testing.T) {
	s := startService(t, nil)
	m := jobsMarker()
	owner := jobsRegister(t, s, "recruiter", "Hostile Co")
	post := func(title string) jobsJob { return jobsPost(t, s, owner.token, jobsBody(title+" "+m)) }
	percent := post("100% remote")
	post("100 remote")
	underscore := post("snake_case")
	post("snakeXcase")
	backslash := post(`back\slash`)
	post("backslash")
	unicode := post("Ingénieur·e 日本語 🚀")

	t.Run("wildcards match themselves", func(t *testing.T) {
		is := is.New(t)
		for _, tt := range []struct {
			value string
			want  jobsJob
		}{{"%", percent}, {"_", underscore}, {`\`, backslash}, {"0% r", percent}, {"e_c", underscore}, {`k\s`, backslash}} {
			page := jobsList(t, s, jobsQuery("title", tt.value, "recruiter_id", owner.id), "")
			is.Equal(page.ids(), []string{tt.want.ID}) // the wildcard is a literal character
			is.Equal(page.Total, 1)
		}
		for _, wildcard := range []string{"%", "_", `\`} {
			page := jobsList(t, s, jobsQuery("title", wildcard, "limit", "100"), "")
			for _, j := range page.Items {
				is.True(strings.Contains(j.Title, wildcard)) // title=% finds only titles holding a %, not everything
			}
			all := jobsList(t, s, jobsQuery("limit", "1"), "")
			is.True(page.Total < all.Total) // it does not match everything
		}
	})

	t.Run("unicode", func(t *testing.T) {
		is := is.New(t)
		for _, v := range []string{"日本語", "🚀", "INGÉNIEUR·E", "ingénieur·e 日本語"} {
			page := jobsList(t, s, jobsQuery("title", v, "recruiter_id", owner.id), "")
			is.Equal(page.ids(), []string{unicode.ID}) // unicode matches, case-insensitively
		}
	})

	hostile := []string{
		`' OR 1=1 --`, `'; DROP TABLE jobs; --`, `%`, `_`, `\`, `%%`, `\%`, `'`, `"`, `"unterminated`,
		`-`, `--`, `!`, `&`, `|`, `:*`, `a:*`, `(((`, `)`, `<->`, `!a & b | c`, `or`, `the`,
		`Ünïcödé 日本語 🚀`, `\x00`, `$1`, `$$`, `E'\\'`, "line\nbreak", "tab\there", `<script>alert(1)</script>`,
	}
	for _, param := range []string{"title", "location", "company", "q"} {
		t.Run(param, func(t *testing.T) {
			for _, v := range hostile {
				res := jobsCall(t, s, http.MethodGet, "/jobs?"+jobsQuery(param, v).Encode(), "", nil)
				if res.status != http.StatusOK {
					t.Fatalf("%s=%q: want 200, got %s", param, v, res)
				}
				page := jobsList(t, s, jobsQuery(param, v, "recruiter_id", owner.id), "")
				if param == "q" {
					continue // full-text search has its own idea of a match
				}
				for _, j := range page.Items {
					var field string
					switch param {
					case "title":
						field = j.Title
					case "location":
						field = j.Location
					case "company":
						field = j.Company
					}
					if !strings.Contains(strings.ToLower(field), strings.ToLower(strings.TrimSpace(v))) {
						t.Errorf("%s=%q lists %q, which does not hold it literally", param, v, field)
					}
				}
			}
		})
	}

	t.Run("markup comes back byte for byte", func(t *testing.T) {
		is := is.New(t)
		title := `<script>alert(1)</script> & "quotes" ` + m
		res := jobsCall(t, s, http.MethodPost, "/jobs", owner.token, jobsBody(title))
		j := jobsDecode(t, res, http.StatusCreated)
		is.Equal(j.Title, title)
		for _, res := range []response{
			res,
			jobsCall(t, s, http.MethodGet, "/jobs/"+j.ID, "", nil),
			jobsCall(t, s, http.MethodGet, "/jobs?"+jobsQuery("title", "<script>", "recruiter_id", owner.id).Encode(), "", nil),
		} {
			is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8")                 // never HTML
			is.True(bytes.Contains(res.body, []byte(`"<script>alert(1)</script> & \"quotes\" `+m+`"`))) // the title as sent, not \u003c-escaped
			is.True(!bytes.Contains(res.body, []byte(`\u003c`)))
			is.True(!bytes.Contains(res.body, []byte(`\u0026`)))
		}
	})
}

// TestJobsMethodNotAllowed checks the 405s of the jobs paths.
func TestJobsMethodNotAllowed(t *testing.T) {
	s := startService(t, nil)
	id := uuid.Must(uuid.NewV7()).String()
	tests := []struct {
		method, path string
		allow        []string
	}{
		{http.MethodPost, "/jobs/" + id, []string{"DELETE", "GET", "HEAD", "PATCH", "PUT"}},
		{http.MethodPost, "/jobs/not-a-uuid", []string{"DELETE", "GET", "HEAD", "PATCH", "PUT"}},
		{http.MethodDelete, "/jobs", []string{"GET", "HEAD", "POST"}},
		{http.MethodPut, "/jobs", []string{"GET", "HEAD", "POST"}},
		{http.MethodPost, "/jobs/" + id + "/history", []string{"GET", "HEAD"}},
		{http.MethodDelete, "/jobs/" + id + "/history", []string{"GET", "HEAD"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			is := is.New(t)
			res := jobsCall(t, s, tt.method, tt.path, "", nil)
			problemOf(t, res, http.StatusMethodNotAllowed)
			var allow []string
			for _, v := range res.header.Values("Allow") {
				for _, m := range strings.Split(v, ",") {
					allow = append(allow, strings.TrimSpace(m))
				}
			}
			sort.Strings(allow)
			is.Equal(allow, tt.allow) // Allow names every method the path takes
		})
	}
}

// TestJobsListShortFilters lists with the filters that no index can narrow
// down (one or two letters, a lone LIKE wildcard, letters outside ASCII in
// another case) and checks the exact answer, page by page: the matching
// jobs, newest first, each once, and on every page the same total.
func TestJobsListShortFilters(t *testing.T) {
	s := startService(t, map[string]string{"WRITE_RATE_LIMIT": "0"})
	m := jobsMarker()
	owner := jobsRegister(t, s, "recruiter", "Short Co")
	var posted []jobsJob // in the order posted, so listed in the reverse one
	for _, j := range []struct{ title, company, location string }{
		{"ÉCOLE Lecturer", "École " + m, "Évry, France"},
		{"Yoga Teacher", "Yak " + m, "Abu Dhabi"},
		{"100% Remote Engineer", "Acme " + m, "Berlin"},
		{"snake_case Developer", "Acme " + m, "Lisbon"},
		{`Back\slash Analyst`, "Hooli " + m, "London"},
		{"Nurse", "Yak " + m, "Abu Dhabi"},
		{"Data Engineer", "Stark " + m, "Berlin"},
		{"Senior Backend Engineer", "Acme " + m, "Évry"},
		{"Ingénieure", "Straße " + m, "Zürich"},
	} {
		posted = append(posted, jobsPost(t, s, owner.token, jobsBody(j.title, func(b map[string]any) {
			b["company"], b["location"] = j.company, j.location
		})))
	}
	// want lists the posted jobs whose fields contain the values, ignoring
	// case (as lower() folds it for these letters), newest first.
	want := func(fields map[string]string) []string {
		out := []string{}
		for i := len(posted) - 1; i >= 0; i-- {
			j := posted[i]
			ok := true
			for name, v := range fields {
				field := map[string]string{"title": j.Title, "company": j.Company, "location": j.Location}[name]
				ok = ok && strings.Contains(strings.ToLower(field), strings.ToLower(v))
			}
			if ok {
				out = append(out, j.ID)
			}
		}
		return out
	}
	// walk lists every page of q, two jobs a page.
	walk := func(t *testing.T, q url.Values) ([]string, []int) {
		t.Helper()
		q.Set("limit", "2")
		got, totals := []string{}, []int{}
		for pages := 0; ; pages++ {
			page := jobsList(t, s, q, "")
			got, totals = append(got, page.ids()...), append(totals, page.Total)
			if page.NextCursor == nil {
				return got, totals
			}
			if pages > 20 {
				t.Fatalf("GET /jobs?%s: the pages do not end", q.Encode())
			}
			q.Set("cursor", *page.NextCursor)
		}
	}
	for _, fields := range []map[string]string{
		{"title": "e"}, {"title": "E"}, {"company": "y"}, {"location": "ab"}, {"title": "%"}, {"title": "_"},
		{"title": `\`}, {"title": "0% r"}, {"title": "e_c"}, {"title": `k\s`}, {"title": "%%"},
		{"title": "éc"}, {"title": "ÉC"}, {"company": "ÉCOLE"}, {"location": "é"}, {"location": "ÉVRY"},
		{"company": "STRASSE"}, {"company": "straße"}, {"title": "ingénieure"},
		{"title": "e", "company": "y"}, {"title": "an", "location": "on"}, {"title": "e", "location": "berlin"},
		{"title": "eer"}, {"title": "senior backend engineer"},
	} {
		// Scoped to this test's jobs by the recruiter (which leaves the
		// filter as short as it is), and by the company marker (a long
		// filter next to the short one), which every one of them has.
		scopes := []url.Values{jobsQuery("recruiter_id", owner.id)}
		if _, ok := fields["company"]; !ok {
			scopes = append(scopes, jobsQuery("company", m))
		}
		expected := want(fields)
		for _, scope := range scopes {
			q := url.Values{}
			for k, v := range scope {
				q[k] = v
			}
			for name, v := range fields {
				q.Set(name, v)
			}
			t.Run(q.Encode(), func(t *testing.T) {
				is := is.New(t)
				got, totals := walk(t, q)
				is.Equal(got, expected) // the matching jobs, newest first, each once
				for _, total := range totals {
					is.Equal(total, len(expected)) // every page counts them all
				}
			})
		}
	}

	// A job's changes reach the listings at once: its new title is found
	// by a short filter, its old one no more; closed, it leaves the open
	// listing for the closed one; deleted, it leaves them all.
	t.Run("changes", func(t *testing.T) {
		is := is.New(t)
		job := posted[5] // Nurse
		count := func(q url.Values, token string) int {
			t.Helper()
			q.Set("recruiter_id", owner.id)
			return jobsList(t, s, q, token).Total
		}
		patch := func(body map[string]any) {
			t.Helper()
			jobsDecode(t, jobsCall(t, s, http.MethodPatch, "/jobs/"+job.ID, owner.token, body), http.StatusOK)
		}
		is.Equal(count(jobsQuery("title", "nu"), ""), 1)
		patch(map[string]any{"title": "Zookeeper", "location": "Quito"})
		is.Equal(count(jobsQuery("title", "nu"), ""), 0)        // not by its old title
		is.Equal(count(jobsQuery("title", "zo"), ""), 1)        // by its new one
		is.Equal(count(jobsQuery("location", "qu"), ""), 1)     // and its new location
		is.Equal(count(jobsQuery("location", "abu"), ""), 1)    // which the other job in Abu Dhabi keeps
		is.Equal(count(jobsQuery("title", "ZOOKEEPER"), ""), 1) // in any case
		patch(map[string]any{"status": "closed"})
		is.Equal(count(jobsQuery("title", "zo"), ""), 0)                              // closed: not open
		is.Equal(count(jobsQuery("title", "zo", "status", "closed"), owner.token), 1) // but closed
		patch(map[string]any{"status": "open"})
		is.Equal(count(jobsQuery("title", "zo"), ""), 1) // open again
		res := jobsCall(t, s, http.MethodDelete, "/jobs/"+job.ID, owner.token, nil)
		is.Equal(res.status, http.StatusNoContent)
		is.Equal(count(jobsQuery("title", "zo"), ""), 0)                              // deleted: gone
		is.Equal(count(jobsQuery("title", "zo", "status", "closed"), owner.token), 0) // from every listing
		is.Equal(count(jobsQuery("location", "q"), ""), 0)
	})
}
