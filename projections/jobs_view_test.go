package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/projections"
)

// TestJobsListTotalPastTheEnd checks the total of a text-filtered listing,
// which comes with the page's rows, on a page that has none.
func TestJobsListTotalPastTheEnd(t *testing.T) {
	is := is.New(t)
	ctx := testCtx(t)
	marker := "Zymurgist " + uuid.NewString()[:8]
	created := time.Now().UTC().Truncate(time.Second)
	for i := range 3 {
		_, err := db.Pool.Exec(ctx, `
INSERT INTO jobs (id, recruiter_id, title, description, company, location, employment_type, remote,
                  status, created_at, updated_at, version)
VALUES ($1, $2, $3, 'Brews.', 'Acme', 'Berlin', 'full_time', false, 'open', $4, $4, 1)`,
			uuid.New(), uuid.New(), marker, created.Add(time.Duration(i)*time.Minute))
		is.NoErr(err)
	}
	// Written straight into the read model, as the projector would: jobs,
	// and job_search, where listings find their matches.
	_, err := db.Pool.Exec(ctx, `
INSERT INTO job_search (id, recruiter_id, status, created_at, title, company, location, employment_type, remote)
SELECT id, recruiter_id, status, created_at, title, company, location, employment_type, remote FROM jobs WHERE title = $1`, marker)
	is.NoErr(err)
	t.Cleanup(func() {
		for _, table := range []string{"jobs", "job_search"} {
			db.Pool.Exec(context.WithoutCancel(ctx), `DELETE FROM `+table+` WHERE title = $1`, marker) //nolint:errcheck // best effort
		}
	})
	view := projections.NewJobsView(db.Pool)
	// A filter whose statement counts the page it found (a first page that
	// is not full), or counts again: with a value that has a trigram, and
	// with one that has none.
	for _, location := range []string{"berlin", "b"} {
		f := projections.JobFilter{Title: marker, Location: location, Status: "open", Limit: 2}
		first, err := view.List(ctx, f)
		is.NoErr(err)
		is.Equal(len(first.Items), 2)
		is.Equal(first.Total, 3) // all matches, not the page
		is.True(first.Next != nil)

		f.After = first.Next
		second, err := view.List(ctx, f)
		is.NoErr(err)
		is.Equal(len(second.Items), 1)
		is.Equal(second.Total, 3) // the same total on every page
		is.Equal(second.Next, nil)

		last := second.Items[0]
		f.After = &projections.JobCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		past, err := view.List(ctx, f)
		is.NoErr(err)
		is.Equal(len(past.Items), 0)
		is.Equal(past.Total, 3) // counted although no row carries the count

		f.After, f.Limit = nil, 3
		whole, err := view.List(ctx, f)
		is.NoErr(err)
		is.Equal(len(whole.Items), 3)
		is.Equal(whole.Total, 3) // a first page holding every match counts them
		is.Equal(whole.Next, nil)

		f.Location = "lisbon"
		none, err := view.List(ctx, f)
		is.NoErr(err)
		is.Equal(len(none.Items), 0)
		is.Equal(none.Total, 0)
	}
}
