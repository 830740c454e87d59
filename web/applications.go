package web

import (
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	api "github.com/jobboard/jobboard/http"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/projections"
)

// maxApplyRead is how much of an apply form's body is read at most. The
// form is read as POST /jobs/{id}/apply reads it (api.ReadMultipartApplication),
// which holds no more than a resume of the largest size: a larger resume
// is refused as soon as it passes domain.MaxResumeBytes. The rest of the
// body is then read and thrown away, up to this cap, so that the browser,
// still sending it, gets the form back with the error instead of a
// connection cut mid-upload (browsers show that as an error of their
// own). A body larger than this is not read at all: its connection is
// closed after the answer.
const maxApplyRead = 4 * domain.MaxResumeBytes

// handleApply handles the "POST /app/jobs/{id}/apply" route. What can be
// refused before the upload is read is, as the API does: the role (as),
// the job (it exists, it is open) and an application made already
// (StartApplication); then the upload takes room in the process's upload
// budget, shared with the API.
func (u *UI) handleApply(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := pathID(r)
	if !ok {
		u.handleNotFound(w, r)
		return
	}
	start, err := u.Commands.StartApplication(r.Context(), s.Caller(), id, true)
	switch domain.KindOf(err) {
	case domain.KindNotFound:
		u.fail(w, r, err)
		return
	case domain.KindUnauthorized:
		// The session names an account that does not exist (a database
		// that was reset): sign in again.
		u.sessions.end(w, r)
		u.toSignIn(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxApplyRead)
	if err != nil {
		u.refuseApplication(w, r, id, nil, err)
		return
	}
	if r.ContentLength > maxApplyRead {
		u.refuseApplication(w, r, id, nil, domain.ErrResumeTooLarge)
		return
	}
	release, err := api.ReserveUpload(r.Context(), r)
	if err != nil {
		u.refuseApplication(w, r, id, nil, err)
		return
	}
	defer release()
	form, resume, err := api.ReadMultipartApplication(r)
	if err != nil {
		u.refuseApplication(w, r, id, &form, err)
		return
	}
	a, err := u.Commands.SubmitApplication(r.Context(), start, form, resume)
	if err != nil {
		u.refuseApplication(w, r, id, &form, err)
		return
	}
	http.Redirect(w, r, "/app/applications/"+a.ID.String(), http.StatusSeeOther)
}

// refuseApplication shows the job's page again with the apply form as it
// was sent (but the file, which a browser never lets a page fill in) and
// why it was refused. r.Body must be capped at maxApplyRead. An error about the file (too large, not a resume)
// is the resume field's.
func (u *UI) refuseApplication(w http.ResponseWriter, r *http.Request, id uuid.UUID, sent *domain.ApplicationForm, err error) {
	if r.ContentLength <= maxApplyRead {
		// What is left of the upload is read and thrown away (see
		// maxApplyRead), holding nothing: the browser gets the page.
		io.Copy(io.Discard, r.Body) //nolint:errcheck // the answer is the same
	}
	status, p, errs := u.formProblem(w, r, err)
	if k := domain.KindOf(err); k == domain.KindTooLarge || k == domain.KindUnsupportedType || status == http.StatusRequestEntityTooLarge {
		errs["resume"] = p.Message
	}
	var form *applyForm
	if sent != nil {
		form = &applyForm{}
		for dst, src := range map[*string]*string{&form.Name: sent.Name, &form.Email: sent.Email, &form.CoverLetter: sent.CoverLetter} {
			if src != nil {
				*dst = *src
			}
		}
	}
	u.showJob(w, r, id, status, form, p, errs)
}

// applicationsData is a page of applications: the job's applicants, or
// the job seeker's own applications.
type applicationsData struct {
	Job          *projections.JobRow
	Applications []projections.ApplicationRow
	Total        int
	Next         string
	// Status is the applicants page's filter ("": every status), and
	// Filters its links, each with its count.
	Status  string
	Filters []statusFilter
	// Return is this page, where the forms in it bring the browser back.
	Return string
	// Moved is the application a form of this page just moved, for the
	// notice that says so: with a filter, it may have left the list.
	Moved *projections.ApplicationRow
}

// statusFilter is a link of the applicants page's status filter.
type statusFilter struct {
	Label, Href string
	Count       int
	Current     bool
}

// statusFilters are the applicants page's filter links: every status,
// then each of the seven with the job's count of applications at it.
func statusFilters(job projections.JobRow, current string) []statusFilter {
	base := "/app/jobs/" + job.ID.String() + "/applications"
	out := []statusFilter{{Label: "All", Href: base, Count: job.ApplicationCount, Current: current == ""}}
	for i, st := range domain.ApplicationStatuses {
		out = append(out, statusFilter{Label: applicationStatusLabel(st.String()), Href: base + "?status=" + st.String(),
			Count: job.ApplicationsByStatus[i], Current: current == st.String()})
	}
	return out
}

// listPages fills the page's Next link (r's path and filter, and the
// cursor after list) and Return (r's page itself, without the notice).
func listPages(data *applicationsData, r *http.Request, limit int, next *projections.ApplicationCursor) {
	q := r.URL.Query()
	q.Del("moved")
	data.Return = r.URL.Path
	if len(q) > 0 {
		data.Return += "?" + q.Encode()
	}
	if c := api.EncodeApplicationCursor(next); c != "" {
		nq := url.Values{"limit": {strconv.Itoa(limit)}, "cursor": {c}}
		if data.Status != "" {
			nq.Set("status", data.Status)
		}
		data.Next = r.URL.Path + "?" + nq.Encode()
	}
}

// movedApplication is the application the moved parameter names, when
// belongs says it is one of the page's; nil otherwise. It is only ever a
// notice: a wrong id shows none.
func (u *UI) movedApplication(r *http.Request, belongs func(projections.ApplicationRow) bool) *projections.ApplicationRow {
	id, err := uuid.Parse(r.URL.Query().Get("moved"))
	if err != nil {
		return nil
	}
	a, err := u.Applications.Get(r.Context(), id)
	if err != nil || !belongs(a) {
		return nil
	}
	a.RejectionReason = nil // a notice shows no reason
	return &a
}

// handleApplicants handles the "GET /app/jobs/{id}/applications" route:
// the job's applicants, of one status or all, each with its status and a
// form to move it.
func (u *UI) handleApplicants(w http.ResponseWriter, r *http.Request, s *session) {
	job, ok := u.ownJob(w, r, s)
	if !ok {
		return
	}
	q := r.URL.Query()
	var status string
	if v, given := q["status"]; given && !(len(v) == 1 && v[0] == "") {
		st, err := domain.ParseApplicationStatus(v[0])
		if err != nil || len(v) > 1 {
			u.errorPage(w, r, http.StatusBadRequest, "There is no such status to filter the applicants by. Choose one of the filters on the applicants page.")
			return
		}
		status = st.String()
	}
	limit, after, err := api.ParseApplicationPaging(q)
	var list projections.ApplicationPage
	if err == nil {
		list, err = u.Applications.ListForJob(r.Context(), job.ID, status, limit, after)
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	data := applicationsData{Job: &job, Applications: list.Items, Total: list.Total, Status: status, Filters: statusFilters(job, status)}
	listPages(&data, r, limit, list.Next)
	data.Moved = u.movedApplication(r, func(a projections.ApplicationRow) bool { return a.JobID == job.ID })
	u.render(w, r, http.StatusOK, "applicants", &page{Title: "Applicants: " + job.Title, Data: data})
}

// handleMyApplications handles the "GET /app/me/applications" route.
func (u *UI) handleMyApplications(w http.ResponseWriter, r *http.Request, s *session) {
	limit, after, err := api.ParseApplicationPaging(r.URL.Query())
	var list projections.ApplicationPage
	if err == nil {
		list, err = u.Applications.ListForApplicant(r.Context(), s.UserID, limit, after)
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	// The recruiter's reasons are theirs: nothing of them reaches the
	// applicant's page, whatever its template shows.
	for i := range list.Items {
		list.Items[i].RejectionReason = nil
	}
	data := applicationsData{Applications: list.Items, Total: list.Total}
	listPages(&data, r, limit, list.Next)
	data.Moved = u.movedApplication(r, func(a projections.ApplicationRow) bool { return a.ApplicantID == s.UserID })
	u.render(w, r, http.StatusOK, "my_applications", &page{Title: "My applications", Data: data})
}

// visibleApplication reads the application of the path for the signed-in
// account: its applicant or the recruiter of its job. To anyone else it does
// not exist (404, as in the API), so that ids reveal nothing.
func (u *UI) visibleApplication(w http.ResponseWriter, r *http.Request, s *session) (projections.ApplicationRow, bool) {
	id, ok := pathID(r)
	if !ok {
		u.handleNotFound(w, r)
		return projections.ApplicationRow{}, false
	}
	a, err := u.Applications.Get(r.Context(), id)
	if err != nil {
		u.fail(w, r, err)
		return projections.ApplicationRow{}, false
	}
	applicant := s.IsJobSeeker() && s.UserID == a.ApplicantID
	recruiter := s.IsRecruiter() && s.UserID == a.RecruiterID
	if !applicant && !recruiter {
		u.handleNotFound(w, r)
		return projections.ApplicationRow{}, false
	}
	return a, true
}

// handleApplication handles the "GET /app/applications/{id}" route, where
// the email to the recruiter links.
func (u *UI) handleApplication(w http.ResponseWriter, r *http.Request, s *session) {
	u.showApplication(w, r, s, http.StatusOK, nil, nil, nil, false, nil)
}

// handleResume handles the "GET /app/applications/{id}/resume" route: the
// file as it was stored, of the type its content was judged to be, as an
// attachment that the browser saves and never renders or sniffs.
func (u *UI) handleResume(w http.ResponseWriter, r *http.Request, s *session) {
	a, ok := u.visibleApplication(w, r, s)
	if !ok {
		return
	}
	if a.Resume == nil {
		u.errorPage(w, r, http.StatusNotFound, "This application has no resume.")
		return
	}
	content, err := u.Applications.ResumeContent(r.Context(), a.ID)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	api.WriteResume(w, *a.Resume, content)
}
