package domain

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// StreamApplication is the stream type of application aggregates.
const StreamApplication = "application"

// MaxCoverLetterLength is the longest cover letter, in characters.
const MaxCoverLetterLength = 10000

// ApplicationForm is what a job seeker fills in, as sent. A nil field was
// not given: name and email then default to the account's.
type ApplicationForm struct {
	Name        *string
	Email       *string
	CoverLetter *string
}

// Applicant is who applies: the caller, with the name and email of their
// account, which the form defaults to.
type Applicant struct {
	ID    uuid.UUID
	Role  Role
	Name  string
	Email string
}

// ApplicationSubmitted records an application to a job. The resume, if
// any, is described (name, type, size, SHA-256) but its bytes are not in
// the log: they are stored beside it, in the same transaction.
type ApplicationSubmitted struct {
	ApplicationID uuid.UUID   `json:"application_id"`
	JobID         uuid.UUID   `json:"job_id"`
	ApplicantID   uuid.UUID   `json:"applicant_id"`
	RecruiterID   uuid.UUID   `json:"recruiter_id"` // the job's, when the application was made
	Name          string      `json:"name"`
	Email         string      `json:"email"`
	CoverLetter   string      `json:"cover_letter,omitempty"`
	Resume        *ResumeFile `json:"resume,omitempty"`
	SubmittedAt   time.Time   `json:"submitted_at"`
}

func (ApplicationSubmitted) EventType() string { return "ApplicationSubmitted" }

func init() {
	registerEvent[ApplicationSubmitted](1)
	registerEvent[ApplicationStatusChanged](1)
	registerEvent[ApplicationWithdrawn](1)
}

// Application is a job seeker's application to one job.
type Application struct {
	id          uuid.UUID
	jobID       uuid.UUID
	applicantID uuid.UUID
	recruiterID uuid.UUID
	name        string
	email       string
	coverLetter string
	resume      *ResumeFile
	status      ApplicationStatus
	reason      string // why it was rejected, when it was
	erased      bool   // its applicant's personal data was erased
	submittedAt time.Time
	updatedAt   time.Time
	version     int64
}

var errOnlyJobSeekers = Errorf(KindForbidden, "only job seekers apply to jobs")

// CheckCanApply says whether an account with role may apply at all. It is
// the first rule of SubmitApplication, exposed so that a request can be
// refused before its upload is read.
func CheckCanApply(role Role) error {
	if role != RoleJobSeeker {
		return errOnlyJobSeekers
	}
	return nil
}

// CheckApplicant says whether someone with role may apply to job at all,
// before a form or resume is looked at: only job seekers apply
// (forbidden), a deleted job is not found, a closed one takes no
// applications (conflict).
func CheckApplicant(job *Job, role Role) error {
	if err := CheckCanApply(role); err != nil {
		return err
	}
	if job == nil || job.Deleted() {
		return errNoSuchJob
	}
	if job.Status() != StatusOpen {
		return errJobClosed
	}
	return nil
}

var errJobClosed = Errorf(KindConflict, "this job is closed and takes no applications")

// SubmitApplication decides whether applicant may apply to job with this
// form and resume (nil for none), and returns the application with its
// ApplicationSubmitted event. The rules, in the order they are checked:
// only job seekers apply (forbidden); a deleted job is not found; a closed
// job takes no applications (conflict); then the fields and the resume.
//
// That an applicant applies at most once to a job is not decided here: it
// needs every other application of theirs, and is enforced where the
// application is stored, atomically (see commands.SubmitApplication).
func SubmitApplication(id uuid.UUID, job *Job, applicant Applicant, form ApplicationForm, resume *ResumeUpload, at time.Time) (*Application, []Event, error) {
	if err := CheckApplicant(job, applicant.Role); err != nil {
		return nil, nil, err
	}
	e := ApplicationSubmitted{
		ApplicationID: id, JobID: job.ID(), ApplicantID: applicant.ID, RecruiterID: job.RecruiterID(),
		SubmittedAt: at.UTC(),
	}
	var v Validation
	e.Name = applicant.Name
	if form.Name != nil {
		e.Name = strings.TrimSpace(*form.Name)
		if msg := checkLine(e.Name, 1, MaxNameLength); msg != "" {
			v.Add("name", msg)
		}
	}
	e.Email = applicant.Email
	if form.Email != nil {
		email, err := NormalizeEmail(*form.Email)
		if err != nil {
			v.Add("email", err.Error())
		}
		e.Email = email
	}
	if form.CoverLetter != nil {
		e.CoverLetter = strings.TrimSpace(*form.CoverLetter)
		if msg := checkLines(e.CoverLetter, 0, MaxCoverLetterLength); msg != "" {
			v.Add("cover_letter", msg)
		}
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	if resume != nil {
		file, err := CheckResume(*resume)
		if err != nil {
			return nil, nil, err
		}
		e.Resume = &file
	}
	a := &Application{}
	a.apply(e)
	return a, []Event{e}, nil
}

// ApplicationFromHistory folds an application's events into its state.
func ApplicationFromHistory(events []Event) (*Application, error) {
	if len(events) == 0 {
		return nil, Errorf(KindNotFound, "no such application")
	}
	a := &Application{}
	for _, e := range events {
		a.apply(e)
	}
	return a, nil
}

func (a *Application) apply(e Event) {
	switch e := e.(type) {
	case ApplicationSubmitted:
		a.id, a.jobID, a.applicantID, a.recruiterID = e.ApplicationID, e.JobID, e.ApplicantID, e.RecruiterID
		a.name, a.email, a.coverLetter = e.Name, e.Email, e.CoverLetter
		a.resume = e.Resume
		a.status = ApplicationSubmittedStatus
		a.submittedAt, a.updatedAt = e.SubmittedAt, e.SubmittedAt
	case ApplicationStatusChanged:
		a.status, a.reason, a.updatedAt = e.To, e.Reason, e.ChangedAt
	case ApplicationWithdrawn:
		a.status, a.updatedAt = StatusWithdrawn, e.WithdrawnAt
	case ApplicantErased:
		a.name, a.email, a.coverLetter, a.resume = ErasedApplicantName, "", "", nil
		a.erased = true
	}
	a.version++
}

func (a *Application) ID() uuid.UUID             { return a.id }
func (a *Application) JobID() uuid.UUID          { return a.jobID }
func (a *Application) ApplicantID() uuid.UUID    { return a.applicantID }
func (a *Application) RecruiterID() uuid.UUID    { return a.recruiterID }
func (a *Application) Name() string              { return a.name }
func (a *Application) Email() string             { return a.email }
func (a *Application) CoverLetter() string       { return a.coverLetter }
func (a *Application) Resume() *ResumeFile       { return a.resume }
func (a *Application) Status() ApplicationStatus { return a.status }
func (a *Application) SubmittedAt() time.Time    { return a.submittedAt }
func (a *Application) UpdatedAt() time.Time      { return a.updatedAt }
func (a *Application) RejectionReason() string   { return a.reason }
func (a *Application) Version() int64            { return a.version }

// Erased reports whether the applicant's personal data was erased.
func (a *Application) Erased() bool { return a.erased }
