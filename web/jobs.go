package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/projections"
)

// jobData is a job's page: the job, and what the viewer may do with it.
type jobData struct {
	Job projections.JobRow
	// Owner: the signed-in recruiter who posted it (edit, close or
	// reopen, delete, applicants).
	Owner bool
	// Applied is the signed-in job seeker's application to it, if any;
	// otherwise Apply is their form (nil when they cannot apply).
	Applied *projections.ApplicationRow
	Apply   *applyForm
	// SignInToApply is where an anonymous visitor signs in to apply.
	SignInToApply string
}

// applyForm is the apply form: what was typed (prefilled from the
// account), and the rules of the upload, from the domain's.
type applyForm struct {
	Name, Email, CoverLetter string
	Accept                   string
	Rules                    string
}

// resumeExtensions are the file types a resume may be, as a file picker
// filters them (accept) and as the rules name them: the types
// domain.CheckResume stores.
var resumeExtensions = []struct{ ext, contentType string }{
	{".pdf", domain.ContentTypePDF}, {".docx", domain.ContentTypeDOCX}, {".doc", domain.ContentTypeDOC},
	{".odt", domain.ContentTypeODT}, {".txt", "text/plain"},
}

// resumeAccept is the file input's accept attribute.
var resumeAccept = func() string {
	var parts []string
	for _, e := range resumeExtensions {
		parts = append(parts, e.ext)
	}
	for _, e := range resumeExtensions {
		parts = append(parts, e.contentType)
	}
	return strings.Join(parts, ",")
}()

// resumeRules are said before a file is sent.
var resumeRules = fmt.Sprintf("A PDF, Word (DOCX or DOC), OpenDocument (ODT) or plain text (UTF-8) file of at most %s; its type is judged by its content, not its name.",
	mib(domain.MaxResumeBytes))

// handleJob handles the "GET /app/jobs/{id}" route.
func (u *UI) handleJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		u.handleNotFound(w, r)
		return
	}
	u.showJob(w, r, id, http.StatusOK, nil, nil, nil)
}

// showJob renders a job's page with status; form, when not nil, is the
// apply form as it was sent (refused with p and errs).
func (u *UI) showJob(w http.ResponseWriter, r *http.Request, id uuid.UUID, status int, form *applyForm, p *problem, errs map[string]string) {
	job, err := u.Jobs.Get(r.Context(), id)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	data := jobData{Job: job}
	s := sessionFrom(r.Context())
	switch {
	case s == nil:
		if job.Status == domain.StatusOpen.String() {
			data.SignInToApply = "/app/signin?" + url.Values{"next": {"/app/jobs/" + id.String()}}.Encode()
		}
	case s.IsRecruiter():
		data.Owner = s.UserID == job.RecruiterID
	case s.IsJobSeeker():
		applied, err := u.Applications.ForApplicantAndJob(r.Context(), s.UserID, id)
		switch {
		case err == nil:
			data.Applied = &applied
		case domain.KindOf(err) != domain.KindNotFound:
			u.fail(w, r, err)
			return
		case job.Status == domain.StatusOpen.String():
			if form == nil {
				// Prefilled from the account; blank if it cannot be read
				// (the domain then refuses the application, saying why).
				form = &applyForm{}
				account, err := u.Users.Get(r.Context(), s.UserID)
				if err != nil && domain.KindOf(err) != domain.KindNotFound {
					u.fail(w, r, err)
					return
				}
				form.Name, form.Email = account.Name, account.Email
			}
			form.Accept, form.Rules = resumeAccept, resumeRules
			data.Apply = form
		}
	}
	u.render(w, r, status, "job", &page{Title: job.Title, Problem: p, Errors: errs, Data: data})
}

// jobForm is the post and edit form: every field as text, as typed.
type jobForm struct {
	Title, Description, Company, Location, EmploymentType string
	Remote                                                bool
	SalaryMin, SalaryMax, SalaryCurrency                  string
	// Version is the version the edit form was read at.
	Version int64
}

// jobFormData is the post or edit page.
type jobFormData struct {
	Form            jobForm
	EmploymentTypes []option
	// Editing is whether the form edits a job (JobID) rather than posts
	// one.
	Editing bool
	JobID   uuid.UUID
	// Unsaved lists, after a lost race, the values the recruiter had
	// typed that differ from the job's current ones.
	Unsaved []fieldError
}

func newJobFormData(form jobForm) jobFormData {
	return jobFormData{Form: form, EmploymentTypes: employmentTypeOptions(form.EmploymentType, "")}
}

// formOfJob fills the form with a job's current values.
func formOfJob(j projections.JobRow) jobForm {
	f := jobForm{Title: j.Title, Description: j.Description, Company: j.Company, Location: j.Location,
		EmploymentType: j.EmploymentType, Remote: j.Remote, Version: j.Version}
	if j.SalaryMin != nil {
		f.SalaryMin = strconv.FormatInt(*j.SalaryMin, 10)
	}
	if j.SalaryMax != nil {
		f.SalaryMax = strconv.FormatInt(*j.SalaryMax, 10)
	}
	if j.SalaryCurrency != nil {
		f.SalaryCurrency = *j.SalaryCurrency
	}
	return f
}

// readJobForm reads the post or edit form.
func readJobForm(r *http.Request) jobForm {
	f := r.PostForm
	return jobForm{
		Title: f.Get("title"), Description: f.Get("description"), Company: f.Get("company"),
		Location: f.Get("location"), EmploymentType: f.Get("employment_type"), Remote: f.Get("remote") == "true",
		SalaryMin: f.Get("salary_min"), SalaryMax: f.Get("salary_max"), SalaryCurrency: f.Get("salary_currency"),
	}
}

// draft is the form as the domain takes it. An empty company is left out,
// so that the recruiter's own is taken; empty salary fields are no
// salary. A salary that is not a whole number is refused here, as the
// API refuses a JSON value of the wrong type, before any command runs.
func (f jobForm) draft() (domain.JobDraft, error) {
	d := domain.JobDraft{Title: &f.Title, Description: &f.Description, Location: &f.Location, Remote: &f.Remote}
	if strings.TrimSpace(f.Company) != "" {
		d.Company = &f.Company
	}
	if f.EmploymentType != "" {
		d.EmploymentType = &f.EmploymentType
	}
	if strings.TrimSpace(f.SalaryCurrency) != "" {
		d.SalaryCurrency = &f.SalaryCurrency
	}
	bad := map[string]string{}
	number := func(field, v string) *int64 {
		v = strings.TrimSpace(v)
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad[field] = "must be a whole number"
			return nil
		}
		return &n
	}
	d.SalaryMin, d.SalaryMax = number("salary_min", f.SalaryMin), number("salary_max", f.SalaryMax)
	if len(bad) > 0 {
		return d, invalid(bad)
	}
	return d, nil
}

// handleNewJobForm handles the "GET /app/jobs/new" route.
func (u *UI) handleNewJobForm(w http.ResponseWriter, r *http.Request, s *session) {
	u.render(w, r, http.StatusOK, "job_form", &page{Title: "Post a job", Data: newJobFormData(jobForm{EmploymentType: domain.FullTime.String()})})
}

// handlePostJob handles the "POST /app/jobs/new" route. PostJob answers
// once the jobs view has the job, so the page it redirects to shows it.
func (u *UI) handlePostJob(w http.ResponseWriter, r *http.Request, s *session) {
	if !u.readForm(w, r) {
		return
	}
	form := readJobForm(r)
	draft, err := form.draft()
	if err == nil {
		var job projections.JobRow
		if job, err = u.Commands.PostJob(r.Context(), s.Caller(), draft); err == nil {
			http.Redirect(w, r, "/app/jobs/"+job.ID.String(), http.StatusSeeOther)
			return
		}
	}
	status, p, errs := u.formProblem(w, r, err)
	u.render(w, r, status, "job_form", &page{Title: "Post a job", Problem: p, Errors: errs, Data: newJobFormData(form)})
}

// ownJob reads the job of the path for its recruiter: a 404 page for no
// such job, a 403 page for another recruiter's (the job is public: that
// it exists is no secret).
func (u *UI) ownJob(w http.ResponseWriter, r *http.Request, s *session) (projections.JobRow, bool) {
	id, ok := pathID(r)
	if !ok {
		u.handleNotFound(w, r)
		return projections.JobRow{}, false
	}
	job, err := u.Jobs.Get(r.Context(), id)
	if err != nil {
		u.fail(w, r, err)
		return projections.JobRow{}, false
	}
	if job.RecruiterID != s.UserID {
		u.errorPage(w, r, http.StatusForbidden, "Only the recruiter who posted this job may do this.")
		return projections.JobRow{}, false
	}
	return job, true
}

// handleEditJobForm handles the "GET /app/jobs/{id}/edit" route.
func (u *UI) handleEditJobForm(w http.ResponseWriter, r *http.Request, s *session) {
	job, ok := u.ownJob(w, r, s)
	if !ok {
		return
	}
	data := newJobFormData(formOfJob(job))
	data.Editing, data.JobID = true, job.ID
	u.render(w, r, http.StatusOK, "job_form", &page{Title: "Edit " + job.Title, Data: data})
}

// handleEditJob handles the "POST /app/jobs/{id}/edit" route. The form
// replaces every field of the job (ReplaceJob) on the condition that the
// job is still at the version the form was read at.
//
// When it is not (someone changed the job meanwhile: the API's 412), the
// form is shown again with the job as it now is and its new version, and
// the values the recruiter had typed that differ from it are listed above
// it. Keeping the typed values with the new version instead would let a
// second click overwrite the other change without anyone having seen it;
// this way the recruiter sees both and chooses, and nothing they typed is
// lost from view.
func (u *UI) handleEditJob(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := pathID(r)
	if !ok {
		u.handleNotFound(w, r)
		return
	}
	if !u.readForm(w, r) {
		return
	}
	form := readJobForm(r)
	version, verr := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	if verr != nil || version < 1 {
		u.errorPage(w, r, http.StatusBadRequest, "The form has no valid version of the job. Open the edit page again.")
		return
	}
	form.Version = version
	draft, err := form.draft()
	if err == nil {
		if err = u.Commands.ReplaceJob(r.Context(), s.Caller(), id, commands.Version(version), draft, nil); err == nil {
			http.Redirect(w, r, "/app/jobs/"+id.String(), http.StatusSeeOther)
			return
		}
	}
	switch domain.KindOf(err) {
	case domain.KindNotFound, domain.KindForbidden:
		u.fail(w, r, err)
		return
	case domain.KindPreconditionFailed:
		u.showEditConflict(w, r, id, form)
		return
	}
	status, p, errs := u.formProblem(w, r, err)
	data := newJobFormData(form)
	data.Editing, data.JobID = true, id
	u.render(w, r, status, "job_form", &page{Title: "Edit " + form.Title, Problem: p, Errors: errs, Data: data})
}

// showEditConflict shows the edit form after a lost race: the job as it
// now is, and what the recruiter had typed that differs from it.
func (u *UI) showEditConflict(w http.ResponseWriter, r *http.Request, id uuid.UUID, typed jobForm) {
	job, err := u.Jobs.Get(r.Context(), id)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	current := formOfJob(job)
	data := newJobFormData(current)
	data.Editing, data.JobID = true, id
	for _, f := range []struct{ field, typed, now string }{
		{"title", typed.Title, current.Title}, {"description", typed.Description, current.Description},
		{"company", typed.Company, current.Company}, {"location", typed.Location, current.Location},
		{"employment_type", employmentTypeLabel(typed.EmploymentType), employmentTypeLabel(current.EmploymentType)},
		{"remote", yesNo(typed.Remote), yesNo(current.Remote)},
		{"salary_min", typed.SalaryMin, current.SalaryMin}, {"salary_max", typed.SalaryMax, current.SalaryMax},
		{"salary_currency", typed.SalaryCurrency, current.SalaryCurrency},
	} {
		if f.field == "company" && strings.TrimSpace(f.typed) == "" {
			continue // left empty: the account's company, not a change seen
		}
		if strings.TrimSpace(f.typed) != strings.TrimSpace(f.now) {
			data.Unsaved = append(data.Unsaved, fieldError{Field: f.field, Label: fieldLabels[f.field], Message: f.typed})
		}
	}
	p := &problem{Message: fmt.Sprintf("This job was changed by someone else while you were editing it: it is now at version %d. "+
		"The form shows the job as it is now, and your changes were not saved.", job.Version)}
	u.render(w, r, http.StatusPreconditionFailed, "job_form", &page{Title: "Edit " + job.Title, Problem: p, Errors: map[string]string{}, Data: data})
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// handleSetJobStatus handles the "POST /app/jobs/{id}/close" and
// "POST /app/jobs/{id}/reopen" routes.
func (u *UI) handleSetJobStatus(to domain.JobStatus) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		id, ok := pathID(r)
		if !ok {
			u.handleNotFound(w, r)
			return
		}
		status := to.String()
		if err := u.Commands.PatchJob(r.Context(), s.Caller(), id, nil, domain.JobPatch{Status: &status}); err != nil {
			u.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/app/jobs/"+id.String(), http.StatusSeeOther)
	}
}

// handleDeleteJobForm handles the "GET /app/jobs/{id}/delete" route: the
// confirmation.
func (u *UI) handleDeleteJobForm(w http.ResponseWriter, r *http.Request, s *session) {
	job, ok := u.ownJob(w, r, s)
	if !ok {
		return
	}
	u.render(w, r, http.StatusOK, "delete", &page{Title: "Delete " + job.Title, Data: job})
}

// handleDeleteJob handles the "POST /app/jobs/{id}/delete" route.
func (u *UI) handleDeleteJob(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := pathID(r)
	if !ok {
		u.handleNotFound(w, r)
		return
	}
	if err := u.Commands.DeleteJob(r.Context(), s.Caller(), id, nil); err != nil {
		u.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/app/my/jobs", http.StatusSeeOther)
}

// myJobsShown is how many open, and how many closed, jobs "My jobs" lists.
const myJobsShown = 100

// myJobsData is the "My jobs" page.
type myJobsData struct {
	Jobs                     []projections.JobRow
	OpenTotal, ClosedTotal   int
	OpenHidden, ClosedHidden int
}

// handleMyJobs handles the "GET /app/my/jobs" route: the recruiter's open
// jobs, then closed ones, newest first, listed as GET /jobs lists them
// (recruiter_id, and status=closed for their own).
func (u *UI) handleMyJobs(w http.ResponseWriter, r *http.Request, s *session) {
	var data myJobsData
	for _, st := range []domain.JobStatus{domain.StatusOpen, domain.StatusClosed} {
		page, err := u.Jobs.List(r.Context(), projections.JobFilter{RecruiterID: &s.UserID, Status: st.String(), Limit: myJobsShown})
		if err != nil {
			u.fail(w, r, err)
			return
		}
		data.Jobs = append(data.Jobs, page.Items...)
		if st == domain.StatusOpen {
			data.OpenTotal, data.OpenHidden = page.Total, page.Total-len(page.Items)
		} else {
			data.ClosedTotal, data.ClosedHidden = page.Total, page.Total-len(page.Items)
		}
	}
	u.render(w, r, http.StatusOK, "my_jobs", &page{Title: "My jobs", Data: data})
}
