package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	api "github.com/jobboard/jobboard/http"

	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/projections"
)

// The hiring pipeline's pages: the job's recruiter moves an application
// from one status to another (from the applicants page or the
// application's own), its applicant withdraws it (from My applications or
// the application's page, after a confirmation). Both go through
// Commands.MoveApplication, as PATCH /applications/{id} does, with the
// version the page showed as its If-Match: a page read before someone
// else's move changes nothing, and says so.

// applicationData is an application's page: the application as its viewer
// may see it, its history, and what the viewer may do with it.
type applicationData struct {
	projections.ApplicationRow
	// Recruiter: the viewer is the job's recruiter, who alone sees the
	// rejection reason (blanked for anyone else, so that no template can
	// show it by mistake) and moves the application.
	Recruiter bool
	History   []historyEntry
	// Move is the recruiter's form, nil once the application is final.
	Move *moveForm
	// WithdrawHref is where the applicant confirms a withdrawal, "" when
	// they cannot (it is final, or the viewer is the recruiter).
	WithdrawHref string
	// Moved says that a form of this viewer just moved it (the notice).
	Moved bool
}

// moveForm is the recruiter's form to move an application: the statuses
// it may go to, what was chosen and typed when the form comes back with
// an error, the version it was read at, and the page to go back to.
type moveForm struct {
	Targets        []option
	Status, Reason string
	Version        int64
	Return         string
}

// historyEntry is one event of an application's history, as a page shows
// it. Reason is the recruiter's, and filled only for them.
type historyEntry struct {
	At       time.Time
	Kind     string // "submitted", "moved" or "withdrawn"
	From, To string
	Reason   string
}

// showApplication renders the application's page for s with status and
// the problem p (or, when problemFor is set, the one it makes of the
// application as it now is). sent, when not nil, is the form that was
// refused: its return page is kept, and with keep what was chosen and
// typed, and the version it was read at, so that a second try after a
// field error still loses to a move made meanwhile.
func (u *UI) showApplication(w http.ResponseWriter, r *http.Request, s *session, status int, p *problem, errs map[string]string,
	sent *moveForm, keep bool, problemFor func(projections.ApplicationRow) *problem) {
	a, ok := u.visibleApplication(w, r, s)
	if !ok {
		return
	}
	data, err := u.applicationData(r, s, a)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if sent != nil && data.Move != nil {
		data.Move.Return = returnPath(sent.Return, a, true)
		if keep {
			for i := range data.Move.Targets {
				data.Move.Targets[i].Selected = data.Move.Targets[i].Value == sent.Status
			}
			data.Move.Reason, data.Move.Version = sent.Reason, sent.Version
		}
	}
	if sent != nil && data.WithdrawHref != "" {
		data.WithdrawHref = withdrawHref(a.ID, returnPath(sent.Return, a, false))
	}
	data.Moved = r.Method == http.MethodGet && r.URL.Query().Get("moved") == a.ID.String()
	if problemFor != nil {
		p = problemFor(a)
	}
	if errs == nil {
		errs = map[string]string{}
	}
	u.render(w, r, status, "application", &page{Title: "Application from " + a.Name, Problem: p, Errors: errs, Data: data})
}

// applicationData reads what the application's page shows to s.
func (u *UI) applicationData(r *http.Request, s *session, a projections.ApplicationRow) (applicationData, error) {
	records, recruiter, err := u.Commands.ApplicationHistory(r.Context(), s.Caller(), a.ID)
	if err != nil {
		return applicationData{}, err
	}
	data := applicationData{ApplicationRow: a, Recruiter: recruiter}
	if !recruiter {
		data.RejectionReason = nil
	}
	for _, rec := range records {
		e, err := rec.Event()
		if err != nil {
			return applicationData{}, err
		}
		entry := historyEntry{At: rec.OccurredAt}
		switch e := e.(type) {
		case domain.ApplicationSubmitted:
			entry.Kind, entry.To = "submitted", domain.ApplicationSubmittedStatus.String()
		case domain.ApplicationStatusChanged:
			entry.Kind, entry.From, entry.To = "moved", e.From.String(), e.To.String()
			if recruiter {
				entry.Reason = e.Reason
			}
		case domain.ApplicationWithdrawn:
			entry.Kind, entry.From, entry.To = "withdrawn", e.From.String(), domain.StatusWithdrawn.String()
		default:
			continue // an event of a later release: not one this page knows how to tell
		}
		data.History = append(data.History, entry)
	}
	here := "/app/applications/" + a.ID.String()
	switch {
	case finalStatus(a.Status):
	case recruiter:
		data.Move = &moveForm{Targets: moveTargets(a.Status), Version: a.Version, Return: here}
	case s.IsJobSeeker() && s.UserID == a.ApplicantID:
		data.WithdrawHref = withdrawHref(a.ID, here)
	}
	return data, nil
}

// withdrawHref is the confirmation page of a withdrawal, which leads back
// to returnTo.
func withdrawHref(id uuid.UUID, returnTo string) string {
	return "/app/applications/" + id.String() + "/withdraw?" + url.Values{"return": {returnTo}}.Encode()
}

// readVersion reads the version a form about an application was read at;
// false (after a 400 page) when there is none.
func (u *UI) readVersion(w http.ResponseWriter, r *http.Request) (int64, bool) {
	version, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	if err != nil || version < 1 {
		u.errorPage(w, r, http.StatusBadRequest, "The form has no valid version of the application. Open the page again and send it from there.")
		return 0, false
	}
	return version, true
}

// handleMoveApplication handles the "POST /app/applications/{id}/status"
// route: the job's recruiter moves the application to the status the
// form names, with the reason typed when it is a rejection.
//
// The reason field is on every move form, since a page without script
// cannot take it away when another status is chosen (the stylesheet hides
// it where it can): it is the rejection's only, and sent with no other
// status, so that a reason typed and then left behind for another choice
// does not turn the move into an error.
func (u *UI) handleMoveApplication(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := pathID(r)
	if !ok {
		u.handleNotFound(w, r)
		return
	}
	if !u.readForm(w, r) {
		return
	}
	version, ok := u.readVersion(w, r)
	if !ok {
		return
	}
	f := r.PostForm
	form := &moveForm{Status: f.Get("status"), Reason: f.Get("reason"), Version: version, Return: f.Get("return")}
	move := domain.ApplicationMove{Status: form.Status}
	if move.Status == domain.StatusRejected.String() && strings.TrimSpace(form.Reason) != "" {
		move.Reason = &form.Reason
	}
	var err error
	if move.Status == "" {
		// The list starts on a choice that is none, so that a click on
		// Move alone moves nothing; the domain would say "must be one
		// of …", which is the API's way to put it.
		err = invalid(map[string]string{"status": "choose the status to move the application to"})
	} else {
		err = u.Commands.MoveApplication(r.Context(), s.Caller(), id, commands.Version(version), move)
	}
	u.afterMove(w, r, s, id, form, err)
}

// handleWithdrawForm handles the "GET /app/applications/{id}/withdraw"
// route: the confirmation of a withdrawal, which is final.
func (u *UI) handleWithdrawForm(w http.ResponseWriter, r *http.Request, s *session) {
	a, ok := u.visibleApplication(w, r, s)
	if !ok {
		return
	}
	if finalStatus(a.Status) {
		u.errorPage(w, r, http.StatusConflict, fmt.Sprintf("This application is %s: it can no longer be withdrawn.",
			strings.ToLower(applicationStatusLabel(a.Status))))
		return
	}
	data := withdrawData{ApplicationRow: a, Return: returnPath(r.URL.Query().Get("return"), a, false)}
	// Never the recruiter's reason: this page is the applicant's.
	data.RejectionReason = nil
	u.render(w, r, http.StatusOK, "withdraw", &page{Title: "Withdraw your application", Data: data})
}

// withdrawData is the confirmation page of a withdrawal.
type withdrawData struct {
	projections.ApplicationRow
	Return string
}

// handleWithdraw handles the "POST /app/applications/{id}/withdraw" route.
func (u *UI) handleWithdraw(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := pathID(r)
	if !ok {
		u.handleNotFound(w, r)
		return
	}
	if !u.readForm(w, r) {
		return
	}
	version, ok := u.readVersion(w, r)
	if !ok {
		return
	}
	form := &moveForm{Version: version, Return: r.PostForm.Get("return")}
	err := u.Commands.MoveApplication(r.Context(), s.Caller(), id, commands.Version(version), domain.ApplicationMove{Status: domain.StatusWithdrawn.String()})
	u.afterMove(w, r, s, id, form, err)
}

// afterMove answers a move or a withdrawal that err ended. A move that was
// made sends the browser back to the page the form came from, which shows
// it (MoveApplication answers once the views have it). A refused one shows
// the application's page, as it now is, with why: the form's fields for
// an invalid one (422), a move made meanwhile by someone else (412), an
// application that cannot move that way (409). Anything else (no such
// application, not theirs to move) is an error page, as for every form.
func (u *UI) afterMove(w http.ResponseWriter, r *http.Request, s *session, id uuid.UUID, form *moveForm, err error) {
	if err == nil {
		a, err := u.Applications.Get(r.Context(), id)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		to := returnPath(form.Return, a, s.IsRecruiter())
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		http.Redirect(w, r, to+sep+"moved="+a.ID.String(), http.StatusSeeOther)
		return
	}
	switch domain.KindOf(err) {
	case domain.KindInvalid, domain.KindConflict:
		status, p, errs := u.formProblem(w, r, err)
		u.showApplication(w, r, s, status, p, errs, form, domain.KindOf(err) == domain.KindInvalid, nil)
	case domain.KindPreconditionFailed:
		// The API's message speaks of If-Match; a page says what it means.
		// The form shows the application as it is now, at its current
		// version: sent again, it is a choice made on what is there.
		u.showApplication(w, r, s, http.StatusPreconditionFailed, nil, nil, form, false,
			func(a projections.ApplicationRow) *problem {
				msg := "This application changed while you had the page open: it is now " + applicationStatusLabel(a.Status)
				if finalStatus(a.Status) {
					return &problem{Message: msg + ", and moves no more. Your change was not made."}
				}
				return &problem{Message: msg + ". Your change was not made; this page shows it as it is now, so choose again if you still want to."}
			})
	default:
		u.fail(w, r, err)
	}
}

// returnPath is the page a move's form brings the browser back to: the
// page it names in its return field, when that is one of the few pages a
// form about application a is on for its viewer, rebuilt from a's own
// ids and the query parameters those pages take, checked; otherwise the
// application's own page. Nothing of the field is copied as it is, so no
// form, forged or not, can send the browser anywhere else (no open
// redirect).
func returnPath(raw string, a projections.ApplicationRow, recruiter bool) string {
	own := "/app/applications/" + a.ID.String()
	p, err := url.Parse(raw)
	if err != nil || p.Scheme != "" || p.Host != "" || p.User != nil || p.Opaque != "" {
		return own
	}
	q, keep := p.Query(), url.Values{}
	var path string
	switch {
	case recruiter && !a.JobDeleted && p.Path == "/app/jobs/"+a.JobID.String()+"/applications":
		path = p.Path
		if st, err := domain.ParseApplicationStatus(q.Get("status")); err == nil {
			keep.Set("status", st.String())
		}
	case !recruiter && p.Path == "/app/me/applications":
		path = p.Path
	default:
		return own
	}
	// The page of the list it was on: a cursor and limit the list itself
	// would take, written anew.
	if q.Has("limit") || q.Has("cursor") {
		paging := url.Values{"limit": {q.Get("limit")}, "cursor": {q.Get("cursor")}}
		if q.Get("cursor") == "" {
			paging.Del("cursor")
		}
		if q.Get("limit") == "" {
			paging.Del("limit")
		}
		if limit, after, err := api.ParseApplicationPaging(paging); err == nil {
			if q.Get("limit") != "" {
				keep.Set("limit", strconv.Itoa(limit))
			}
			if c := api.EncodeApplicationCursor(after); c != "" {
				keep.Set("cursor", c)
			}
		}
	}
	if len(keep) == 0 {
		return path
	}
	return path + "?" + keep.Encode()
}
