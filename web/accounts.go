package web

import (
	"errors"
	"net/http"
	"strings"

	api "github.com/jobboard/jobboard/http"

	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/domain"
)

// maxFormBody caps the body of every form but the apply form: as the API
// caps a JSON body, far above the longest job description.
const maxFormBody = 1 << 20

// readForm reads a url-encoded form's fields into r.PostForm, with its
// body capped. A body that is not one is a 400 or 413 page (and false).
func (u *UI) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		u.errorPage(w, r, status, "The form could not be read. Go back and send it again.")
		return false
	}
	return true
}

// signUpForm is what the sign-up form shows: what was typed, never the
// password.
type signUpForm struct {
	Email, Name, Role, Company string
}

// handleSignUpForm handles the "GET /app/signup" route.
func (u *UI) handleSignUpForm(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "signup", &page{Title: "Sign up", Data: signUpForm{Role: domain.RoleJobSeeker.String()}})
}

// handleSignUp handles the "POST /app/signup" route: the account is
// opened as POST /register opens it (the same limit per client, the same
// rules), and the browser is signed in to it.
func (u *UI) handleSignUp(w http.ResponseWriter, r *http.Request) {
	if !u.readForm(w, r) {
		return
	}
	f := r.PostForm
	form := signUpForm{Email: f.Get("email"), Name: f.Get("name"), Role: f.Get("role"), Company: f.Get("company")}
	// The company field is on the form for either role (there is no
	// script to hide it): a job seeker's is ignored, not refused.
	var company *string
	if form.Role == domain.RoleRecruiter.String() && strings.TrimSpace(form.Company) != "" {
		company = &form.Company
	}
	err := api.AllowRegistration(r.Context())
	if err == nil {
		var user *domain.User
		user, err = u.Commands.RegisterUser(r.Context(), commands.RegisterUser{
			Email: form.Email, Password: f.Get("password"), Name: form.Name, Role: form.Role, Company: company,
		})
		if err == nil {
			u.sessions.start(w, r, user.ID(), user.Role(), user.Name())
			http.Redirect(w, r, "/app/", http.StatusSeeOther)
			return
		}
	}
	status, p, errs := u.formProblem(w, r, err)
	u.render(w, r, status, "signup", &page{Title: "Sign up", Problem: p, Errors: errs, Data: form})
}

// signInForm is what the sign-in form shows.
type signInForm struct {
	Email, Next string
}

// handleSignInForm handles the "GET /app/signin" route.
func (u *UI) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "signin", &page{Title: "Sign in", Data: signInForm{Next: localNext(r.URL.Query().Get("next"))}})
}

// handleSignIn handles the "POST /app/signin" route. It logs in through
// Commands.LogIn with the client as POST /login counts it, so that one
// throttle counts the guesses made through either.
func (u *UI) handleSignIn(w http.ResponseWriter, r *http.Request) {
	if !u.readForm(w, r) {
		return
	}
	form := signInForm{Email: r.PostForm.Get("email"), Next: localNext(r.PostForm.Get("next"))}
	user, err := u.Commands.LogIn(r.Context(), form.Email, r.PostForm.Get("password"), api.ClientKey(r.Context()))
	if err != nil {
		status, p, errs := u.formProblem(w, r, err)
		u.render(w, r, status, "signin", &page{Title: "Sign in", Problem: p, Errors: errs, Data: form})
		return
	}
	u.sessions.start(w, r, user.ID(), user.Role(), user.Name())
	next := form.Next
	if next == "" {
		next = "/app/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// handleSignOut handles the "POST /app/signout" route.
func (u *UI) handleSignOut(w http.ResponseWriter, r *http.Request) {
	u.sessions.end(w, r)
	http.Redirect(w, r, "/app/", http.StatusSeeOther)
}
