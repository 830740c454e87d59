package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jobboard/jobboard/domain"
)

// JobRow is a job as the jobs read model holds it.
type JobRow struct {
	ID               uuid.UUID
	RecruiterID      uuid.UUID
	Title            string
	Description      string
	Company          string
	Location         string
	EmploymentType   string
	Remote           bool
	SalaryMin        *int64
	SalaryMax        *int64
	SalaryCurrency   *string
	Status           string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Version          int64
	ApplicationCount int
}

// JobCursor is where a page of jobs ends: the listing is ordered by
// (created_at, id), newest first.
type JobCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// JobFilter selects jobs; every set field narrows the result.
type JobFilter struct {
	Title, Location, Company string // case-insensitive substrings
	Query                    string // full-text, websearch syntax
	EmploymentType           string
	Remote                   *bool
	RecruiterID              *uuid.UUID
	Status                   string // "open" or "closed"
	Limit                    int
	After                    *JobCursor
}

// JobPage is one page of a listing.
type JobPage struct {
	Items []JobRow
	Next  *JobCursor // nil on the last page
	Total int        // jobs matching the filter, on all pages
}

// JobsView reads the jobs read model.
type JobsView struct{ pool *pgxpool.Pool }

// NewJobsView returns a view over pool.
func NewJobsView(pool *pgxpool.Pool) JobsView { return JobsView{pool: pool} }

const jobColumns = `id, recruiter_id, title, description, company, location, employment_type, remote,
salary_min, salary_max, salary_currency, status, created_at, updated_at, version, application_count`

func scanJob(row pgx.Row) (JobRow, error) {
	var j JobRow
	err := row.Scan(&j.ID, &j.RecruiterID, &j.Title, &j.Description, &j.Company, &j.Location, &j.EmploymentType,
		&j.Remote, &j.SalaryMin, &j.SalaryMax, &j.SalaryCurrency, &j.Status, &j.CreatedAt, &j.UpdatedAt,
		&j.Version, &j.ApplicationCount)
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	return j, err
}

// Get returns a live job.
func (v JobsView) Get(ctx context.Context, id uuid.UUID) (JobRow, error) {
	j, err := scanJob(v.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return JobRow{}, domain.Errorf(domain.KindNotFound, "no such job")
	}
	return j, err
}

// List returns one page of jobs matching f, newest first, and how many match
// in all. Both queries go to the server in one round trip.
func (v JobsView) List(ctx context.Context, f JobFilter) (JobPage, error) {
	var q query
	q.where("status = " + q.arg(f.Status))
	for _, s := range []struct{ column, value string }{{"title", f.Title}, {"location", f.Location}, {"company", f.Company}} {
		if s.value != "" {
			q.where(s.column + ` ILIKE '%' || ` + q.arg(escapeLike(s.value)) + ` || '%'`)
		}
	}
	if f.Query != "" {
		q.where("search @@ websearch_to_tsquery('english', " + q.arg(f.Query) + ")")
	}
	if f.EmploymentType != "" {
		q.where("employment_type = " + q.arg(f.EmploymentType))
	}
	if f.Remote != nil {
		q.where("remote = " + q.arg(*f.Remote))
	}
	if f.RecruiterID != nil {
		q.where("recruiter_id = " + q.arg(*f.RecruiterID))
	}
	countSQL := `SELECT count(*) FROM jobs WHERE ` + q.conditions()
	countArgs := append([]any(nil), q.args...)
	if f.After != nil {
		q.where("(created_at, id) < (" + q.arg(f.After.CreatedAt) + ", " + q.arg(f.After.ID) + ")")
	}
	pageSQL := `SELECT ` + jobColumns + ` FROM jobs WHERE ` + q.conditions() +
		` ORDER BY created_at DESC, id DESC LIMIT ` + q.arg(f.Limit+1)

	batch := &pgx.Batch{}
	var page JobPage
	batch.Queue(pageSQL, q.args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, j)
		}
		return rows.Err()
	})
	batch.Queue(countSQL, countArgs...).QueryRow(func(row pgx.Row) error { return row.Scan(&page.Total) })
	if err := v.pool.SendBatch(ctx, batch).Close(); err != nil {
		return JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	if len(page.Items) > f.Limit {
		page.Items = page.Items[:f.Limit]
		last := page.Items[len(page.Items)-1]
		page.Next = &JobCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// query builds a WHERE clause whose values are all parameters.
type query struct {
	conds []string
	args  []any
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

func (q *query) where(cond string) { q.conds = append(q.conds, cond) }

func (q *query) conditions() string { return strings.Join(q.conds, " AND ") }

// escapeLike makes s match itself literally inside a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
