package browsertest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jobboard/jobboard/internal/testapp"
	"github.com/jobboard/jobboard/internal/testdb"
)

// db is the package's database; the one service the tests share runs on it.
var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

// service is the job board, started in-process as cmd/jobboard starts it.
// The tests set up what they need through its REST API, which is not what
// they test, and check through it what the pages did.
type service struct {
	url    string
	client *http.Client
	logs   *testapp.LockedBuffer
}

// startService runs the job board on the package's database until t ends.
func startService(t *testing.T) *service {
	t.Helper()
	// The service listens on 127.0.0.1, not localhost: the cross-origin
	// test serves its forged page from localhost, another site. Every
	// journey runs on this one service, side by side; it logs at info
	// level, so that the log shown when one fails is not buried in every
	// journey's debug lines.
	a := testapp.Start(t, db, map[string]string{"LOG_LEVEL": "info"})
	s := &service{
		url:    a.URL,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}},
		logs:   a.Logs,
	}
	// Cleanups run last first: the client lets go of its connections
	// before the service stops.
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// call sends a request to the service and returns the status, header and
// body of its answer. header holds name, value pairs.
func (s *service) call(t *testing.T, method, path string, body io.Reader, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, body)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	return res.StatusCode, res.Header, b
}

// callJSON sends v as JSON (nil: no body) with the token, if any, and
// decodes a want-status answer into out (when not nil).
func (s *service) callJSON(t *testing.T, method, path, token string, v any, want int, out any) {
	t.Helper()
	var body io.Reader
	var header []string
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		body = bytes.NewReader(b)
		header = append(header, "Content-Type", "application/json")
	}
	if token != "" {
		header = append(header, "Authorization", "Bearer "+token)
	}
	status, _, b := s.call(t, method, path, body, header...)
	if status != want {
		t.Fatalf("%s %s: want %d, got %d: %s", method, path, want, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// account is someone's account: what they sign in with, and their
// API token when the API made it.
type account struct {
	id, email, password, name, role, company string
	token                                    string
}

// newAccount returns an account no other test uses, not yet opened.
func newAccount(role, name string) account {
	a := account{email: uniqueEmail(role), password: "correct horse battery staple", name: name, role: role}
	if role == "recruiter" {
		a.company = "Company of " + name
	}
	return a
}

// register opens an account through the API and logs it in.
func (s *service) register(t *testing.T, role, name string) account {
	t.Helper()
	a := newAccount(role, name)
	body := map[string]any{"email": a.email, "password": a.password, "name": a.name, "role": a.role}
	if a.company != "" {
		body["company"] = a.company
	}
	var u struct {
		ID string `json:"id"`
	}
	s.callJSON(t, http.MethodPost, "/register", "", body, http.StatusCreated, &u)
	a.id = u.ID
	a.token = s.login(t, a)
	return a
}

// login logs a into the API, as it may have been opened through the pages,
// and returns its token.
func (s *service) login(t *testing.T, a account) string {
	t.Helper()
	var l struct {
		AccessToken string `json:"access_token"`
	}
	s.callJSON(t, http.MethodPost, "/login", "", map[string]string{"email": a.email, "password": a.password}, http.StatusOK, &l)
	return l.AccessToken
}

// apiJob is a job as the API shows it, the fields the tests look at.
type apiJob struct {
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
	ApplicationCount *int    `json:"application_count"`
}

// postJob posts a job with title and location (and the fields of extra,
// which may override them) as the recruiter and returns its id.
func (s *service) postJob(t *testing.T, recruiter account, title, location string, extra ...map[string]any) string {
	t.Helper()
	body := map[string]any{
		"title":       title,
		"description": "Build and run the services behind a job board.",
		"location":    location,
	}
	for _, e := range extra {
		for k, v := range e {
			body[k] = v
		}
	}
	var j apiJob
	s.callJSON(t, http.MethodPost, "/jobs", recruiter.token, body, http.StatusCreated, &j)
	return j.ID
}

// job reads a job, as its owner when token is the owner's.
func (s *service) job(t *testing.T, token, id string) apiJob {
	t.Helper()
	var j apiJob
	s.callJSON(t, http.MethodGet, "/jobs/"+id, token, nil, http.StatusOK, &j)
	return j
}

// searchIDs lists the ids of the open jobs that query matches, as GET
// /jobs finds them: what the search page must show.
func (s *service) searchIDs(t *testing.T, query url.Values) []string {
	t.Helper()
	var page struct {
		Items []apiJob `json:"items"`
	}
	s.callJSON(t, http.MethodGet, "/jobs?"+query.Encode(), "", nil, http.StatusOK, &page)
	ids := []string{}
	for _, j := range page.Items {
		ids = append(ids, j.ID)
	}
	return ids
}

// apiApplication is an application as the API shows it.
type apiApplication struct {
	ID          string  `json:"id"`
	JobID       string  `json:"job_id"`
	Name        string  `json:"name"`
	Email       string  `json:"email"`
	CoverLetter *string `json:"cover_letter"`
	Status      string  `json:"status"`
	Resume      *struct {
		FileName string `json:"filename"`
		Size     int64  `json:"size"`
		SHA256   string `json:"sha256"`
	} `json:"resume"`
}

// apply applies to a job as the job seeker through the API, with a
// resume, and returns the application's id.
func (s *service) apply(t *testing.T, seeker account, jobID, coverLetter, fileName string, resume []byte) string {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, f := range [][2]string{{"name", seeker.name}, {"email", seeker.email}, {"cover_letter", coverLetter}} {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatalf("write field: %v", err)
		}
	}
	part, err := w.CreateFormFile("resume", fileName)
	if err != nil {
		t.Fatalf("create the file part: %v", err)
	}
	part.Write(resume)
	if err := w.Close(); err != nil {
		t.Fatalf("close the form: %v", err)
	}
	status, _, b := s.call(t, http.MethodPost, "/jobs/"+jobID+"/apply", &body,
		"Content-Type", w.FormDataContentType(), "Authorization", "Bearer "+seeker.token)
	if status != http.StatusCreated {
		t.Fatalf("POST /jobs/%s/apply: want 201, got %d: %s", jobID, status, b)
	}
	var a apiApplication
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("decode the application %s: %v", b, err)
	}
	return a.ID
}

// myApplications lists the job seeker's applications as the API shows
// them.
func (s *service) myApplications(t *testing.T, token string) []apiApplication {
	t.Helper()
	var page struct {
		Items []apiApplication `json:"items"`
	}
	s.callJSON(t, http.MethodGet, "/me/applications", token, nil, http.StatusOK, &page)
	return page.Items
}

// uniqueEmail returns an address no other test uses.
func uniqueEmail(prefix string) string { return testapp.UniqueEmail(prefix) }

// marker returns a random word of lower-case letters that no other test's
// data holds: put in a title or a location, it keeps a search to the
// test's own jobs, though all the tests share one database.
func marker() string {
	b := make([]byte, 10)
	rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return "zq" + string(b)
}
