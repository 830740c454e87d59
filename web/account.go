package web

import (
	"net/http"

	api "github.com/jobboard/jobboard/http"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/projections"
)

// The account's pages: what the board holds about the signed-in account,
// a download of all of it (the API's export, GET /me/export, written by
// the same api.Exporter), and the erasure of the account at its holder's
// request (Commands.DeleteAccount, as DELETE /me runs it: the password is
// checked as a sign-in checks it, in the same throttle).

// accountData is the account page: the account as the board holds it, and
// what an erasure would do to what it left on the board.
type accountData struct {
	Account projections.User
	// OpenJobs is how many of a recruiter's jobs are open (the erasure
	// closes them); Applications how many applications a job seeker has
	// made (they stay, as an erased applicant's).
	OpenJobs, Applications int
}

// RoleLabel names the account's role for people.
func (d accountData) RoleLabel() string {
	if d.Account.Role == domain.RoleRecruiter {
		return "Recruiter"
	}
	return "Job seeker"
}

// IsRecruiter is for the template.
func (d accountData) IsRecruiter() bool { return d.Account.Role == domain.RoleRecruiter }

// handleAccount handles the "GET /app/account" route.
func (u *UI) handleAccount(w http.ResponseWriter, r *http.Request, s *session) {
	u.showAccount(w, r, s, http.StatusOK, nil, nil)
}

// showAccount renders the account page for s with status and, when the
// delete form was refused, its problem and field errors.
func (u *UI) showAccount(w http.ResponseWriter, r *http.Request, s *session, status int, p *problem, errs map[string]string) {
	data, err := u.accountData(r, s)
	if domain.KindOf(err) == domain.KindNotFound {
		// The session names an account that does not exist (a database
		// that was reset): sign in again.
		u.sessions.end(w, r)
		u.toSignIn(w, r)
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if errs == nil {
		errs = map[string]string{}
	}
	u.render(w, r, status, "account", &page{Title: "Your account", Problem: p, Errors: errs, Data: data})
}

// accountData reads what the account page shows to s.
func (u *UI) accountData(r *http.Request, s *session) (accountData, error) {
	ctx := r.Context()
	account, err := u.Users.Get(ctx, s.UserID)
	if err != nil {
		return accountData{}, err
	}
	data := accountData{Account: account}
	switch account.Role {
	case domain.RoleRecruiter:
		page, err := u.Jobs.List(ctx, projections.JobFilter{RecruiterID: &s.UserID, Status: domain.StatusOpen.String(), Limit: 1})
		if err != nil {
			return accountData{}, err
		}
		data.OpenJobs = page.Total
	case domain.RoleJobSeeker:
		page, err := u.Applications.ListAllForApplicant(ctx, s.UserID, 1, nil)
		if err != nil {
			return accountData{}, err
		}
		data.Applications = page.Total
	}
	return data, nil
}

// handleExport handles the "GET /app/account/export" route: the same
// document as GET /me/export, downloaded as a file.
func (u *UI) handleExport(w http.ResponseWriter, r *http.Request, s *session) {
	e := api.Exporter{Commands: u.Commands, Users: u.Users, Jobs: u.Jobs, Applications: u.Applications, Logger: u.Logger}
	err := e.Export(w, r, s.Caller())
	if domain.KindOf(err) == domain.KindNotFound {
		u.sessions.end(w, r)
		u.toSignIn(w, r)
		return
	}
	if err != nil {
		u.fail(w, r, err)
	}
}

// handleDeleteAccountForm handles the "GET /app/account/delete" route: the
// address a refused delete form is shown at, opened again (a reload, a
// bookmark). The form is on the account page.
func (u *UI) handleDeleteAccountForm(w http.ResponseWriter, r *http.Request, _ *session) {
	http.Redirect(w, r, "/app/account#delete-heading", http.StatusSeeOther)
}

// handleDeleteAccount handles the "POST /app/account/delete" route: the
// account is erased once its password is checked as a sign-in checks it
// (a wrong one counts as a failed sign-in of this client), and the
// browser is signed out.
func (u *UI) handleDeleteAccount(w http.ResponseWriter, r *http.Request, s *session) {
	if !u.readForm(w, r) {
		return
	}
	password := r.PostForm.Get("password")
	var err error
	if password == "" {
		// No password judged, so no failed sign-in either.
		err = invalid(map[string]string{"password": "is required: your password, to confirm that you want your account erased"})
	} else {
		_, err = u.Commands.DeleteAccount(r.Context(), s.UserID, password, api.ClientKey(r.Context()))
	}
	if err == nil {
		u.sessions.end(w, r)
		http.Redirect(w, r, "/app/account/deleted", http.StatusSeeOther)
		return
	}
	if domain.KindOf(err) == domain.KindUnauthorized {
		// Either the password is wrong, or the account was erased
		// meanwhile (another tab, the operator): then there is nothing
		// left to delete, and the browser is signed out.
		if active := u.Commands.CheckActive(r.Context(), s.UserID); domain.KindOf(active) == domain.KindUnauthorized {
			u.sessions.end(w, r)
			http.Redirect(w, r, "/app/account/deleted", http.StatusSeeOther)
			return
		}
	}
	status, p, errs := u.formProblem(w, r, err)
	if domain.KindOf(err) == domain.KindUnauthorized {
		// The sign-in's message, next to the field it is about.
		errs["password"] = p.Message
	}
	u.showAccount(w, r, s, status, p, errs)
}

// handleAccountDeleted handles the "GET /app/account/deleted" route, where
// the browser lands, signed out, once its account is erased. A browser
// that is signed in (to another account) is shown its own account page
// instead: this page would not be about it.
func (u *UI) handleAccountDeleted(w http.ResponseWriter, r *http.Request) {
	if sessionFrom(r.Context()) != nil {
		http.Redirect(w, r, "/app/account", http.StatusSeeOther)
		return
	}
	u.render(w, r, http.StatusOK, "account_deleted", &page{Title: "Account deleted"})
}
