package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/matryer/is"
)

// versionIn returns the version a page's form (by id) was read at, ""
// when the page has no such form.
func versionIn(body, formID string) string {
	m := regexp.MustCompile(`(?s)<form[^>]* id="` + regexp.QuoteMeta(formID) + `"[^>]*>.*?<input type="hidden" name="version" value="(\d+)">`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// move posts the recruiter's move form of an application.
func (b *browser) move(applicationID, status, reason, version, returnTo string) response {
	b.t.Helper()
	form := url.Values{"status": {status}, "version": {version}, "return": {returnTo}}
	if reason != "" {
		form.Set("reason", reason)
	}
	return b.post("/app/applications/"+applicationID+"/status", form)
}

// withdraw posts the applicant's confirmation of a withdrawal.
func (b *browser) withdraw(applicationID, version, returnTo string) response {
	b.t.Helper()
	return b.post("/app/applications/"+applicationID+"/withdraw", url.Values{"version": {version}, "return": {returnTo}})
}

// statusBadge is how the pages show an application's status.
func statusBadge(status, label string) string {
	return `class="badge badge-status badge-` + status + `">` + label + `</span>`
}

// TestPipelineFormsNeedTheirRoleAndOwner checks who may move or withdraw
// an application, and see the confirmation of a withdrawal: anonymous
// visitors sign in first (and come back to the application), the other
// role is refused (403), anyone else is told there is no such application
// (404, as the application's page tells them). None of it moves anything.
func TestPipelineFormsNeedTheirRoleAndOwner(t *testing.T) {
	s := startService(t, nil)
	b := setUpBoards(t, s)
	app := "/app/applications/" + b.applicationID
	move := url.Values{"status": {"interview"}, "version": {"1"}}
	withdraw := url.Values{"version": {"1"}}

	for _, c := range []struct {
		name   string
		who    *browser
		path   string
		form   url.Values
		status int
	}{
		{"anonymous moves", b.anonymous, app + "/status", move, 303},
		{"anonymous withdraws", b.anonymous, app + "/withdraw", withdraw, 303},
		{"applicant moves", b.seeker, app + "/status", move, 403},
		{"recruiter withdraws", b.owner, app + "/withdraw", withdraw, 403},
		{"other recruiter moves", b.otherRecruiter, app + "/status", move, 404},
		{"other seeker withdraws", b.otherSeeker, app + "/withdraw", withdraw, 404},
		{"owner moves an unknown application", b.owner, "/app/applications/" + uuid.NewString() + "/status", move, 404},
		{"owner moves a malformed id", b.owner, "/app/applications/nope/status", move, 404},
		{"seeker withdraws an unknown application", b.seeker, "/app/applications/" + uuid.NewString() + "/withdraw", withdraw, 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			res := c.who.post(c.path, c.form)
			if res.status != c.status {
				t.Fatalf("POST %s: want %d, got %s", c.path, c.status, res)
			}
			if c.status == http.StatusSeeOther {
				is.Equal(res.location(), "/app/signin?"+url.Values{"next": {app}}.Encode()) // back to the application
			} else {
				is.True(problemText(res.body) != "") // an error page
			}
		})
	}

	confirm := app + "/withdraw?return=%2Fapp%2Fme%2Fapplications"
	for _, c := range []struct {
		name   string
		who    *browser
		status int
	}{
		{"anonymous", b.anonymous, 303}, {"recruiter", b.owner, 403}, {"other seeker", b.otherSeeker, 404}, {"applicant", b.seeker, 200},
	} {
		t.Run("confirmation as "+c.name, func(t *testing.T) {
			is := is.New(t)
			res := c.who.get(confirm)
			is.Equal(res.status, c.status)
			if c.status == http.StatusSeeOther {
				is.Equal(res.location(), "/app/signin?"+url.Values{"next": {confirm}}.Encode())
			}
		})
	}

	is := is.New(t)
	page := b.owner.get(app).body
	is.True(strings.Contains(page, statusBadge("submitted", "Submitted"))) // nothing moved
	is.True(strings.Contains(page, `<form id="move" class="move-form" method="post" action="`+app+`/status">`))
	is.True(!strings.Contains(page, `id="withdraw-application"`)) // the recruiter cannot withdraw
	page = b.seeker.get(app).body
	is.True(!strings.Contains(page, `<form id="move"`)) // nor the applicant move
	is.True(strings.Contains(page, `id="withdraw-application" href="`+app+`/withdraw?return=%2Fapp%2Fapplications%2F`+b.applicationID+`"`))

	// A move from another site is refused as every other form.
	res := b.owner.do(http.MethodPost, app+"/status", strings.NewReader(move.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example")
	is.Equal(res.status, http.StatusForbidden)
	is.True(strings.Contains(problemText(res.body), "sent from another site"))
	is.True(strings.Contains(b.owner.get(app).body, statusBadge("submitted", "Submitted")))
}

// TestRecruiterMovesApplicants checks the applicants page: the status of
// each applicant, the filter with its counts, a move from a filtered page
// that comes back to it, a rejection with a reason that the recruiter
// alone ever sees, and a final status that offers no more moves.
func TestRecruiterMovesApplicants(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	b := setUpBoards(t, s)
	ada, bob := b.applicationID, b.otherSeeker.apply(b.jobID, nil)
	applicants := "/app/jobs/" + b.jobID + "/applications"

	page := b.owner.get(applicants).body
	is.True(strings.Contains(page, `<nav class="status-filter" aria-label="Filter applicants by status">`))
	is.True(strings.Contains(page, `<a href="`+applicants+`" aria-current="page">All <span class="count">(2)</span></a>`))
	is.True(strings.Contains(page, `<a href="`+applicants+`?status=submitted">Submitted <span class="count">(2)</span></a>`))
	is.True(strings.Contains(page, `<a href="`+applicants+`?status=interview">Interview <span class="count">(0)</span></a>`))
	is.Equal(strings.Count(page, statusBadge("submitted", "Submitted")), 2) // each applicant's status
	is.Equal(versionIn(page, "move-"+ada), "1")                             // each row's form, at the version shown
	is.True(strings.Contains(page, `<input type="hidden" name="return" value="`+applicants+`">`))
	for _, option := range []string{"submitted", "withdrawn"} {
		is.True(!strings.Contains(rowOf(page, ada), `<option value="`+option+`">`)) // neither its own status nor the applicant's
	}
	for _, option := range []string{"screening", "interview", "offer", "hired", "rejected"} {
		is.True(strings.Contains(rowOf(page, ada), `<option value="`+option+`">`))
	}

	// A filtered list's next page keeps the filter; a move from it comes
	// back to that very page.
	page = b.owner.get(applicants + "?status=submitted&limit=1").body
	next := regexp.MustCompile(`<a rel="next" id="next-page" href="([^"]+)">`).FindStringSubmatch(page)
	is.True(next != nil)
	second, err := url.Parse(strings.ReplaceAll(next[1], "&amp;", "&"))
	is.NoErr(err)
	is.Equal(second.Query().Get("status"), "submitted")
	is.Equal(second.Query().Get("limit"), "1")
	page = b.owner.get(second.RequestURI()).body
	is.True(strings.Contains(page, `<input type="hidden" name="return" value="`+strings.ReplaceAll(second.RequestURI(), "&", "&amp;")+`">`))
	is.Equal(strings.Count(page, `<tr class="application"`), 1)

	// From the page filtered on submitted, Ada moves to interview: back to
	// that page, which says where she went, and lists Bob alone.
	filtered := applicants + "?status=submitted"
	res := b.owner.move(ada, "interview", "", "1", filtered)
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), filtered+"&moved="+ada)
	page = b.owner.get(res.location()).body
	is.True(strings.Contains(page, `<p class="notice notice-success" role="status" id="moved">Ada moved to Interview.`))
	is.True(strings.Contains(page, `<caption>1 application at Submitted</caption>`))
	is.True(strings.Contains(page, `href="/app/applications/`+bob+`"`))
	is.True(!strings.Contains(page, `href="/app/applications/`+ada+`"`))
	is.True(strings.Contains(page, `?status=interview">Interview <span class="count">(1)</span></a>`)) // the counts follow
	is.True(strings.Contains(page, `?status=submitted" aria-current="page">Submitted <span class="count">(1)</span></a>`))

	page = b.owner.get(applicants + "?status=interview").body
	is.True(strings.Contains(page, `<caption>1 application at Interview</caption>`))
	is.True(strings.Contains(rowOf(page, ada), statusBadge("interview", "Interview")))
	is.Equal(versionIn(page, "move-"+ada), "2")
	is.True(!strings.Contains(page, `href="/app/applications/`+bob+`"`))
	page = b.owner.get(applicants + "?status=offer").body
	is.True(strings.Contains(page, `<p id="no-applicants">No applicants at Offer.</p>`))
	is.Equal(b.owner.get(applicants+"?status=maybe").status, http.StatusBadRequest)

	// The rejection, with a reason that holds markup, from the
	// application's own page.
	reason := `Not enough <b>Go</b> & "SQL"`
	app := "/app/applications/" + ada
	res = b.owner.move(ada, "rejected", reason, "2", app)
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), app+"?moved="+ada)
	page = b.owner.get(res.location()).body
	is.True(strings.Contains(page, `id="moved">This application moved to Rejected.</p>`))
	is.True(strings.Contains(page, `<span id="application-status" `+statusBadge("rejected", "Rejected")))
	escaped := `Not enough &lt;b&gt;Go&lt;/b&gt; &amp; &#34;SQL&#34;`
	is.True(strings.Contains(page, `<dd class="rejection-reason" id="rejection-reason">`+escaped+`</dd>`)) // the reason, as text
	is.True(strings.Contains(page, `<span class="history-reason">Reason: `+escaped+`</span>`))
	is.True(strings.Contains(page, `<span class="history-what">Submitted → Interview</span>`)) // the history, in order
	is.True(strings.Contains(page, `<span class="history-what">Interview → Rejected</span>`))
	is.True(strings.Index(page, "Submitted → Interview") < strings.Index(page, "Interview → Rejected"))
	is.True(!strings.Contains(page, `<form id="move"`)) // final: no more moves
	page = b.owner.get(applicants + "?status=rejected").body
	is.True(strings.Contains(rowOf(page, ada), `<span class="final">Final: no more moves</span>`))
	is.True(!strings.Contains(rowOf(page, ada), "<form"))

	// The applicant sees the status and the history, never the reason.
	for _, path := range []string{app, app + "?moved=" + ada, "/app/me/applications", "/app/me/applications?moved=" + ada} {
		page := b.seeker.get(path)
		is.Equal(page.status, http.StatusOK)
		is.True(strings.Contains(page.body, "Rejected"))
		for _, secret := range []string{"Not enough", "rejection-reason", "history-reason", "Reason:"} {
			if strings.Contains(page.body, secret) {
				t.Fatalf("%s shows the applicant %q:\n%s", path, secret, page.body)
			}
		}
	}
	page = b.seeker.get(app).body
	is.True(strings.Contains(page, `<span class="history-what">Interview → Rejected</span>`))
	is.True(!strings.Contains(page, `id="withdraw-application"`)) // final: nothing to withdraw
	mine := b.seeker.get("/app/me/applications").body
	is.True(strings.Contains(mine, statusBadge("rejected", "Rejected")))
	is.True(!strings.Contains(mine, `class="withdraw-link"`))
}

// rowOf returns the applicants page's row of an application.
func rowOf(page, applicationID string) string {
	m := regexp.MustCompile(`(?s)<tr class="application" id="applicant-` + regexp.QuoteMeta(applicationID) + `">.*?</tr>`).FindString(page)
	return m
}

// TestMoveRefusals checks what a refused move shows: the application's
// page as it is, with why, and nothing moved.
func TestMoveRefusals(t *testing.T) {
	s := startService(t, nil)
	b := setUpBoards(t, s)
	id := b.applicationID
	app := "/app/applications/" + id
	applicants := "/app/jobs/" + b.jobID + "/applications?status=submitted"

	t.Run("no status chosen", func(t *testing.T) {
		is := is.New(t)
		res := b.owner.move(id, "", "", "1", applicants)
		is.Equal(res.status, http.StatusUnprocessableEntity)
		is.Equal(fieldError(res.body, "status"), "choose the status to move the application to")
		is.True(strings.Contains(res.body, `<select id="status" name="status" required aria-invalid="true" aria-describedby="status-error">`))
		is.True(strings.Contains(res.body, `<input type="hidden" name="return" value="`+applicants+`">`)) // the way back is kept
	})
	t.Run("unknown status", func(t *testing.T) {
		is := is.New(t)
		res := b.owner.move(id, "promoted", "", "1", app)
		is.Equal(res.status, http.StatusUnprocessableEntity)
		is.True(fieldError(res.body, "status") != "")
	})
	t.Run("reason too long", func(t *testing.T) {
		is := is.New(t)
		long := strings.Repeat("x", 501)
		res := b.owner.move(id, "rejected", long, "1", app)
		is.Equal(res.status, http.StatusUnprocessableEntity)
		is.True(fieldError(res.body, "reason") != "")
		is.True(strings.Contains(res.body, `value="`+long+`"`))                   // what was typed is kept
		is.True(strings.Contains(res.body, `<option value="rejected" selected>`)) // and chosen
		is.Equal(versionIn(res.body, "move"), "1")
	})
	t.Run("a reason left behind for another status is ignored", func(t *testing.T) {
		is := is.New(t)
		res := b.owner.move(id, "screening", "typed before choosing screening", "1", app)
		is.Equal(res.status, http.StatusSeeOther)
		page := b.owner.get(app).body
		is.True(strings.Contains(page, statusBadge("screening", "Screening")))
		is.True(!strings.Contains(page, "typed before"))
	})
	t.Run("no version", func(t *testing.T) {
		is := is.New(t)
		is.Equal(b.owner.move(id, "offer", "", "", app).status, http.StatusBadRequest)
		is.Equal(b.seeker.withdraw(id, "x", "").status, http.StatusBadRequest)
	})
	t.Run("stale page", func(t *testing.T) {
		is := is.New(t)
		// Two tabs showed version 2 (screening); one moves it to offer.
		is.Equal(b.owner.move(id, "offer", "", "2", app).status, http.StatusSeeOther)
		res := b.owner.move(id, "hired", "", "2", applicants)
		is.Equal(res.status, http.StatusPreconditionFailed)
		is.True(strings.Contains(problemText(res.body), "This application changed while you had the page open: it is now Offer."))
		is.True(strings.Contains(res.body, statusBadge("offer", "Offer"))) // the application as it is now
		is.Equal(versionIn(res.body, "move"), "3")                         // at its current version
		is.True(!strings.Contains(res.body, `<option value="offer"`))      // with the moves it now has
		is.True(!strings.Contains(res.body, " selected>"))                 // nothing chosen for the recruiter
		is.True(strings.Contains(b.owner.get(app).body, statusBadge("offer", "Offer")))

		// The applicant's page read before the move is stale too.
		res = b.seeker.withdraw(id, "2", "/app/me/applications")
		is.Equal(res.status, http.StatusPreconditionFailed)
		is.True(strings.Contains(problemText(res.body), "changed while you had the page open"))
		is.True(strings.Contains(res.body, `href="`+app+`/withdraw?return=%2Fapp%2Fme%2Fapplications"`)) // a way to try again, and back
	})
	t.Run("final status", func(t *testing.T) {
		is := is.New(t)
		is.Equal(b.owner.move(id, "hired", "", "3", app).status, http.StatusSeeOther)
		page := b.owner.get(app).body
		is.True(strings.Contains(page, statusBadge("hired", "Hired")))
		is.True(!strings.Contains(page, `<form id="move"`))
		res := b.owner.move(id, "offer", "", "4", app) // a form a page no longer shows
		is.Equal(res.status, http.StatusConflict)
		is.True(strings.Contains(problemText(res.body), "moves no more"))
		res = b.seeker.withdraw(id, "4", "")
		is.Equal(res.status, http.StatusConflict)
		is.Equal(b.seeker.get(app+"/withdraw").status, http.StatusConflict)
		is.True(!strings.Contains(b.seeker.get("/app/me/applications").body, `class="withdraw-link"`))
	})
}

// TestApplicantWithdraws checks the withdrawal: the control on My
// applications, the confirmation, the way back, and the recruiter's view.
func TestApplicantWithdraws(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	b := setUpBoards(t, s)
	id := b.applicationID
	app := "/app/applications/" + id

	mine := b.seeker.get("/app/me/applications").body
	confirm := app + "/withdraw?return=%2Fapp%2Fme%2Fapplications"
	is.True(strings.Contains(mine, `<a class="withdraw-link" href="`+confirm+`">Withdraw<span class="visually-hidden"> the application to Pages Engineer</span></a>`))

	page := b.seeker.get(confirm)
	is.Equal(page.status, http.StatusOK)
	is.True(strings.Contains(page.body, "<h1>Withdraw your application to “Pages Engineer”?</h1>"))
	is.Equal(versionIn(page.body, "withdraw-confirm"), "1")
	is.True(strings.Contains(page.body, `<input type="hidden" name="return" value="/app/me/applications">`))
	is.True(strings.Contains(page.body, `<button type="submit" class="button-danger">Withdraw application</button>`))
	is.True(strings.Contains(page.body, `<a href="/app/me/applications">Cancel</a>`))

	res := b.seeker.withdraw(id, "1", "/app/me/applications")
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), "/app/me/applications?moved="+id)
	mine = b.seeker.get(res.location()).body
	is.True(strings.Contains(mine, `id="moved">Your application to “Pages Engineer” is now Withdrawn.</p>`))
	is.True(strings.Contains(mine, statusBadge("withdrawn", "Withdrawn")))
	is.True(!strings.Contains(mine, `class="withdraw-link"`))

	page = b.owner.get(app)
	is.True(strings.Contains(page.body, statusBadge("withdrawn", "Withdrawn")))
	is.True(strings.Contains(page.body, `<span class="history-what">Submitted → Withdrawn (withdrawn by the applicant)</span>`))
	is.True(!strings.Contains(page.body, `<form id="move"`))
	is.True(strings.Contains(b.owner.get("/app/jobs/"+b.jobID+"/applications?status=withdrawn").body, `<caption>1 application at Withdrawn</caption>`))
	is.Equal(b.owner.move(id, "interview", "", "2", "").status, http.StatusConflict) // withdrawn is final
}

// TestMovesReturnOnlyToTheirPages checks the return field: it leads back
// to the page the form was on, rebuilt from the application's own ids and
// the list's own parameters; anything else leads to the application.
func TestMovesReturnOnlyToTheirPages(t *testing.T) {
	s := startService(t, nil)
	b := setUpBoards(t, s)
	id := b.applicationID
	app := "/app/applications/" + id
	applicants := "/app/jobs/" + b.jobID + "/applications"
	otherJob := b.otherRecruiter.postJob("Elsewhere")
	version := 1
	statuses := []string{"submitted", "screening"}
	for _, c := range []struct{ sent, want string }{
		{applicants, applicants},
		{applicants + "?status=screening", applicants + "?status=screening"},
		{applicants + "?status=nope&limit=5", applicants + "?limit=5"},
		{applicants + "?limit=5&cursor=not-a-cursor", applicants},
		{applicants + "?status=submitted&x=%0d%0aLocation:%20//evil", applicants + "?status=submitted"},
		{app, app},
		{"", app},
		{"/app/me/applications", app}, // not the recruiter's page
		{"/app/jobs/" + otherJob + "/applications", app},
		{"https://evil.example" + applicants, app},
		{"//evil.example" + applicants, app},
		{"/\\evil.example", app},
		{"javascript:alert(1)", app},
		{applicants + "/../../../my/jobs", app},
	} {
		t.Run(c.sent, func(t *testing.T) {
			is := is.New(t)
			res := b.owner.move(id, statuses[version%2], "", strconv.Itoa(version), c.sent)
			if res.status != http.StatusSeeOther {
				t.Fatalf("want 303, got %s", res)
			}
			version++
			sep := "?"
			if strings.Contains(c.want, "?") {
				sep = "&"
			}
			is.Equal(res.location(), c.want+sep+"moved="+id)
		})
	}
	is := is.New(t)
	res := b.seeker.withdraw(id, strconv.Itoa(version), applicants) // the recruiter's page is not the applicant's
	is.Equal(res.status, http.StatusSeeOther)
	is.Equal(res.location(), app+"?moved="+id)
}
