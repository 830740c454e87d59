package domain

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// StreamJob is the stream type of job aggregates.
const StreamJob = "job"

// Limits on job fields, from the API contract (in characters).
const (
	MaxTitleLength       = 200
	MaxDescriptionLength = 20000
	MaxLocationLength    = 200
)

// EmploymentType is how a job employs someone. A closed type: only the
// values below exist.
type EmploymentType struct{ slug string }

var (
	FullTime   = EmploymentType{"full_time"}
	PartTime   = EmploymentType{"part_time"}
	Contract   = EmploymentType{"contract"}
	Internship = EmploymentType{"internship"}
	Temporary  = EmploymentType{"temporary"}
)

// EmploymentTypes lists every employment type.
var EmploymentTypes = []EmploymentType{FullTime, PartTime, Contract, Internship, Temporary}

// ParseEmploymentType reads the wire form of an employment type.
func ParseEmploymentType(s string) (EmploymentType, error) {
	for _, t := range EmploymentTypes {
		if t.slug == s {
			return t, nil
		}
	}
	return EmploymentType{}, Errorf(KindInvalid, "must be one of full_time, part_time, contract, internship, temporary")
}

func (t EmploymentType) String() string { return t.slug }

func (t EmploymentType) MarshalText() ([]byte, error) { return []byte(t.slug), nil }

func (t *EmploymentType) UnmarshalText(b []byte) error {
	v, err := ParseEmploymentType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// JobStatus is whether a job takes applications.
type JobStatus struct{ slug string }

var (
	StatusOpen   = JobStatus{"open"}
	StatusClosed = JobStatus{"closed"}
)

// ParseJobStatus reads the wire form of a status.
func ParseJobStatus(s string) (JobStatus, error) {
	switch s {
	case StatusOpen.slug:
		return StatusOpen, nil
	case StatusClosed.slug:
		return StatusClosed, nil
	}
	return JobStatus{}, Errorf(KindInvalid, "must be open or closed")
}

func (s JobStatus) String() string { return s.slug }

func (s JobStatus) MarshalText() ([]byte, error) { return []byte(s.slug), nil }

func (s *JobStatus) UnmarshalText(b []byte) error {
	v, err := ParseJobStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// JobDetails are a job's writable fields, checked.
type JobDetails struct {
	Title          string
	Description    string
	Company        string
	Location       string
	EmploymentType EmploymentType
	Remote         bool
	SalaryMin      *int64
	SalaryMax      *int64
	SalaryCurrency string // "" when there is none
}

// JobDraft is a job's writable fields as a client sent them, before any
// check. A nil pointer means the field was not given.
type JobDraft struct {
	Title          *string
	Description    *string
	Company        *string
	Location       *string
	EmploymentType *string
	Remote         *bool
	SalaryMin      *int64
	SalaryMax      *int64
	SalaryCurrency *string
}

// Optional is a field of a partial update: Set says whether it was given at
// all, and a nil Value inside a set field clears it.
type Optional[T any] struct {
	Set   bool
	Value *T
}

// JobPatch is a partial update: only the given fields change.
type JobPatch struct {
	Title          *string
	Description    *string
	Company        *string
	Location       *string
	EmploymentType *string
	Remote         *bool
	SalaryMin      Optional[int64]
	SalaryMax      Optional[int64]
	SalaryCurrency Optional[string]
	Status         *string
}

// JobPosted records a new job.
type JobPosted struct {
	JobID          uuid.UUID      `json:"job_id"`
	RecruiterID    uuid.UUID      `json:"recruiter_id"`
	Title          string         `json:"title"`
	Description    string         `json:"description"`
	Company        string         `json:"company"`
	Location       string         `json:"location"`
	EmploymentType EmploymentType `json:"employment_type"`
	Remote         bool           `json:"remote"`
	SalaryMin      *int64         `json:"salary_min,omitempty"`
	SalaryMax      *int64         `json:"salary_max,omitempty"`
	SalaryCurrency string         `json:"salary_currency,omitempty"`
	PostedAt       time.Time      `json:"posted_at"`
}

// JobUpdated records the fields of a job that changed, and only those.
// Salary fields that were removed are listed in Cleared. When the same
// request also opened or closed the job, Status says so: one request, one
// event.
type JobUpdated struct {
	JobID          uuid.UUID       `json:"job_id"`
	Title          *string         `json:"title,omitempty"`
	Description    *string         `json:"description,omitempty"`
	Company        *string         `json:"company,omitempty"`
	Location       *string         `json:"location,omitempty"`
	EmploymentType *EmploymentType `json:"employment_type,omitempty"`
	Remote         *bool           `json:"remote,omitempty"`
	SalaryMin      *int64          `json:"salary_min,omitempty"`
	SalaryMax      *int64          `json:"salary_max,omitempty"`
	SalaryCurrency *string         `json:"salary_currency,omitempty"`
	Cleared        []string        `json:"cleared,omitempty"`
	Status         *JobStatus      `json:"status,omitempty"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// JobClosed records that a job stopped taking applications.
type JobClosed struct {
	JobID    uuid.UUID `json:"job_id"`
	ClosedAt time.Time `json:"closed_at"`
}

// JobReopened records that a closed job takes applications again.
type JobReopened struct {
	JobID      uuid.UUID `json:"job_id"`
	ReopenedAt time.Time `json:"reopened_at"`
}

// JobDeleted records that a job was withdrawn for good. Its history stays.
type JobDeleted struct {
	JobID     uuid.UUID `json:"job_id"`
	DeletedAt time.Time `json:"deleted_at"`
}

func (JobPosted) EventType() string   { return "JobPosted" }
func (JobUpdated) EventType() string  { return "JobUpdated" }
func (JobClosed) EventType() string   { return "JobClosed" }
func (JobReopened) EventType() string { return "JobReopened" }
func (JobDeleted) EventType() string  { return "JobDeleted" }

func init() {
	registerEvent[JobPosted](2) // v1 had no employment_type: see upcasters.go
	registerEvent[JobUpdated](1)
	registerEvent[JobClosed](1)
	registerEvent[JobReopened](1)
	registerEvent[JobDeleted](1)
}

// Job is a posting. Only its recruiter changes it; once deleted it accepts
// nothing.
type Job struct {
	id          uuid.UUID
	recruiterID uuid.UUID
	details     JobDetails
	status      JobStatus
	deleted     bool
	createdAt   time.Time
	updatedAt   time.Time
	version     int64
}

// Poster is who posts or changes a job: the authenticated caller, and the
// company they registered with (the default company of their jobs).
type Poster struct {
	ID      uuid.UUID
	Role    Role
	Company string
}

// PostJob decides whether poster may post a job with these fields, and
// returns it with its JobPosted event.
func PostJob(id uuid.UUID, poster Poster, draft JobDraft, at time.Time) (*Job, []Event, error) {
	if poster.Role != RoleRecruiter {
		return nil, nil, Errorf(KindForbidden, "only recruiters post jobs")
	}
	details, err := draft.check(poster.Company)
	if err != nil {
		return nil, nil, err
	}
	e := JobPosted{
		JobID: id, RecruiterID: poster.ID,
		Title: details.Title, Description: details.Description, Company: details.Company, Location: details.Location,
		EmploymentType: details.EmploymentType, Remote: details.Remote,
		SalaryMin: details.SalaryMin, SalaryMax: details.SalaryMax, SalaryCurrency: details.SalaryCurrency,
		PostedAt: at.UTC(),
	}
	j := &Job{}
	j.apply(e)
	return j, []Event{e}, nil
}

// JobFromHistory folds a job's events into its current state. A deleted job
// is returned too (Deleted reports it); commands refuse to change it.
func JobFromHistory(events []Event) (*Job, error) {
	if len(events) == 0 {
		return nil, errNoSuchJob
	}
	j := &Job{}
	for _, e := range events {
		j.apply(e)
	}
	return j, nil
}

var errNoSuchJob = Errorf(KindNotFound, "no such job")

// Patch changes the given fields (and the status, if given).
func (j *Job) Patch(poster Poster, p JobPatch, at time.Time) ([]Event, error) {
	if err := j.checkWriter(poster); err != nil {
		return nil, err
	}
	d := j.details
	draft := JobDraft{
		Title: &d.Title, Description: &d.Description, Company: &d.Company, Location: &d.Location,
		Remote: &d.Remote, SalaryMin: d.SalaryMin, SalaryMax: d.SalaryMax,
	}
	et := d.EmploymentType.String()
	draft.EmploymentType = &et
	if d.SalaryCurrency != "" {
		draft.SalaryCurrency = &d.SalaryCurrency
	}
	for _, f := range []struct {
		given *string
		dst   **string
	}{{p.Title, &draft.Title}, {p.Description, &draft.Description}, {p.Company, &draft.Company}, {p.Location, &draft.Location}, {p.EmploymentType, &draft.EmploymentType}} {
		if f.given != nil {
			*f.dst = f.given
		}
	}
	if p.Remote != nil {
		draft.Remote = p.Remote
	}
	if p.SalaryMin.Set {
		draft.SalaryMin = p.SalaryMin.Value
	}
	if p.SalaryMax.Set {
		draft.SalaryMax = p.SalaryMax.Value
	}
	if p.SalaryCurrency.Set {
		draft.SalaryCurrency = p.SalaryCurrency.Value
	}
	return j.changeTo(draft, p.Status, poster.Company, at)
}

// Replace sets every writable field: the ones not given go back to their
// defaults. The status changes only if given.
func (j *Job) Replace(poster Poster, draft JobDraft, status *string, at time.Time) ([]Event, error) {
	if err := j.checkWriter(poster); err != nil {
		return nil, err
	}
	return j.changeTo(draft, status, poster.Company, at)
}

// Delete withdraws the job.
func (j *Job) Delete(poster Poster, at time.Time) ([]Event, error) {
	if err := j.checkWriter(poster); err != nil {
		return nil, err
	}
	e := JobDeleted{JobID: j.id, DeletedAt: at.UTC()}
	j.apply(e)
	return []Event{e}, nil
}

// CheckWriter says whether poster may change the job: a deleted job is not
// found, and only its recruiter may change a live one.
func (j *Job) CheckWriter(poster Poster) error { return j.checkWriter(poster) }

func (j *Job) checkWriter(poster Poster) error {
	if j.deleted {
		return errNoSuchJob
	}
	if poster.Role != RoleRecruiter || poster.ID != j.recruiterID {
		return Errorf(KindForbidden, "only the recruiter who posted this job may change it")
	}
	return nil
}

// changeTo decides the one event (if any) that takes the job to draft and
// status. A request that changes nothing decides nothing.
func (j *Job) changeTo(draft JobDraft, status *string, defaultCompany string, at time.Time) ([]Event, error) {
	next, err := draft.check(defaultCompany)
	var newStatus JobStatus
	if status != nil {
		var statusErr error
		if newStatus, statusErr = ParseJobStatus(*status); statusErr != nil {
			err = addField(err, "status", statusErr.Error())
		}
	}
	if err != nil {
		return nil, err
	}
	u := diff(j.id, j.details, next)
	statusChanged := status != nil && newStatus != j.status
	var e Event
	switch {
	case u != nil:
		if statusChanged {
			u.Status = &newStatus
		}
		u.UpdatedAt = at.UTC()
		e = *u
	case statusChanged && newStatus == StatusClosed:
		e = JobClosed{JobID: j.id, ClosedAt: at.UTC()}
	case statusChanged:
		e = JobReopened{JobID: j.id, ReopenedAt: at.UTC()}
	default:
		return nil, nil
	}
	j.apply(e)
	return []Event{e}, nil
}

// diff returns the JobUpdated that takes from to to, or nil when they are
// the same.
func diff(id uuid.UUID, from, to JobDetails) *JobUpdated {
	u := JobUpdated{JobID: id}
	changed := false
	str := func(a, b string, dst **string) {
		if a != b {
			*dst, changed = &b, true
		}
	}
	str(from.Title, to.Title, &u.Title)
	str(from.Description, to.Description, &u.Description)
	str(from.Company, to.Company, &u.Company)
	str(from.Location, to.Location, &u.Location)
	if from.EmploymentType != to.EmploymentType {
		u.EmploymentType, changed = &to.EmploymentType, true
	}
	if from.Remote != to.Remote {
		u.Remote, changed = &to.Remote, true
	}
	num := func(name string, a, b *int64, dst **int64) {
		switch {
		case a != nil && b == nil:
			u.Cleared, changed = append(u.Cleared, name), true
		case b != nil && (a == nil || *a != *b):
			*dst, changed = b, true
		}
	}
	num("salary_min", from.SalaryMin, to.SalaryMin, &u.SalaryMin)
	num("salary_max", from.SalaryMax, to.SalaryMax, &u.SalaryMax)
	switch {
	case from.SalaryCurrency != "" && to.SalaryCurrency == "":
		u.Cleared, changed = append(u.Cleared, "salary_currency"), true
	case from.SalaryCurrency != to.SalaryCurrency:
		u.SalaryCurrency, changed = &to.SalaryCurrency, true
	}
	if !changed {
		return nil
	}
	return &u
}

func (j *Job) apply(e Event) {
	switch e := e.(type) {
	case JobPosted:
		j.id, j.recruiterID = e.JobID, e.RecruiterID
		j.details = JobDetails{
			Title: e.Title, Description: e.Description, Company: e.Company, Location: e.Location,
			EmploymentType: e.EmploymentType, Remote: e.Remote,
			SalaryMin: e.SalaryMin, SalaryMax: e.SalaryMax, SalaryCurrency: e.SalaryCurrency,
		}
		j.status = StatusOpen
		j.createdAt, j.updatedAt = e.PostedAt, e.PostedAt
	case JobUpdated:
		e.ApplyTo(&j.details)
		if e.Status != nil {
			j.status = *e.Status
		}
		j.updatedAt = e.UpdatedAt
	case JobClosed:
		j.status, j.updatedAt = StatusClosed, e.ClosedAt
	case JobReopened:
		j.status, j.updatedAt = StatusOpen, e.ReopenedAt
	case JobDeleted:
		j.deleted, j.updatedAt = true, e.DeletedAt
	}
	j.version++
}

// ApplyTo changes d as the event says. Projections use it too, so that the
// aggregate and the read model cannot disagree on what an update means.
func (e JobUpdated) ApplyTo(d *JobDetails) {
	set := func(src *string, dst *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(e.Title, &d.Title)
	set(e.Description, &d.Description)
	set(e.Company, &d.Company)
	set(e.Location, &d.Location)
	set(e.SalaryCurrency, &d.SalaryCurrency)
	if e.EmploymentType != nil {
		d.EmploymentType = *e.EmploymentType
	}
	if e.Remote != nil {
		d.Remote = *e.Remote
	}
	if e.SalaryMin != nil {
		d.SalaryMin = e.SalaryMin
	}
	if e.SalaryMax != nil {
		d.SalaryMax = e.SalaryMax
	}
	for _, f := range e.Cleared {
		switch f {
		case "salary_min":
			d.SalaryMin = nil
		case "salary_max":
			d.SalaryMax = nil
		case "salary_currency":
			d.SalaryCurrency = ""
		}
	}
}

func (j *Job) ID() uuid.UUID          { return j.id }
func (j *Job) RecruiterID() uuid.UUID { return j.recruiterID }
func (j *Job) Details() JobDetails    { return j.details }
func (j *Job) Status() JobStatus      { return j.status }
func (j *Job) Deleted() bool          { return j.deleted }
func (j *Job) CreatedAt() time.Time   { return j.createdAt }
func (j *Job) UpdatedAt() time.Time   { return j.updatedAt }
func (j *Job) Version() int64         { return j.version }

// check validates a draft and fills in defaults: employment type full_time,
// not remote, and the recruiter's own company.
func (d JobDraft) check(defaultCompany string) (JobDetails, error) {
	var v Validation
	text := func(field string, s *string, max int) string {
		if s == nil {
			v.Add(field, "is required")
			return ""
		}
		t := strings.TrimSpace(*s)
		if msg := checkLine(t, 1, max); msg != "" {
			v.Add(field, msg)
		}
		return t
	}
	out := JobDetails{
		Title:       text("title", d.Title, MaxTitleLength),
		Description: textKeepLines(&v, d.Description),
		Location:    text("location", d.Location, MaxLocationLength),
	}
	if d.Company == nil {
		if defaultCompany == "" {
			v.Add("company", "is required (your account has no company to default to)")
		}
		out.Company = defaultCompany
	} else {
		out.Company = text("company", d.Company, MaxCompanyLength)
	}
	out.EmploymentType = FullTime
	if d.EmploymentType != nil {
		t, err := ParseEmploymentType(*d.EmploymentType)
		if err != nil {
			v.Add("employment_type", err.Error())
		}
		out.EmploymentType = t
	}
	if d.Remote != nil {
		out.Remote = *d.Remote
	}
	out.SalaryMin, out.SalaryMax = d.SalaryMin, d.SalaryMax
	if out.SalaryMin != nil && *out.SalaryMin < 0 {
		v.Add("salary_min", "must not be negative")
	}
	if out.SalaryMax != nil && *out.SalaryMax < 0 {
		v.Add("salary_max", "must not be negative")
	}
	if out.SalaryMin != nil && out.SalaryMax != nil && *out.SalaryMin > *out.SalaryMax {
		v.Add("salary_min", "must not be greater than salary_max")
	}
	if d.SalaryCurrency != nil {
		c, ok := ParseCurrency(*d.SalaryCurrency)
		if !ok {
			v.Add("salary_currency", "must be a three-letter ISO 4217 code such as EUR or USD")
		}
		out.SalaryCurrency = c
	}
	if err := v.Err(); err != nil {
		return JobDetails{}, err
	}
	return out, nil
}

// textKeepLines checks a description, which is prose of several lines.
func textKeepLines(v *Validation, s *string) string {
	if s == nil {
		v.Add("description", "is required")
		return ""
	}
	t := strings.TrimSpace(*s)
	if msg := checkLines(t, 1, MaxDescriptionLength); msg != "" {
		v.Add("description", msg)
	}
	return t
}

// addField adds a field error to err, which is nil or an invalid-kind
// *Error.
func addField(err error, field, message string) error {
	var v Validation
	if e, ok := err.(*Error); ok {
		v.fields = append(v.fields, e.Fields...)
	}
	v.Add(field, message)
	return v.Err()
}
