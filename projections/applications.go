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
		var filename, contentType, sha *string
		var size *int64
		if e.Resume != nil {
			filename, contentType, sha, size = &e.Resume.FileName, &e.Resume.ContentType, &e.Resume.SHA256, &e.Resume.Size
		}
		// The job's count goes up only when the row is new, in the same
		// change: an event applied twice (the checkpoint already prevents
		// that) cannot count twice. A job deleted meanwhile has no row to
		// count on, which is right too.
		row := []any{e.ApplicationID, e.JobID, e.ApplicantID, e.RecruiterID, e.Name, e.Email,
			nullIfEmpty(e.CoverLetter), domain.ApplicationSubmittedStatus.String(), filename, contentType, size, sha,
			e.SubmittedAt, r.Version}
		if err := w.InsertCounted(applicationsTable, row, jobsTable, e.JobID, "application_count"); err != nil {
			return fmt.Errorf("project application %s: %w", e.ApplicationID, err)
		}
	}
	return nil
}
