package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
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

// PartitionKey is the job an event is about: a job's events write its row,
// and an application's write its own row and its job's count.
func (JobsProjector) PartitionKey(r eventstore.Record) (uuid.UUID, bool) {
	switch r.StreamType {
	case domain.StreamJob:
		return r.StreamID, true
	case domain.StreamApplication:
		var ref struct {
			JobID uuid.UUID `json:"job_id"`
		}
		if err := json.Unmarshal(r.Data, &ref); err != nil || ref.JobID == uuid.Nil {
			return r.StreamID, true // Apply reports what is wrong with it
		}
		return ref.JobID, true
	}
	return uuid.Nil, false
}

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

// updateJob applies a JobUpdated in one UPDATE that sets the columns the
// event names and nothing else, as JobUpdated.ApplyTo does to a job's
// details: fields given are set, cleared salary fields become NULL (a
// clear wins over a value, as in ApplyTo). No read first, so that a
// replay can queue it with the other statements.
func updateJob(ctx context.Context, tx pgx.Tx, e domain.JobUpdated, version int64) error {
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
	// is always the same statement text (prepared once per connection).
	args := []any{e.JobID}
	var sets []string
	for _, col := range updatableJobColumns {
		if v, ok := values[col]; ok {
			args = append(args, v)
			sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
		}
	}
	_, err := tx.Exec(ctx, `UPDATE jobs SET `+strings.Join(sets, ", ")+` WHERE id = $1`, args...)
	return err
}

// updatableJobColumns are the columns a JobUpdated can change.
var updatableJobColumns = []string{"title", "description", "company", "location", "employment_type", "remote",
	"salary_min", "salary_max", "salary_currency", "status", "updated_at", "version"}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
