package projections_test

import (
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
	t.Cleanup(func() { db.Pool.Exec(t.Context(), `DELETE FROM jobs WHERE title = $1`, marker) }) //nolint:errcheck // best effort
	view := projections.NewJobsView(db.Pool)
	f := projections.JobFilter{Title: marker, Location: "berlin", Status: "open", Limit: 2}

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

	f.After, f.Location = nil, "lisbon"
	none, err := view.List(ctx, f)
	is.NoErr(err)
	is.Equal(len(none.Items), 0)
	is.Equal(none.Total, 0)
}
