package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testfiles"
)

// sessionValue returns the value of the browser's session cookie, "" if
// it has none.
func (b *browser) sessionValue() string {
	b.t.Helper()
	u, err := url.Parse(b.s.url + "/app/")
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "jobboard_session" {
			return c.Value
		}
	}
	return ""
}

// withSession returns a new browser that holds the session cookie value,
// as a copy of a cookie taken from another browser would be.
func (s *service) withSession(value string) *browser {
	b := s.browser()
	u, _ := url.Parse(s.url + "/app/")
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "jobboard_session", Value: value, Path: "/app/"}})
	return b
}

// deleteAccount posts the account page's delete form.
func (b *browser) deleteAccount(password string, header ...string) response {
	b.t.Helper()
	return b.post("/app/account/delete", url.Values{"password": {password}}, header...)
}

// apiToken logs a into the API and returns its access token.
func (b *browser) apiToken(a account) string {
	b.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": a.email, "password": a.password})
	res := b.do(http.MethodPost, "/login", bytes.NewReader(body), "Content-Type", "application/json")
	if res.status != http.StatusOK {
		b.t.Fatalf("POST /login: %s", res)
	}
	var l struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(res.body), &l); err != nil {
		b.t.Fatalf("decode the login: %v", err)
	}
	return l.AccessToken
}

// TestAccountPage checks the account page: the account's details, escaped,
// the two actions, the link to it in the navigation, and that it is for
// signed-in browsers only.
func TestAccountPage(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)

	recruiter := s.browser()
	r := recruiter.signUp("recruiter")
	res := recruiter.get("/app/account")
	is.Equal(res.status, http.StatusOK)
	is.Equal(res.header.Get("Cache-Control"), "no-store") // a page for an account
	for _, want := range []string{
		`<dd id="account-name">` + r.name + `</dd>`,
		`<dd id="account-email">` + r.email + `</dd>`,
		`<dd id="account-role">Recruiter</dd>`,
		`<dd id="account-company">Acme</dd>`,
		`<a class="button" id="export-account" href="/app/account/export"`, // the download
		`<form id="delete-account" method="post" action="/app/account/delete"`,
		`<input id="password" name="password" type="password" autocomplete="current-password"`,
		`>Delete my account</button>`,
		"It cannot be undone.",
		"You have no open job",                                   // none is open yet
		`<a href="/app/account" aria-current="page">Account</a>`, // in the navigation, as the current page
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the recruiter's account page lacks %q", want)
		}
	}
	recruiter.postJob("Account Engineer")
	is.True(strings.Contains(recruiter.get("/app/account").body, "Your open job will be closed")) // what the erasure would do

	// A job seeker's page, whose name and email are markup.
	seeker := s.browser()
	email := uniqueEmail("job_seeker")
	res = seeker.post("/app/signup", url.Values{"email": {email}, "password": {"correct horse battery"},
		"name": {`<img src=x onerror=alert(1)> & "Bob"`}, "role": {"job_seeker"}, "company": {"Ignored"}})
	is.Equal(res.status, http.StatusSeeOther)
	res = seeker.get("/app/account")
	is.Equal(res.status, http.StatusOK)
	is.True(strings.Contains(res.body, `<dd id="account-name">&lt;img src=x onerror=alert(1)&gt; &amp; &#34;Bob&#34;</dd>`)) // as text
	is.True(!strings.Contains(res.body, "<img"))
	is.True(strings.Contains(res.body, `<dd id="account-role">Job seeker</dd>`))
	is.True(!strings.Contains(res.body, `id="account-company"`)) // a job seeker has none
	is.True(strings.Contains(res.body, "from “Erased applicant”"))
	is.True(strings.Contains(res.body, "You have made no applications"))
	is.True(strings.Contains(seeker.get("/app/").body, `<a href="/app/account">Account</a>`)) // linked from every page

	anonymous := s.browser()
	for _, path := range []string{"/app/account", "/app/account/export"} {
		res = anonymous.get(path)
		is.Equal(res.status, http.StatusSeeOther) // sign in first
		is.Equal(res.location(), "/app/signin?next="+url.QueryEscape(path))
	}
	res = anonymous.deleteAccount("anything")
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), "/app/signin?next=%2Fapp%2Faccount") // back to the account page, not to the form's address
	is.True(!strings.Contains(anonymous.get("/app/").body, `href="/app/account"`))
}

// TestAccountExport checks the download of the account page: the same
// document as GET /me/export, with its headers, for either role.
func TestAccountExport(t *testing.T) {
	s := startService(t, nil)
	recruiter := s.browser()
	r := recruiter.signUp("recruiter")
	jobID := recruiter.postJob("Export Engineer")
	seeker := s.browser()
	a := seeker.signUp("job_seeker")
	applicationID := seeker.apply(jobID, &upload{name: "cv.pdf", content: testfiles.PDF(1000)})

	for _, c := range []struct {
		name string
		b    *browser
		a    account
		list string // the export's list of the role
		id   string // what it holds
	}{
		{"recruiter", recruiter, r, "jobs", jobID},
		{"job seeker", seeker, a, "applications", applicationID},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			res := c.b.get("/app/account/export")
			is.Equal(res.status, http.StatusOK)
			is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8")
			is.Equal(res.header.Get("Content-Disposition"), `attachment; filename="jobboard-export.json"`) // a download
			is.Equal(res.header.Get("Cache-Control"), "no-store")                                          // never kept by a cache
			is.Equal(res.header.Get("X-Content-Type-Options"), "nosniff")
			is.True(json.Valid([]byte(res.body))) // one JSON document, whole
			var doc struct {
				Account struct {
					Email, Name, Role string
				} `json:"account"`
				Events []json.RawMessage `json:"events"`
			}
			is.NoErr(json.Unmarshal([]byte(res.body), &doc))
			is.Equal(doc.Account.Email, c.a.email)
			is.Equal(doc.Account.Name, c.a.name)
			is.True(len(doc.Events) > 0) // every event about them
			var lists map[string]json.RawMessage
			is.NoErr(json.Unmarshal([]byte(res.body), &lists))
			var items []struct {
				ID string `json:"id"`
			}
			is.NoErr(json.Unmarshal(lists[c.list], &items))
			is.Equal(len(items), 1)
			is.Equal(items[0].ID, c.id)

			// The API's export of the same account is the same document.
			api := c.b.get("/me/export", "Authorization", "Bearer "+c.b.apiToken(c.a))
			is.Equal(api.status, http.StatusOK)
			is.Equal(api.body, res.body)

			head := c.b.do(http.MethodHead, "/app/account/export", nil)
			is.Equal(head.status, http.StatusOK)
			is.Equal(head.header.Get("Content-Disposition"), `attachment; filename="jobboard-export.json"`)
			is.Equal(head.body, "")
		})
	}
}

// TestAccountEraseRefusals checks what keeps the delete form from erasing
// an account: no password, a wrong one (a failed sign-in, counted), too
// many of those (429 with the wait), and a form from another site. None of
// them erases anything.
func TestAccountEraseRefusals(t *testing.T) {
	is := is.New(t)
	s := startService(t, map[string]string{"LOGIN_MAX_FAILURES_PER_EMAIL": "2"})
	b := s.browser()
	a := b.signUp("job_seeker")

	res := b.deleteAccount("")
	is.Equal(res.status, http.StatusUnprocessableEntity)
	is.True(strings.HasPrefix(fieldError(res.body, "password"), "is required"))
	is.True(strings.Contains(res.body, `<form id="delete-account"`)) // the page, with the form again
	is.True(strings.Contains(res.body, `aria-invalid="true" aria-describedby="password-error password-hint"`))
	is.True(strings.Contains(res.body, `<dd id="account-email">`+a.email+`</dd>`))

	res = b.deleteAccount("not my secret 42")
	is.Equal(res.status, http.StatusUnauthorized)
	is.Equal(fieldError(res.body, "password"), "the email or password is wrong") // the sign-in's message, at the field
	is.True(strings.Contains(problemText(res.body), "the email or password is wrong"))
	is.True(!strings.Contains(res.body, "not my secret 42")) // the password is never shown back
	is.Equal(res.header.Get("WWW-Authenticate"), "")
	is.Equal(sessionCookie(res), "")                       // still signed in
	is.Equal(b.get("/app/account").status, http.StatusOK)  // with the account
	is.Equal(b.get("/app/").status, http.StatusOK)         // nothing else changed
	is.True(strings.Contains(b.get("/app/").body, a.name)) // the navigation still names them
	is.Equal(s.browser().post("/app/signin", url.Values{"email": {a.email}, "password": {a.password}}).status, http.StatusSeeOther)

	// From another site: refused before the password is looked at.
	res = b.deleteAccount(a.password, "Sec-Fetch-Site", "cross-site")
	is.Equal(res.status, http.StatusForbidden)
	is.True(strings.Contains(problemText(res.body), "sent from another site"))
	is.Equal(b.get("/app/account").status, http.StatusOK)

	// The second failure reaches the limit of 2 for the email; the next
	// attempt, the right password included, waits.
	is.Equal(b.deleteAccount("wrong again").status, http.StatusUnauthorized)
	res = b.deleteAccount(a.password)
	is.Equal(res.status, http.StatusTooManyRequests)
	is.True(strings.Contains(problemText(res.body), "too many failed logins"))
	is.True(strings.Contains(problemText(res.body), "Try again in 15 minutes"))
	is.True(res.header.Get("Retry-After") != "")
	is.True(strings.Contains(res.body, `<form id="delete-account"`))
	is.Equal(b.get("/app/account").status, http.StatusOK) // not erased
	// The sign-in's throttle counted them: it refuses this browser's
	// client too.
	is.Equal(s.browser().post("/app/signin", url.Values{"email": {a.email}, "password": {a.password}}).status, http.StatusTooManyRequests)
}

// TestAccountEraseJobSeeker erases a job seeker through the delete form:
// the browser is signed out and lands on a page that says so, a copy of
// the old cookie signs no one in, the email can sign up again, and the
// recruiter sees the application as an erased applicant's.
func TestAccountEraseJobSeeker(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	recruiter := s.browser()
	recruiter.signUp("recruiter")
	jobID := recruiter.postJob("Erasure Engineer")
	seeker := s.browser()
	a := seeker.signUp("job_seeker")
	applicationID := seeker.apply(jobID, &upload{name: "ada-cv.pdf", content: testfiles.PDF(1000)})
	applicants, application := "/app/jobs/"+jobID+"/applications", "/app/applications/"+applicationID

	// Before: the recruiter sees who applied.
	page := recruiter.get(applicants).body
	is.True(strings.Contains(page, `<a class="email" href="mailto:ada@example.com">ada@example.com</a>`))
	is.True(strings.Contains(page, "ada-cv.pdf"))
	is.True(strings.Contains(seeker.get("/app/account").body, "From your application:"))

	cookie := seeker.sessionValue()
	is.True(cookie != "")
	res := seeker.deleteAccount(a.password)
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), "/app/account/deleted")
	is.True(strings.Contains(sessionCookie(res), "Max-Age=0")) // the cookie is removed
	is.Equal(seeker.sessionValue(), "")

	res = seeker.get("/app/account/deleted")
	is.Equal(res.status, http.StatusOK)
	is.True(strings.Contains(res.body, `id="account-deleted"`))
	is.True(strings.Contains(res.body, "Your account was deleted"))
	is.True(!strings.Contains(res.body, `id="signout"`)) // signed out
	is.True(strings.Contains(res.body, `<a href="/app/signin">Sign in</a>`))

	// A copy of the old cookie, whose signature still holds, signs no one
	// in: it is ended at its next use.
	old := s.withSession(cookie)
	res = old.get("/app/account")
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), "/app/signin?next=%2Fapp%2Faccount")
	is.True(strings.Contains(sessionCookie(res), "Max-Age=0"))
	is.Equal(s.withSession(cookie).get("/app/me/applications").status, http.StatusSeeOther)
	is.Equal(s.withSession(cookie).get("/app/account/export").status, http.StatusSeeOther)
	res = s.withSession(cookie).deleteAccount(a.password)
	is.Equal(res.status, http.StatusSeeOther) // nothing to delete: sent to sign in
	is.True(strings.HasPrefix(res.location(), "/app/signin"))
	is.Equal(seeker.get("/app/account").status, http.StatusSeeOther)

	// The account can no longer sign in; its email can sign up again.
	res = s.browser().post("/app/signin", url.Values{"email": {a.email}, "password": {a.password}})
	is.Equal(res.status, http.StatusUnauthorized)
	again := s.browser()
	res = again.post("/app/signup", url.Values{"email": {a.email}, "password": {"a new password, please"}, "name": {"Ada Again"}, "role": {"job_seeker"}})
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), "/app/")
	page = again.get("/app/account").body
	is.True(strings.Contains(page, `<dd id="account-email">`+a.email+`</dd>`))
	is.True(strings.Contains(page, "You have made no applications")) // a new account, with nothing of the old one
	is.True(!strings.Contains(again.get("/app/me/applications").body, applicationID))

	// The recruiter sees the application, with nothing personal in it.
	res = recruiter.get(applicants)
	is.Equal(res.status, http.StatusOK)
	is.True(strings.Contains(res.body, `<a href="/app/applications/`+applicationID+`">Erased applicant</a>`))
	is.True(strings.Contains(res.body, `<span class="erased">Deleted their account</span>`))
	is.True(!strings.Contains(res.body, "mailto:")) // no empty mail link
	is.True(!strings.Contains(res.body, "ada@example.com"))
	is.True(!strings.Contains(res.body, "ada-cv.pdf"))
	is.True(strings.Contains(res.body, `<td>Erased</td>`)) // the resume
	is.True(strings.Contains(res.body, statusBadge("submitted", "Submitted")))

	res = recruiter.get(application)
	is.Equal(res.status, http.StatusOK)
	is.True(strings.Contains(res.body, "<h1>Erased applicant</h1>"))
	is.True(strings.Contains(res.body, `id="erased"`)) // says why
	is.True(strings.Contains(res.body, `<dd class="email">Erased</dd>`))
	is.True(strings.Contains(res.body, `<dd class="cover-letter">Erased</dd>`))
	is.True(strings.Contains(res.body, `<dd class="resume">Erased</dd>`))
	is.True(!strings.Contains(res.body, "mailto:"))
	is.True(!strings.Contains(res.body, "Hello.")) // the cover letter
	is.True(!strings.Contains(res.body, "ada@example.com"))
	is.True(strings.Contains(res.body, `<form id="move"`)) // still in the pipeline
	is.Equal(recruiter.get(application+"/resume").status, http.StatusNotFound)

	// It still moves along the pipeline.
	res = recruiter.move(applicationID, "screening", "", versionIn(recruiter.get(application).body, "move"), application)
	is.Equal(res.status, http.StatusSeeOther)
	is.True(strings.Contains(recruiter.get(application).body, statusBadge("screening", "Screening")))
}

// TestAccountEraseRecruiter erases a recruiter through the delete form:
// their open jobs close, and their pages say so; an applicant's
// application stays theirs to read.
func TestAccountEraseRecruiter(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	recruiter := s.browser()
	r := recruiter.signUp("recruiter")
	open1 := recruiter.postJob("Open Engineer")
	open2 := recruiter.postJob("Another Open Engineer")
	closed := recruiter.postJob("Closed Engineer")
	is.Equal(recruiter.post("/app/jobs/"+closed+"/close", nil).status, http.StatusSeeOther)
	seeker := s.browser()
	seeker.signUp("job_seeker")
	applicationID := seeker.apply(open1, &upload{name: "cv.pdf", content: testfiles.PDF(1000)})
	is.True(strings.Contains(recruiter.get("/app/account").body, "Your 2 open jobs will be closed"))

	res := recruiter.deleteAccount(r.password)
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), "/app/account/deleted")
	is.Equal(recruiter.get("/app/my/jobs").status, http.StatusSeeOther) // signed out

	anonymous := s.browser()
	for _, id := range []string{open1, open2, closed} {
		res := anonymous.get("/app/jobs/" + id)
		is.Equal(res.status, http.StatusOK)                                                             // the job stays, as published
		is.True(strings.Contains(res.body, `<p id="job-status" class="badge badge-closed">Closed</p>`)) // closed
		page := seeker.get("/app/jobs/" + id).body
		is.True(!strings.Contains(page, `<form id="apply"`)) // taking no applications
	}
	res = anonymous.get("/app/?q=" + url.QueryEscape("Open Engineer"))
	is.True(!strings.Contains(res.body, open1) && !strings.Contains(res.body, open2)) // nor listed in the search

	res = seeker.get("/app/applications/" + applicationID)
	is.Equal(res.status, http.StatusOK) // the applicant's application stays theirs
	is.True(strings.Contains(res.body, "Open Engineer"))
	is.Equal(s.browser().post("/app/signin", url.Values{"email": {r.email}, "password": {r.password}}).status, http.StatusUnauthorized)
}
