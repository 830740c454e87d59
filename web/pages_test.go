package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testfiles"
)

// TestRootRedirectsToThePages checks that GET / leads people to the pages,
// while the API's paths stay the API's.
func TestRootRedirectsToThePages(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	b := s.browser()

	res := b.get("/")
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), "/app/")

	res = b.get("/no/such/path")
	is.Equal(res.status, http.StatusNotFound)
	is.Equal(res.header.Get("Content-Type"), "application/problem+json; charset=utf-8") // not a page: the API's

	for _, path := range []string{"/app/nope", "/app/jobs", "/app/jobs/" + uuid.NewString() + "/nope", "/app/static/nope.css"} {
		res := b.get(path)
		is.Equal(res.status, http.StatusNotFound)                                  // an unknown page
		is.Equal(res.header.Get("Content-Type"), "text/html; charset=utf-8")       // is a page
		is.True(strings.Contains(res.body, `<main id="main"`))                     // with the layout
		is.True(res.header.Get("X-Request-Id") != "")                              // through the API's middleware
		is.Equal(res.header.Get("Content-Security-Policy"), contentSecurityPolicy) // and the pages' CSP
	}
}

// boards is a job board with a job, an application to it with a resume,
// and the accounts around them, each in a browser of its own.
type boards struct {
	owner, otherRecruiter, seeker, otherSeeker, anonymous *browser
	jobID, applicationID                                  string
	resume                                                []byte
}

func setUpBoards(t *testing.T, s *service) boards {
	b := boards{owner: s.browser(), otherRecruiter: s.browser(), seeker: s.browser(), otherSeeker: s.browser(), anonymous: s.browser()}
	b.owner.signUp("recruiter")
	b.otherRecruiter.signUp("recruiter")
	b.seeker.signUp("job_seeker")
	b.otherSeeker.signUp("job_seeker")
	b.jobID = b.owner.postJob("Pages Engineer")
	b.resume = testfiles.PDF(2000)
	b.applicationID = b.seeker.apply(b.jobID, &upload{name: "cv.pdf", content: b.resume})
	return b
}

// TestPagesAnswerEachVisitor checks, for every page, who gets it, who is
// sent to sign in first, who is refused, and what an unknown id gets.
func TestPagesAnswerEachVisitor(t *testing.T) {
	s := startService(t, nil)
	b := setUpBoards(t, s)
	job, app := "/app/jobs/"+b.jobID, "/app/applications/"+b.applicationID
	unknownJob, unknownApp := "/app/jobs/"+uuid.NewString(), "/app/applications/"+uuid.NewString()

	type visit struct {
		who    *browser
		name   string
		status int
	}
	pages := []struct {
		path   string
		visits []visit
		// contains is what the page shows to those it answers 200.
		contains string
	}{
		{"/app/", []visit{{b.anonymous, "anonymous", 200}, {b.seeker, "seeker", 200}, {b.owner, "owner", 200}}, `<form id="search"`},
		{job, []visit{{b.anonymous, "anonymous", 200}, {b.otherSeeker, "other seeker", 200}, {b.otherRecruiter, "other recruiter", 200}}, `<h1 id="job-title">Pages Engineer</h1>`},
		{"/app/signin", []visit{{b.anonymous, "anonymous", 200}}, `<form id="signin" method="post"`},
		{"/app/signup", []visit{{b.anonymous, "anonymous", 200}}, `<form id="signup" method="post"`},
		{"/app/me/applications", []visit{{b.anonymous, "anonymous", 303}, {b.owner, "recruiter", 403}, {b.seeker, "seeker", 200}}, `<table id="my-applications">`},
		{"/app/my/jobs", []visit{{b.anonymous, "anonymous", 303}, {b.seeker, "seeker", 403}, {b.owner, "owner", 200}}, `<table id="my-jobs">`},
		{"/app/jobs/new", []visit{{b.anonymous, "anonymous", 303}, {b.seeker, "seeker", 403}, {b.owner, "recruiter", 200}}, `<form id="job-form" method="post"`},
		{job + "/edit", []visit{{b.anonymous, "anonymous", 303}, {b.seeker, "seeker", 403}, {b.otherRecruiter, "other recruiter", 403}, {b.owner, "owner", 200}}, `name="version" value="1"`},
		{job + "/delete", []visit{{b.anonymous, "anonymous", 303}, {b.seeker, "seeker", 403}, {b.otherRecruiter, "other recruiter", 403}, {b.owner, "owner", 200}}, `<form id="delete-job-confirm" method="post"`},
		{job + "/applications", []visit{{b.anonymous, "anonymous", 303}, {b.seeker, "seeker", 403}, {b.otherRecruiter, "other recruiter", 403}, {b.owner, "owner", 200}}, `<a class="resume-link" href="` + app + `/resume">`},
		{app, []visit{{b.anonymous, "anonymous", 303}, {b.otherSeeker, "other seeker", 404}, {b.otherRecruiter, "other recruiter", 404}, {b.seeker, "applicant", 200}, {b.owner, "owner", 200}}, `<dl id="application"`},
		{app + "/resume", []visit{{b.anonymous, "anonymous", 303}, {b.otherSeeker, "other seeker", 404}, {b.otherRecruiter, "other recruiter", 404}, {b.seeker, "applicant", 200}, {b.owner, "owner", 200}}, "%PDF-1.4"},
		// Unknown and malformed ids.
		{unknownJob, []visit{{b.anonymous, "anonymous", 404}, {b.owner, "recruiter", 404}}, ""},
		{"/app/jobs/not-a-uuid", []visit{{b.anonymous, "anonymous", 404}}, ""},
		{unknownJob + "/edit", []visit{{b.owner, "recruiter", 404}}, ""},
		{unknownJob + "/delete", []visit{{b.owner, "recruiter", 404}}, ""},
		{unknownJob + "/applications", []visit{{b.owner, "recruiter", 404}}, ""},
		{unknownApp, []visit{{b.seeker, "seeker", 404}, {b.owner, "recruiter", 404}}, ""},
		{unknownApp + "/resume", []visit{{b.seeker, "seeker", 404}}, ""},
		{"/app/applications/" + b.jobID, []visit{{b.owner, "recruiter", 404}}, ""}, // a job's id is no application's
	}
	for _, p := range pages {
		for _, v := range p.visits {
			t.Run(p.path+" as "+v.name, func(t *testing.T) {
				is := is.New(t)
				res := v.who.get(p.path)
				if res.status != v.status {
					t.Fatalf("GET %s as %s: want %d, got %s", p.path, v.name, v.status, res)
				}
				switch v.status {
				case http.StatusSeeOther:
					is.Equal(res.location(), "/app/signin?"+url.Values{"next": {p.path}}.Encode()) // to sign in, and back
				case http.StatusOK:
					is.True(strings.Contains(res.body, p.contains)) // the page
				default:
					is.Equal(res.header.Get("Content-Type"), "text/html; charset=utf-8") // an error page, not problem+json
					is.True(strings.Contains(res.body, `<div class="problem" role="alert" id="problem">`))
				}
			})
		}
	}
}

// TestFormsNeedTheirRoleAndOwner checks the pages' POST routes the same
// way, and that a refused one changes nothing.
func TestFormsNeedTheirRoleAndOwner(t *testing.T) {
	s := startService(t, nil)
	b := setUpBoards(t, s)
	job := "/app/jobs/" + b.jobID
	edit := url.Values{"version": {"1"}, "title": {"Taken over"}, "description": {"x"}, "location": {"Nowhere"}, "employment_type": {"full_time"}}

	for _, c := range []struct {
		name   string
		who    *browser
		path   string
		form   url.Values
		status int
		next   string
	}{
		{"anonymous closes", b.anonymous, job + "/close", nil, 303, job},
		{"anonymous edits", b.anonymous, job + "/edit", edit, 303, job},
		{"anonymous deletes", b.anonymous, job + "/delete", nil, 303, job},
		{"anonymous posts", b.anonymous, "/app/jobs/new", edit, 303, "/app/jobs/new"},
		{"anonymous applies", b.anonymous, job + "/apply", nil, 303, job},
		{"seeker closes", b.seeker, job + "/close", nil, 403, ""},
		{"seeker posts", b.seeker, "/app/jobs/new", edit, 403, ""},
		{"recruiter applies", b.owner, job + "/apply", nil, 403, ""},
		{"other recruiter closes", b.otherRecruiter, job + "/close", nil, 403, ""},
		{"other recruiter reopens", b.otherRecruiter, job + "/reopen", nil, 403, ""},
		{"other recruiter edits", b.otherRecruiter, job + "/edit", edit, 403, ""},
		{"other recruiter deletes", b.otherRecruiter, job + "/delete", nil, 403, ""},
		{"owner closes an unknown job", b.owner, "/app/jobs/" + uuid.NewString() + "/close", nil, 404, ""},
		{"owner deletes an unknown job", b.owner, "/app/jobs/" + uuid.NewString() + "/delete", nil, 404, ""},
		{"seeker applies to an unknown job", b.otherSeeker, "/app/jobs/" + uuid.NewString() + "/apply", nil, 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			res := c.who.post(c.path, c.form)
			if res.status != c.status {
				t.Fatalf("POST %s: want %d, got %s", c.path, c.status, res)
			}
			if c.status == http.StatusSeeOther {
				is.Equal(res.location(), "/app/signin?"+url.Values{"next": {c.next}}.Encode())
			}
		})
	}
	is := is.New(t)
	page := b.anonymous.get(job)
	is.True(strings.Contains(page.body, `<h1 id="job-title">Pages Engineer</h1>`)) // not edited
	is.True(strings.Contains(page.body, `<p id="job-status" class="badge badge-open">Open</p>`))
}

// TestNavigationFollowsTheAccount checks the navigation each visitor sees.
func TestNavigationFollowsTheAccount(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	anonymous, seeker, recruiter := s.browser(), s.browser(), s.browser()
	seekerAccount := seeker.signUp("job_seeker")
	recruiterAccount := recruiter.signUp("recruiter")

	page := anonymous.get("/app/").body
	is.True(strings.Contains(page, `<nav aria-label="Main">`))
	is.True(strings.Contains(page, `<a href="/app/signin">Sign in</a>`))
	is.True(strings.Contains(page, `<a href="/app/signup">Sign up</a>`))
	is.True(!strings.Contains(page, `id="signout"`))

	page = seeker.get("/app/").body
	is.True(strings.Contains(page, seekerAccount.name))
	is.True(strings.Contains(page, `<a href="/app/me/applications">My applications</a>`))
	is.True(strings.Contains(page, `<form id="signout" method="post" action="/app/signout"><button type="submit" class="link-button">Sign out</button></form>`))
	is.True(!strings.Contains(page, "My jobs"))

	page = recruiter.get("/app/").body
	is.True(strings.Contains(page, recruiterAccount.name))
	is.True(strings.Contains(page, `<a href="/app/my/jobs">My jobs</a>`))
	is.True(strings.Contains(page, `<a href="/app/jobs/new">Post a job</a>`))
	is.True(!strings.Contains(page, "My applications"))

	res := recruiter.post("/app/signout", nil)
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), "/app/")
	is.True(strings.Contains(res.header.Get("Set-Cookie"), "Max-Age=0")) // the cookie is removed
	is.Equal(recruiter.get("/app/my/jobs").status, http.StatusSeeOther)  // and the browser signed out
}

// TestMiddlewareRefusalsArePages checks that what the API's middleware
// refuses on the pages' paths (here its read rate limit) is answered as a
// page, and on the API's paths as problem+json still.
func TestMiddlewareRefusalsArePages(t *testing.T) {
	is := is.New(t)
	s := startService(t, map[string]string{"READ_RATE_LIMIT": "0.01", "READ_RATE_BURST": "1"})
	b := s.browser()
	is.Equal(b.get("/app/").status, http.StatusOK)
	res := b.get("/app/")
	is.Equal(res.status, http.StatusTooManyRequests)
	is.Equal(res.header.Get("Content-Type"), "text/html; charset=utf-8")
	is.Equal(res.header.Get("Content-Security-Policy"), contentSecurityPolicy)
	is.True(res.header.Get("Retry-After") != "")
	is.True(strings.Contains(res.body, `<main id="main"`))
	is.True(problemText(res.body) != "")

	res = b.get("/jobs")
	is.Equal(res.status, http.StatusTooManyRequests)
	is.Equal(res.header.Get("Content-Type"), "application/problem+json; charset=utf-8")
}
