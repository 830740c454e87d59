package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// applyApplicationEvent projects an application's events, for
// JobsProjector: the application's row, and its job's application count.
func applyApplicationEvent(ctx context.Context, tx pgx.Tx, r eventstore.Record) error {
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
		// statement: an event applied twice (the checkpoint already
		// prevents that) cannot count twice, and the statement needs no
		// answer, so a replay can queue it with the others. A job deleted
		// meanwhile has no row to count on, which is right too.
		_, err := tx.Exec(ctx, `
WITH inserted AS (
    INSERT INTO applications (id, job_id, applicant_id, recruiter_id, name, email, cover_letter, status,
                              resume_filename, resume_content_type, resume_size, resume_sha256, created_at, version)
    VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (id) DO NOTHING
    RETURNING job_id)
UPDATE jobs SET application_count = application_count + 1 WHERE id IN (SELECT job_id FROM inserted)`,
			e.ApplicationID, e.JobID, e.ApplicantID, e.RecruiterID, e.Name, e.Email, e.CoverLetter,
			domain.ApplicationSubmittedStatus.String(), filename, contentType, size, sha, e.SubmittedAt, r.Version)
		if err != nil {
			return fmt.Errorf("project application %s: %w", e.ApplicationID, err)
		}
	}
	return nil
}
