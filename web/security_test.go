package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// contentSecurityPolicy is the contract's CSP, on every answer under /app/.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// sessionCookie returns the Set-Cookie line of the session, "" if none.
func sessionCookie(res response) string {
	for _, line := range res.header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "jobboard_session=") {
			return line
		}
	}
	return ""
}

// TestSessionCookie checks the cookie's attributes, Secure included when
// the service is reached over HTTPS through a trusted proxy only, and
// that its value never appears in a page.
func TestSessionCookie(t *testing.T) {
	is := is.New(t)
	s := startService(t, map[string]string{"TRUSTED_PROXIES": "127.0.0.1"})
	b := s.browser()
	a := b.signUp("job_seeker")

	signIn := func(header ...string) response {
		return s.browser().post("/app/signin", url.Values{"email": {a.email}, "password": {a.password}}, header...)
	}
	res := signIn()
	is.Equal(res.status, http.StatusSeeOther)
	cookie := sessionCookie(res)
	for _, attr := range []string{"Path=/app/", "HttpOnly", "SameSite=Lax", "Max-Age="} {
		is.True(strings.Contains(cookie, "; "+attr)) // the cookie's attributes
	}
	is.True(!strings.Contains(cookie, "Secure")) // plain HTTP: a Secure cookie would never come back

	res = signIn("X-Forwarded-Proto", "https")
	is.True(strings.Contains(sessionCookie(res), "; Secure")) // the trusted proxy says the browser uses HTTPS

	// The value is not the API's token, nor shown in any page.
	value := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], "jobboard_session=")
	page := b.get("/app/")
	is.True(!strings.Contains(page.body, value))
	api := b.get("/me", "Authorization", "Bearer "+value)
	is.Equal(api.status, http.StatusUnauthorized) // a cookie is no access token

	// A cookie that was tampered with is no session.
	tampered := s.browser()
	u, _ := url.Parse(s.url + "/app/")
	tampered.client.Jar.SetCookies(u, []*http.Cookie{{Name: "jobboard_session", Value: value[:len(value)-2] + "xx", Path: "/app/"}})
	is.Equal(tampered.get("/app/my/jobs").status, http.StatusSeeOther) // sent to sign in
}

// TestSecureCookieNeedsATrustedProxy checks that a client cannot claim
// HTTPS for itself.
func TestSecureCookieNeedsATrustedProxy(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil) // no trusted proxies
	a := s.browser().signUp("job_seeker")
	res := s.browser().post("/app/signin", url.Values{"email": {a.email}, "password": {a.password}}, "X-Forwarded-Proto", "https")
	is.Equal(res.status, http.StatusSeeOther)
	is.True(!strings.Contains(sessionCookie(res), "Secure"))
}

// TestPageHeaders checks the CSP on every kind of answer, and that pages
// for an account are never stored.
func TestPageHeaders(t *testing.T) {
	s := startService(t, nil)
	b := setUpBoards(t, s)
	for _, c := range []struct {
		name    string
		who     *browser
		path    string
		noStore bool
	}{
		{"search, anonymous", b.anonymous, "/app/", false},
		{"search, signed in", b.seeker, "/app/", true},
		{"job, signed in", b.owner, "/app/jobs/" + b.jobID, true},
		{"redirect to sign in", b.anonymous, "/app/my/jobs", false},
		{"403", b.seeker, "/app/my/jobs", true},
		{"404", b.anonymous, "/app/nope", false},
		{"resume", b.owner, "/app/applications/" + b.applicationID + "/resume", true},
		{"stylesheet", b.anonymous, "/app/static/style.css", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			res := c.who.get(c.path)
			csp := contentSecurityPolicy
			if c.name == "resume" {
				csp = "default-src 'none'; sandbox" // a download: nothing in it may run
			}
			is.Equal(res.header.Get("Content-Security-Policy"), csp)
			is.Equal(res.header.Get("X-Content-Type-Options"), "nosniff")
			is.Equal(res.header.Get("Cache-Control") == "no-store", c.noStore)
		})
	}
}

// TestCrossOriginFormsAreRefused checks that a form posted from another
// site is refused, with a page, and changes nothing, while the same form
// from the site itself goes through.
func TestCrossOriginFormsAreRefused(t *testing.T) {
	s := startService(t, nil)
	b := setUpBoards(t, s)
	closePath := "/app/jobs/" + b.jobID + "/close"
	for _, header := range [][]string{
		{"Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "cross-site"},
	} {
		t.Run(header[0], func(t *testing.T) {
			is := is.New(t)
			res := b.owner.do(http.MethodPost, closePath, nil, header...)
			is.Equal(res.status, http.StatusForbidden)
			is.Equal(res.header.Get("Content-Type"), "text/html; charset=utf-8")
			is.True(strings.Contains(problemText(res.body), "sent from another site"))
			is.Equal(res.header.Get("Content-Security-Policy"), contentSecurityPolicy)
			is.True(strings.Contains(b.anonymous.get("/app/jobs/"+b.jobID).body, `<p id="job-status" class="badge badge-open">Open</p>`)) // still open
		})
	}
	is := is.New(t)
	// Sign-in too: a login CSRF would sign the victim in as the attacker.
	res := s.browser().do(http.MethodPost, "/app/signin", strings.NewReader("email=a%40b.c&password=x"),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example")
	is.Equal(res.status, http.StatusForbidden)

	res = b.owner.do(http.MethodPost, closePath, nil, "Origin", s.url, "Sec-Fetch-Site", "same-origin")
	is.Equal(res.status, http.StatusSeeOther) // from the site itself
	is.True(strings.Contains(b.anonymous.get("/app/jobs/"+b.jobID).body, `<p id="job-status" class="badge badge-closed">Closed</p>`))
}

// TestSignInGoesOnlyToLocalPages checks the next parameter: only a path
// under /app/ is followed after signing in.
func TestSignInGoesOnlyToLocalPages(t *testing.T) {
	s := startService(t, nil)
	a := s.browser().signUp("recruiter")
	for next, want := range map[string]string{
		"/app/my/jobs":                  "/app/my/jobs",
		"/app/?title=go&remote=true":    "/app/?title=go&remote=true",
		"":                              "/app/",
		"//evil.example/app/":           "/app/",
		"/\\evil.example/app/":          "/app/",
		"/app/\\..\\..\\evil":           "/app/",
		"https://evil.example/app/":     "/app/",
		"javascript:alert(1)//app/":     "/app/",
		"/app/../../evil":               "/app/",
		"/app/%2e%2e/%2e%2e/evil":       "/app/",
		"/elsewhere":                    "/app/",
		"/app/\r\nLocation: //evil":     "/app/",
		"/app@evil.example":             "/app/",
		" /app/my/jobs":                 "/app/",
		"/app/my/jobs#\\\\evil.example": "/app/",
	} {
		t.Run(next, func(t *testing.T) {
			is := is.New(t)
			form := url.Values{"email": {a.email}, "password": {a.password}, "next": {next}}
			res := s.browser().post("/app/signin", form)
			is.Equal(res.status, http.StatusSeeOther)
			is.Equal(res.location(), want)

			// The sign-in page passes on only a next it would follow.
			page := s.browser().get("/app/signin?" + url.Values{"next": {next}}.Encode())
			hidden := `<input type="hidden" name="next"`
			is.Equal(strings.Contains(page.body, hidden), want != "/app/")
		})
	}
}

// TestPagesEscapeUserText checks that what people type is shown as text,
// never as markup: in the job's page, the search results, the owner's
// list and the title.
func TestPagesEscapeUserText(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	owner := s.browser()
	owner.signUp("recruiter")
	title := `<img src=x onerror=alert(1)>`
	id := owner.postJob(title)
	escaped := `&lt;img src=x onerror=alert(1)&gt;`
	for _, path := range []string{"/app/jobs/" + id, "/app/?title=" + url.QueryEscape("onerror"), "/app/my/jobs", "/app/jobs/" + id + "/edit"} {
		page := owner.get(path)
		is.Equal(page.status, http.StatusOK)
		is.True(!strings.Contains(page.body, "<img")) // no markup from the title
		is.True(strings.Contains(page.body, escaped)) // the title, as text
	}
}
