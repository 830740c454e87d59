// Package web is the job board's pages: HTML rendered on the server for
// people in a browser, under /app/, served by the API's server (it is
// http.Deps.UI, so the API's middleware applies to pages too). The pages run
// the same commands and read the same views as the API, so that they keep
// the same rules and say the same things; they hold no SQL, and no script:
// every page works with JavaScript off, and the CSP forbids it anyway.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	api "github.com/jobboard/jobboard/http"
	"github.com/jobboard/jobboard/projections"
)

// contentSecurityPolicy is every answer's: nothing but this origin's
// stylesheet and images, forms posted back here only, and no framing.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// DefaultSessionTTL is how long a sign-in lasts when Deps does not say: a
// working day, after which the browser signs in again.
const DefaultSessionTTL = 12 * time.Hour

// Deps are what the pages need from the rest of the application.
type Deps struct {
	Commands     *commands.Handlers
	Users        projections.UsersView
	Jobs         projections.JobsView
	Applications projections.ApplicationsView
	// SessionSecret is the service's secret (JWT_SECRET). Session cookies
	// are signed with a key derived from it, so that a cookie is never an
	// access token, nor an access token a cookie.
	SessionSecret []byte
	// SessionTTL is how long a sign-in lasts (0: DefaultSessionTTL).
	SessionTTL time.Duration
	// BaseURL is the service's public address (APP_BASE_URL). Forms
	// posted from its origin are accepted even behind a proxy that
	// rewrites the Host header.
	BaseURL string
	Logger  *slog.Logger
}

// UI serves the pages. It is an http.Handler for the paths under /app/,
// and writes the API middleware's errors on those paths as pages (it is
// an http.ErrorPageWriter).
type UI struct {
	Deps
	sessions *sessions
	handler  http.Handler
}

// New returns the pages, with their templates parsed.
func New(deps Deps) (*UI, error) {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.SessionTTL <= 0 {
		deps.SessionTTL = DefaultSessionTTL
	}
	if len(deps.SessionSecret) < 32 {
		return nil, errors.New("web: the session secret must be at least 32 bytes long")
	}
	u := &UI{Deps: deps, sessions: newSessions(deps.SessionSecret, deps.SessionTTL)}
	csrf := http.NewCrossOriginProtection()
	if origin := originOf(deps.BaseURL); origin != "" {
		if err := csrf.AddTrustedOrigin(origin); err != nil {
			return nil, err
		}
	}
	csrf.SetDenyHandler(http.HandlerFunc(u.handleCrossOrigin))
	u.handler = u.withSession(csrf.Handler(u.routes()))
	return u, nil
}

// originOf is the origin (scheme://host[:port]) of an absolute URL, or "".
func originOf(raw string) string {
	p, err := url.Parse(raw)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// routes is the pages' one route table. Every page that needs an account
// names the role it needs (as) or checks the owner itself.
func (u *UI) routes() http.Handler {
	recruiter, seeker := domain.RoleRecruiter, domain.RoleJobSeeker
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/{$}", u.handleSearch)
	mux.HandleFunc("GET /app/static/style.css", handleStyle)
	mux.HandleFunc("GET /app/signup", u.handleSignUpForm)
	mux.HandleFunc("POST /app/signup", u.handleSignUp)
	mux.HandleFunc("GET /app/signin", u.handleSignInForm)
	mux.HandleFunc("POST /app/signin", u.handleSignIn)
	mux.HandleFunc("POST /app/signout", u.handleSignOut)
	mux.HandleFunc("GET /app/account", u.signedIn(u.handleAccount))
	mux.HandleFunc("GET /app/account/export", u.signedIn(u.handleExport))
	mux.HandleFunc("GET /app/account/delete", u.signedIn(u.handleDeleteAccountForm))
	mux.HandleFunc("POST /app/account/delete", u.signedIn(u.handleDeleteAccount))
	mux.HandleFunc("GET /app/account/deleted", u.handleAccountDeleted)
	mux.HandleFunc("GET /app/jobs/{id}", u.handleJob)
	mux.HandleFunc("GET /app/jobs/new", u.as(recruiter, u.handleNewJobForm))
	mux.HandleFunc("POST /app/jobs/new", u.as(recruiter, u.handlePostJob))
	mux.HandleFunc("GET /app/jobs/{id}/edit", u.as(recruiter, u.handleEditJobForm))
	mux.HandleFunc("POST /app/jobs/{id}/edit", u.as(recruiter, u.handleEditJob))
	mux.HandleFunc("POST /app/jobs/{id}/close", u.as(recruiter, u.handleSetJobStatus(domain.StatusClosed)))
	mux.HandleFunc("POST /app/jobs/{id}/reopen", u.as(recruiter, u.handleSetJobStatus(domain.StatusOpen)))
	mux.HandleFunc("GET /app/jobs/{id}/delete", u.as(recruiter, u.handleDeleteJobForm))
	mux.HandleFunc("POST /app/jobs/{id}/delete", u.as(recruiter, u.handleDeleteJob))
	mux.HandleFunc("GET /app/jobs/{id}/applications", u.as(recruiter, u.handleApplicants))
	mux.HandleFunc("POST /app/jobs/{id}/apply", u.as(seeker, u.handleApply))
	mux.HandleFunc("GET /app/my/jobs", u.as(recruiter, u.handleMyJobs))
	mux.HandleFunc("GET /app/me/applications", u.as(seeker, u.handleMyApplications))
	mux.HandleFunc("GET /app/applications/{id}", u.signedIn(u.handleApplication))
	mux.HandleFunc("GET /app/applications/{id}/resume", u.signedIn(u.handleResume))
	mux.HandleFunc("POST /app/applications/{id}/status", u.as(recruiter, u.handleMoveApplication))
	mux.HandleFunc("GET /app/applications/{id}/withdraw", u.as(seeker, u.handleWithdrawForm))
	mux.HandleFunc("POST /app/applications/{id}/withdraw", u.as(seeker, u.handleWithdraw))
	mux.HandleFunc("/app/", u.handleNotFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		// The request metrics count pages by their pattern, as the API's
		// routes, never by their path; the mux set it on r, and the
		// metrics read it once the answer is written.
		pattern := r.Pattern
		if _, path, ok := strings.Cut(pattern, " "); ok {
			pattern = path
		}
		api.NameRoute(r.Context(), pattern)
	})
}

// ServeHTTP serves the pages.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	// A page differs for each account: a cache must not give one
	// browser's page to another.
	h.Set("Vary", "Cookie")
	u.handler.ServeHTTP(w, r)
}

type ctxKey int

const sessionKey ctxKey = 0

// withSession reads the session cookie. A signed-in request carries its
// account in its context, and as the actor of the events it appends; no
// page for an account is stored by any cache.
func (u *UI) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := u.sessions.read(r)
		if s == nil {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		// An erased account's cookie signs nobody in: it is ended, and the
		// request goes on signed out.
		if err := u.Commands.CheckActive(r.Context(), s.UserID); err != nil {
			var de *domain.Error
			if errors.As(err, &de) && de.Kind == domain.KindUnauthorized {
				u.sessions.end(w, r)
				next.ServeHTTP(w, r)
				return
			}
			u.fail(w, r, err)
			return
		}
		ctx := context.WithValue(r.Context(), sessionKey, s)
		ctx = eventstore.WithActor(ctx, s.UserID)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// sessionFrom is the request's signed-in account, or nil.
func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey).(*session)
	return s
}

// signedIn lets only signed-in requests through; the others are sent to
// sign in, and brought back afterwards.
func (u *UI) signedIn(next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := sessionFrom(r.Context())
		if s == nil {
			u.toSignIn(w, r)
			return
		}
		next(w, r, s)
	}
}

// as lets through only signed-in requests of accounts with role: the
// others get a 403 page.
func (u *UI) as(role domain.Role, next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return u.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		if s.Role != role {
			msg := "This page is for recruiters; you are signed in as a job seeker."
			if role == domain.RoleJobSeeker {
				msg = "This page is for job seekers; you are signed in as a recruiter."
			}
			u.errorPage(w, r, http.StatusForbidden, msg)
			return
		}
		next(w, r, s)
	})
}

// toSignIn sends the browser to sign in, with the page to come back to:
// the page itself for a GET; for a form, whose answer cannot be replayed by
// a redirect, the page of what it was posted about: the application's for
// a form about an application, the job's for a form about a job, the
// account page for the account's forms.
func (u *UI) toSignIn(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		next = r.URL.Path
		if strings.HasPrefix(next, "/app/account/") {
			next = "/app/account"
		}
		if id := r.PathValue("id"); id != "" {
			next = "/app/jobs/" + id
			if strings.HasPrefix(r.URL.Path, "/app/applications/") {
				next = "/app/applications/" + id
			}
		}
	}
	target := "/app/signin"
	if next = localNext(next); next != "" && next != "/app/signin" {
		target += "?" + url.Values{"next": {next}}.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// pathID reads the {id} of the path. A malformed id names nothing, so it
// is a 404 like an unknown one.
func pathID(r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	return id, err == nil
}

// handleNotFound handles every path under /app/ that is no page.
func (u *UI) handleNotFound(w http.ResponseWriter, r *http.Request) {
	u.errorPage(w, r, http.StatusNotFound, "There is no page at this address.")
}

// handleCrossOrigin answers a form posted from another site, which
// http.CrossOriginProtection refused.
func (u *UI) handleCrossOrigin(w http.ResponseWriter, r *http.Request) {
	u.errorPage(w, r, http.StatusForbidden,
		"This form was sent from another site, so it was refused. If you sent it, open the page on this site and send it again.")
}
