package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/testfiles"
)

// TestSearch checks the search page: its filters, the count, and the next
// page, which keeps the filters; and that a bad filter is a 400 with the
// form and the error.
func TestSearch(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	owner := s.browser()
	owner.signUp("recruiter")
	token := "zq" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	var ids []string
	for i := range 3 {
		ids = append(ids, owner.postJob(fmt.Sprintf("Searcher %s %d", token, i)))
	}
	remote := owner.post("/app/jobs/new", url.Values{"title": {"Remote " + token}, "description": {"Anywhere."},
		"location": {"Lisbon"}, "employment_type": {"contract"}, "remote": {"true"}})
	is.Equal(remote.status, http.StatusSeeOther)
	anonymous := s.browser()
	results := func(body string) []string {
		var got []string
		for _, m := range regexp.MustCompile(`<a class="job-link" href="/app/jobs/([0-9a-f-]+)">`).FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		return got
	}

	page := anonymous.get("/app/?title=" + token)
	is.Equal(page.status, http.StatusOK)
	is.True(strings.Contains(page.body, `<p id="result-count">4 jobs</p>`))
	is.Equal(len(results(page.body)), 4)
	is.True(strings.Contains(page.body, `value="`+token+`"`)) // the form keeps the filter

	page = anonymous.get("/app/?title=" + token + "&remote=true&employment_type=contract")
	is.True(strings.Contains(page.body, `<p id="result-count">1 job</p>`))
	is.True(strings.Contains(page.body, `<option value="contract" selected>`))
	is.True(strings.Contains(page.body, `<option value="true" selected>`))

	page = anonymous.get("/app/?title=" + token + "&location=nowhere")
	is.True(strings.Contains(page.body, `<p id="result-count">No jobs match.</p>`))
	is.True(!strings.Contains(page.body, `<ol id="results"`))

	// Two a page: the next page keeps the filters, and the last page has
	// no next.
	page = anonymous.get("/app/?title=" + token + "&remote=false&limit=2")
	is.Equal(results(page.body), []string{ids[2], ids[1]}) // newest first
	next := regexp.MustCompile(`<a rel="next" id="next-page" href="([^"]+)">Next page</a>`).FindStringSubmatch(page.body)
	is.True(next != nil) // a next page
	href := strings.ReplaceAll(next[1], "&amp;", "&")
	u, err := url.Parse(href)
	is.NoErr(err)
	is.Equal(u.Path, "/app/")
	is.Equal(u.Query().Get("title"), token)
	is.Equal(u.Query().Get("remote"), "false")
	is.Equal(u.Query().Get("limit"), "2")
	is.True(u.Query().Get("cursor") != "")
	page = anonymous.get(href)
	is.Equal(results(page.body), []string{ids[0]})
	is.True(strings.Contains(page.body, `<p id="result-count">3 jobs</p>`)) // the count is of every page
	is.True(!strings.Contains(page.body, `id="next-page"`))

	// The same listing as GET /jobs.
	api := anonymous.get("/jobs?title=" + token + "&remote=false&limit=2")
	for _, id := range []string{ids[2], ids[1]} {
		is.True(strings.Contains(api.body, id))
	}

	for query, field := range map[string]string{
		"employment_type=permanent": "employment_type",
		"remote=maybe":              "remote",
		"cursor=not-a-cursor":       "cursor",
		"limit=1000":                "limit",
	} {
		page := anonymous.get("/app/?title=" + token + "&" + query)
		if page.status != http.StatusBadRequest {
			t.Fatalf("%s: want 400, got %s", query, page)
		}
		is.True(strings.Contains(page.body, `<form id="search"`)) // the form, to correct it
		is.True(problemText(page.body) != "")                     // and the problem
		is.True(!strings.Contains(page.body, `id="result-count"`))
		if field == "employment_type" || field == "remote" {
			is.True(fieldError(page.body, field) != "") // next to its field
			is.True(strings.Contains(page.body, `aria-invalid="true" aria-describedby="`+field+`-error"`))
		}
	}
}

// TestPostAndEditJob checks the job form: the domain's errors next to
// their fields with what was typed kept and nothing posted, a post that
// shows at once, and an edit that lost a race.
func TestPostAndEditJob(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	owner := s.browser()
	owner.signUp("recruiter")

	res := owner.post("/app/jobs/new", url.Values{"title": {""}, "description": {"Kept description"}, "location": {"Berlin"},
		"employment_type": {"full_time"}, "salary_min": {"90"}, "salary_max": {"10"}, "salary_currency": {"EURO"}})
	is.Equal(res.status, http.StatusUnprocessableEntity)
	is.True(fieldError(res.body, "title") != "")
	is.True(fieldError(res.body, "salary_min") != "")
	is.True(fieldError(res.body, "salary_currency") != "")
	is.True(strings.Contains(res.body, `<input id="title" name="title" type="text" value="" aria-invalid="true" aria-describedby="title-error">`))
	is.True(strings.Contains(res.body, ">Kept description</textarea>")) // what was typed is kept
	is.True(strings.Contains(res.body, `value="EURO"`))
	is.True(problemText(res.body) != "")
	is.True(!strings.Contains(owner.get("/app/my/jobs").body, `<table id="my-jobs">`)) // nothing was posted

	res = owner.post("/app/jobs/new", url.Values{"title": {"Edited Engineer"}, "description": {"x"}, "location": {"Berlin"}, "salary_min": {"lots"}})
	is.Equal(res.status, http.StatusUnprocessableEntity)
	is.Equal(fieldError(res.body, "salary_min"), "must be a whole number")

	id := owner.postJob("Edited Engineer")
	page := owner.get("/app/jobs/" + id) // read your writes: the job is there at once
	is.True(strings.Contains(page.body, `<h1 id="job-title">Edited Engineer</h1>`))
	is.True(strings.Contains(page.body, `<p id="job-status" class="badge badge-open">Open</p>`))

	// Two tabs read the form at version 1; one saves, then the other.
	edit := func(version, title, location string) response {
		return owner.post("/app/jobs/"+id+"/edit", url.Values{"version": {version}, "title": {title},
			"description": {"Go and PostgreSQL."}, "location": {location}, "employment_type": {"full_time"}})
	}
	form := owner.get("/app/jobs/" + id + "/edit")
	is.True(strings.Contains(form.body, `<input type="hidden" name="version" value="1">`))
	res = edit("1", "Edited Engineer II", "Berlin")
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), "/app/jobs/"+id)

	res = edit("1", "Stale Title", "Hamburg")
	is.Equal(res.status, http.StatusPreconditionFailed)
	is.True(strings.Contains(problemText(res.body), "changed by someone else"))
	is.True(strings.Contains(problemText(res.body), "version 2"))
	is.True(strings.Contains(res.body, `<input type="hidden" name="version" value="2">`))                         // the current version
	is.True(strings.Contains(res.body, `<input id="title" name="title" type="text" value="Edited Engineer II">`)) // and values
	is.True(strings.Contains(res.body, "<dd>Stale Title</dd>"))                                                   // what was typed, listed
	is.True(strings.Contains(res.body, "<dd>Hamburg</dd>"))
	is.True(strings.Contains(owner.get("/app/jobs/"+id).body, `<h1 id="job-title">Edited Engineer II</h1>`)) // the other change stands

	res = edit("2", "", "Hamburg")
	is.Equal(res.status, http.StatusUnprocessableEntity)
	is.True(fieldError(res.body, "title") != "")
	is.True(strings.Contains(res.body, `<input type="hidden" name="version" value="2">`)) // the version it was read at, kept

	res = edit("2", "Edited Engineer III", "Hamburg")
	is.Equal(res.status, http.StatusSeeOther)
	is.True(strings.Contains(owner.get("/app/jobs/"+id).body, `<h1 id="job-title">Edited Engineer III</h1>`))

	res = edit("x", "Edited Engineer III", "Hamburg")
	is.Equal(res.status, http.StatusBadRequest)
}

// TestCloseReopenAndDelete checks the owner's controls.
func TestCloseReopenAndDelete(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	b := setUpBoards(t, s)
	job := "/app/jobs/" + b.jobID

	page := b.owner.get(job).body
	for _, control := range []string{`id="edit-job"`, `id="job-applicants"`, `id="delete-job"`, `<form id="close-job"`} {
		is.True(strings.Contains(page, control)) // the owner's controls
	}
	is.True(!strings.Contains(b.otherRecruiter.get(job).body, `id="edit-job"`)) // not another's

	res := b.owner.post(job+"/close", nil)
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), job)
	page = b.owner.get(job).body
	is.True(strings.Contains(page, `<p id="job-status" class="badge badge-closed">Closed</p>`))
	is.True(strings.Contains(page, `<form id="reopen-job"`))
	is.True(!strings.Contains(b.otherSeeker.get(job).body, `<form id="apply"`)) // a closed job takes no applications
	res = b.otherSeeker.postMultipart(job+"/apply", nil, "cover_letter", "Late")
	is.Equal(res.status, http.StatusConflict)
	is.True(strings.Contains(problemText(res.body), "closed"))

	is.Equal(b.owner.post(job+"/reopen", nil).status, http.StatusSeeOther)
	is.True(strings.Contains(b.owner.get(job).body, `<p id="job-status" class="badge badge-open">Open</p>`))

	confirm := b.owner.get(job + "/delete")
	is.True(strings.Contains(confirm.body, `<form id="delete-job-confirm" method="post"`))
	is.True(strings.Contains(confirm.body, ">Delete job</button>"))
	res = b.owner.post(job+"/delete", nil)
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), "/app/my/jobs")
	is.Equal(b.anonymous.get(job).status, http.StatusNotFound)
	// Its applications are listed nowhere, but each stays readable by its
	// two parties, as the API keeps it.
	is.True(!strings.Contains(b.seeker.get("/app/me/applications").body, b.applicationID))
	is.Equal(b.owner.get(job+"/applications").status, http.StatusNotFound)
	for _, who := range []*browser{b.seeker, b.owner} {
		page := who.get("/app/applications/" + b.applicationID)
		is.Equal(page.status, http.StatusOK)
		is.True(strings.Contains(page.body, "(this job has been deleted)"))
		is.True(!strings.Contains(page.body, `href="`+job+`"`)) // no link to a page that is gone
	}
	is.Equal(b.otherSeeker.get("/app/applications/"+b.applicationID).status, http.StatusNotFound)
}

// TestApply checks the apply form: the rules shown before sending, an
// application that goes through, and the refusals, each shown on the form
// with what was typed kept and nothing applied.
func TestApply(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	owner, seeker := s.browser(), s.browser()
	owner.signUp("recruiter")
	account := seeker.signUp("job_seeker")
	jobID := owner.postJob("Apply Engineer")
	job := "/app/jobs/" + jobID

	page := seeker.get(job).body
	is.True(strings.Contains(page, `<form id="apply" method="post" enctype="multipart/form-data" action="`+job+`/apply"`))
	is.True(strings.Contains(page, `value="`+account.email+`"`)) // prefilled from the account
	is.True(strings.Contains(page, `accept=".pdf,`))
	is.True(strings.Contains(page, "at most 5 MiB")) // the rules, before sending

	// A 6 MiB file: the form again, with the domain's size error.
	big := append(testfiles.PDF(100), bytes.Repeat([]byte("x"), 6<<20)...)
	res := seeker.postMultipart(job+"/apply", &upload{name: "big.pdf", content: big}, "name", "Ada", "email", "ada@example.com", "cover_letter", "Kept letter")
	is.Equal(res.status, http.StatusRequestEntityTooLarge)
	is.Equal(fieldError(res.body, "resume"), "the resume is larger than 5 MiB")
	is.True(strings.Contains(res.body, `<form id="apply"`))
	is.True(strings.Contains(res.body, ">Kept letter</textarea>")) // what was typed is kept
	is.True(strings.Contains(res.body, `value="Ada"`))

	// Not a resume.
	res = seeker.postMultipart(job+"/apply", &upload{name: "page.pdf", content: testfiles.HTML()}, "cover_letter", "Kept letter")
	is.Equal(res.status, http.StatusUnsupportedMediaType)
	is.True(fieldError(res.body, "resume") != "")

	// A field the domain refuses.
	res = seeker.postMultipart(job+"/apply", nil, "name", "", "email", "not an address")
	is.Equal(res.status, http.StatusUnprocessableEntity)
	is.True(fieldError(res.body, "name") != "")
	is.True(fieldError(res.body, "email") != "")

	is.True(!strings.Contains(seeker.get("/app/me/applications").body, `<tr class="application"`)) // nothing applied so far

	resume := testfiles.PDF(3000)
	id := seeker.apply(jobID, &upload{name: "cv.pdf", content: resume})
	page = seeker.get(job).body
	is.True(strings.Contains(page, `<p id="already-applied"`))
	is.True(strings.Contains(page, `href="/app/applications/`+id+`"`))
	is.True(!strings.Contains(page, `<form id="apply"`))

	res = seeker.postMultipart(job+"/apply", nil, "cover_letter", "Again")
	is.Equal(res.status, http.StatusConflict)
	is.True(strings.Contains(problemText(res.body), "already applied"))

	mine := seeker.get("/app/me/applications").body
	is.Equal(strings.Count(mine, `<tr class="application"`), 1)
	is.True(strings.Contains(mine, `<a href="/app/applications/`+id+`">Apply Engineer</a>`))
	is.True(strings.Contains(mine, `<td class="status"><span class="badge badge-status badge-submitted">Submitted</span></td>`))

	applicants := owner.get(job + "/applications").body
	is.True(strings.Contains(applicants, `<a href="/app/applications/`+id+`">Ada</a>`))
	is.True(strings.Contains(owner.get("/app/my/jobs").body, `<td class="application-count">1</td>`))

	application := owner.get("/app/applications/" + id).body
	is.True(strings.Contains(application, "<h1>Ada</h1>"))
	is.True(strings.Contains(application, `<dl id="application"`))
	is.True(strings.Contains(application, "Hello."))

	download := owner.get("/app/applications/" + id + "/resume")
	is.Equal(download.status, http.StatusOK)
	is.Equal(download.header.Get("Content-Type"), "application/pdf")
	is.Equal(download.header.Get("Content-Disposition"), `attachment; filename="cv.pdf"; filename*=UTF-8''cv.pdf`)
	is.Equal(download.header.Get("X-Content-Type-Options"), "nosniff")
	is.Equal(download.body, string(resume)) // the file, byte for byte
}

// TestResumeNamesAreSafe checks the Content-Disposition of names that
// could break out of it.
func TestResumeNamesAreSafe(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	owner, seeker := s.browser(), s.browser()
	owner.signUp("recruiter")
	seeker.signUp("job_seeker")
	jobID := owner.postJob("Names Engineer")
	id := seeker.apply(jobID, &upload{name: "Lebenslauf \"ü\"; x=y.pdf", content: testfiles.PDF(500)})
	cd := seeker.get("/app/applications/" + id + "/resume").header.Get("Content-Disposition")
	// As the API sends it: an ASCII fallback that nothing in the name can
	// end, and the exact name percent-encoded (RFC 6266, RFC 8187).
	is.Equal(cd, `attachment; filename="Lebenslauf ___; x=y.pdf"; filename*=UTF-8''Lebenslauf%20_%C3%BC_%3B%20x%3Dy.pdf`) // the stored name has _ for the quotes
}

// TestSignUpAndSignIn checks the account forms: the domain's errors,
// what is kept (never the password), a taken email, a wrong password.
func TestSignUpAndSignIn(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	b := s.browser()

	res := b.post("/app/signup", url.Values{"email": {"not an address"}, "password": {"short"}, "name": {"Ann"}, "role": {"recruiter"}, "company": {"Acme"}})
	is.Equal(res.status, http.StatusUnprocessableEntity)
	is.True(fieldError(res.body, "email") != "")
	is.Equal(fieldError(res.body, "password"), "must be 8 to 72 bytes long")
	is.True(strings.Contains(res.body, `value="not an address"`))    // kept
	is.True(!strings.Contains(res.body, `value="short"`))            // but never the password
	is.True(strings.Contains(res.body, `value="recruiter" checked`)) // nor the role lost
	is.True(strings.Contains(res.body, `aria-invalid="true" aria-describedby="email-error"`))
	is.Equal(sessionCookie(res), "") // not signed in

	a := b.signUp("recruiter")
	res = s.browser().post("/app/signup", url.Values{"email": {a.email}, "password": {a.password}, "name": {"Again"}, "role": {"job_seeker"}})
	is.Equal(res.status, http.StatusConflict)
	is.Equal(fieldError(res.body, "email"), "is already registered")
	is.True(strings.Contains(problemText(res.body), "already exists"))

	res = s.browser().post("/app/signin", url.Values{"email": {a.email}, "password": {"wrong password"}})
	is.Equal(res.status, http.StatusUnauthorized)
	is.True(strings.Contains(problemText(res.body), "the email or password is wrong"))
	is.True(strings.Contains(res.body, `value="`+a.email+`"`))
	is.True(!strings.Contains(res.body, "wrong password"))
	is.Equal(res.header.Get("WWW-Authenticate"), "")

	res = s.browser().post("/app/signin", url.Values{"email": {strings.ToUpper(a.email)}, "password": {a.password}})
	is.Equal(res.status, http.StatusSeeOther)
	is.True(sessionCookie(res) != "")
}

// TestSignInIsThrottled checks that the sign-in page counts failures as
// POST /login does, in the same counts: the 11th wrong password for one
// email is refused with the wait, and so is the API's next attempt.
func TestSignInIsThrottled(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	a := s.browser().signUp("job_seeker")
	b := s.browser()
	for i := 1; i <= 10; i++ {
		res := b.post("/app/signin", url.Values{"email": {a.email}, "password": {"wrong " + strconv.Itoa(i)}})
		is.Equal(res.status, http.StatusUnauthorized) // a wrong password
	}
	res := b.post("/app/signin", url.Values{"email": {a.email}, "password": {"wrong 11"}})
	is.Equal(res.status, http.StatusTooManyRequests)
	is.True(strings.Contains(problemText(res.body), "too many failed logins"))
	is.True(strings.Contains(problemText(res.body), "Try again in 15 minutes"))
	is.True(res.header.Get("Retry-After") != "")
	is.True(strings.Contains(res.body, `<form id="signin"`))

	api := b.do(http.MethodPost, "/login", strings.NewReader(`{"email":"`+a.email+`","password":"`+a.password+`"}`), "Content-Type", "application/json")
	is.Equal(api.status, http.StatusTooManyRequests) // the same throttle
}
