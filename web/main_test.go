package web_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jobboard/jobboard/app"
	"github.com/jobboard/jobboard/internal/testapp"
	"github.com/jobboard/jobboard/internal/testdb"
)

// db is the package's database: every service a test starts uses it.
var db *testdb.DB

func TestMain(m *testing.M) { testdb.Main(m, &db) }

// service is one running job board, started in-process as cmd/jobboard
// starts it: the pages are served by the same server as the API, behind
// the same middleware.
type service struct {
	t    *testing.T
	url  string
	app  *app.App
	logs *testapp.LockedBuffer
}

// startService runs the job board on the package's database with a test
// configuration that env overrides, and stops it when the test ends.
func startService(t *testing.T, env map[string]string) *service {
	t.Helper()
	a := testapp.Start(t, db, env)
	return &service{t: t, url: a.URL, app: a.App, logs: a.Logs}
}

// browser is one person's browser: its own cookies, and redirects shown
// rather than followed, so that tests see where they lead.
type browser struct {
	t      *testing.T
	s      *service
	client *http.Client
}

func (s *service) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	transport := &http.Transport{}
	s.t.Cleanup(transport.CloseIdleConnections)
	return &browser{t: s.t, s: s, client: &http.Client{
		Jar: jar, Timeout: 60 * time.Second, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is an answer with its body read.
type response struct {
	status int
	header http.Header
	body   string
}

func (r response) String() string { return http.StatusText(r.status) + "\n" + r.body }

// location is the path a redirect leads to.
func (r response) location() string { return r.header.Get("Location") }

// do sends a request; header holds name, value pairs.
func (b *browser) do(method, path string, body io.Reader, header ...string) response {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.s.url+path, body)
	if err != nil {
		b.t.Fatalf("new request %s %s: %v", method, path, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(got)}
}

func (b *browser) get(path string, header ...string) response {
	b.t.Helper()
	return b.do(http.MethodGet, path, nil, header...)
}

// post sends a url-encoded form, as a browser does from a page of the
// same origin.
func (b *browser) post(path string, form url.Values, header ...string) response {
	b.t.Helper()
	header = append([]string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin"}, header...)
	return b.do(http.MethodPost, path, strings.NewReader(form.Encode()), header...)
}

// upload is a file of a multipart form.
type upload struct {
	name    string
	content []byte
}

// postMultipart sends a multipart form: fields are name, value pairs,
// then the file, if any, as "resume".
func (b *browser) postMultipart(path string, file *upload, fields ...string) response {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1]) //nolint:errcheck // a buffer
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("resume", file.name)
		fw.Write(file.content) //nolint:errcheck // a buffer
	}
	mw.Close()
	return b.do(http.MethodPost, path, &body, "Content-Type", mw.FormDataContentType(), "Sec-Fetch-Site", "same-origin")
}

// account is who a browser signed up as.
type account struct {
	email, password, name, role string
}

// signUp opens an account of role through the sign-up page, which signs
// the browser in.
func (b *browser) signUp(role string) account {
	b.t.Helper()
	a := account{email: uniqueEmail(role), password: "correct horse battery", name: "Test " + role, role: role}
	form := url.Values{"email": {a.email}, "password": {a.password}, "name": {a.name}, "role": {role}}
	if role == "recruiter" {
		form.Set("company", "Acme")
	}
	res := b.post("/app/signup", form)
	if res.status != http.StatusSeeOther || res.location() != "/app/" {
		b.t.Fatalf("sign up as %s: %s", role, res)
	}
	return a
}

// postJob posts a job through the page and returns its id.
func (b *browser) postJob(title string) string {
	b.t.Helper()
	res := b.post("/app/jobs/new", url.Values{"title": {title}, "description": {"Go and PostgreSQL."},
		"location": {"Berlin"}, "employment_type": {"full_time"}})
	id, ok := strings.CutPrefix(res.location(), "/app/jobs/")
	if res.status != http.StatusSeeOther || !ok {
		b.t.Fatalf("post a job: %s", res)
	}
	return id
}

// apply applies to a job through its page and returns the application's
// id.
func (b *browser) apply(jobID string, resume *upload) string {
	b.t.Helper()
	res := b.postMultipart("/app/jobs/"+jobID+"/apply", resume, "name", "Ada", "email", "ada@example.com", "cover_letter", "Hello.")
	id, ok := strings.CutPrefix(res.location(), "/app/applications/")
	if res.status != http.StatusSeeOther || !ok {
		b.t.Fatalf("apply: %s", res)
	}
	return id
}

// fieldError returns the text of a field's error paragraph, "" if none.
func fieldError(body, field string) string {
	m := regexp.MustCompile(`<p class="field-error" id="` + regexp.QuoteMeta(field) + `-error">([^<]*)</p>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// problemText returns the text of the problem box, "" if none.
func problemText(body string) string {
	m := regexp.MustCompile(`(?s)<div class="problem" role="alert" id="problem">(.*?)</div>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// uniqueEmail returns an address no other test uses.
func uniqueEmail(prefix string) string { return testapp.UniqueEmail(prefix) }
