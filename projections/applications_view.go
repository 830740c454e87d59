package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
)

// ApplicationRow is an application as the read model holds it, with what
// it is shown with of its job.
type ApplicationRow struct {
	ID          uuid.UUID
	JobID       uuid.UUID
	ApplicantID uuid.UUID
	RecruiterID uuid.UUID // the job's owner
	Name        string
	Email       string // empty when Erased
	CoverLetter *string
	Status      string
	Resume      *domain.ResumeFile
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64
	// RejectionReason is the recruiter's, when they rejected it with one:
	// for their eyes only.
	RejectionReason *string
	JobTitle        string
	JobCompany      string
	// JobDeleted is whether its job has been deleted: the application is
	// then still readable by its two parties, and listed nowhere.
	JobDeleted bool
	// Erased is whether the applicant's personal data was erased: the
	// application is shown as domain.ErasedApplicantName's, with no email,
	// cover letter or resume.
	Erased bool
}

// ApplicationCursor is where a page of applications ends: listings are
// ordered by (created_at, id), newest first.
type ApplicationCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// ApplicationPage is one page of a listing of applications.
type ApplicationPage struct {
	Items []ApplicationRow
	Next  *ApplicationCursor // nil on the last page
	Total int                // applications in the listing, on all pages
}

// ApplicationsView reads the applications read model, and the resumes
// stored beside the log.
type ApplicationsView struct{ pool Reader }

// NewApplicationsView returns a view over pool.
func NewApplicationsView(pool Reader) ApplicationsView { return ApplicationsView{pool: pool} }

// Every query joins the application's job, for its title and company. A
// deleted job's row stays in jobs, marked (migration 0012): its
// applications are listed nowhere, but each stays readable by its
// recruiter and its applicant, and movable. A job deleted before that
// migration has no row at all until a replay brings it back: the join is
// an outer one, so that its applications are read as a deleted job's
// (without its title) rather than not found. The recruiter is the
// application's own copy: a job never changes hands.
const applicationSelect = `
SELECT a.id, a.job_id, a.applicant_id, a.recruiter_id, a.name, coalesce(a.email, ''), a.cover_letter, a.status,
       a.resume_filename, a.resume_content_type, a.resume_size, a.resume_sha256, a.created_at,
       a.updated_at, a.version, a.rejection_reason, coalesce(j.title, ''), coalesce(j.company, ''),
       j.id IS NULL OR j.deleted_at IS NOT NULL, a.email IS NULL
FROM applications a LEFT JOIN jobs j ON j.id = a.job_id`

var errNoSuchApplication = domain.Errorf(domain.KindNotFound, "no such application")

func scanApplication(row pgx.Row) (ApplicationRow, error) {
	var a ApplicationRow
	var filename, contentType, sha *string
	var size *int64
	err := row.Scan(&a.ID, &a.JobID, &a.ApplicantID, &a.RecruiterID, &a.Name, &a.Email, &a.CoverLetter, &a.Status,
		&filename, &contentType, &size, &sha, &a.CreatedAt, &a.UpdatedAt, &a.Version, &a.RejectionReason,
		&a.JobTitle, &a.JobCompany, &a.JobDeleted, &a.Erased)
	if err != nil {
		return ApplicationRow{}, err
	}
	if filename != nil && contentType != nil && size != nil && sha != nil {
		a.Resume = &domain.ResumeFile{FileName: *filename, ContentType: *contentType, Size: *size, SHA256: *sha}
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, nil
}

// Get returns an application, of a live job or a deleted one.
func (v ApplicationsView) Get(ctx context.Context, id uuid.UUID) (ApplicationRow, error) {
	a, err := scanApplication(v.pool.QueryRow(ctx, applicationSelect+` WHERE a.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return ApplicationRow{}, errNoSuchApplication
	}
	if err != nil {
		return ApplicationRow{}, fmt.Errorf("read application: %w", err)
	}
	return a, nil
}

// ForApplicantAndJob returns an applicant's application to a live job:
// the job's page shows an applicant the one they made. A job seeker makes
// at most one per job (application_claims).
func (v ApplicationsView) ForApplicantAndJob(ctx context.Context, applicantID, jobID uuid.UUID) (ApplicationRow, error) {
	a, err := scanApplication(v.pool.QueryRow(ctx, applicationSelect+` WHERE a.job_id = $1 AND a.applicant_id = $2
AND j.id IS NOT NULL AND j.deleted_at IS NULL LIMIT 1`, jobID, applicantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return ApplicationRow{}, errNoSuchApplication
	}
	if err != nil {
		return ApplicationRow{}, fmt.Errorf("read application: %w", err)
	}
	return a, nil
}

// ListForJob returns one page of a job's applications, newest first;
// with status set, only those at that status.
func (v ApplicationsView) ListForJob(ctx context.Context, jobID uuid.UUID, status string, limit int, after *ApplicationCursor) (ApplicationPage, error) {
	return v.list(ctx, "a.job_id", jobID, status, limit, after, false)
}

// ListForApplicant returns one page of an applicant's applications (to
// live jobs), newest first.
func (v ApplicationsView) ListForApplicant(ctx context.Context, applicantID uuid.UUID, limit int, after *ApplicationCursor) (ApplicationPage, error) {
	return v.list(ctx, "a.applicant_id", applicantID, "", limit, after, false)
}

// ListAllForApplicant is ListForApplicant with the applications of
// deleted jobs too (JobDeleted set): everything a person's export holds.
func (v ApplicationsView) ListAllForApplicant(ctx context.Context, applicantID uuid.UUID, limit int, after *ApplicationCursor) (ApplicationPage, error) {
	return v.list(ctx, "a.applicant_id", applicantID, "", limit, after, true)
}

// list reads the page and the total in one round trip. column is one of the
// two indexed columns above, never client input.
func (v ApplicationsView) list(ctx context.Context, column string, id uuid.UUID, status string, limit int, after *ApplicationCursor, withDeleted bool) (ApplicationPage, error) {
	// $2 is the status or NULL for any: one statement either way.
	where := ` WHERE ` + column + ` = $1 AND ($2::text IS NULL OR a.status = $2)`
	if !withDeleted {
		where += ` AND j.id IS NOT NULL AND j.deleted_at IS NULL`
	}
	var byStatus *string
	if status != "" {
		byStatus = &status
	}
	pageSQL := applicationSelect + where
	args := []any{id, byStatus, limit + 1}
	if after != nil {
		pageSQL += ` AND (a.created_at, a.id) < ($4, $5)`
		args = append(args, after.CreatedAt, after.ID)
	}
	pageSQL += ` ORDER BY a.created_at DESC, a.id DESC LIMIT $3`
	countSQL := `SELECT count(*) FROM applications a LEFT JOIN jobs j ON j.id = a.job_id` + where

	var page ApplicationPage
	batch := &pgx.Batch{}
	batch.Queue(pageSQL, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			a, err := scanApplication(rows)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, a)
		}
		return rows.Err()
	})
	batch.Queue(countSQL, id, byStatus).QueryRow(func(row pgx.Row) error { return row.Scan(&page.Total) })
	if err := v.pool.SendBatch(ctx, batch).Close(); err != nil {
		return ApplicationPage{}, fmt.Errorf("list applications: %w", err)
	}
	if page.Items == nil {
		page.Items = []ApplicationRow{}
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		last := page.Items[len(page.Items)-1]
		page.Next = &ApplicationCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// ResumeContent returns the bytes of an application's resume. They are
// written with the application's event, in the same transaction, so an
// application whose row says it has a resume always has them.
func (v ApplicationsView) ResumeContent(ctx context.Context, applicationID uuid.UUID) ([]byte, error) {
	var content []byte
	err := v.pool.QueryRow(ctx, `SELECT content FROM resume_blobs WHERE application_id = $1`, applicationID).Scan(&content)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.KindNotFound, "this application has no resume")
	}
	if err != nil {
		return nil, fmt.Errorf("read resume: %w", err)
	}
	return content, nil
}
