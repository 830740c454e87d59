package projections

import (
	"fmt"

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
		row := []any{a.ID, a.JobID, a.ApplicantID, a.RecruiterID, a.Name, a.Email, a.CoverLetter, a.Status,
			filename, contentType, size, sha, a.CreatedAt, r.Version}
		if err := w.InsertCounted(applicationsTable, row, jobsTable, e.JobID, "application_count"); err != nil {
			return fmt.Errorf("project application %s: %w", e.ApplicationID, err)
		}
	}
	return nil
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
		Resume: e.Resume, CreatedAt: e.SubmittedAt,
	}
}
