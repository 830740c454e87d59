package browsertest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/matryer/is"
)

// testDeleteAccount follows a job seeker who leaves the board: from the
// navigation to the account page, a download of their data, a wrong
// password (the form comes back with the sign-in's error), then the right
// one, which erases the account and lands the browser, signed out, on the
// page that says so. The recruiter then sees the application as an erased
// applicant's.
func testDeleteAccount(t *testing.T, b context.Context, s *service) {
	is := is.New(t)
	m := marker()
	recruiter := s.register(t, "recruiter", "Rhea Recruiter")
	jobID := s.postJob(t, recruiter, "Privacy Engineer "+m, "Lyon "+m)
	seeker := s.register(t, "job_seeker", "Erin Eraseme")
	applicationID := s.apply(t, seeker, jobID, "Please consider me, "+m+".", "erin-cv.txt", []byte("Erin's resume\n"))

	tb := newTab(t, b, s)
	tb.signIn(seeker)
	tb.follow(navLink("Account"))
	is.Equal(tb.path(), "/app/account")
	is.Equal(tb.text("h1"), "Your account")
	is.Equal(tb.text("#account-name"), seeker.name)
	is.Equal(tb.text("#account-email"), seeker.email)
	is.Equal(tb.text("#account-role"), "Job seeker")

	// The download is the export, saved as a file.
	content, name := tb.download("#export-account")
	is.Equal(name, "jobboard-export.json")
	var export struct {
		Account struct {
			Email string `json:"email"`
		} `json:"account"`
		Applications []struct {
			ID string `json:"id"`
		} `json:"applications"`
	}
	is.NoErr(json.Unmarshal(content, &export))
	is.Equal(export.Account.Email, seeker.email)
	is.Equal(len(export.Applications), 1)
	is.Equal(export.Applications[0].ID, applicationID)

	// A wrong password: the form comes back, and nothing is erased.
	tb.fill(`#delete-account [name="password"]`, "not the password")
	res := tb.follow(button("delete-account", "Delete my account"))
	is.Equal(res.Status, int64(http.StatusUnauthorized))
	is.Equal(tb.path(), "/app/account/delete")
	is.Equal(tb.text("#password-error"), "the email or password is wrong")
	is.Equal(tb.attrs(`#delete-account [name="password"]`, "aria-invalid"), []string{"true"})
	is.Equal(tb.value(`#delete-account [name="password"]`), "") // never filled in again
	is.Equal(tb.text("#account-email"), seeker.email)           // still there

	tb.fill(`#delete-account [name="password"]`, seeker.password)
	res = tb.follow(button("delete-account", "Delete my account"))
	is.Equal(res.Status, int64(http.StatusOK))
	is.Equal(tb.path(), "/app/account/deleted")
	is.Equal(tb.text("h1"), "Your account was deleted")
	is.True(strings.Contains(tb.text("#account-deleted"), "signed out"))
	is.Equal(tb.count("#signout"), 0)                                      // signed out
	is.Equal(tb.count(`nav[aria-label="Main"] a[href^="/app/signin"]`), 1) // with a way back in
	for _, c := range tb.cookies() {
		if c.Name == "jobboard_session" {
			t.Errorf("the session cookie is still there: %q", c.Value)
		}
	}
	tb.open("/app/account")
	is.Equal(tb.path(), "/app/signin?next=%2Fapp%2Faccount") // sent to sign in
	tb.fill(`#signin [name="email"]`, seeker.email)
	tb.fill(`#signin [name="password"]`, seeker.password)
	res = tb.follow(button("signin", "Sign in"))
	is.Equal(res.Status, int64(http.StatusUnauthorized)) // the account is gone
	status, _, _ := s.call(t, http.MethodGet, "/me", nil, "Authorization", "Bearer "+seeker.token)
	is.Equal(status, http.StatusUnauthorized) // and its API token with it

	// The recruiter sees the application, with nothing of the person.
	rt := newTab(t, b, s)
	rt.signIn(recruiter)
	rt.open("/app/jobs/" + jobID + "/applications")
	is.Equal(rt.texts(`#applicants a[href="/app/applications/`+applicationID+`"]`), []string{"Erased applicant"})
	is.Equal(rt.count("#applicants a.email"), 0)
	is.Equal(rt.count(`#applicants a[href^="mailto:"]`), 0)
	rt.follow(`#applicants a[href="/app/applications/` + applicationID + `"]`)
	is.Equal(rt.text("h1"), "Erased applicant")
	is.Equal(rt.text("#application .email"), "Erased")
	is.Equal(rt.text("#application .cover-letter"), "Erased")
	is.Equal(rt.text("#application .resume"), "Erased")
	is.True(!strings.Contains(rt.text("#main"), seeker.email))

	// The account page fits a phone's width.
	other := newTab(t, b, s)
	other.do("narrow the window to 375 pixels", chromedp.EmulateViewport(375, 812))
	other.signIn(s.register(t, "recruiter", "Pat Phone"))
	other.open("/app/account")
	w := eval[[2]int](other, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	if w[0] > w[1] {
		other.fatalf("the account page is %d pixels wide in a %d-pixel window", w[0], w[1])
	}
}
