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

// scanJob reads a row of jobColumns, then into extra any columns after them.
func scanJob(row pgx.Row, extra ...any) (JobRow, error) {
	var j JobRow
	err := row.Scan(append([]any{&j.ID, &j.RecruiterID, &j.Title, &j.Description, &j.Company, &j.Location, &j.EmploymentType,
		&j.Remote, &j.SalaryMin, &j.SalaryMax, &j.SalaryCurrency, &j.Status, &j.CreatedAt, &j.UpdatedAt,
		&j.Version, &j.ApplicationCount}, extra...)...)
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
// in all, in one round trip (see listQueries for how).
func (v JobsView) List(ctx context.Context, f JobFilter) (JobPage, error) {
	l := listQueries(f)
	batch := &pgx.Batch{}
	var page JobPage
	batch.Queue(l.pageSQL, l.pageArgs...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var extra []any
			if l.counted {
				extra = []any{&page.Total}
			}
			j, err := scanJob(rows, extra...)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, j)
		}
		return rows.Err()
	})
	if !l.counted {
		batch.Queue(l.countSQL, l.countArgs...).QueryRow(func(row pgx.Row) error { return row.Scan(&page.Total) })
	}
	if err := v.pool.SendBatch(ctx, batch).Close(); err != nil {
		return JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	// An empty page says how many match only when it is empty because
	// nothing matches; past the end of the matches, count them.
	if l.counted && len(page.Items) == 0 && f.After != nil {
		if err := v.pool.QueryRow(ctx, l.countSQL, l.countArgs...).Scan(&page.Total); err != nil {
			return JobPage{}, fmt.Errorf("count jobs: %w", err)
		}
	}
	if len(page.Items) > f.Limit {
		page.Items = page.Items[:f.Limit]
		last := page.Items[len(page.Items)-1]
		page.Next = &JobCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// listStatements are the statements of a listing: one page, and the count
// of all matches (which ignores the cursor). When counted is true, every
// row of the page also carries that count, after jobColumns, and countSQL
// is only needed for an empty page.
type listStatements struct {
	pageSQL, countSQL   string
	pageArgs, countArgs []any
	counted             bool
}

// listQueries builds the statements List sends for f. Every value is a
// parameter, so that the statement text only depends on which filters are
// set: pgx prepares each text once per connection, and PostgreSQL can keep
// one plan for it.
//
// With a text filter (title, location, company or q), the page and the
// count are one statement: the trigram and full-text indexes are lossy, so
// both a page and a count have to read every matching row from the table to
// recheck it, and the benchmark (bench/jobs/README.md) showed those reads
// are most of the cost. One statement reads the matches once, keeps their
// (created_at, id) with count(*) OVER (), takes the page's rows from those
// and only then fetches the page's 21 full rows. Without a text filter the
// page is the head of the jobs_listing index and the count an index-only
// scan, cheaper apart than together, so they stay two statements (sent in
// one batch).
func listQueries(f JobFilter) listStatements {
	var q query
	q.where("status = " + q.arg(f.Status))
	textFilter := false
	for _, s := range []struct{ column, value string }{{"title", f.Title}, {"location", f.Location}, {"company", f.Company}} {
		if s.value != "" {
			q.where(s.column + ` ILIKE '%' || ` + q.arg(escapeLike(s.value)) + ` || '%'`)
			textFilter = true
		}
	}
	if f.Query != "" {
		q.where("search @@ websearch_to_tsquery('english', " + q.arg(f.Query) + ")")
		textFilter = true
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
	l := listStatements{countSQL: `SELECT count(*) FROM jobs WHERE ` + q.conditions(), counted: textFilter}
	l.countArgs = append([]any(nil), q.args...)
	if textFilter {
		// The cursor applies outside the subquery with the window, so that
		// the count ignores it.
		matches := `SELECT id, created_at, count(*) OVER () AS total FROM jobs WHERE ` + q.conditions()
		after := ""
		if f.After != nil {
			after = ` WHERE (created_at, id) < (` + q.arg(f.After.CreatedAt) + `, ` + q.arg(f.After.ID) + `)`
		}
		l.pageSQL = `SELECT ` + jobColumnsOfJ + `, p.total FROM (SELECT id, created_at, total FROM (` + matches + `) m` +
			after + ` ORDER BY created_at DESC, id DESC LIMIT ` + q.arg(f.Limit+1) + `) p JOIN jobs j ON j.id = p.id` +
			` ORDER BY p.created_at DESC, p.id DESC`
	} else {
		if f.After != nil {
			q.where("(created_at, id) < (" + q.arg(f.After.CreatedAt) + ", " + q.arg(f.After.ID) + ")")
		}
		l.pageSQL = `SELECT ` + jobColumns + ` FROM jobs WHERE ` + q.conditions() +
			` ORDER BY created_at DESC, id DESC LIMIT ` + q.arg(f.Limit+1)
	}
	l.pageArgs = q.args
	return l
}

// jobColumnsOfJ is jobColumns of the table aliased j, built once rather than
// on every listing.
var jobColumnsOfJ = qualified("j", jobColumns)

// qualified prefixes every column of a comma-separated list with table.
func qualified(table, columns string) string {
	fields := strings.Split(columns, ",")
	for i, c := range fields {
		fields[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(fields, ", ")
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
func escapeLike(s string) string { return likeEscaper.Replace(s) }

// likeEscaper is built once: building a Replacer on every call showed in the
// benchmark's CPU profile.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
