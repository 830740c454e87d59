package projections

import (
	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// JobsProjector keeps the jobs table (one row per live job, with what the
// listing, its filters and full-text search need, and its application
// count), job_search (the few columns of each job that listings find,
// count and order their matches by; see JobsView.List) and the
// applications table.
//
// Applications are shown with their job's title and company, only while
// the job lives, and only to its owner: projected by the same projector, in
// the same consumer group, the two tables are always in step, so that a
// query joining them never sees an application of a job it does not know
// yet, and a job write and an application both need to wait for one
// projection only.
type JobsProjector struct{}

func (JobsProjector) Name() string { return Jobs }

var (
	jobsTable = NewTable("jobs", "id", "recruiter_id", "title", "description", "company", "location",
		"employment_type", "remote", "salary_min", "salary_max", "salary_currency", "status", "created_at",
		"updated_at", "version", "application_count", "applications_submitted", "applications_screening",
		"applications_interview", "applications_offer", "applications_hired", "applications_rejected",
		"applications_withdrawn", "deleted_at")
	applicationsTable = NewTable("applications", "id", "job_id", "applicant_id", "recruiter_id", "name", "email",
		"cover_letter", "status", "resume_filename", "resume_content_type", "resume_size", "resume_sha256",
		"created_at", "version", "updated_at", "rejection_reason")
	// jobSearchTable holds, for each live job, only what a listing reads
	// to find, count and order its matches: 19 MB at 100,000 jobs where
	// jobs, with descriptions and their tsvector, is 112 MB
	// (bench/search/README.md). Its lowercased copies of title, company
	// and location are generated columns (migration 0010), computed by the
	// database's own lower(), the function ILIKE folds case with.
	jobSearchTable = NewTable("job_search", "id", "recruiter_id", "status", "created_at", "title", "company",
		"location", "employment_type", "remote")
)

func (JobsProjector) Tables() []*Table { return []*Table{jobsTable, jobSearchTable, applicationsTable} }

func (JobsProjector) EventTypes() []string {
	return []string{domain.JobPosted{}.EventType(), domain.JobUpdated{}.EventType(), domain.JobClosed{}.EventType(),
		domain.JobReopened{}.EventType(), domain.JobDeleted{}.EventType(), domain.ApplicationSubmitted{}.EventType(),
		domain.ApplicationStatusChanged{}.EventType(), domain.ApplicationWithdrawn{}.EventType(),
		domain.ApplicantErased{}.EventType()}
}

// PartitionKey is the job an event is about: a job's events write its row,
// and an application's write its own row and its job's count. The event is
// read as Apply reads it, through the upcasters, so that an older shape of
// it cannot put an application in another part than its job.
func (JobsProjector) PartitionKey(r eventstore.Record) (uuid.UUID, bool) {
	switch r.StreamType {
	case domain.StreamJob:
		return r.StreamID, true
	case domain.StreamApplication:
		e, err := r.Event()
		if err == nil {
			if job := applicationJob(e); job != uuid.Nil {
				return job, true
			}
		}
		return r.StreamID, true // Apply reports what is wrong with it
	}
	return uuid.Nil, false
}

func (JobsProjector) Apply(r eventstore.Record, w Writer) error {
	switch r.StreamType {
	case domain.StreamJob:
		return applyJobEvent(r, w)
	case domain.StreamApplication:
		return applyApplicationEvent(r, w)
	}
	return nil
}

func applyJobEvent(r eventstore.Record, w Writer) error {
	e, err := r.Event()
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case domain.JobPosted:
		j := PostedJob(e, r.Version)
		if err := w.Insert(jobsTable, j.ID, j.RecruiterID, j.Title, j.Description, j.Company, j.Location,
			j.EmploymentType, j.Remote, j.SalaryMin, j.SalaryMax, j.SalaryCurrency,
			j.Status, j.CreatedAt, j.UpdatedAt, j.Version, int64(j.ApplicationCount),
			int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), nil); err != nil {
			return err
		}
		return w.Insert(jobSearchTable, j.ID, j.RecruiterID, j.Status, j.CreatedAt, j.Title, j.Company, j.Location,
			j.EmploymentType, j.Remote)
	case domain.JobUpdated:
		set := jobUpdate(e, r.Version)
		if err := w.Update(jobsTable, e.JobID, set...); err != nil {
			return err
		}
		return w.Update(jobSearchTable, e.JobID, searchUpdate(set)...)
	case domain.JobClosed:
		if err := w.Update(jobsTable, e.JobID, Set("status", domain.StatusClosed.String()), Set("updated_at", e.ClosedAt), Set("version", r.Version)); err != nil {
			return err
		}
		return w.Update(jobSearchTable, e.JobID, Set("status", domain.StatusClosed.String()))
	case domain.JobReopened:
		if err := w.Update(jobsTable, e.JobID, Set("status", domain.StatusOpen.String()), Set("updated_at", e.ReopenedAt), Set("version", r.Version)); err != nil {
			return err
		}
		return w.Update(jobSearchTable, e.JobID, Set("status", domain.StatusOpen.String()))
	case domain.JobDeleted:
		// The row stays, marked, for the applications it has (see migration
		// 0012); its status is no listing's. job_search holds only what
		// listings find, so its row goes.
		if err := w.Update(jobsTable, e.JobID, Set("status", deletedStatus), Set("deleted_at", e.DeletedAt),
			Set("updated_at", e.DeletedAt), Set("version", r.Version)); err != nil {
			return err
		}
		return w.Delete(jobSearchTable, e.JobID)
	}
	return nil
}

// deletedStatus is the status of a deleted job's row in jobs: no filter
// of a listing asks for it.
const deletedStatus = "deleted"

// searchUpdate is the part of a jobs update that job_search holds: an
// update that changes none of its columns (a new salary, say) does not
// write it. Update writes nothing for an empty list.
func searchUpdate(set []Assignment) []Assignment {
	var out []Assignment
	for _, a := range set {
		if _, ok := jobSearchTable.index[a.Column]; ok {
			out = append(out, a)
		}
	}
	return out
}

// PostedJob is the row JobPosted, at version, puts in the jobs view: a
// command that posted a job can answer with it once the projection has
// applied the event, without reading the row back.
func PostedJob(e domain.JobPosted, version int64) JobRow {
	var currency *string
	if e.SalaryCurrency != "" {
		currency = &e.SalaryCurrency
	}
	return JobRow{
		ID: e.JobID, RecruiterID: e.RecruiterID, Title: e.Title, Description: e.Description, Company: e.Company,
		Location: e.Location, EmploymentType: e.EmploymentType.String(), Remote: e.Remote,
		SalaryMin: e.SalaryMin, SalaryMax: e.SalaryMax, SalaryCurrency: currency,
		Status: domain.StatusOpen.String(), CreatedAt: e.PostedAt, UpdatedAt: e.PostedAt, Version: version,
	}
}

// jobUpdate is what a JobUpdated sets: the columns the event names and
// nothing else, as JobUpdated.ApplyTo does to a job's details. Fields
// given are set, cleared salary fields become NULL (a clear wins over a
// value, as in ApplyTo).
func jobUpdate(e domain.JobUpdated, version int64) []Assignment {
	values := map[string]any{}
	str := func(col string, v *string) {
		if v != nil {
			values[col] = *v
		}
	}
	str("title", e.Title)
	str("description", e.Description)
	str("company", e.Company)
	str("location", e.Location)
	if e.SalaryCurrency != nil {
		values["salary_currency"] = nullIfEmpty(*e.SalaryCurrency)
	}
	if e.EmploymentType != nil {
		values["employment_type"] = e.EmploymentType.String()
	}
	if e.Remote != nil {
		values["remote"] = *e.Remote
	}
	if e.SalaryMin != nil {
		values["salary_min"] = *e.SalaryMin
	}
	if e.SalaryMax != nil {
		values["salary_max"] = *e.SalaryMax
	}
	for _, f := range e.Cleared {
		switch f {
		case "salary_min", "salary_max", "salary_currency":
			values[f] = nil
		}
	}
	if e.Status != nil {
		values["status"] = e.Status.String()
	}
	values["updated_at"] = e.UpdatedAt
	values["version"] = version

	// Columns in a fixed order, so that one combination of changed fields
	// is always the same statement (prepared once per connection).
	set := make([]Assignment, 0, len(values))
	for _, col := range updatableJobColumns {
		if v, ok := values[col]; ok {
			set = append(set, Set(col, v))
		}
	}
	return set
}

// updatableJobColumns are the columns a JobUpdated can change.
var updatableJobColumns = []string{"title", "description", "company", "location", "employment_type", "remote",
	"salary_min", "salary_max", "salary_currency", "status", "updated_at", "version"}

// nullIfEmpty is NULL for "": optional text is stored as NULL, not as an
// empty string.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
