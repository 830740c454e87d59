package browsertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/internal/testfiles"
)

// TestUI uses the pages in a real browser. Its subtests run side by side,
// each in a browser context of its own, on one Chromium and one service:
// starting a browser takes seconds, a browser context milliseconds. They
// are subtests of one test, rather than tests, so that this test's cleanup
// stops the browser after the last of them: TestMain cannot, since
// testdb.Main ends the process.
func TestUI(t *testing.T) {
	b := startBrowser(t)
	s := startService(t)
	for _, tc := range []struct {
		name string
		test func(t *testing.T, b context.Context, s *service)
	}{
		{"job seeker signs up, searches and applies", testJobSeekerApplies},
		{"recruiter posts a job, downloads a resume and closes the job", testRecruiterPostsAndCloses},
		{"recruiter moves and rejects applicants, job seeker withdraws", testHiringPipeline},
		{"markup in a job is shown as text", testMarkupIsText},
		{"a form posted from another origin is refused", testCrossOriginPost},
		{"a resume over 5 MiB is refused by the form", testResumeTooLarge},
		{"pages work without JavaScript", testWithoutJavaScript},
		{"a phone's width needs no horizontal scrolling", testNarrowScreen},
		{"job seeker downloads their data and deletes their account", testDeleteAccount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, b, s)
		})
	}
}

// uuidPath matches a path that ends in a UUID, which it captures.
func uuidPath(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
}

// idIn returns the UUID at the end of the tab's path, which must be prefix
// and a UUID.
func (tb *tab) idIn(prefix string) string {
	tb.t.Helper()
	p := tb.path()
	m := uuidPath(prefix).FindStringSubmatch(p)
	if m == nil {
		tb.fatalf("want the page %s{id}, got %s", prefix, p)
	}
	return m[1]
}

// signUp opens a's account through the sign-up form and checks that it
// lands, signed in, on the search page.
func (tb *tab) signUp(a account) {
	tb.t.Helper()
	tb.open("/app/signup")
	tb.fill(`#signup [name="email"]`, a.email)
	tb.fill(`#signup [name="password"]`, a.password)
	tb.fill(`#signup [name="name"]`, a.name)
	tb.click(`#signup input[type="radio"][name="role"][value="` + a.role + `"]`)
	if a.company != "" {
		tb.fill(`#signup [name="company"]`, a.company)
	}
	tb.follow(button("signup", "Sign up"))
	tb.isSignedInAs(a, "after signing up")
}

// signIn signs a in through the sign-in form.
func (tb *tab) signIn(a account) {
	tb.t.Helper()
	tb.open("/app/signin")
	tb.fill(`#signin [name="email"]`, a.email)
	tb.fill(`#signin [name="password"]`, a.password)
	tb.follow(button("signin", "Sign in"))
	tb.isSignedInAs(a, "after signing in")
}

// isSignedInAs checks that the tab is on the search page, and that its
// navigation shows a's name, the links of a's role and the sign-out form.
func (tb *tab) isSignedInAs(a account, when string) {
	tb.t.Helper()
	if p := tb.path(); p != "/app/" {
		tb.fatalf("%s: want the search page /app/, got %s", when, p)
	}
	nav := tb.text(`nav[aria-label="Main"]`)
	want := []string{a.name, "Jobs", "Sign out"}
	if a.role == "recruiter" {
		want = append(want, "My jobs", "Post a job")
	} else {
		want = append(want, "My applications")
	}
	for _, w := range want {
		if !strings.Contains(nav, w) {
			tb.fatalf("%s: the navigation %q lacks %q", when, nav, w)
		}
	}
	if n := tb.count(`form#signout[method="post"][action="/app/signout"]`); n != 1 {
		tb.fatalf("%s: want one sign-out form, got %d", when, n)
	}
}

// writeFile writes content to a new file named name and returns its path.
func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

// chooseFile puts the file at path in the file input sel finds, as the
// file picker would.
func (tb *tab) chooseFile(sel, path string) {
	tb.t.Helper()
	tb.do("choose "+path+" in "+sel, chromedp.SetUploadFiles(chromedp.CSS(sel), []string{path}))
}

// testJobSeekerApplies follows a job seeker from sign-up to an
// application: a search on two filters, among jobs seeded so that each
// filter alone would let another job in; a job's page; the apply form with a
// PDF resume and a cover letter; the application's page; My applications.
func testJobSeekerApplies(t *testing.T, b context.Context, s *service) {
	is := is.New(t)
	m := marker()
	recruiter := s.register(t, "recruiter", "Rita Recruiter")
	title, place := "Go Developer "+m, "Lyon "+m
	older := s.postJob(t, recruiter, title, place)
	s.postJob(t, recruiter, title, "Paris "+m)       // the title matches, not the location
	s.postJob(t, recruiter, "Pastry Chef "+m, place) // the location matches, not the title
	newer := s.postJob(t, recruiter, "Senior "+title, place)
	is.Equal(s.searchIDs(t, url.Values{"title": {title}, "location": {place}}), []string{newer, older}) // the API agrees on what matches

	tb := newTab(t, b, s)
	seeker := newAccount("job_seeker", "Ada Lovelace")
	tb.signUp(seeker)

	tb.fill(`#search [name="title"]`, title)
	tb.fill(`#search [name="location"]`, place)
	res := tb.follow(button("search", "Search"))
	is.Equal(res.Status, int64(http.StatusOK))
	is.Equal(tb.text("#result-count"), "2 jobs")
	is.Equal(tb.attrs("#results li.job a.job-link", "href"), []string{"/app/jobs/" + newer, "/app/jobs/" + older}) // only the jobs that match both filters, newest first
	is.Equal(tb.texts("#results li.job a.job-link"), []string{"Senior " + title, title})
	for _, job := range tb.texts("#results li.job") {
		is.True(strings.Contains(job, "Company of Rita Recruiter")) // a result shows the company
		is.True(strings.Contains(job, place))                       // and the location
	}

	tb.follow(`#results a.job-link[href="/app/jobs/` + older + `"]`)
	is.Equal(tb.path(), "/app/jobs/"+older)
	is.Equal(tb.text("#job-title"), title)
	is.Equal(tb.text("#job-status"), "Open")
	is.Equal(tb.value(`#apply [name="name"]`), seeker.name)   // prefilled from the account
	is.Equal(tb.value(`#apply [name="email"]`), seeker.email) // prefilled from the account
	cover := "I have run Go services in production for six years, " + m + "."
	tb.fill(`#apply textarea[name="cover_letter"]`, cover)
	resume := testfiles.PDF(8 << 10)
	tb.chooseFile(`#apply input[type="file"][name="resume"]`, writeFile(t, "ada-lovelace-cv.pdf", resume))
	res = tb.follow(button("apply", "Apply"))
	is.Equal(res.Status, int64(http.StatusOK))

	applicationID := tb.idIn("/app/applications/")
	applicationPath := "/app/applications/" + applicationID
	is.Equal(tb.text("h1"), seeker.name)
	details := tb.text("#application")
	for _, want := range []string{seeker.email, title, cover} {
		if !strings.Contains(details, want) {
			t.Errorf("the application's details %q lack %q", details, want)
		}
	}
	is.True(strings.Contains(strings.ToLower(details), "submitted"))                                // the status
	is.Equal(tb.attrs("#application a.resume-link", "href"), []string{applicationPath + "/resume"}) // the resume is linked

	tb.follow(navLink("My applications"))
	is.Equal(tb.path(), "/app/me/applications")
	is.Equal(tb.count("#my-applications tr.application"), 1)
	is.Equal(tb.texts(`#my-applications tr.application a[href="`+applicationPath+`"]`), []string{title}) // the job's title links to the application
	status := tb.texts("#my-applications tr.application td.status")
	is.Equal(len(status), 1)
	is.True(strings.EqualFold(status[0], "submitted")) // its status

	// What the browser sent is what the service stored.
	stored := s.myApplications(t, s.login(t, seeker))
	is.Equal(len(stored), 1)
	is.Equal(stored[0].ID, applicationID)
	is.Equal(stored[0].JobID, older)
	is.True(stored[0].CoverLetter != nil && *stored[0].CoverLetter == cover)
	sum := sha256.Sum256(resume)
	is.True(stored[0].Resume != nil)                              // the resume was uploaded
	is.Equal(stored[0].Resume.SHA256, hex.EncodeToString(sum[:])) // whole
	is.Equal(stored[0].Resume.FileName, "ada-lovelace-cv.pdf")    // under its name

	tb.open("/app/jobs/" + older)
	is.Equal(tb.count("#apply"), 0)                                             // no second application
	is.Equal(tb.attrs("#already-applied a", "href"), []string{applicationPath}) // but a link to the first
}

// testRecruiterPostsAndCloses follows a recruiter from sign-up through the
// job form to the job's page, its applicants and a resume's download, then
// closes the job, which leaves the search.
func testRecruiterPostsAndCloses(t *testing.T, b context.Context, s *service) {
	is := is.New(t)
	m := marker()
	tb := newTab(t, b, s)
	recruiter := newAccount("recruiter", "Grace Hopper")
	tb.signUp(recruiter)

	var session *network.Cookie
	for _, c := range tb.cookies() {
		if c.Name == "jobboard_session" {
			session = c
		}
	}
	is.True(session != nil)                               // signed in with the session cookie
	is.True(session.HTTPOnly)                             // out of scripts' reach
	is.Equal(session.SameSite, network.CookieSameSiteLax) // not sent on other sites' posts
	is.Equal(session.Path, "/app/")                       // nor to the API

	tb.follow(navLink("Post a job"))
	is.Equal(tb.path(), "/app/jobs/new")
	title, company, place := "Site Reliability Engineer "+m, "Globex "+m, "Nantes "+m
	description := "Keep the job board up. On call one week in six."
	tb.fill(`#job-form [name="title"]`, title)
	tb.fill(`#job-form textarea[name="description"]`, description)
	tb.replace(`#job-form [name="company"]`, company)
	tb.fill(`#job-form [name="location"]`, place)
	tb.do("choose the employment type", chromedp.SetValue(chromedp.CSS(`#job-form select[name="employment_type"]`), "contract"))
	tb.click(`#job-form input[type="checkbox"][name="remote"][value="true"]`)
	tb.replace(`#job-form [name="salary_min"]`, "50000")
	tb.replace(`#job-form [name="salary_max"]`, "70000")
	// SetValue, not typing: the currency may be a text field or a list.
	tb.do("choose the currency", chromedp.SetValue(chromedp.CSS(`#job-form [name="salary_currency"]`), "EUR"))
	res := tb.follow(button("job-form", "Post job"))
	is.Equal(res.Status, int64(http.StatusOK))

	jobID := tb.idIn("/app/jobs/")
	is.Equal(tb.text("#job-title"), title) // the new job's page shows it at once
	is.Equal(tb.text("#job-status"), "Open")
	page := tb.text("#main")
	for _, want := range []string{company, place, description} {
		if !strings.Contains(page, want) {
			t.Errorf("the job's page lacks %q: %q", want, page)
		}
	}
	for _, control := range []string{"#edit-job", "#job-applicants", "#delete-job", "#close-job"} {
		is.Equal(tb.count(control), 1) // the owner's controls
	}
	job := s.job(t, "", jobID)
	is.Equal(job.Title, title)
	is.Equal(job.Company, company)
	is.Equal(job.Location, place)
	is.Equal(job.Description, description)
	is.Equal(job.EmploymentType, "contract")
	is.True(job.Remote)
	is.True(job.SalaryMin != nil && *job.SalaryMin == 50000)
	is.True(job.SalaryMax != nil && *job.SalaryMax == 70000)
	is.True(job.SalaryCurrency != nil && *job.SalaryCurrency == "EUR")

	seeker := s.register(t, "job_seeker", "Alan Turing")
	resume := testfiles.PDF(12345)
	applicationID := s.apply(t, seeker, jobID, "I would like to keep it up.", "turing-cv.pdf", resume)
	applicationPath := "/app/applications/" + applicationID

	tb.follow("#job-applicants")
	is.Equal(tb.path(), "/app/jobs/"+jobID+"/applications")
	is.Equal(tb.count("#applicants tr.application"), 1)
	row := tb.text("#applicants tr.application")
	is.True(strings.Contains(row, seeker.email))                                                          // the applicant's email
	is.Equal(tb.texts(`#applicants tr.application a[href="`+applicationPath+`"]`), []string{seeker.name}) // the name links to the application
	is.Equal(tb.attrs("#applicants tr.application a.resume-link", "href"), []string{applicationPath + "/resume"})

	got, name := tb.download("#applicants tr.application a.resume-link")
	is.Equal(got, resume) // the downloaded resume is the uploaded one, byte for byte
	t.Logf("the browser saved the resume as %q", name)
	status, header, _ := s.call(t, http.MethodGet, applicationPath+"/resume", nil, "Cookie", tb.cookieHeader())
	is.Equal(status, http.StatusOK)
	is.True(strings.HasPrefix(header.Get("Content-Disposition"), "attachment")) // saved, never shown in the page

	tb.open("/app/?title=" + url.QueryEscape(title))
	is.Equal(tb.text("#result-count"), "1 job") // found while open
	is.Equal(tb.attrs("#results a.job-link", "href"), []string{"/app/jobs/" + jobID})

	tb.open("/app/jobs/" + jobID)
	tb.follow(button("close-job", "Close job"))
	is.Equal(tb.path(), "/app/jobs/"+jobID) // back on the job's page
	is.Equal(tb.text("#job-status"), "Closed")
	is.Equal(tb.count("#close-job"), 0)
	is.Equal(tb.count("#reopen-job"), 1)
	is.Equal(s.job(t, "", jobID).Status, "closed")

	tb.open("/app/?title=" + url.QueryEscape(title))
	is.Equal(tb.text("#result-count"), "No jobs match.") // a closed job leaves the search
	is.Equal(tb.count("#results li.job"), 0)

	tb.follow(navLink("My jobs"))
	is.Equal(tb.path(), "/app/my/jobs")
	is.Equal(tb.count("#my-jobs tr.job"), 1) // but stays among the recruiter's jobs
	is.True(strings.Contains(tb.text("#my-jobs tr.job"), "Closed"))
	is.Equal(tb.texts("#my-jobs tr.job td.application-count"), []string{"1"})
}

// noInjectedMarkup checks that nothing a job's text holds became markup:
// no image with src x, no script element (the pages have none of their
// own), and no JavaScript dialog so far.
func (tb *tab) noInjectedMarkup(where string) {
	tb.t.Helper()
	if n := tb.count(`img[src="x"]`); n != 0 {
		tb.fatalf("%s: %d injected <img src=x> in the page", where, n)
	}
	if n := tb.count("script"); n != 0 {
		tb.fatalf("%s: %d <script> elements in the page", where, n)
	}
	if d := tb.openedDialogs(); len(d) > 0 {
		tb.fatalf("%s: JavaScript dialogs opened: %s", where, strings.Join(d, "; "))
	}
}

// testMarkupIsText posts a job whose fields are HTML that runs script
// where it is taken for markup, and checks that the search and the job's
// page show it as text.
func testMarkupIsText(t *testing.T, b context.Context, s *service) {
	is := is.New(t)
	m := marker()
	recruiter := s.register(t, "recruiter", "Mallory")
	title := `<img src=x onerror=alert(1)> ` + m
	description := `<script>alert(2)</script> and <img src=x onerror=alert(3)> ` + m
	company := `"Quotes" & <b>Bold</b> ` + m
	jobID := s.postJob(t, recruiter, title, "Lyon "+m, map[string]any{"description": description, "company": company})

	tb := newTab(t, b, s)
	tb.open("/app/?title=" + url.QueryEscape(m))
	is.Equal(tb.text("#result-count"), "1 job")
	is.Equal(tb.texts("#results li.job a.job-link"), []string{title}) // the title, as it was written
	is.True(strings.Contains(tb.text("#results li.job"), company))    // the company too
	tb.noInjectedMarkup("the search page")

	tb.follow(`#results a.job-link[href="/app/jobs/` + jobID + `"]`)
	is.Equal(tb.text("#job-title"), title)
	page := tb.text("#main")
	is.True(strings.Contains(page, description)) // the description, as it was written
	is.True(strings.Contains(page, company))
	tb.noInjectedMarkup("the job's page")

	// What a search echoes back into its form is text too.
	tb.open("/app/?title=" + url.QueryEscape(`"><img src=x onerror=alert(4)>`))
	tb.noInjectedMarkup("the search page echoing its query")
	is.Equal(tb.value(`#search [name="title"]`), `"><img src=x onerror=alert(4)>`)
}

// forgedForms are forms that post to the board at board: one posts a job
// whose title holds m, one signs out.
func forgedForms(board, m string) string {
	return fmt.Sprintf(`<form id="post-job" method="post" action="%[1]s/app/jobs/new">
<input type="hidden" name="title" value="Forged %[2]s">
<input type="hidden" name="description" value="Posted by another site.">
<input type="hidden" name="company" value="Forgers %[2]s">
<input type="hidden" name="location" value="Nowhere %[2]s">
<input type="hidden" name="employment_type" value="full_time">
<button>Claim your prize</button>
</form>
<form id="sign-out" method="post" action="%[1]s/app/signout"><button>Sign out</button></form>`, board, m)
}

// testCrossOriginPost has a signed-in recruiter submit forms that another
// origin serves, which post to the board: the board must refuse them (403)
// and change nothing. The other origin is the same site on another port,
// where the SameSite=Lax cookie goes along and only the origin check
// stands in the way, and another site (localhost), where the cookie stays
// behind. Last, the very same form, put in one of the board's own pages,
// posts the job: the refusals were for the origin, not for the form.
func testCrossOriginPost(t *testing.T, b context.Context, s *service) {
	is := is.New(t)
	m := marker()
	recruiter := s.register(t, "recruiter", "Victor Victim")
	tb := newTab(t, b, s)
	tb.signIn(recruiter)

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>You won!</title></head><body>\n%s\n</body></html>", forgedForms(s.url, m))
	}))
	t.Cleanup(evil.Close)
	evilURL, err := url.Parse(evil.URL)
	is.NoErr(err)
	port := evilURL.Port()

	for _, origin := range []string{"http://127.0.0.1:" + port, "http://localhost:" + port} {
		for _, form := range []struct{ id, button string }{{"post-job", "Claim your prize"}, {"sign-out", "Sign out"}} {
			tb.open(origin + "/")
			res := tb.follow(button(form.id, form.button))
			if res.Status != http.StatusForbidden {
				tb.fatalf("the form %s from %s: want 403, got %d", form.id, origin, res.Status)
			}
			is.Equal(tb.count("main#main h1"), 1)                          // the refusal is one of the board's pages
			is.Equal(s.searchIDs(t, url.Values{"title": {m}}), []string{}) // no job was posted
			tb.open("/app/")
			tb.isSignedInAs(recruiter, "after a forged post from "+origin) // nor was the recruiter signed out
		}
	}

	tb.open("/app/")
	eval[any](tb, `document.querySelector("#main").insertAdjacentHTML("beforeend", `+js(forgedForms(s.url, m))+`), null`)
	res := tb.follow(button("post-job", "Claim your prize"))
	is.Equal(res.Status, int64(http.StatusOK))
	jobID := tb.idIn("/app/jobs/")
	is.Equal(s.searchIDs(t, url.Values{"title": {m}}), []string{jobID}) // posted from the board's own page
}

// testResumeTooLarge applies with a 6 MiB resume: the form comes back with
// the domain's reason and what was typed, and no application exists.
func testResumeTooLarge(t *testing.T, b context.Context, s *service) {
	is := is.New(t)
	m := marker()
	recruiter := s.register(t, "recruiter", "Hiring Harriet")
	jobID := s.postJob(t, recruiter, "Archivist "+m, "Lyon "+m)
	tb := newTab(t, b, s)
	seeker := newAccount("job_seeker", "Bertha Bigfile")
	tb.signUp(seeker)

	tb.open("/app/jobs/" + jobID)
	cover := "Please find my very complete resume attached, " + m + "."
	tb.fill(`#apply textarea[name="cover_letter"]`, cover)
	tb.chooseFile(`#apply input[type="file"][name="resume"]`, writeFile(t, "complete-cv.pdf", testfiles.PDF(6<<20)))
	res := tb.follow(button("apply", "Apply"))
	t.Logf("the oversized application was answered %d", res.Status)

	is.Equal(tb.count("#apply"), 1) // the form comes back
	reason := domain.ErrResumeTooLarge.Message
	shown := tb.texts("#problem, #resume-error")
	if !slices.ContainsFunc(shown, func(s string) bool { return strings.Contains(s, reason) }) {
		tb.fatalf("want %q in #problem or #resume-error, got %q", reason, shown)
	}
	if tb.count("#resume-error") == 1 && strings.Contains(tb.text("#resume-error"), reason) {
		is.Equal(tb.attrs(`#apply input[name="resume"]`, "aria-invalid"), []string{"true"})             // the field is marked
		is.Equal(tb.attrs(`#apply input[name="resume"]`, "aria-describedby"), []string{"resume-error"}) // and says why
	}
	is.Equal(tb.value(`#apply textarea[name="cover_letter"]`), cover) // what was typed is kept

	is.Equal(len(s.myApplications(t, s.login(t, seeker))), 0) // no application was made
	count := s.job(t, recruiter.token, jobID).ApplicationCount
	is.True(count != nil && *count == 0)
}

// testWithoutJavaScript signs in, searches, opens a job and signs out with
// the browser's JavaScript off: the pages are plain forms and links.
func testWithoutJavaScript(t *testing.T, b context.Context, s *service) {
	is := is.New(t)
	m := marker()
	recruiter := s.register(t, "recruiter", "Otto Offline")
	keeper := s.postJob(t, recruiter, "Lighthouse Keeper "+m, "Brest "+m)
	s.postJob(t, recruiter, "Lighthouse Painter "+m, "Quimper "+m)
	seeker := s.register(t, "job_seeker", "Nora Noscript")

	tb := newTab(t, b, s)
	if _, err := chromedp.Call(tb.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("turn JavaScript off: %v", err)
	}
	// A browser without scripting parses <noscript> content as elements:
	// the proof that JavaScript is off.
	tb.open(`data:text/html,<noscript><p id="off">off</p></noscript>`)
	is.Equal(tb.count("#off"), 1)

	tb.signIn(seeker)
	tb.fill(`#search [name="title"]`, m)
	tb.fill(`#search [name="location"]`, "Brest")
	tb.follow(button("search", "Search"))
	is.Equal(tb.text("#result-count"), "1 job")
	tb.follow(`#results a.job-link[href="/app/jobs/` + keeper + `"]`)
	is.Equal(tb.text("#job-title"), "Lighthouse Keeper "+m)
	is.Equal(tb.count("#apply"), 1) // the job seeker may apply

	tb.follow(button("signout", "Sign out"))
	is.Equal(tb.path(), "/app/")
	is.Equal(tb.count("#signout"), 0)                                        // signed out
	is.Equal(tb.count(`nav[aria-label="Main"] a[href^="/app/signin"]`), 1)   // with a way back in
	is.Equal(eval[int](tb, `document.querySelectorAll("script").length`), 0) // and no script anywhere
}

// testNarrowScreen checks at a phone's width (375 CSS pixels) that the
// pages fit: nothing is wider than the window, which would mean scrolling
// sideways to read.
func testNarrowScreen(t *testing.T, b context.Context, s *service) {
	is := is.New(t)
	m := marker()
	recruiter := s.register(t, "recruiter", "Wanda Wide")
	jobID := s.postJob(t, recruiter, "Senior Distributed Systems Reliability Engineer "+m, "Saint-Rémy-de-Provence "+m,
		map[string]any{"description": strings.Repeat("We run a distributed system with many moving parts. ", 20),
			"salary_min": 60000, "salary_max": 90000, "salary_currency": "EUR", "company": "Internationale Handelsgesellschaft"})
	s.postJob(t, recruiter, "Data Engineer "+m, "Lyon "+m)
	seeker := s.register(t, "job_seeker", "Pia Phone")

	tb := newTab(t, b, s)
	tb.do("narrow the window to 375 pixels", chromedp.EmulateViewport(375, 812))
	fits := func(page string) {
		t.Helper()
		tb.open(page)
		w := eval[[2]int](tb, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
		if w[1] > 375 || w[1] < 300 {
			tb.fatalf("%s: the window is %d pixels wide, not a phone's", page, w[1])
		}
		if w[0] > w[1] {
			tb.fatalf("%s: the page is %d pixels wide in a %d-pixel window", page, w[0], w[1])
		}
	}
	fits("/app/signup")
	fits("/app/signin")
	tb.signIn(seeker)
	fits("/app/?title=" + url.QueryEscape(m))
	is.Equal(tb.text("#result-count"), "2 jobs")
	fits("/app/jobs/" + jobID) // with the apply form
	is.Equal(tb.count("#apply"), 1)
}
