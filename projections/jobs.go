package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
)

// JobsProjector keeps the jobs table (one row per live job, with what the
// listing, its filters and full-text search need, and its application
// count) and the applications table.
//
// Applications are shown with their job's title and company, only while
// the job lives, and only to its owner: projected by the same projector, in
// the same consumer group, the two tables are always in step, so that a
// query joining them never sees an application of a job it does not know
// yet, and a job write and an application both need to wait for one
// projection only.
type JobsProjector struct{}

func (JobsProjector) Name() string { return Jobs }

func (JobsProjector) Tables() []string { return []string{"jobs", "applications"} }

func (JobsProjector) Apply(ctx context.Context, tx pgx.Tx, r eventstore.Record) error {
	switch r.StreamType {
	case domain.StreamJob:
		return applyJobEvent(ctx, tx, r)
	case domain.StreamApplication:
		return applyApplicationEvent(ctx, tx, r)
	}
	return nil
}

func applyJobEvent(ctx context.Context, tx pgx.Tx, r eventstore.Record) error {
	e, err := r.Event()
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case domain.JobPosted:
		_, err = tx.Exec(ctx, `
INSERT INTO jobs (id, recruiter_id, title, description, company, location, employment_type, remote,
                  salary_min, salary_max, salary_currency, status, created_at, updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, ''), 'open', $12, $12, $13)
ON CONFLICT (id) DO NOTHING`,
			e.JobID, e.RecruiterID, e.Title, e.Description, e.Company, e.Location, e.EmploymentType.String(), e.Remote,
			e.SalaryMin, e.SalaryMax, e.SalaryCurrency, e.PostedAt, r.Version)
	case domain.JobUpdated:
		err = updateJob(ctx, tx, e, r.Version)
	case domain.JobClosed:
		_, err = tx.Exec(ctx, `UPDATE jobs SET status = 'closed', updated_at = $2, version = $3 WHERE id = $1`, e.JobID, e.ClosedAt, r.Version)
	case domain.JobReopened:
		_, err = tx.Exec(ctx, `UPDATE jobs SET status = 'open', updated_at = $2, version = $3 WHERE id = $1`, e.JobID, e.ReopenedAt, r.Version)
	case domain.JobDeleted:
		_, err = tx.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, e.JobID)
	}
	return err
}

// updateJob applies a JobUpdated through the same JobUpdated.ApplyTo the
// aggregate uses, so the two cannot disagree on what an update means.
func updateJob(ctx context.Context, tx pgx.Tx, e domain.JobUpdated, version int64) error {
	var d domain.JobDetails
	var employmentType, status string
	var currency *string
	err := tx.QueryRow(ctx, `
SELECT title, description, company, location, employment_type, remote, salary_min, salary_max, salary_currency, status
FROM jobs WHERE id = $1`, e.JobID).Scan(&d.Title, &d.Description, &d.Company, &d.Location, &employmentType, &d.Remote,
		&d.SalaryMin, &d.SalaryMax, &currency, &status)
	if err != nil {
		return fmt.Errorf("load job %s: %w", e.JobID, err)
	}
	if d.EmploymentType, err = domain.ParseEmploymentType(employmentType); err != nil {
		return err
	}
	if currency != nil {
		d.SalaryCurrency = *currency
	}
	e.ApplyTo(&d)
	if e.Status != nil {
		status = e.Status.String()
	}
	_, err = tx.Exec(ctx, `
UPDATE jobs SET title = $2, description = $3, company = $4, location = $5, employment_type = $6, remote = $7,
                salary_min = $8, salary_max = $9, salary_currency = nullif($10, ''), status = $11,
                updated_at = $12, version = $13
WHERE id = $1`, e.JobID, d.Title, d.Description, d.Company, d.Location, d.EmploymentType.String(), d.Remote,
		d.SalaryMin, d.SalaryMax, d.SalaryCurrency, status, e.UpdatedAt, version)
	return err
}
