package projections

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// applyApplicationEvent projects an application's events, for
// JobsProjector: the application's row, and its job's application count.
func applyApplicationEvent(r eventstore.Record, w Writer) error {
	e, err := r.Event()
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case domain.ApplicationSubmitted:
		a := SubmittedApplication(e)
		var filename, contentType, sha *string
		var size *int64
		if f := a.Resume; f != nil {
			filename, contentType, sha, size = &f.FileName, &f.ContentType, &f.SHA256, &f.Size
		}
		// The job's count goes up only when the row is new, in the same
		// change: an event applied twice (the checkpoint already prevents
		// that) cannot count twice. A job deleted meanwhile has no row to
		// count on, which is right too.
		var email any = a.Email
		if r.Shredded {
			// The applicant was erased before this was read (a replay, a
			// late subscriber): the row is what ApplicantErased leaves.
			a.Name, email, a.CoverLetter = domain.ErasedApplicantName, nil, nil
			filename, contentType, sha, size = nil, nil, nil, nil
		}
		row := []any{a.ID, a.JobID, a.ApplicantID, a.RecruiterID, a.Name, email, a.CoverLetter, a.Status,
			filename, contentType, size, sha, a.CreatedAt, r.Version, a.CreatedAt, nil}
		if err := w.InsertCounted(applicationsTable, row, jobsTable, e.JobID,
			"application_count", statusCount(domain.ApplicationSubmittedStatus)); err != nil {
			return fmt.Errorf("project application %s: %w", e.ApplicationID, err)
		}
	case domain.ApplicationStatusChanged:
		return moveApplication(w, r, e.ApplicationID, e.JobID, e.From, e.To, e.ChangedAt, nullIfEmpty(e.Reason))
	case domain.ApplicationWithdrawn:
		return moveApplication(w, r, e.ApplicationID, e.JobID, e.From, domain.StatusWithdrawn, e.WithdrawnAt, nil)
	case domain.ApplicantErased:
		// Its status, dates and place in the counts stay; updated_at too:
		// the application did not move.
		return w.Update(applicationsTable, e.ApplicationID, Set("name", domain.ErasedApplicantName), Set("email", nil),
			Set("cover_letter", nil), Set("resume_filename", nil), Set("resume_content_type", nil),
			Set("resume_size", nil), Set("resume_sha256", nil), Set("version", r.Version))
	}
	return nil
}

// moveApplication records a move of an application from one status to
// another: its row, and its job's count at each of the two. The counts
// are blind increments, right because the checkpoint applies each event
// once, in order, after the application's submission.
func moveApplication(w Writer, r eventstore.Record, id, jobID uuid.UUID, from, to domain.ApplicationStatus, at time.Time, reason any) error {
	if err := w.Update(applicationsTable, id, Set("status", to.String()), Set("updated_at", at),
		Set("version", r.Version), Set("rejection_reason", reason)); err != nil {
		return fmt.Errorf("project application %s: %w", id, err)
	}
	if err := w.Increment(jobsTable, jobID, statusCount(from), -1); err != nil {
		return err
	}
	return w.Increment(jobsTable, jobID, statusCount(to), 1)
}

// statusCount is the column of jobs that counts a job's applications at
// status.
func statusCount(status domain.ApplicationStatus) string { return "applications_" + status.String() }

// applicationJob is the job an application's event is about, or uuid.Nil
// for an event that is not an application's.
func applicationJob(e domain.Event) uuid.UUID {
	switch e := e.(type) {
	case domain.ApplicationSubmitted:
		return e.JobID
	case domain.ApplicationStatusChanged:
		return e.JobID
	case domain.ApplicationWithdrawn:
		return e.JobID
	case domain.ApplicantErased:
		return e.JobID
	}
	return uuid.Nil
}

// SubmittedApplication is the row ApplicationSubmitted puts in the
// applications view (without its job's title and company, which a query
// joins in): a command that submitted an application can answer with it
// once the projection has applied the event, without reading it back.
func SubmittedApplication(e domain.ApplicationSubmitted) ApplicationRow {
	var coverLetter *string
	if e.CoverLetter != "" {
		coverLetter = &e.CoverLetter
	}
	return ApplicationRow{
		ID: e.ApplicationID, JobID: e.JobID, ApplicantID: e.ApplicantID, RecruiterID: e.RecruiterID,
		Name: e.Name, Email: e.Email, CoverLetter: coverLetter, Status: domain.ApplicationSubmittedStatus.String(),
		Resume: e.Resume, CreatedAt: e.SubmittedAt, UpdatedAt: e.SubmittedAt, Version: 1,
	}
}
